//! DHCPv4 server conformance (RFC 2131, with the options of RFC 2132 and RFC 3442) against
//! real clients from Debian, in namespaces: ISC dhclient, dhcpcd 9 and busybox udhcpc. Each
//! conformance test runs twice, its subject swapped: `ours` (crates/dhcpv4's server driver)
//! and `kea` (kea-dhcp4 with the same subnet, pool, timers and options). What the clients see
//! is asserted the same for both, so a test checks the RFC and not our reading of it; what
//! only our server exposes (its events, its sanitised host names, its lease log) is checked
//! for `ours` alone. The SIGKILL durability test (perfdhcp from kea-admin as the load) is
//! ours alone. Needs root and `scripts/install-deps.sh` (isc-dhcp-client dhcpcd-base busybox
//! kea-dhcp4-server kea-admin tcpdump).
//!
//! Topology: a `srv` namespace with a bridge `br0` (192.168.77.1/24) and one veth per client
//! namespace (`eth0` there). Our server runs in-process on the srv namespace's thread, or,
//! for the SIGKILL test, as a child process: this test binary re-executed as the ignored
//! test `child_dhcp4_server`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhcpv4::driver::server::{self as driver, DriverConfig};
use dhcpv4::server::{Event, LeaseLog, PoolRange, Reservation, ServerConfig};
use leases::RecordState;
use netlab::{Lab, Netns};
use router_tests::clients::{Dhclient, Dhcpcd, Family, HookLog, processes_in};
use router_tests::{Signal, Tcpdump, TempDir, lab, listening, signal, wait_for};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// 192.168.77.0/24, pool .100–.199, short leases so renewals happen within the test.
fn config() -> ServerConfig {
    let pool = PoolRange { first: ip("192.168.77.100"), last: ip("192.168.77.199") };
    let mut c = ServerConfig::new(SERVER, "192.168.77.0/24".parse().unwrap(), pool);
    c.lease_time = 30;
    c.t1 = Some(4);
    c.t2 = Some(20);
    c.dns_servers = vec![ip("192.168.77.53"), ip("192.168.77.54")];
    c.domain_name = Some("home.arpa".into());
    c.domain_search = vec!["home.arpa".into(), "lab.example".into()];
    c.routes = vec![("10.20.0.0/16".parse().unwrap(), ip("192.168.77.1"))];
    c.ntp_servers = vec![ip("192.168.77.1")];
    c.mtu = Some(1400);
    c
}

fn sh(ns: &Netns, cmd: &str) {
    let st = ns.command("sh").args(["-c", cmd]).status().unwrap();
    assert!(st.success(), "`{cmd}` failed in {}", ns.name());
}

/// The server namespace with a bridge, and `n` client namespaces attached to it.
fn lan(lab: &Lab, n: usize) -> (Netns, Vec<Netns>) {
    let srv = lab.netns("srv").unwrap();
    sh(&srv, "ip link add br0 type bridge && ip link set br0 up");
    let clients: Vec<Netns> = (0..n)
        .map(|i| {
            let c = lab.netns(&format!("c{i}")).unwrap();
            lab.connect(&srv, &format!("p{i}"), &c, "eth0").unwrap();
            sh(&srv, &format!("ip link set p{i} master br0"));
            c
        })
        .collect();
    srv.add_addr("br0", "192.168.77.1/24").unwrap();
    (srv, clients)
}

/// The server running in-process in `ns`; stops on drop.
struct InProc {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<netlab::NsThread<Result<(), driver::Error>>>,
    events: Arc<Mutex<Vec<Event>>>,
}

impl InProc {
    fn start(ns: &Netns, cfg: ServerConfig, dir: &Path) -> InProc {
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let dcfg = DriverConfig::new("br0", dir.to_owned(), cfg);
        let thread = ns
            .spawn(move |_| async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                tokio::spawn(async move {
                    while let Some(e) = rx.recv().await {
                        sink.lock().unwrap().push(e);
                    }
                });
                driver::run(dcfg, Some(tx), async {
                    let _ = stop_rx.await;
                })
                .await
            })
            .unwrap();
        wait_for_port(ns);
        InProc { stop: Some(stop), thread: Some(thread), events }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(t) = self.thread.take() {
            let r = t.join().unwrap();
            if !std::thread::panicking() {
                r.unwrap();
            }
        }
    }
}

/// Which server a conformance test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Ours,
    Kea,
}

