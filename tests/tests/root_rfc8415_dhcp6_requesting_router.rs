//! DHCPv6 prefix delegation end to end: the `dhcpv6::driver::client` requesting router against Kea (kea-dhcp6) in
//! namespaces, and over PPPoE against `ispemu`'s delegating router. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dhcpv6::driver::client::{self as driver, Config};
use dhcpv6::{Event, Lease};
use netlab::{Lab, Netns, ProcessGuard};
use router_tests::running::Running;
use router_tests::wan::{Isp, Wan, kpn_credentials};
use router_tests::{kea, lab, wait_for};

/// The requesting router running in a namespace.
struct Pd(Running<Event, Result<(), driver::Error>>);

impl Pd {
    fn start(ns: &Netns, cfg: Config) -> Self {
        Pd(Running::start(ns, move |tx, stop| driver::run_client(cfg, tx, stop)))
    }

    /// The next event within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Event> {
        self.0.next(timeout)
    }

    fn delegated(&mut self, timeout: Duration) -> Lease {
        match self.next(timeout) {
            Some(Event::Delegated(l)) => l,
            other => panic!("expected Delegated within {timeout:?}, got {other:?}"),
        }
    }

    /// Stops the client (it sends Release) and returns the events it sent meanwhile.
    fn stop(self) -> Vec<Event> {
        let (ended, events) = self.0.stop();
        ended.unwrap();
        events
    }
}

/// router (eth0) <-> (eth0) isp, and a temp dir.
struct Net {
    lab: Lab,
    router: Netns,
    isp: Netns,
    dir: PathBuf,
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn net(test: &str) -> Net {
    let lab = lab(test);
    let (router, isp) = (lab.netns("router").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    isp.add_addr("eth0", "fd00::1/64").unwrap();
    let dir = std::env::temp_dir().join(format!("dhcpv6pd-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Net { lab, router, isp, dir }
}

/// Kea as the delegating router on the isp's eth0; `pd_pool` is the JSON of one pd-pool,
/// `timers` the JSON members for T1/T2/lifetimes.
fn kea(n: &Net, pd_pool: &str, timers: &str) -> ProcessGuard {
    kea_at(&n.isp, "eth0", &n.dir, pd_pool, timers)
}

/// Kea on `ifname` in `ns`, with its data directory, lease file and log in `dir`.
fn kea_at(ns: &Netns, ifname: &str, dir: &Path, pd_pool: &str, timers: &str) -> ProcessGuard {
    kea::wait_dad(ns, ifname);
    let d = dir.display();
    let config = format!(
        r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["{ifname}"] }},
  "data-directory": "{d}",
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{d}/leases6.csv", "lfc-interval": 0 }},
  {timers},
  "subnet6": [{{ "id": 1, "subnet": "fd00::/64", "interface": "{ifname}", "pd-pools": [{pd_pool}] }}],
  "loggers": [{{ "name": "kea-dhcp6", "output_options": [{{ "output": "{d}/kea.log" }}], "severity": "DEBUG", "debuglevel": 40 }}]
}}}}"#
    );
    kea::start(ns, dir, true, &config)
}

const KEA_TIMERS: &str = r#""renew-timer": 1000, "rebind-timer": 2000, "preferred-lifetime": 3000, "valid-lifetime": 4000"#;
const POOL_48: &str = r#"{ "prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 48 }"#;

fn client(n: &Net, hint: u8) -> Config {
    let mut c = Config::new("eth0");
    c.state_dir = Some(n.dir.join("state"));
    c.prefix_len_hint = hint;
    c
}

/// Kea's lease file rows for `prefix`, oldest first.
fn kea_rows(dir: &Path, prefix: Ipv6Addr) -> Vec<std::collections::HashMap<String, String>> {
    kea::lease_rows(&dir.join("leases6.csv"), prefix.into())
}

