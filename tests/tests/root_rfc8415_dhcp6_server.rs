//! DHCPv6 server conformance (RFC 8415) against real clients from Debian, in namespaces: ISC
//! `dhclient -6` (IA_NA, `-P` for IA_PD) and dhcpcd 9 (IA_NA and IA_PD). The conformance tests
//! run twice, their subject swapped: `ours` (crates/dhcpv6's `Server6` + `driver::server`) and
//! `kea` (kea-dhcp6 with the same /64, /56 pool of /60s, lifetimes, timers and options); what
//! the client sees is asserted the same for both, what only our server exposes (its events,
//! host names, lease log) for `ours` alone. Renumbering (the delegated prefix changes, which
//! routerd drives through the driver's [`Handle6`]) and the SIGKILL durability test are ours
//! alone. Needs root and `scripts/install-deps.sh` (isc-dhcp-client dhcpcd-base
//! kea-dhcp6-server).
//!
//! Topology: a `srv` namespace and a client namespace joined by one veth (`lan0` on the
//! server side). Our server runs in-process on the srv namespace's thread.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dhcpv6::driver::server::{self as driver6, Driver6Config, Handle6};
use dhcpv6::server::{Event6, IaKind, LeaseLog6, PdPool, Server6Config};
use ipnet::Ipv6Net;
use leases::RecordState;
use netlab::{Lab, Netns};
use router_tests::clients::{Dhclient, Dhcpcd, Family};
use router_tests::{Tcpdump, TempDir, lab, listening, wait_for};

const SERVER_DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0x77, 1];