impl Subject {
    /// A test's lab and directories carry it: both subjects of a test run at once.
    fn tag(self) -> &'static str {
        match self {
            Subject::Ours => "ours",
            Subject::Kea => "kea",
        }
    }

    /// §4.3.1: an address SHOULD be chosen as "the client's previous address as recorded in
    /// the client's (now expired or released) binding" where it is free. Ours does; Kea 2.2
    /// deletes a released lease and picks again (dhclient gets its address back from Kea
    /// only because it asks for it by option 50).
    fn remembers_released(self) -> bool {
        self == Subject::Ours
    }
}

/// The address a client got after a release: its previous one where the subject remembers
/// released bindings, else one of the pool.
fn assert_again(subject: Subject, again: Ipv4Addr, previous: Ipv4Addr) {
    if subject.remembers_released() {
        assert_eq!(again, previous, "§4.3.1: the previous address from the released binding");
    } else {
        assert!((ip("192.168.77.100")..=ip("192.168.77.199")).contains(&again), "{again}");
    }
}

/// The reservation of [`root_rfc2131_4_3_1_reservation_and_two_clients`].
const RESERVED: ([u8; 6], &str, &str) = ([2, 0, 0, 0x77, 0, 0x0a], "192.168.77.10", "nas");

/// The server under test in `ns` on `br0`, configured as [`config`] (plus [`RESERVED`] when
/// `reserve`), its state in `dir`.
enum Server {
    Ours(InProc),
    Kea { _kea: netlab::ProcessGuard, dir: PathBuf },
}

impl Server {
    fn start(subject: Subject, ns: &Netns, dir: &Path, reserve: bool) -> Server {
        match subject {
            Subject::Ours => {
                let mut cfg = config();
                if reserve {
                    let (mac, a, name) = RESERVED;
                    cfg.reservations.push(Reservation::by_mac(mac, ip(a), Some(name)));
                }
                Server::Ours(InProc::start(ns, cfg, dir))
            }
            Subject::Kea => {
                let reservations = if reserve {
                    let (mac, a, name) = RESERVED;
                    let mac = mac.map(|b| format!("{b:02x}")).join(":");
                    format!(
                        r#", "reservations": [{{ "hw-address": "{mac}", "ip-address": "{a}", "hostname": "{name}" }}]"#
                    )
                } else {
                    String::new()
                };
                // The same as `config()`: option 121 as its RFC 3442 bytes (Kea 2.2 has no
                // text form for it), 10.20.0.0/16 and the default route via .1.
                let d = dir.display();
                let kea = format!(
                    r#"{{"Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["br0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{d}/leases4.csv", "lfc-interval": 0 }},
  "authoritative": true,
  "valid-lifetime": 30, "renew-timer": 4, "rebind-timer": 20,
  "subnet4": [{{ "id": 1, "subnet": "192.168.77.0/24",
    "pools": [{{ "pool": "192.168.77.100 - 192.168.77.199" }}]{reservations},
    "option-data": [
      {{ "name": "routers", "data": "192.168.77.1" }},
      {{ "name": "domain-name-servers", "data": "192.168.77.53, 192.168.77.54" }},
      {{ "name": "domain-name", "data": "home.arpa" }},
      {{ "name": "domain-search", "data": "home.arpa, lab.example" }},
      {{ "name": "ntp-servers", "data": "192.168.77.1" }},
      {{ "name": "interface-mtu", "data": "1400" }},
      {{ "code": 121, "csv-format": false, "data": "100A14C0A84D0100C0A84D01" }} ] }}],
  "loggers": [{{ "name": "kea-dhcp4", "output_options": [{{ "output": "{d}/kea.log" }}], "severity": "DEBUG", "debuglevel": 50 }}]
}}}}"#
                );
                let kea = router_tests::kea::start(ns, dir, false, &kea);
                Server::Kea { _kea: kea, dir: dir.to_owned() }
            }
        }
    }

    /// Whether the server has taken `a` back (a DHCPRELEASE): our server's event, or Kea's
    /// lease file row with lifetime 0.
    fn released(&self, a: Ipv4Addr) -> bool {
        match self {
            Server::Ours(s) => {
                s.events().iter().any(|e| matches!(e, Event::LeaseReleased(l) if l.address == a))
            }
            Server::Kea { dir, .. } => {
                router_tests::kea::lease_rows(&dir.join("leases4.csv"), a.into())
                    .last()
                    .is_some_and(|r| r.get("valid_lifetime").map(String::as_str) == Some("0"))
            }
        }
    }

    /// Waits until the server has taken `a` back.
    fn wait_released(&self, a: Ipv4Addr) {
        wait_for(secs(5), format!("{a} released on the server"), || self.released(a));
    }

    /// The host names our server granted leases with (after its sanitising: our policy, not
    /// the RFC's); `None` for Kea.
    fn granted_names(&self) -> Option<Vec<Option<String>>> {
        match self {
            Server::Ours(s) => Some(
                s.events()
                    .into_iter()
                    .filter_map(|e| match e {
                        Event::LeaseGranted(l) => Some(l.hostname),
                        _ => None,
                    })
                    .collect(),
            ),
            Server::Kea { .. } => None,
        }
    }

    /// Stops the server and tells whether its store holds a lease of `a`: our lease log read
    /// back, or Kea's lease file.
    fn stop_and_holds(self, dir: &Path, a: Ipv4Addr) -> bool {
        match self {
            Server::Ours(s) => {
                drop(s);
                let (log, _) = LeaseLog::open(dir).unwrap();
                log.leases().any(|r| r.address == a)
            }
            Server::Kea { _kea: kea, dir } => {
                drop(kea);
                !router_tests::kea::lease_rows(&dir.join("leases4.csv"), a.into()).is_empty()
            }
        }
    }
}

