//! The DHCPv4 client (`dhcpv4::driver::client`) against ISC Kea (kea-dhcp4) in namespaces: a
//! lease puts the address and the default route into the client's namespace, renewals at T1
//! keep the address, stop releases it in Kea's lease file, a restart asks for it again by
//! INIT-REBOOT, and a renumbered server takes it away (NAK) and gives a new one. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dhcpv4::client::{Event, Lease};
use dhcpv4::driver::client::{self as driver, Config};
use netlab::{Lab, Netns, ProcessGuard};
use router_tests::running::Running;
use router_tests::{lab, listening, wait_for};

/// The client running in a namespace.
struct Dhcp4(Running<Event, Result<(), driver::Error>>);

impl Dhcp4 {
    fn start(ns: &Netns, cfg: Config) -> Self {
        Dhcp4(Running::start(ns, move |tx, stop| driver::run(cfg, tx, stop)))
    }

    /// The next event within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Event> {
        self.0.next(timeout)
    }

    fn bound(&mut self, timeout: Duration) -> Lease {
        match self.next(timeout) {
            Some(Event::Bound(l)) => l,
            other => panic!("expected Bound within {timeout:?}, got {other:?}"),
        }
    }

    /// Stops the client and returns the events it sent meanwhile.
    fn stop(self) -> Vec<Event> {
        let (ended, events) = self.0.stop();
        ended.unwrap();
        events
    }
}