fn net(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// 2001:db8:77:1::/64 on link, a /56 pool of /60s; short timers so renewals happen within
/// the test.
fn config() -> Server6Config {
    let mut c = Server6Config::new(SERVER_DUID.to_vec(), vec![net("2001:db8:77:1::/64")]);
    c.pd_pool = Some(PdPool { prefix: net("2001:db8:77:100::/56"), delegated_len: 60 });
    c.preferred = 60;
    c.valid = 120;
    c.t1 = 4;
    c.t2 = 30;
    c.dns_servers = vec![v6("2001:db8:77:1::53")];
    c.domains = vec!["home.arpa".into(), "lab.example".into()];
    c.info_refresh = Some(600);
    c
}

fn sh(ns: &Netns, cmd: &str) -> String {
    let out = ns.command("sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "`{cmd}` failed in {}: {:?}", ns.name(), out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server namespace and one client namespace, `client_if` there; both link-locals
/// usable (DAD off, so nobody waits for it).
fn lan(lab: &Lab, client_if: &str) -> (Netns, Netns) {
    let srv = lab.netns("srv").unwrap();
    let cl = lab.netns("cl").unwrap();
    for ns in [&srv, &cl] {
        sh(ns, "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
    }
    lab.connect(&srv, "lan0", &cl, client_if).unwrap();
    srv.add_addr("lan0", "2001:db8:77:1::1/64").unwrap();
    for (ns, dev) in [(&srv, "lan0"), (&cl, client_if)] {
        wait_for(secs(10), "a usable link-local address", || {
            let out = sh(ns, &format!("ip -6 addr show dev {dev} scope link"));
            (out.contains("inet6 fe80") && !out.contains("tentative")).then_some(())
        });
    }
    (srv, cl)
}

/// The server running in-process in `ns`; stops on drop.
struct InProc {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<netlab::NsThread<Result<(), driver6::Error>>>,
    events: Arc<Mutex<Vec<Event6>>>,
    handle: Handle6,
    rt: tokio::runtime::Runtime,
}

impl InProc {
    fn start(ns: &Netns, cfg: Server6Config, dir: &Path) -> InProc {
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let dcfg = Driver6Config::new("lan0", dir.to_owned(), cfg);
        let (handle, control) = driver6::control();
        let thread = ns
            .spawn(move |_| async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                tokio::spawn(async move {
                    while let Some(e) = rx.recv().await {
                        sink.lock().unwrap().push(e);
                    }
                });
                driver6::run(dcfg, Some(tx), control, async {
                    let _ = stop_rx.await;
                })
                .await
            })
            .unwrap();
        wait_for(secs(10), "the server on port 547", || listening(ns, "udp", "sport = :547"));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        InProc { stop: Some(stop), thread: Some(thread), events, handle, rt }
    }

    fn events(&self) -> Vec<Event6> {
        self.events.lock().unwrap().clone()
    }

    fn set_prefixes(&self, prefixes: Vec<Ipv6Net>, pool: Option<PdPool>) {
        self.rt.block_on(self.handle.set_prefixes(prefixes, pool)).unwrap();
    }

    fn granted(&self, kind: IaKind) -> Vec<(Ipv6Addr, u8)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event6::LeaseGranted(l) if l.kind == kind => Some(l.addresses),
                _ => None,
            })
            .flatten()
            .collect()
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

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
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
}

/// The server under test on `lan0` of `ns`, configured as [`config`], its state in `dir`.
enum Server {
    Ours(InProc),
    Kea { _kea: netlab::ProcessGuard },
}

impl Server {
    fn start(subject: Subject, ns: &Netns, dir: &Path) -> Server {
        match subject {
            Subject::Ours => Server::Ours(InProc::start(ns, config(), dir)),
            Subject::Kea => {
                router_tests::kea::wait_dad(ns, "lan0");
                let d = dir.display();
                let kea = format!(
                    r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["lan0"] }},
  "data-directory": "{d}",
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{d}/leases6.csv", "lfc-interval": 0 }},
  "preferred-lifetime": 60, "valid-lifetime": 120, "renew-timer": 4, "rebind-timer": 30,
  "subnet6": [{{ "id": 1, "subnet": "2001:db8:77:1::/64", "interface": "lan0",
    "pools": [{{ "pool": "2001:db8:77:1::1000 - 2001:db8:77:1::ffff" }}],
    "pd-pools": [{{ "prefix": "2001:db8:77:100::", "prefix-len": 56, "delegated-len": 60 }}],
    "option-data": [
      {{ "name": "dns-servers", "data": "2001:db8:77:1::53" }},
      {{ "name": "domain-search", "data": "home.arpa, lab.example" }} ] }}],
  "loggers": [{{ "name": "kea-dhcp6", "output_options": [{{ "output": "{d}/kea.log" }}], "severity": "DEBUG", "debuglevel": 40 }}]
}}}}"#
                );
                Server::Kea { _kea: router_tests::kea::start(ns, dir, true, &kea) }
            }
        }
    }

    /// Our server, for what only it exposes.
    fn ours(&self) -> Option<&InProc> {
        match self {
            Server::Ours(s) => Some(s),
            Server::Kea { .. } => None,
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
    root_rfc8415_18_3_dhclient_ia_na_renew_release_confirm,
    root_rfc8415_6_3_dhclient_ia_na_and_ia_pd,
);

/// `dhclient -6` with `ias` (`-N`, `-P` or both), asking for DNS and sending a name.
fn dhclient<'a>(ns: &'a Netns, dir: &Path, ias: &[&str]) -> Dhclient<'a> {
    let conf = "send fqdn.fqdn \"Interop6 PC\";\n\
        request dhcp6.name-servers, dhcp6.domain-search;\n";
    Dhclient::new(ns, dir, Family::V6, conf, ias)
}

fn addrs_on(ns: &Netns, dev: &str) -> String {
    sh(ns, &format!("ip -6 addr show dev {dev} scope global"))
}