#[test]
fn root_rfc8415_18_2_1_kea_delegates_48_and_honours_the_hint() {
    let n = net("pd48");
    let _kea = kea(&n, POOL_48, KEA_TIMERS);
    // A restart: the state directory remembers the prefix held last, asked for again.
    let state = n.dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("dhcpv6pd-eth0.prefix"), "2001:db8:1ab::/48\n").unwrap();
    let mut pd = Pd::start(&n.router, client(&n, 48));
    let lease = pd.delegated(Duration::from_secs(15));
    let p = lease.prefixes[0];
    assert_eq!((p.prefix, p.len), ("2001:db8:1ab::".parse().unwrap(), 48), "{lease:?}");
    assert_eq!((lease.t1, lease.t2, p.preferred, p.valid), (1000, 2000, 3000, 4000));
    let duid = std::fs::read_to_string(state.join("dhcpv6pd-eth0.duid")).unwrap();
    assert!(duid.starts_with("00030001"), "DUID-LL from the veth MAC: {duid}");
    let rows = kea_rows(&n.dir, p.prefix);
    assert!(
        rows.last().is_some_and(|r| r.get("duid").unwrap().replace(':', "") == duid.trim()),
        "Kea holds it for our DUID: {rows:?}"
    );
    // Without a remembered prefix: some /48 of the pool.
    drop(pd);
    std::fs::remove_dir_all(&state).unwrap();
    let mut pd = Pd::start(&n.router, client(&n, 48));
    let p = pd.delegated(Duration::from_secs(15)).prefixes[0];
    assert_eq!(p.len, 48);
    assert_eq!(
        u128::from(p.prefix) >> 88,
        u128::from("2001:db8:100::".parse::<Ipv6Addr>().unwrap()) >> 88
    );
}

#[test]
fn root_rfc8415_18_2_1_kea_delegates_56_when_configured() {
    let n = net("pd56");
    let pool = r#"{ "prefix": "2001:db8:200::", "prefix-len": 48, "delegated-len": 56 }"#;
    let _kea = kea(&n, pool, KEA_TIMERS);
    let mut pd = Pd::start(&n.router, client(&n, 56));
    let p = pd.delegated(Duration::from_secs(15)).prefixes[0];
    assert_eq!(p.len, 56);
    assert_eq!(
        u128::from(p.prefix) >> 80,
        u128::from("2001:db8:200::".parse::<Ipv6Addr>().unwrap()) >> 80
    );
}

#[test]
fn root_rfc8415_18_2_1_kea_delegates_60_when_configured() {
    let n = net("pd60");
    let pool = r#"{ "prefix": "2001:db8:300::", "prefix-len": 56, "delegated-len": 60 }"#;
    let _kea = kea(&n, pool, KEA_TIMERS);
    let mut pd = Pd::start(&n.router, client(&n, 60));
    let p = pd.delegated(Duration::from_secs(15)).prefixes[0];
    assert_eq!(p.len, 60);
    let pool: ipnet::Ipv6Net = "2001:db8:300::/56".parse().unwrap();
    assert!(pool.contains(&p.prefix), "{p:?}");
}

#[test]
fn root_rfc8415_18_2_4_kea_renew_at_t1() {
    let n = net("renew");
    let timers =
        r#""renew-timer": 2, "rebind-timer": 3, "preferred-lifetime": 4, "valid-lifetime": 6"#;
    let _kea = kea(&n, POOL_48, timers);
    let mut pd = Pd::start(&n.router, client(&n, 48));
    let first = pd.delegated(Duration::from_secs(15));
    let t = Instant::now();
    assert_eq!((first.t1, first.t2), (2, 3));
    for i in 0..2 {
        match pd.next(Duration::from_secs(5)) {
            Some(Event::Renewed(l)) => assert!(l.same_prefixes(&first), "{l:?}"),
            other => panic!("renewal {i}: expected Renewed, got {other:?}"),
        }
    }
    let took = t.elapsed();
    assert!(
        (Duration::from_millis(3500)..Duration::from_millis(6000)).contains(&took),
        "two renewals at T1 = 2 s took {took:?}"
    );
}