/// Each conformance test twice: `NAME::ours` and `NAME::kea`.
macro_rules! subjects {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn ours() {
                super::$name(super::Subject::Ours);
            }
            #[test]
            fn kea() {
                super::$name(super::Subject::Kea);
            }
        }
    )*};
}

subjects!(
    root_rfc2131_4_3_dhclient_dora_renew_release_and_back,
    root_rfc2131_4_3_2_init_reboot_wrong_address_is_naked,
    root_rfc2131_4_3_udhcpc_renew_release_and_back,
    root_rfc2131_4_3_dhcpcd_renew_release_and_back,
    root_rfc2131_4_3_1_reservation_and_two_clients,
);

fn wait_for_port(ns: &Netns) {
    let what = format!("the server on port 67 in {}", ns.name());
    wait_for(Duration::from_secs(5), what, || listening(ns, "udp", "sport = :67"));
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// dhclient with the options the tests read back, sending a host name to be sanitised.
fn dhclient<'a>(ns: &'a Netns, dir: &Path) -> Dhclient<'a> {
    let conf = "option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n\
        send host-name \"Interop PC\";\n\
        request subnet-mask, routers, domain-name, domain-name-servers, domain-search, \
        interface-mtu, ntp-servers, rfc3442-classless-static-routes;\n";
    Dhclient::new(ns, dir, Family::V4, conf, &[])
}

/// DORA (§4.3.1, §4.3.2) with the options of RFC 2132 and RFC 3442, a renewal at T1
/// (§4.4.5), DHCPRELEASE (§4.4.6), and the same address again (§4.3.1: the client's previous
/// address where it is free).
fn root_rfc2131_4_3_dhclient_dora_renew_release_and_back(subject: Subject) {
    let lab = lab(&format!("d4dhcl{}", subject as u8));
    let (srv, cl) = lan(&lab, 1);
    let tmp = TempDir::new(&format!("root-dhcp4-dhclient-{}", subject.tag()));
    let server = Server::start(subject, &srv, &tmp.join("state"), false);
    let dh = dhclient(&cl[0], tmp.path());
    let mut guard = dh.spawn();
    let bound = dh.wait(15, &["BOUND"], None, 0);
    let a = ip(&bound["new_ip_address"]);
    assert!((ip("192.168.77.100")..=ip("192.168.77.199")).contains(&a));
    assert_eq!(bound["new_subnet_mask"], "255.255.255.0");
    assert_eq!(bound["new_routers"], "192.168.77.1");
    assert_eq!(bound["new_domain_name_servers"], "192.168.77.53 192.168.77.54");
    assert_eq!(bound["new_domain_search"], "home.arpa. lab.example.");
    assert_eq!(bound["new_interface_mtu"], "1400");
    assert_eq!(bound["new_ntp_servers"], "192.168.77.1");
    // RFC 3442 encoding: 16,10,20 via 192.168.77.1, then the default route.
    assert_eq!(
        bound["new_rfc3442_classless_static_routes"],
        "16 10 20 192 168 77 1 0 192 168 77 1"
    );
    assert_eq!(bound["new_dhcp_lease_time"], "30");
    // T1 = 4 s: a RENEW within ~10 s, same address, unicast from it.
    let n = dh.hooks.len();
    let renew = dh.wait(15, &["RENEW"], None, n);
    assert_eq!(ip(&renew["new_ip_address"]), a);
    drop(guard);
    dh.release();
    server.wait_released(a);
    // Back: the same address again.
    let n = dh.hooks.len();
    guard = dh.spawn();
    let again = dh.wait(15, &["BOUND", "REBOOT"], None, n);
    assert_eq!(ip(&again["new_ip_address"]), a);
    drop(guard);
    if let Some(names) = server.granted_names() {
        assert!(names.len() >= 3, "{names:?}");
        assert_eq!(names[0].as_deref(), Some("interop-pc"), "sanitised option 12");
    }
    // What was granted is in the store.
    assert!(server.stop_and_holds(&tmp.join("state"), a), "{a} in the server's store");
}