/// IA_NA: Solicit/Advertise/Request/Reply with the DNS options (§18.3.1-§18.3.2, RFC 3646),
/// a Renew at T1 (§18.3.4), Release (§18.3.7) and a Solicit again, the server restarted
/// with its bindings (a Renew it must know), and dhclient restarted with its lease: Confirm
/// (§18.3.3) answered Success.
fn root_rfc8415_18_3_dhclient_ia_na_renew_release_confirm(subject: Subject) {
    let lab = lab(&format!("d6na{}", subject as u8));
    let (srv, cl) = lan(&lab, "eth0");
    let tmp = TempDir::new(&format!("root-dhcp6-na-{}", subject.tag()));
    let server = Server::start(subject, &srv, &tmp.join("state"));
    let dh = dhclient(&cl, tmp.path(), &["-N"]);
    let mut guard = dh.spawn();
    let bound = dh.wait(20, &["BOUND6"], Some("new_ip6_address"), 0);
    let a = v6(&bound["new_ip6_address"]);
    assert!(net("2001:db8:77:1::/64").contains(&a), "{a}");
    assert_eq!(bound["new_max_life"], "120");
    assert_eq!(bound["new_preferred_life"], "60");
    assert_eq!(bound["new_dhcp6_name_servers"], "2001:db8:77:1::53");
    assert_eq!(bound["new_dhcp6_domain_search"], "home.arpa. lab.example.");
    wait_for(secs(5), "the address on eth0", || {
        addrs_on(&cl, "eth0").contains(&a.to_string()).then_some(())
    });
    // T1 = 4 s: a Renew within seconds, same address.
    let n = dh.hooks.len();
    let renew = dh.wait(20, &["RENEW6"], Some("new_ip6_address"), n);
    assert_eq!(v6(&renew["new_ip6_address"]), a);
    drop(guard);
    dh.release();
    match &server {
        Server::Ours(s) => wait_for(secs(5), "LeaseReleased", || {
            s.events()
                .iter()
                .any(|e| matches!(e, Event6::LeaseReleased(l) if l.addresses.contains(&(a, 128))))
                .then_some(())
        }),
        Server::Kea { .. } => wait_for(secs(5), "the release in Kea's lease file", || {
            let rows = router_tests::kea::lease_rows(&tmp.join("state/leases6.csv"), a.into());
            rows.last().is_some_and(|r| r["valid_lifetime"] == "0").then_some(())
        }),
    }
    // Back (same DUID, kept in the lease file): an address again. Ours gives the same one
    // (its released binding is kept); RFC 8415 asks nothing of it, and Kea picks again.
    let n = dh.hooks.len();
    guard = dh.spawn();
    let again = dh.wait(20, &["BOUND6"], Some("new_ip6_address"), n);
    let a = match server.ours() {
        Some(ours) => {
            assert_eq!(v6(&again["new_ip6_address"]), a);
            let granted = ours.events().into_iter().find_map(|e| match e {
                Event6::LeaseGranted(l) => Some(l),
                _ => None,
            });
            let name = granted.unwrap().hostname;
            assert_eq!(name.as_deref(), Some("interop6-pc"), "from option 39");
            a
        }
        None => v6(&again["new_ip6_address"]),
    };
    let was_ours = server.ours().is_some();
    drop(server);
    if was_ours {
        let (log, _) = LeaseLog6::open(&tmp.join("state")).unwrap();
        assert!(log.leases().any(|r| r.address == a && r.state == RecordState::Bound));
    }
    // A restart: the binding comes back from the server's store, so the next Renew (a Renew
    // for an unknown binding would get NoBinding) extends the same address.
    let server = Server::start(subject, &srv, &tmp.join("state"));
    if let Some(ours) = server.ours() {
        wait_for(secs(20), "a Renew granted by the restarted server", || {
            ours.granted(IaKind::Na).contains(&(a, 128)).then_some(())
        });
    }
    let n = dh.hooks.len();
    let renew = dh.wait(20, &["RENEW6"], Some("new_ip6_address"), n);
    assert_eq!(v6(&renew["new_ip6_address"]), a);
    drop(guard);
    // dhclient restarted with its lease: it confirms the address first (RFC 8415 §18.3.3).
    let n = dh.hooks.len();
    let _guard = dh.spawn();
    let back = dh.wait(20, &["REBOOT6", "BOUND6"], Some("new_ip6_address"), n);
    assert_eq!(v6(&back["new_ip6_address"]), a);
    let log = dh.stderr();
    let confirm = log.rsplit_once("Confirm on eth0").map_or("", |(_, r)| r);
    // The status text is the server's own (ours "all addresses on link"); the code is the RFC's.
    assert!(confirm.contains("Success"), "{log}");
    if server.ours().is_some() {
        assert!(confirm.contains("Success: \"all addresses on link\""), "{log}");
    }
}