/// router (eth0) <-> (eth0) isp with 198.51.100.1/24, and a temp dir.
struct Net {
    _lab: Lab,
    router: Netns,
    isp: Netns,
    dir: PathBuf,
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::env::var_os("DHCP4CLIENT_KEEP").is_some() {
            eprintln!("kept {}", self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn net(test: &str) -> Net {
    let lab = lab(test);
    let (router, isp) = (lab.netns("router").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    isp.add_addr("eth0", "198.51.100.1/24").unwrap();
    let dir = std::env::temp_dir().join(format!("dhcp4client-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Net { _lab: lab, router, isp, dir }
}

/// Short timers: T1 2 s, T2 4 s, lease 8 s.
const SHORT: &str = r#""renew-timer": 2, "rebind-timer": 4, "valid-lifetime": 8"#;

/// kea-dhcp4 on the isp's eth0 serving `subnet` (a /24 whose .1 is the server, pool
/// .100-.199), its lease file and log in `dir`.
fn kea(ns: &Netns, dir: &Path, subnet: &str, timers: &str) -> ProcessGuard {
    let d = dir.display();
    let base = subnet.trim_end_matches(".0/24");
    let config = format!(
        r#"{{"Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{d}/leases4.csv", "lfc-interval": 0 }},
  "authoritative": true,
  {timers},
  "subnet4": [{{ "id": 1, "subnet": "{subnet}", "pools": [{{ "pool": "{base}.100 - {base}.199" }}],
    "option-data": [{{ "name": "routers", "data": "{base}.1" }},
                    {{ "name": "domain-name-servers", "data": "{base}.1" }},
                    {{ "name": "domain-name", "data": "isp.example" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "output_options": [{{ "output": "{d}/kea.log" }}], "severity": "DEBUG", "debuglevel": 99 }}]
}}}}"#
    );
    router_tests::kea::start(ns, dir, false, &config)
}

fn client(n: &Net) -> Config {
    let mut c = Config::new("eth0");
    c.state_dir = Some(n.dir.join("state"));
    c.hostname = Some("router".into());
    c
}

/// Kea's lease file rows for `addr`, oldest first.
fn kea_rows(dir: &Path, addr: Ipv4Addr) -> Vec<std::collections::HashMap<String, String>> {
    router_tests::kea::lease_rows(&dir.join("leases4.csv"), addr.into())
}

/// `ip` output in `ns`.
fn ip(ns: &Netns, args: &[&str]) -> String {
    let out = ns.command("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How many DHCPDISCOVERs Kea has logged.
fn discovers(dir: &Path) -> usize {
    let log = std::fs::read_to_string(dir.join("kea.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("DHCP4_PACKET_RECEIVED") && l.contains("DHCPDISCOVER"))
        .count()
}

#[test]
fn root_rfc2131_4_4_kea_lease_route_ping_renew_init_reboot_and_release() {
    let n = net("lease");
    let kea_dir = n.dir.join("kea");
    let _kea = kea(&n.isp, &kea_dir, "198.51.100.0/24", SHORT);
    let mut first = client(&n);
    first.release_on_stop = false;
    let mut c = Dhcp4::start(&n.router, first);
    let l = c.bound(Duration::from_secs(15));
    assert!(l.net().to_string().starts_with("198.51.100.1"), "{l:?}");
    assert_eq!(
        (l.prefix_len, l.gateway, l.server),
        (24, Some(Ipv4Addr::new(198, 51, 100, 1)), Ipv4Addr::new(198, 51, 100, 1))
    );
    assert_eq!((l.t1, l.t2, l.lease_time), (2, 4, 8));
    assert_eq!(l.domain.as_deref(), Some("isp.example"));
    // The address and the default route are in the router's namespace: the event comes after.
    let addrs = ip(&n.router, &["-4", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&format!("inet {}", l.net())), "{addrs}");
    let routes = ip(&n.router, &["-4", "route", "show", "default"]);
    assert!(routes.contains("default via 198.51.100.1 dev eth0"), "{routes}");
    let ping = n.router.command("ping").args(["-c1", "-W2", "198.51.100.1"]).output().unwrap();
    assert!(ping.status.success(), "ping the server side");
    // T1 = 2 s: renewals by unicast keep the address.
    for _ in 0..2 {
        match c.next(Duration::from_secs(6)) {
            Some(Event::Renewed(r)) => assert_eq!(r.address, l.address),
            other => panic!("expected Renewed, got {other:?}"),
        }
    }
    assert!(ip(&n.router, &["-4", "addr", "show", "dev", "eth0"]).contains(&l.net().to_string()));
    let state = std::fs::read_to_string(n.dir.join("state/dhcp4-client-eth0.address")).unwrap();
    assert_eq!(state.trim(), l.address.to_string());

    // A restart (routerd restarting, say): stopped without RELEASE, the address stays ...
    let evs = c.stop();
    assert!(!evs.contains(&Event::Released), "{evs:?}");
    assert!(ip(&n.router, &["-4", "addr", "show", "dev", "eth0"]).contains(&l.net().to_string()));
    // ... and INIT-REBOOT asks for the remembered address: ACKed, no DISCOVER.
    let before = discovers(&kea_dir);
    let mut c = Dhcp4::start(&n.router, client(&n));
    let again = c.bound(Duration::from_secs(15));
    assert_eq!(again.address, l.address);
    assert_eq!(discovers(&kea_dir), before, "INIT-REBOOT, not DISCOVER");

    // Stop with RELEASE: Kea frees the lease, the address and the route are gone.
    let evs = c.stop();
    assert!(evs.contains(&Event::Released), "{evs:?}");
    let addrs = ip(&n.router, &["-4", "addr", "show", "dev", "eth0"]);
    assert!(!addrs.contains("inet "), "{addrs}");
    assert!(ip(&n.router, &["-4", "route", "show", "default"]).is_empty());
    wait_for(secs(3), "Kea records the RELEASE", || {
        let rows = kea_rows(&kea_dir, l.address);
        let last = rows.last().cloned().unwrap_or_default();
        last.get("valid_lifetime").is_some_and(|v| v == "0")
            || last.get("state").is_some_and(|s| s == "2")
    });
}

#[test]
fn root_rfc2131_4_4_5_kea_renumbered_while_running_expires_and_gives_a_new_address() {
    let n = net("renum");
    let mut first = kea(&n.isp, &n.dir.join("kea1"), "198.51.100.0/24", SHORT);
    let mut c = Dhcp4::start(&n.router, client(&n));
    let old = c.bound(Duration::from_secs(15));
    // The ISP renumbers: Kea restarts with another subnet on another address.
    drop(first.child().kill());
    drop(first);
    n.isp.command("ip").args(["addr", "flush", "dev", "eth0"]).status().unwrap();
    n.isp.add_addr("eth0", "192.0.2.1/24").unwrap();
    let _second = kea(&n.isp, &n.dir.join("kea2"), "192.0.2.0/24", SHORT);
    // Renewals go nowhere; Kea 2.2 drops the broadcast rebind at T2 (its ciaddr is in no
    // subnet of Kea's) rather than NAK it, so the lease runs out (8 s): Lost, then DISCOVER.
    let mut lost = false;
    let until = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let left = until.saturating_duration_since(Instant::now());
        match c.next(left) {
            Some(Event::Renewed(_)) => {}
            Some(Event::Lost) => lost = true,
            Some(Event::Bound(l)) => break l,
            Some(Event::Changed { new, .. }) => break new,
            other => panic!("expected Lost then Bound within 30 s, got {other:?}"),
        }
    };
    assert!(lost, "the old address was given up first");
    assert!(new.address.to_string().starts_with("192.0.2.1"), "{new:?} after {old:?}");
    assert_eq!(new.gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
    let addrs = ip(&n.router, &["-4", "addr", "show", "dev", "eth0"]);
    assert!(
        addrs.contains(&new.net().to_string()) && !addrs.contains(&old.net().to_string()),
        "{addrs}"
    );
    let routes = ip(&n.router, &["-4", "route", "show", "default"]);
    assert!(routes.contains("default via 192.0.2.1 dev eth0"), "{routes}");
    let ping = n.router.command("ping").args(["-c1", "-W2", "192.0.2.1"]).output().unwrap();
    assert!(ping.status.success());
    c.stop();
}

#[test]
fn root_rfc2131_3_2_kea_renumbered_while_stopped_naks_init_reboot() {
    let n = net("nak");
    let mut first = kea(&n.isp, &n.dir.join("kea1"), "198.51.100.0/24", SHORT);
    let mut keep = client(&n);
    keep.release_on_stop = false;
    let mut c = Dhcp4::start(&n.router, keep);
    let old = c.bound(Duration::from_secs(15));
    c.stop();
    // Renumbered while the client was down.
    drop(first.child().kill());
    drop(first);
    n.isp.command("ip").args(["addr", "flush", "dev", "eth0"]).status().unwrap();
    n.isp.add_addr("eth0", "192.0.2.1/24").unwrap();
    let kea_dir = n.dir.join("kea2");
    let _second = kea(&n.isp, &kea_dir, "192.0.2.0/24", SHORT);
    // INIT-REBOOT for the old address: NAK (Kea is authoritative), then DISCOVER.
    let mut c = Dhcp4::start(&n.router, client(&n));
    let new = c.bound(Duration::from_secs(15));
    assert!(new.address.to_string().starts_with("192.0.2.1"), "{new:?} after {old:?}");
    let log = std::fs::read_to_string(kea_dir.join("kea.log")).unwrap();
    assert!(log.contains("DHCP4_INIT_REBOOT") && log.contains("DHCPNAK"), "Kea NAKed");
    let addrs = ip(&n.router, &["-4", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&new.net().to_string()), "{addrs}");
    assert!(!addrs.contains(&old.address.to_string()), "the stale address is gone: {addrs}");
    c.stop();
}

#[test]
fn root_rfc2131_3_2_kea_carrier_back_verifies_the_lease_by_init_reboot() {
    let n = net("carrier");
    let kea_dir = n.dir.join("kea");
    let timers = r#""renew-timer": 600, "rebind-timer": 900, "valid-lifetime": 1200"#;
    let _kea = kea(&n.isp, &kea_dir, "198.51.100.0/24", timers);
    let mut c = Dhcp4::start(&n.router, client(&n));
    let l = c.bound(Duration::from_secs(15));
    let reboots = || {
        let log = std::fs::read_to_string(kea_dir.join("kea.log")).unwrap_or_default();
        log.matches("DHCP4_INIT_REBOOT").count()
    };
    assert_eq!(reboots(), 0);
    // The far end goes away and comes back: the router's eth0 loses its carrier, then has
    // it again.
    for (state, carrier) in [("down", "NO-CARRIER"), ("up", "LOWER_UP")] {
        let st = n.isp.command("ip").args(["link", "set", "eth0", state]).status().unwrap();
        assert!(st.success());
        wait_for(secs(5), format!("{carrier} on the router's eth0"), || {
            ip(&n.router, &["link", "show", "eth0"]).contains(carrier)
        });
    }
    match c.next(Duration::from_secs(10)) {
        Some(Event::Renewed(r)) => assert_eq!(r.address, l.address),
        other => panic!("expected Renewed after the carrier came back, got {other:?}"),
    }
    assert_eq!(reboots(), 1, "one INIT-REBOOT REQUEST");
    let routes = ip(&n.router, &["-4", "route", "show", "default"]);
    assert!(routes.contains("default via 198.51.100.1 dev eth0"), "{routes}");
    c.stop();
}

/// The split deployment's DMZ: our own server (`dhcp-server` driver) on the ingress side,
/// the client on the gateway side.
#[test]
fn root_rfc2131_4_4_against_our_dhcp_server_on_a_dmz() {
    use dhcpv4::driver::server::{self as server_driver, DriverConfig};
    use dhcpv4::server::{PoolRange, ServerConfig};
    let n = net("dmz");
    n.isp.add_addr("eth0", "192.168.254.1/24").unwrap();
    let pool = PoolRange {
        first: Ipv4Addr::new(192, 168, 254, 100),
        last: Ipv4Addr::new(192, 168, 254, 199),
    };
    let server_id = Ipv4Addr::new(192, 168, 254, 1);
    let mut sc = ServerConfig::new(server_id, "192.168.254.0/24".parse().unwrap(), pool);
    (sc.lease_time, sc.t1, sc.t2) = (30, Some(2), Some(20));
    sc.mtu = Some(1500);
    sc.domain_name = Some("dmz.example".into());
    sc.routes = vec![("10.20.0.0/16".parse().unwrap(), server_id)];
    let (stop_server, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ev_tx, mut server_events) = tokio::sync::mpsc::channel(64);
    let dcfg = DriverConfig::new("eth0", n.dir.join("server"), sc);
    let server = n
        .isp
        .spawn(move |_| async move {
            server_driver::run(dcfg, Some(ev_tx), async {
                let _ = stop_rx.await;
            })
            .await
        })
        .unwrap();
    wait_for(secs(10), "our server listens on 67", || listening(&n.isp, "udp", "sport = :67"));
    let mut c = Dhcp4::start(&n.router, client(&n));
    let l = c.bound(Duration::from_secs(15));
    assert!(l.address.to_string().starts_with("192.168.254.1"), "{l:?}");
    assert_eq!((l.prefix_len, l.gateway, l.server), (24, Some(server_id), server_id));
    assert_eq!(l.routes, vec![("10.20.0.0/16".parse().unwrap(), server_id)]);
    assert_eq!((l.mtu, l.domain.as_deref()), (Some(1500), Some("dmz.example")));
    let routes = ip(&n.router, &["-4", "route", "show"]);
    assert!(routes.contains("default via 192.168.254.1 dev eth0"), "{routes}");
    assert!(routes.contains("10.20.0.0/16 via 192.168.254.1 dev eth0"), "{routes}");
    match c.next(Duration::from_secs(6)) {
        Some(Event::Renewed(r)) => assert_eq!(r.address, l.address),
        other => panic!("expected Renewed at T1, got {other:?}"),
    }
    assert!(c.stop().contains(&Event::Released));
    wait_for(secs(5), "the server to see the RELEASE", || {
        std::iter::from_fn(|| server_events.try_recv().ok())
            .any(|e| matches!(e, dhcpv4::server::Event::LeaseReleased(x) if x.address == l.address))
    });
    let _ = stop_server.send(());
    server.join().unwrap().unwrap();
}