#[test]
fn root_rfc8415_18_2_7_kea_release_on_stop() {
    let n = net("release");
    let _kea = kea(&n, POOL_48, KEA_TIMERS);
    let mut pd = Pd::start(&n.router, client(&n, 48));
    let p = pd.delegated(Duration::from_secs(15)).prefixes[0];
    let evs = pd.stop();
    assert!(evs.contains(&Event::Released), "{evs:?}");
    // Kea writes a released lease with valid lifetime 0 (or in state expired-reclaimed).
    wait_for(Duration::from_secs(3), "Kea to record the Release", || {
        let rows = kea_rows(&n.dir, p.prefix);
        let last = rows.last().cloned().unwrap_or_default();
        let released = last.get("valid_lifetime").is_some_and(|v| v == "0")
            || last.get("state").is_some_and(|s| s == "2");
        if released { Ok(()) } else { Err(format!("{rows:?}")) }
    });
}

#[test]
fn root_rfc8415_18_2_5_kea_rebind_to_a_second_server() {
    let n = net("rebind");
    let timers =
        r#""renew-timer": 3, "rebind-timer": 5, "preferred-lifetime": 8, "valid-lifetime": 10"#;
    let mut first_kea = kea(&n, POOL_48, timers);
    let mut pd = Pd::start(&n.router, client(&n, 48));
    let first = pd.delegated(Duration::from_secs(15));
    // The first server goes away; a second one (another DUID, its own data directory) takes
    // over with a copy of the lease file, as a failover partner would have it.
    first_kea.child().kill().unwrap();
    first_kea.child().wait().unwrap();
    let second = n.dir.join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::copy(n.dir.join("leases6.csv"), second.join("leases6.csv")).unwrap();
    let _second_kea = kea_at(&n.isp, "eth0", &second, POOL_48, timers);
    // T1: Renew to the first server goes unanswered; T2: Rebind, answered by the second.
    let t = Instant::now();
    match pd.next(Duration::from_secs(10)) {
        Some(Event::Renewed(l)) => {
            assert!(l.same_prefixes(&first), "same prefix kept: {l:?}");
            assert_ne!(l.server_id, first.server_id, "answered by the second server");
        }
        other => panic!("expected Renewed after Rebind, got {other:?}"),
    }
    assert!(t.elapsed() >= Duration::from_secs(3), "at T2, not before: {:?}", t.elapsed());
}