/// IA_NA and IA_PD in one exchange (§6.3): an address of the /64 and a /60 of the /56 pool;
/// then, ours alone, the delegated prefix changes and both move (RFC 9096's renumbering).
fn root_rfc8415_6_3_dhclient_ia_na_and_ia_pd(subject: Subject) {
    let lab = lab(&format!("d6pd{}", subject as u8));
    let (srv, cl) = lan(&lab, "eth0");
    let tmp = TempDir::new(&format!("root-dhcp6-pd-{}", subject.tag()));
    let server = Server::start(subject, &srv, &tmp.join("state"));
    let dh = dhclient(&cl, tmp.path(), &["-N", "-P"]);
    let _guard = dh.spawn();
    let na = dh.wait(20, &["BOUND6"], Some("new_ip6_address"), 0);
    let pd = dh.wait(20, &["BOUND6"], Some("new_ip6_prefix"), 0);
    let a = v6(&na["new_ip6_address"]);
    let (p, plen) = pd["new_ip6_prefix"].split_once('/').unwrap();
    assert_eq!(plen, "60");
    assert!(net("2001:db8:77:100::/56").contains(&v6(p)), "{p}");
    wait_for(secs(5), "the address on eth0", || {
        addrs_on(&cl, "eth0").contains(&a.to_string()).then_some(())
    });
    let Some(server) = server.ours() else {
        return;
    };

    // The delegated prefix changes: the LAN /64 and the pool move to 2001:db8:88::/48.
    server.set_prefixes(
        vec![net("2001:db8:88:1::/64")],
        Some(PdPool { prefix: net("2001:db8:88:100::/56"), delegated_len: 60 }),
    );
    let iid = u128::from(a) as u64;
    let new_a = Ipv6Addr::from(u128::from(v6("2001:db8:88:1::")) | u128::from(iid));
    let n = dh.hooks.len();
    let renewed = dh.wait(20, &["RENEW6", "BOUND6"], Some("new_ip6_address"), n);
    let _ = renewed;
    wait_for(secs(20), "the new address on eth0 and the old one gone", || {
        let now = addrs_on(&cl, "eth0");
        (now.contains(&new_a.to_string()) && !now.contains(&a.to_string())).then_some(())
    });
    wait_for(secs(10), "a prefix from the new pool", || {
        server
            .granted(IaKind::Pd)
            .into_iter()
            .find(|(p, l)| *l == 60 && net("2001:db8:88:100::/56").contains(p))
    });
    let leases = std::fs::read_to_string(tmp.join("leases6")).unwrap();
    assert!(leases.contains(&new_a.to_string()), "{leases}");
}