/// §4.3.2, INIT-REBOOT: a DHCPREQUEST for an address that is not the client's is answered
/// with a DHCPNAK, and the client starts over and gets one of the pool.
fn root_rfc2131_4_3_2_init_reboot_wrong_address_is_naked(subject: Subject) {
    let lab = lab(&format!("d4nak{}", subject as u8));
    let (srv, cl) = lan(&lab, 1);
    let tmp = TempDir::new(&format!("root-dhcp4-nak-{}", subject.tag()));
    let server = Server::start(subject, &srv, &tmp.join("state"), false);
    let dh = dhclient(&cl[0], tmp.path());
    // A lease from "before" for an address outside the pool: dhclient starts in INIT-REBOOT.
    let old = "lease {\n  interface \"eth0\";\n  fixed-address 192.168.77.222;\n  \
        option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 192.168.77.1;\n  \
        renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  \
        expire 4 2037/01/01 00:00:00;\n}\n";
    std::fs::write(tmp.join("leases"), old).unwrap();
    let guard = dh.spawn();
    let bound = dh.wait(20, &["BOUND"], None, 0);
    drop(guard);
    assert!(dh.stderr().contains("DHCPNAK from 192.168.77.1"), "{}", dh.stderr());
    assert_ne!(bound["new_ip_address"], "192.168.77.222");
    drop(server);
}