#[test]
fn root_rfc8415_18_2_10_1_kea_no_prefix_avail_then_success_when_space_frees() {
    // Two routers on one segment: the isp's eth0 and eth1 in a bridge, Kea on the bridge.
    let n = net("noprefix");
    let router2 = n.lab.netns("router2").unwrap();
    n.lab.connect(&router2, "eth0", &n.isp, "eth1").unwrap();
    for args in [
        &["link", "add", "br0", "type", "bridge", "forward_delay", "0", "mcast_snooping", "0"][..],
        &["link", "set", "eth0", "master", "br0"],
        &["link", "set", "eth1", "master", "br0"],
        &["link", "set", "br0", "up"],
    ] {
        let st = n.isp.command("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    }
    n.isp.add_addr("br0", "fd00::1/64").unwrap();
    // A pool of exactly one /48.
    let pool = r#"{ "prefix": "2001:db8:300::", "prefix-len": 48, "delegated-len": 48 }"#;
    let _kea = kea_at(&n.isp, "br0", &n.dir, pool, KEA_TIMERS);
    let mut a = Pd::start(&n.router, client(&n, 48));
    let p = a.delegated(Duration::from_secs(15)).prefixes[0];
    assert_eq!(p.prefix, "2001:db8:300::".parse::<Ipv6Addr>().unwrap());
    let mut c = client(&n, 48);
    c.state_dir = Some(n.dir.join("state2"));
    let mut b = Pd::start(&router2, c);
    assert_eq!(b.next(Duration::from_secs(10)), Some(Event::NoPrefixAvail));
    // The first router gives its prefix back; the second gets it on a later Solicit.
    assert!(a.stop().contains(&Event::Released));
    let lease = loop {
        match b.next(Duration::from_secs(30)) {
            Some(Event::Delegated(l)) => break l,
            Some(Event::NoPrefixAvail) => continue,
            other => panic!("expected Delegated, got {other:?}"),
        }
    };
    assert_eq!(lease.prefixes[0].prefix, p.prefix);
}

/// The /64 number `subnet` of a delegated prefix, with interface id `host`.
fn subnet_addr(prefix: Ipv6Addr, subnet: u16, host: u16) -> Ipv6Addr {
    let mut s = prefix.segments();
    s[3] = subnet;
    s[7] = host;
    Ipv6Addr::from(s)
}

#[test]
fn root_rfc8415_pd_over_pppoe_from_ispemu_lan_host_reaches_the_internet_also_after_redial() {
    use netcfg::{Family, Route};
    // lan (eth0) <-> (eth1) router (eth0) <-> (eth0) isp (up0) <-> (eth0) inet
    let n = net("pppoe");
    let lab = &n.lab;
    let (lan, inet) = (lab.netns("lan").unwrap(), lab.netns("inet").unwrap());
    lab.connect(&lan, "eth0", &n.router, "eth1").unwrap();
    lab.connect(&n.isp, "up0", &inet, "eth0").unwrap();
    n.isp.add_addr("up0", "2001:db8:ffff::1/64").unwrap();
    inet.add_addr("eth0", "2001:db8:ffff::10/64").unwrap();
    inet.netcfg(|nc| async move {
        nc.add_route(&Route::via("::/0".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap()))
            .await
    })
    .unwrap();

    let isp = Isp::start(&n.isp, &n.dir, "");
    let wcfg = pppoe::driver::client::Config::new("eth0", Some(kpn_credentials()));
    let mut wan = Wan::start(&n.router, wcfg);

    let mut c = Config::new("ppp0");
    c.state_dir = Some(n.dir.join("state"));
    let mut pd = Pd::start(&n.router, c);
    let lease = pd.delegated(Duration::from_secs(20));
    let link = match wan.next(Duration::from_secs(1)) {
        Some(pppoe::Event::Up(l)) => l,
        other => panic!("expected the PPPoE link up, got {other:?}"),
    };
    assert!(link.ipv6.is_some(), "IPv6CP opened");
    let p = lease.prefixes[0];
    assert_eq!(p.len, 48, "{lease:?}");
    let pool: ipnet::Ipv6Net = "2001:db8:1000::/36".parse().unwrap();
    assert!(pool.contains(&p.prefix), "from the pool: {lease:?}");
    let duid = std::fs::read_to_string(n.dir.join("state/dhcpv6pd-ppp0.duid")).unwrap();
    assert!(duid.starts_with("0004"), "DUID-UUID on a link without a MAC: {duid}");

    // The router numbers its LAN from /64 number 1 of the prefix and forwards.
    let (gw, host) = (subnet_addr(p.prefix, 1, 1), subnet_addr(p.prefix, 1, 0x10));
    n.router.add_addr("eth1", &format!("{gw}/64")).unwrap();
    n.router.netcfg(|nc| async move { nc.set_forwarding("all", Family::V6, true) }).unwrap();
    let routes = n.router.command("ip").args(["-6", "route", "show", "default"]).output().unwrap();
    assert!(String::from_utf8_lossy(&routes.stdout).contains("dev ppp0"), "default via ppp0");
    lan.add_addr("eth0", &format!("{host}/64")).unwrap();
    lan.netcfg(move |nc| async move {
        nc.add_route(&Route::via("::/0".parse().unwrap(), std::net::IpAddr::V6(gw))).await
    })
    .unwrap();
    kea::wait_dad(&lan, "eth0");
    kea::wait_dad(&n.router, "eth1");
    let ping = || {
        let out = lan
            .command("ping")
            .args(["-6", "-c", "3", "-W", "2", "2001:db8:ffff::10"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "LAN host {host} pings the internet: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    ping();
    // The ISP drops the session (PADT); PPPoE redials, the client sees the new link-local
    // address and Rebinds (RFC 8415 §18.2.12), and ispemu routes the prefix into the new
    // session.
    assert_eq!(isp.ctl("padt all").trim(), "ok 1");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match wan.next(left) {
            Some(pppoe::Event::Up(l)) => {
                assert_ne!(l.session_id, link.session_id, "a new session");
                break;
            }
            Some(_) => {}
            None => panic!("PPPoE did not come back within 20 s"),
        }
    }
    match pd.next(Duration::from_secs(10)) {
        Some(Event::Renewed(l)) => assert!(l.same_prefixes(&lease), "{l:?}"),
        other => panic!("expected Renewed after Rebind, got {other:?}"),
    }
    ping();
    drop(pd);
}

#[test]
fn root_rfc8415_18_2_10_kea_pool_change_emits_changed() {
    let n = net("poolchg");
    let timers =
        r#""renew-timer": 2, "rebind-timer": 3, "preferred-lifetime": 4, "valid-lifetime": 6"#;
    let mut first_kea = kea(&n, POOL_48, timers);
    let mut pd = Pd::start(&n.router, client(&n, 48));
    let first = pd.delegated(Duration::from_secs(15));
    // The ISP renumbers: the server comes back (same DUID, same data directory) with another
    // pool and without the old binding.
    first_kea.child().kill().unwrap();
    first_kea.child().wait().unwrap();
    let _ = std::fs::remove_file(n.dir.join("leases6.csv"));
    let new_pool = r#"{ "prefix": "2001:db8:200::", "prefix-len": 40, "delegated-len": 48 }"#;
    let _kea = kea(&n, new_pool, timers);
    let pool: ipnet::Ipv6Net = "2001:db8:200::/40".parse().unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    loop {
        match pd.next(Duration::from_millis(500)) {
            Some(Event::Changed { old, new }) => {
                assert!(old.same_prefixes(&first), "old is what we held: {old:?}");
                assert!(new.prefixes.iter().all(|p| pool.contains(&p.prefix)), "{new:?}");
                assert!(!new.prefixes.is_empty());
                break;
            }
            Some(ev) => seen.push(ev),
            None => {}
        }
        assert!(Instant::now() < until, "no Changed after the renumbering; saw {seen:?}");
    }
}

#[test]
fn root_rfc4861_6_3_4_default_route_from_the_isps_router_advertisement() {
    use netcfg::Family;
    let n = net("isp-ra");
    // The router forwards (so the kernel would ignore RAs unless accept_ra is 2).
    n.router.netcfg(|nc| async move { nc.set_forwarding("all", Family::V6, true) }).unwrap();
    let _kea = kea(&n, POOL_48, KEA_TIMERS);
    let mut pd = Pd::start(&n.router, client(&n, 48));
    pd.delegated(Duration::from_secs(15));
    // The ISP advertises itself as a default router on the WAN link.
    let (commands, rx) = tokio::sync::mpsc::unbounded_channel::<ra::driver::Command>();
    let mut rc = ra::driver::Config::new("eth0");
    rc.uplink = true;
    let isp_ra = Running::<(), _>::start(&n.isp, move |_, stop| ra::driver::run(rc, rx, stop));
    let d = wait_for(Duration::from_secs(10), "a default route from the ISP's RA", || {
        let routes = n.router.netcfg(|nc| async move { nc.routes(true).await }).unwrap();
        let default = routes.iter().find(|r| r.dst.prefix_len() == 0).cloned();
        default.ok_or_else(|| format!("{routes:?}"))
    });
    let via = d.gateway.expect("via the ISP's link-local");
    assert!(matches!(via, std::net::IpAddr::V6(v) if v.segments()[0] == 0xfe80), "{d:?}");
    assert_eq!(d.proto, netcfg::RouteProto::Ra);
    isp_ra.stop().0.unwrap();
    drop(commands);
}