#[test]
fn root_dhcp6_server_dhcpcd_ia_na_ia_pd_renew_release_and_renumbering() {
    let lab = lab("d6dcd");
    let ifname = format!("d6c{}", std::process::id() % 100_000);
    let (srv, cl) = lan(&lab, &ifname);
    let tmp = TempDir::new("root-dhcp6-dhcpcd");
    let server = InProc::start(&srv, config(), &tmp.join("state"));
    // IPv6 only, no router solicitation (it starts DHCPv6 at once when IAs are configured).
    let conf = "ipv6only\nnoipv6rs\noption dhcp6_name_servers, dhcp6_domain_search\n\
        ia_na 1\nia_pd 2\nfqdn both\nhostname dhcpcd-pc\n";
    let mut dc = Dhcpcd::new(&cl, tmp.path(), &ifname, Family::V6, conf);
    dc.start();
    let a = wait_for(secs(20), "an IA_NA address from dhcpcd", || {
        server
            .granted(IaKind::Na)
            .into_iter()
            .map(|(a, _)| a)
            .next()
            .filter(|a| addrs_on(&cl, &ifname).contains(&a.to_string()))
    });
    let p = wait_for(secs(10), "an IA_PD prefix for dhcpcd", || {
        server.granted(IaKind::Pd).first().copied()
    });
    assert!(net("2001:db8:77:100::/56").contains(&p.0) && p.1 == 60);
    wait_for(secs(10), "dhcpcd's log of the delegated prefix", || {
        dc.log().contains(&format!("{}/60", p.0)).then_some(())
    });
    // Renew (T1 = 4 s): granted again.
    let n = server.granted(IaKind::Na).len();
    wait_for(secs(20), "a renewal", || (server.granted(IaKind::Na).len() > n).then_some(()));
    // Renumbering.
    server.set_prefixes(
        vec![net("2001:db8:88:1::/64")],
        Some(PdPool { prefix: net("2001:db8:88:100::/56"), delegated_len: 60 }),
    );
    let iid = u128::from(a) as u64;
    let new_a = Ipv6Addr::from(u128::from(v6("2001:db8:88:1::")) | u128::from(iid));
    wait_for(secs(20), "the new address on the client and the old one gone", || {
        let now = addrs_on(&cl, &ifname);
        (now.contains(&new_a.to_string()) && !now.contains(&a.to_string())).then_some(())
    });
    wait_for(secs(10), "dhcpcd's log of the new prefix", || {
        dc.log().contains("2001:db8:88:1").then_some(())
    });
    // Release then the same address again.
    dc.release();
    wait_for(secs(10), "LeaseReleased", || {
        server
            .events()
            .iter()
            .any(|e| matches!(e, Event6::LeaseReleased(l) if l.kind == IaKind::Na))
            .then_some(())
    });
    assert!(!addrs_on(&cl, &ifname).contains(&new_a.to_string()), "released: removed");
    let n = server.granted(IaKind::Na).len();
    dc.start();
    let again =
        wait_for(secs(20), "the address again", || server.granted(IaKind::Na).get(n).copied());
    assert_eq!(again.0, new_a, "{}", dc.log());
}

/// The server process of `root_dhcp6_server_survives_sigkill` (this binary, re-executed in the
/// server namespace). Does nothing when run without its environment.
#[test]
#[ignore = "started by root_dhcp6_server_survives_sigkill"]
fn child_dhcp6_server() {
    let Ok(dir) = std::env::var("DHCP6_CHILD_STATE") else {
        return;
    };
    let mut cfg = config();
    cfg.valid = 3600;
    cfg.preferred = 1800;
    cfg.t1 = 900;
    cfg.t2 = 1440;
    cfg.rapid_commit = false;
    let (_handle, control) = driver6::control();
    let dcfg = Driver6Config::new("lan0", PathBuf::from(dir), cfg);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(driver6::run(dcfg, None, control, std::future::pending())).unwrap();
}

/// (client DUID, address) of every IA Address with a valid lifetime in every Reply in a
/// pcap file (Ethernet, IPv6 without extension headers, UDP).
fn replies_in_pcap(path: &Path) -> Vec<(Vec<u8>, Ipv6Addr)> {
    use dhcproto::v6::{DhcpOption, MessageType};
    let data = std::fs::read(path).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let Some(frame) = data.get(at + 16..at + 16 + incl) else { break };
        at += 16 + incl;
        let Some(payload) = frame.get(14 + 40 + 8..) else { continue };
        let Ok(m) = dhcpv6::wire::Repr::parse(payload) else { continue };
        if m.msg_type != MessageType::Reply {
            continue;
        }
        let duid = m.client_id().unwrap_or_default().to_vec();
        for ia in m.ia_nas() {
            for o in ia.opts.iter() {
                if let DhcpOption::IAAddr(a) = o {
                    if a.valid_life > 0 {
                        out.push((duid.clone(), a.addr));
                    }
                }
            }
        }
    }
    out
}