/// busybox udhcpc: a lease with the options, SIGUSR1 renew, SIGUSR2 release, back again.
fn root_rfc2131_4_3_udhcpc_renew_release_and_back(subject: Subject) {
    let lab = lab(&format!("d4udhcpc{}", subject as u8));
    let (srv, cl) = lan(&lab, 1);
    let tmp = TempDir::new(&format!("root-dhcp4-udhcpc-{}", subject.tag()));
    let server = Server::start(subject, &srv, &tmp.join("state"), false);
    let hooks = HookLog::new(&tmp.join("udhcpc.log"));
    let s = hooks.script(tmp.path(), "udhcpc-script", Some(Family::V4));
    let udhcpc = |extra: &[&str]| {
        let mut c = cl[0].command("busybox");
        c.args(["udhcpc", "-f", "-i", "eth0", "-t", "5", "-T", "1", "-s"])
            .arg(&s)
            .args(["-x", "hostname:udhcp-box", "-O", "staticroutes", "-O", "search", "-O", "mtu"])
            .args(["-O", "ntpsrv"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let mut g = cl[0].spawn_process(&mut udhcpc(&[])).unwrap();
    let bound = wait_for(secs(15), "udhcpc bound", || hooks.find(&["bound"], None, 0));
    let a = ip(&bound["ip"]);
    assert_eq!(bound["subnet"], "255.255.255.0");
    assert_eq!(bound["router"], "192.168.77.1");
    assert_eq!(bound["dns"], "192.168.77.53 192.168.77.54");
    assert_eq!(bound["domain"], "home.arpa");
    assert_eq!(bound["search"], "home.arpa lab.example");
    assert_eq!(bound["staticroutes"], "10.20.0.0/16 192.168.77.1 0.0.0.0/0 192.168.77.1");
    assert_eq!(bound["mtu"], "1400");
    assert_eq!(bound["lease"], "30");
    let n = hooks.len();
    signal(g.child(), Signal::SIGUSR1);
    let renew = wait_for(secs(10), "udhcpc renew", || hooks.find(&["renew"], None, n));
    assert_eq!(ip(&renew["ip"]), a);
    let n = hooks.len();
    signal(g.child(), Signal::SIGUSR2);
    wait_for(secs(10), "udhcpc release", || hooks.find(&["deconfig"], None, n));
    server.wait_released(a);
    drop(g);
    let n = hooks.len();
    g = cl[0].spawn_process(&mut udhcpc(&["-q", "-n"])).unwrap();
    let again = wait_for(secs(15), "udhcpc bound again", || hooks.find(&["bound"], None, n));
    assert_again(subject, ip(&again["ip"]), a);
    drop(g);
    if let Some(names) = server.granted_names() {
        assert!(names.iter().all(|n| n.as_deref() == Some("udhcp-box")), "{names:?}");
    }
}

/// The names in a directory (empty when it does not exist), sorted.
fn listing(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// dhcpcd 9 (`-4`, its own configuration and directories, a hook script that only logs):
/// a lease with the option 121 routes and DNS servers, a renewal at T1, `-k` releases it, and
/// started again it gets the same address. Nothing of it is left on the host.
fn root_rfc2131_4_3_dhcpcd_renew_release_and_back(subject: Subject) {
    let host_db = (listing("/var/lib/dhcpcd"), listing("/run/dhcpcd"));
    let lab = lab(&format!("d4dhcpcd{}", subject as u8));
    let (srv, cl) = lan(&lab, 1);
    let tmp = TempDir::new(&format!("root-dhcp4-dhcpcd-{}", subject.tag()));
    let server = Server::start(subject, &srv, &tmp.join("state"), false);
    let hooks = HookLog::new(&tmp.join("hook.log"));
    let hook = hooks.script(tmp.path(), "hook", None);
    // No ARP probe or IPv4LL (they only add seconds); the options the test reads back.
    let conf = "noarp\nnoipv4ll\nhostname dhcpcd-pc\n\
        option classless_static_routes, domain_name_servers, domain_name, domain_search\n\
        option interface_mtu, ntp_servers\n";
    let mut dc = Dhcpcd::new(&cl[0], tmp.path(), "eth0", Family::V4, conf).script(&hook);
    dc.start();
    let bound = wait_for(secs(20), "dhcpcd BOUND", || hooks.find(&["BOUND"], None, 0));
    let a = ip(&bound["new_ip_address"]);
    assert!((ip("192.168.77.100")..=ip("192.168.77.199")).contains(&a), "{a}");
    assert_eq!(bound["new_subnet_mask"], "255.255.255.0");
    assert_eq!(
        bound["new_classless_static_routes"],
        "10.20.0.0/16 192.168.77.1 0.0.0.0/0 192.168.77.1"
    );
    assert_eq!(bound["new_domain_name_servers"], "192.168.77.53 192.168.77.54");
    assert_eq!(bound["new_domain_search"], "home.arpa lab.example");
    assert_eq!(bound["new_interface_mtu"], "1400");
    assert_eq!(bound["new_dhcp_lease_time"], "30");
    assert!(!processes_in(&cl[0]).is_empty(), "dhcpcd runs in the client namespace");
    // dhcpcd configured the address and the option 121 routes in its namespace.
    let routes = cl[0].command("ip").args(["-4", "route"]).output().unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).into_owned();
    assert!(routes.contains("10.20.0.0/16 via 192.168.77.1"), "{routes}");
    assert!(routes.contains("default via 192.168.77.1"), "{routes}");
    // The lease file, read back by dhcpcd itself.
    let dump = dc.dump_lease();
    let lease: HashMap<&str, &str> = dump.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(lease.get("ip_address"), Some(&a.to_string().as_str()), "{dump}");
    assert_eq!(lease.get("domain_name_servers"), Some(&"192.168.77.53 192.168.77.54"), "{dump}");
    assert_eq!(
        lease.get("classless_static_routes"),
        Some(&"10.20.0.0/16 192.168.77.1 0.0.0.0/0 192.168.77.1"),
        "{dump}"
    );
    // T1 = 4 s: a RENEW, same address.
    let n = hooks.len();
    let renew = wait_for(secs(15), "dhcpcd RENEW", || hooks.find(&["RENEW"], None, n));
    assert_eq!(ip(&renew["new_ip_address"]), a, "{}", dc.log());
    // -k: released, on the server too.
    dc.release();
    server.wait_released(a);
    assert!(dc.log().contains(&format!("releasing lease of {a}")), "{}", dc.log());
    assert!(hooks.find(&["RELEASE", "STOP"], None, n).is_some(), "{}", dc.log());
    // Back: the same address again.
    let n = hooks.len();
    dc.start();
    let again = wait_for(secs(20), "dhcpcd BOUND again", || hooks.find(&["BOUND"], None, n));
    assert_again(subject, ip(&again["new_ip_address"]), a);
    if let Some(names) = server.granted_names() {
        let ok = names.iter().all(|n| n.as_deref() == Some("dhcpcd-pc")) && !names.is_empty();
        assert!(ok, "{names:?}");
    }
    drop(dc);
    let left = processes_in(&cl[0]);
    assert!(left.is_empty(), "processes left in the client namespace: {left:?}");
    assert_eq!((listing("/var/lib/dhcpcd"), listing("/run/dhcpcd")), host_db, "host untouched");
    let own = listing(&tmp.join("db").to_string_lossy());
    assert!(own.iter().any(|f| f.contains("eth0")), "its lease file was the test's: {own:?}");
}

/// A reservation by MAC is honoured, and two clients never share an address (§4.3.1: the
/// address from the server's bindings, never one in use).
fn root_rfc2131_4_3_1_reservation_and_two_clients(subject: Subject) {
    let lab = lab(&format!("d4resv{}", subject as u8));
    let (srv, cl) = lan(&lab, 2);
    let tmp = TempDir::new(&format!("root-dhcp4-resv-{}", subject.tag()));
    sh(&cl[0], "ip link set eth0 address 02:00:00:77:00:0a");
    let server = Server::start(subject, &srv, &tmp.join("state"), true);
    let d0 = TempDir::new(&format!("root-dhcp4-resv-c0-{}", subject.tag()));
    let d1 = TempDir::new(&format!("root-dhcp4-resv-c1-{}", subject.tag()));
    let a = dhclient(&cl[0], d0.path());
    let b = dhclient(&cl[1], d1.path());
    let (ga, gb) = (a.spawn(), b.spawn());
    let la = a.wait(15, &["BOUND"], None, 0);
    let lb = b.wait(15, &["BOUND"], None, 0);
    drop((ga, gb));
    assert_eq!(la["new_ip_address"], "192.168.77.10");
    assert_ne!(la["new_ip_address"], lb["new_ip_address"]);
    if let Some(names) = server.granted_names() {
        assert!(names.iter().any(|n| n.as_deref() == Some("nas")), "the reserved name: {names:?}");
    }
}

/// The server process of `root_dhcp4_server_survives_sigkill` (this binary, re-executed in the
/// server namespace). Does nothing when run without its environment.
#[test]
#[ignore = "started by root_dhcp4_server_survives_sigkill"]
fn child_dhcp4_server() {
    let Ok(dir) = std::env::var("DHCP4_CHILD_STATE") else {
        return;
    };
    let mut cfg = ServerConfig::new(SERVER, "192.168.64.0/18".parse().unwrap(), big_pool());
    cfg.server_id = ip("192.168.64.1");
    cfg.lease_time = 3600;
    let dcfg = DriverConfig::new("br0", PathBuf::from(dir), cfg);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(driver::run(dcfg, None, std::future::pending())).unwrap();
}

fn big_pool() -> PoolRange {
    PoolRange { first: ip("192.168.65.0"), last: ip("192.168.127.254") }
}

/// (chaddr, yiaddr) of every DHCPACK in a pcap file (Ethernet, IPv4, UDP).
fn acks_in_pcap(path: &Path) -> Vec<([u8; 6], Ipv4Addr)> {
    use dhcproto::Decodable;
    let data = std::fs::read(path).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let Some(frame) = data.get(at + 16..at + 16 + incl) else { break };
        at += 16 + incl;
        let ihl = usize::from(frame.get(14).copied().unwrap_or(0) & 0x0f) * 4;
        let Some(payload) = frame.get(14 + ihl + 8..) else { continue };
        let Ok(m) = dhcproto::v4::Message::decode(&mut dhcproto::Decoder::new(payload)) else {
            continue;
        };
        if m.opcode() == dhcproto::v4::Opcode::BootReply
            && m.opts().msg_type() == Some(dhcproto::v4::MessageType::Ack)
        {
            out.push((m.chaddr()[..6].try_into().unwrap(), m.yiaddr()));
        }
    }
    out
}

fn perfdhcp(ns: &Netns, rate: u32, secs: u32, mac: &str) -> netlab::ProcessGuard {
    let mut c = ns.command("timeout");
    c.args([
        "30",
        "perfdhcp",
        "-4",
        "-r",
        &rate.to_string(),
        "-R",
        "3000",
        "-p",
        &secs.to_string(),
    ])
    .args(["-b", &format!("mac={mac}"), "192.168.64.1"])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    ns.spawn_process(&mut c).unwrap()
}

/// kill -9 under load: every ACK that reached the wire is in the store afterwards, and no
/// address is ever ACKed to two clients, across the restart.
#[test]
fn root_dhcp4_server_survives_sigkill() {
    let lab = lab("d4kill");
    let srv = lab.netns("srv").unwrap();
    let cli = lab.netns("cli").unwrap();
    sh(&srv, "ip link add br0 type bridge && ip link set br0 up");
    lab.connect(&srv, "p0", &cli, "eth0").unwrap();
    sh(&srv, "ip link set p0 master br0");
    srv.add_addr("br0", "192.168.64.1/18").unwrap();
    cli.add_addr("eth0", "192.168.64.2/18").unwrap();
    let tmp = TempDir::new("root-dhcp4-kill");
    let state = tmp.join("state");
    let exe = std::env::current_exe().unwrap();
    let start_server = || {
        let mut c = srv.command(&exe);
        c.args(["--exact", "child_dhcp4_server", "--ignored", "--nocapture", "--test-threads=1"])
            .env("DHCP4_CHILD_STATE", &state)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let g = srv.spawn_process(&mut c).unwrap();
        wait_for_port(&srv);
        g
    };
    // Every ACK from the server, captured from before the server starts to after it is
    // killed (first pcap), then across the restart (second pcap).
    let (pcap1, pcap2) = (tmp.join("acks1.pcap"), tmp.join("acks2.pcap"));
    let acks = "udp and src host 192.168.64.1";
    let tcpdump = Tcpdump::start(&cli, "eth0", acks, &pcap1);
    let mut server = start_server();
    let mut load = perfdhcp(&cli, 800, 5, "00:0c:01:02:03:04");
    // Deliberate: the kill lands mid-run, 2.5 s into perfdhcp's 5 s at 800/s.
    std::thread::sleep(Duration::from_millis(2500));
    server.child().kill().unwrap(); // SIGKILL, mid-run
    server.child().wait().unwrap();
    let _ = load.child().wait();
    tcpdump.stop();
    let before_kill = acks_in_pcap(&pcap1);
    assert!(before_kill.len() > 200, "only {} ACKs before the kill", before_kill.len());
    // Everything ACKed is in the store, as that client's lease.
    {
        let (log, report) = LeaseLog::open(&state).unwrap();
        let recs: HashMap<Ipv4Addr, _> = log.leases().map(|r| (r.address, r.clone())).collect();
        for (mac, a) in &before_kill {
            let r = recs
                .get(a)
                .unwrap_or_else(|| panic!("ACKed {a} to {mac:02x?} is not in the store"));
            assert_eq!(r.hw.as_bytes(), mac, "{a}");
            assert_eq!(r.state, RecordState::Bound);
        }
        println!(
            "after SIGKILL: {} ACKs on the wire, {} records in the store",
            before_kill.len(),
            report.records
        );
    }
    // Restart on the same store; a second population of clients.
    let tcpdump = Tcpdump::start(&cli, "eth0", acks, &pcap2);
    server = start_server();
    let mut load = perfdhcp(&cli, 500, 2, "00:0c:02:02:03:04");
    let _ = load.child().wait();
    drop(server);
    tcpdump.stop();
    let all: Vec<_> = before_kill.iter().copied().chain(acks_in_pcap(&pcap2)).collect();
    assert!(all.len() > before_kill.len(), "ACKs after the restart");
    let mut owner: HashMap<Ipv4Addr, [u8; 6]> = HashMap::new();
    for (mac, a) in &all {
        let o = owner.entry(*a).or_insert(*mac);
        assert_eq!(o, mac, "{a} ACKed to two clients");
        assert!(big_pool().contains(*a));
    }
}