fn perfdhcp6(ns: &Netns, rate: u32, secs: u32, duid: &str) -> netlab::ProcessGuard {
    let mut c = ns.command("timeout");
    c.args(["30", "perfdhcp", "-6", "-l", "eth0", "-r", &rate.to_string(), "-R", "3000"])
        .args(["-p", &secs.to_string(), "-b", &format!("duid={duid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    ns.spawn_process(&mut c).unwrap()
}

/// kill -9 under load: every address that reached the wire in a Reply is in leases6.log
/// afterwards, as that client's; no address is given to two clients, across the restart.
#[test]
fn root_dhcp6_server_survives_sigkill() {
    let lab = lab("d6kill");
    let (srv, cli) = lan(&lab, "eth0");
    let tmp = TempDir::new("root-dhcp6-kill");
    let state = tmp.join("state");
    let exe = std::env::current_exe().unwrap();
    let start_server = || {
        let mut c = srv.command(&exe);
        c.args(["--exact", "child_dhcp6_server", "--ignored", "--nocapture", "--test-threads=1"])
            .env("DHCP6_CHILD_STATE", &state)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let g = srv.spawn_process(&mut c).unwrap();
        wait_for(secs(10), "the server on port 547", || listening(&srv, "udp", "sport = :547"));
        g
    };
    // Every Reply from the server, captured from before the server starts to after it is
    // killed (first pcap), then across the restart (second pcap).
    let (pcap1, pcap2) = (tmp.join("replies1.pcap"), tmp.join("replies2.pcap"));
    let replies = "udp and src port 547";
    let tcpdump = Tcpdump::start(&cli, "eth0", replies, &pcap1);
    let mut server = start_server();
    let mut load = perfdhcp6(&cli, 800, 5, "00010001000000010000000c0102");
    // Deliberate: the kill lands mid-run, 2.5 s into perfdhcp's 5 s at 800/s.
    std::thread::sleep(Duration::from_millis(2500));
    server.child().kill().unwrap(); // SIGKILL, mid-run
    server.child().wait().unwrap();
    let _ = load.child().wait();
    tcpdump.stop();
    let before_kill = replies_in_pcap(&pcap1);
    assert!(before_kill.len() > 200, "only {} Replies before the kill", before_kill.len());
    {
        let (log, report) = LeaseLog6::open(&state).unwrap();
        let recs: HashMap<Ipv6Addr, _> = log.leases().map(|r| (r.address, r.clone())).collect();
        for (duid, a) in &before_kill {
            let r = recs
                .get(a)
                .unwrap_or_else(|| panic!("{a} in a Reply to {duid:02x?} is not in the store"));
            assert_eq!(&r.duid, duid, "{a}");
            assert_eq!(r.state, RecordState::Bound);
        }
        println!(
            "after SIGKILL: {} leases in Replies on the wire, {} records in the store",
            before_kill.len(),
            report.records
        );
    }
    // Restart on the same store; a second population of clients.
    let tcpdump = Tcpdump::start(&cli, "eth0", replies, &pcap2);
    server = start_server();
    let mut load = perfdhcp6(&cli, 500, 2, "00010001000000010000000d0203");
    let _ = load.child().wait();
    drop(server);
    tcpdump.stop();
    let all: Vec<_> = before_kill.iter().cloned().chain(replies_in_pcap(&pcap2)).collect();
    assert!(all.len() > before_kill.len(), "Replies after the restart");
    let mut owner: HashMap<Ipv6Addr, Vec<u8>> = HashMap::new();
    for (duid, a) in &all {
        let o = owner.entry(*a).or_insert_with(|| duid.clone());
        assert_eq!(o, duid, "{a} given to two clients");
        assert!(net("2001:db8:77:1::/64").contains(a));
    }
}
