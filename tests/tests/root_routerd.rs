//! routerd end to end (the first slice): internet <-> ispemu <-> routerd <-> a LAN host.
//! routerd runs as a process from a config file; the LAN host is a real DHCP client (busybox
//! udhcpc), asks routerd's DNS with dig, and reaches the stand-in internet through PPPoE and
//! NAT. Each test starts its own [`Home`] (about a second to a LAN numbered by the delegated
//! prefix) and runs its scenarios on it in order, each named in its output and in its
//! failure. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use netlab::Netns;
use router_tests::clients::udhcpc;
use router_tests::routerd::{Routerd, write_config};
use router_tests::wan::{Isp, Line, bin};
use router_tests::{PeerEcho, Signal, TempDir, lab, peer_seen, scenario, wait_for};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The modified EUI-64 interface identifier of `mac` (RFC 4291 §2.5.1 and appendix A) as the
/// low 64 bits of an address: what the kernel's SLAAC puts after the /64.
fn eui64(mac: [u8; 6]) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac;
    Ipv6Addr::from(u128::from(u64::from_be_bytes([a ^ 0x02, b, c, 0xff, 0xfe, d, e, f])))
}

/// The routerd configuration of these tests. Its line numbers matter: a reload scenario
/// expects an error on line 14.
fn config(dir: &TempDir, mac: [u8; 6], suffix: Ipv6Addr) -> String {
    let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    format!(
        r#"state_dir = "{}"
[wan]
interface = "eth0"
vlan = 6
mode = "pppoe"
[wan.pppoe]
username = "internet"
password = "internet"
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
subnet_id = 1
dhcp4 = {{ pool = "192.168.1.100-192.168.1.199", lease_time = "1h" }}
reservations = [{{ mac = "{mac}", ipv4 = "192.168.1.10" }}]
[dns]
hosts = [{{ name = "printer", ipv4 = "192.168.1.20" }}]
[[firewall.port_forward]]
name = "web"
proto = "tcp"
port = 8080
to = "192.168.1.10:80"
[[firewall.pinhole]]
name = "ssh"
lan = "lan"
host_suffix = "{suffix}"
proto = "tcp"
port = 22
[control]
socket = "{}"
"#,
        dir.join("state").display(),
        dir.join("control.sock").display()
    )
}

/// A home network: a LAN host (`eth0`) on routerd's `lan0`, routerd dialing PPPoE on VLAN 6
/// to ispemu (KPN profile, delegating a /48 out of 2001:db8:1000::/36), and the stand-in
/// internet behind the ISP. The LAN host has a reservation for the port forward, and its
/// SLAAC interface identifier is the pinhole's host suffix.
struct Home {
    routerd: Routerd,
    isp: Isp,
    lan: Netns,
    router: Netns,
    inet: Netns,
    /// The LAN host's SLAAC interface identifier.
    suffix: Ipv6Addr,
    /// From the start of routerd to the WAN up, and to the LAN numbered.
    ready: (Duration, Duration),
    dir: TempDir,
    _line: Line,
}

impl Home {
    /// Builds the lab and starts routerd (after `routerd check` of its configuration);
    /// returns once the LAN is numbered from the delegated prefix.
    fn start(tag: &str) -> Home {
        let line = Line::new(tag);
        let (lan, router, inet) = (line.lan.clone(), line.router.clone(), line.inet.clone());
        let dir = TempDir::new(&format!("routerd-{tag}"));
        let isp = Isp::start(&line.isp, dir.path(), "vlan = 6\n");
        let mac: [u8; 6] = lan
            .netcfg(|nc| async move { Ok(nc.link_by_name("eth0").await?.mac.unwrap()) })
            .unwrap();
        let suffix = eui64(mac);
        write_config(dir.path(), &config(&dir, mac, suffix));
        let started = Instant::now();
        let routerd = Routerd::start(&router, dir.path());
        routerd.wait_for(secs(15), "the WAN up", || routerd.logs().contains("wan up"));
        let wan_up = started.elapsed();
        routerd.wait_for(secs(15), "the LAN numbered from the delegated prefix", || {
            routerd.logs().contains("lan numbered from the delegated prefix")
        });
        let ready = (wan_up, started.elapsed());
        Home { routerd, isp, lan, router, inet, suffix, ready, dir, _line: line }
    }

    /// The LAN host's addresses on `eth0`.
    fn host_addresses(&self) -> Vec<netcfg::Address> {
        self.lan
            .netcfg(|nc| async move {
                let l = nc.link_by_name("eth0").await?;
                nc.addresses(Some(&l)).await
            })
            .unwrap()
    }

    /// Whether the LAN host reaches the internet host over IPv6.
    fn ping6(&self) -> std::process::Output {
        self.lan
            .command("ping")
            .args(["-6", "-c", "2", "-W", "2", "2001:db8:ffff::10"])
            .output()
            .unwrap()
    }

    fn dig(&self, name: &str) -> String {
        let out = self
            .lan
            .command("dig")
            .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `ispemu ctl sessions`: the sessions the ISP holds, and how many.
    fn sessions(&self) -> (String, usize) {
        let s = self.isp.ctl("sessions");
        let n = s.matches("session_id").count();
        (s, n)
    }
}

// ---- The scenarios, in the order the tests run them.

/// The LAN host gets a lease by DHCP (its reservation), with routerd as router and DNS
/// server and the local domain; returns its address.
fn lease(h: &Home) -> String {
    let lease = udhcpc(&h.lan, h.dir.path(), Some("laptop"))
        .unwrap_or_else(|| panic!("no lease; routerd log:\n{}", h.routerd.logs()));
    assert!(
        lease.contains("ip=192.168.1.1")
            && lease.contains("dns=192.168.1.1")
            && lease.contains("domain=home.arpa"),
        "{lease}"
    );
    lease.split_whitespace().next().unwrap().trim_start_matches("ip=").to_string()
}

/// Names: a static one, the lease's, and one forwarded to the ISP's resolver.
fn names(h: &Home, ip: &str) {
    assert_eq!(h.dig("printer.home.arpa"), "192.168.1.20");
    h.routerd.wait_for(secs(5), format!("laptop.home.arpa to resolve to {ip}"), || {
        h.dig("laptop.home.arpa") == ip
    });
    assert_eq!(
        h.dig("www.example.test"),
        "203.0.113.10",
        "forwarded to the upstream learned by IPCP"
    );
}

/// The internet, through PPPoE and NAT; returns the public address the far end saw.
fn nat(h: &Home) -> String {
    let server = PeerEcho::start(&h.inet, "203.0.113.10:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&h.lan, "203.0.113.10:8080".parse().unwrap(), secs(5));
    assert!(
        seen.as_deref().is_some_and(|s| s.starts_with("198.51.100.")),
        "NATed to the PPP address: {seen:?}"
    );
    drop(server);
    seen.unwrap()
}

/// IPv6: the ISP delegated a /48; routerd numbered the LAN with its /64 number 1. Returns
/// routerd's address on the LAN.
fn lan_numbered(h: &Home) -> ipnet::Ipv6Net {
    let pool: ipnet::Ipv6Net = "2001:db8:1000::/36".parse().unwrap();
    let router = &h.router;
    let gw6 = h.routerd.wait_for(secs(15), "the LAN numbered from a delegated prefix", || {
        let addrs = router
            .netcfg(|nc| async move {
                let l = nc.link_by_name("lan0").await?;
                nc.addresses(Some(&l)).await
            })
            .unwrap();
        addrs.iter().find_map(|a| match a.net {
            ipnet::IpNet::V6(n) if pool.contains(&n.addr()) => Some(n),
            _ => None,
        })
    });
    // Figures for the record (printed with --nocapture): start to LAN ready, and memory.
    let (wan_up, lan_ready) = h.ready;
    println!(
        "routerd: WAN up {wan_up:?} and LAN numbered {lan_ready:?} after start; VmRSS {} kB",
        h.routerd.rss_kib()
    );
    assert_eq!(gw6.prefix_len(), 64);
    assert_eq!(gw6.addr().segments()[3] & 0xff, 1, "subnet id 1: {gw6}");
    gw6
}

/// The LAN host numbers itself by SLAAC from routerd's router advertisement (the kernel's
/// own SLAAC), takes its default route from it and reaches the internet over IPv6. Returns
/// its SLAAC address.
fn slaac(h: &Home, gw6: ipnet::Ipv6Net) -> Ipv6Addr {
    let net64 = gw6.trunc();
    let host = h.routerd.wait_for(secs(15), format!("a SLAAC address in {net64}"), || {
        let addrs = h.host_addresses();
        addrs
            .iter()
            .find_map(|a| match a.net {
                ipnet::IpNet::V6(n) if net64.contains(&n.addr()) && !a.tentative => Some(n.addr()),
                _ => None,
            })
            .ok_or_else(|| format!("{addrs:?}"))
    });
    let routes = h.lan.netcfg(|nc| async move { nc.routes(true).await }).unwrap();
    assert!(
        routes.iter().any(|r| r.dst.prefix_len() == 0
            && r.gateway.is_some_and(|g| matches!(g, IpAddr::V6(v) if v.segments()[0] == 0xfe80))),
        "default route from the RA: {routes:?}"
    );
    let ping6 = h.ping6();
    assert!(
        ping6.status.success(),
        "{host} reaches the internet over IPv6: {}\n{}",
        String::from_utf8_lossy(&ping6.stdout),
        h.routerd.logs()
    );
    host
}

/// From the internet: the port forward reaches the LAN host (the source kept), and the
/// pinhole reaches its SLAAC address on port 22, nothing else.
fn port_forward_and_pinhole(h: &Home, ip: &str, public: &str, host: Ipv6Addr) {
    assert_eq!(ip, "192.168.1.10", "the reservation");
    let web = PeerEcho::start(&h.lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
    let fwd = peer_seen(&h.inet, format!("{public}:8080").parse().unwrap(), secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "port forward");
    drop(web);
    let (ssh, telnet) = (
        PeerEcho::start(&h.lan, "[::]:22".parse::<SocketAddr>().unwrap()),
        PeerEcho::start(&h.lan, "[::]:23".parse::<SocketAddr>().unwrap()),
    );
    assert_eq!(host.segments()[4..], h.suffix.segments()[4..], "SLAAC from the MAC");
    let pin = peer_seen(&h.inet, SocketAddr::new(host.into(), 22), secs(5));
    assert_eq!(pin.as_deref(), Some("2001:db8:ffff::10"), "pinhole");
    let blocked = peer_seen(&h.inet, SocketAddr::new(host.into(), 23), Duration::from_millis(700));
    assert_eq!(blocked, None, "no pinhole for port 23");
    drop((ssh, telnet));
}

/// routerctl: status (healthy, every service running), leases, prefixes.
fn routerctl(h: &Home, ip: &str) {
    let (ok, text) = h.routerd.ctl(&["status", "--check"]);
    assert!(ok, "healthy while up: {text}");
    assert!(text.contains("state: up"), "{text}");
    let (_, json) = h.routerd.ctl(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for svc in ["firewall", "dns", "addressing", "dhcp4/lan", "ra/lan", "wan", "dhcpv6pd"] {
        assert_eq!(v["status"]["services"][svc]["state"], "running", "{svc}: {json}");
    }
    assert!(v["status"]["ready_after_ms"].as_u64().is_some(), "{json}");
    // A PPPoE WAN is a TUN device: no flowtable.
    assert_eq!(v["status"]["fast_path"]["state"], "not_with_pppoe", "{json}");
    let (_, leases) = h.routerd.ctl(&["leases", "--json"]);
    assert!(
        leases.contains(&format!("\"address\":\"{ip}\""))
            && leases.contains("\"hostname\":\"laptop\""),
        "{leases}"
    );
    let (_, prefixes) = h.routerd.ctl(&["prefixes", "--json"]);
    assert!(prefixes.contains("2001:db8:1") && prefixes.contains("/48"), "{prefixes}");
}

/// Memory at steady state with 100 leases (README: "memory with 100 leases"): the LAN host's
/// and 99 more from perfdhcp, relayed through the LAN host's address (so from the pool), one
/// DORA for each of 99 MACs (`-R 99` counts up from the base MAC; `-n 99 -n 99 -W` waits for
/// every OFFER and ACK). All 100 are in `routerctl leases`, and routerd's resident set stays
/// under 64 MiB (about 26 MiB in a debug build).
fn hundred_leases(h: &Home, ip: &str) {
    const RSS_LIMIT_KIB: u64 = 64 * 1024;
    let st = h
        .lan
        .command("timeout")
        .args(["20", "perfdhcp", "-4", "-r", "50", "-R", "99", "-n", "99", "-n", "99"])
        .args(["-W", "2000000", "-b", "mac=00:0c:01:02:03:04", "192.168.1.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let pool = |a: &str| {
        a.parse::<std::net::Ipv4Addr>().is_ok_and(|a| (100..=199).contains(&a.octets()[3]))
    };
    let leases = h.routerd.wait_for(secs(5), "100 leases in routerctl leases", || {
        let v = h.routerd.json("leases");
        let addrs: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["address"].as_str().map(str::to_string))
            .collect();
        let from_pool = addrs.iter().filter(|a| pool(a)).count();
        if addrs.len() == 100 && from_pool == 99 && addrs.iter().any(|a| a == ip) {
            Ok(addrs)
        } else {
            Err(format!("{} leases, {from_pool} from the pool: {addrs:?}", addrs.len()))
        }
    });
    let rss = h.routerd.rss_kib();
    println!("routerd with {} leases (perfdhcp: {st}): VmRSS {rss} kB", leases.len());
    assert!(rss > 0 && rss < RSS_LIMIT_KIB, "VmRSS {rss} kB with 100 leases");
}

/// The ISP drops the session and stays silent: not healthy; then it answers again and
/// routerd redials by itself, and the LAN host's NATed traffic flows again untouched.
/// `routerctl events` follows it as it happens.
fn redial(h: &Home) {
    let events_file = h.dir.join("events.jsonl");
    let router = &h.router;
    let mut cmd = router.command(bin("routerctl"));
    cmd.arg("--socket")
        .arg(h.dir.join("control.sock"))
        .args(["events", "--json"])
        .stdout(std::fs::File::create(&events_file).unwrap());
    let _events = router.spawn_process(&mut cmd).unwrap();
    let kinds = || -> Vec<String> {
        let text = std::fs::read_to_string(&events_file).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["event"].as_str().map(str::to_string))
            .collect()
    };
    // routerctl says nothing when it has subscribed: a lease renewed by the LAN host (a
    // harmless event) shows up in the stream once it has.
    h.routerd.wait_for(secs(10), "routerctl events to stream (a lease_granted)", || {
        if kinds().iter().any(|k| k == "lease_granted") {
            return true;
        }
        let _ = udhcpc(&h.lan, h.dir.path(), Some("laptop"));
        false
    });
    let subscribed = kinds().len();
    assert!(h.isp.ctl("padi off").starts_with("ok"));
    assert!(h.isp.ctl("padt all").starts_with("ok"));
    wait_for(secs(5), "routerd unhealthy after the PADT", || !h.routerd.healthy());
    assert!(h.isp.ctl("padi on").starts_with("ok"));
    h.routerd.wait_for(secs(20), "routerd healthy again", || h.routerd.healthy());
    let ping = h.lan.command("ping").args(["-c", "2", "-W", "2", "203.0.113.10"]).output().unwrap();
    assert!(ping.status.success(), "after the redial: {}", String::from_utf8_lossy(&ping.stdout));
    let seen = wait_for(secs(10), "wan_down, wan_up and prefix_delegated events", || {
        let kinds: Vec<String> = kinds().split_off(subscribed);
        let pos = |k: &str| kinds.iter().position(|e| e == k);
        match (pos("wan_down"), pos("wan_up"), pos("prefix_delegated")) {
            (Some(down), Some(up), Some(_)) => {
                assert!(down < up, "down before up: {kinds:?}");
                Ok(kinds)
            }
            _ => Err(format!("{kinds:?}")),
        }
    });
    println!("routerctl events during the redial: {seen:?}");
}

/// The ISP renumbers: a different prefix on the redial. The LAN follows: routerd numbers
/// it from the new /48, the host gets an address in the new /64 by SLAAC and its old one
/// is deprecated (RFC 9096), and the pinhole follows the host's new address.
fn renumbering(h: &Home, host: Ipv6Addr) {
    assert_eq!(h.isp.ctl("pd pool 2001:db8:2000::/36").trim(), "ok");
    assert!(h.isp.ctl("padt all").starts_with("ok"));
    h.routerd.wait_for(secs(30), "a new prefix after the ISP renumbered", || {
        let p = h.routerd.ctl(&["prefixes", "--json"]).1;
        (p.contains("2001:db8:2") && !p.contains("2001:db8:1")).then_some(()).ok_or(p)
    });
    let renumbered: ipnet::Ipv6Net = "2001:db8:2000::/36".parse().unwrap();
    let (new_host, old_state) = h.routerd.wait_for(secs(20), "the LAN host renumbered", || {
        let addrs = h.host_addresses();
        let new = addrs.iter().find_map(|a| match a.net {
            ipnet::IpNet::V6(n) if renumbered.contains(&n.addr()) && !a.tentative => Some(n.addr()),
            _ => None,
        });
        let old = addrs.iter().find(|a| a.net.addr() == IpAddr::V6(host));
        match (new, old.is_none_or(|o| o.deprecated)) {
            (Some(new), true) => Ok((new, old.map(|o| o.deprecated))),
            _ => Err(format!("{addrs:?}")),
        }
    });
    assert_eq!(new_host.segments()[4..], h.suffix.segments()[4..], "same interface id");
    println!("renumbered: {host} (deprecated: {old_state:?}) -> {new_host}");
    let ssh = PeerEcho::start(&h.lan, "[::]:22".parse::<SocketAddr>().unwrap());
    let pin = peer_seen(&h.inet, SocketAddr::new(new_host.into(), 22), secs(5));
    assert_eq!(pin.as_deref(), Some("2001:db8:ffff::10"), "pinhole on the new prefix");
    drop(ssh);
    assert!(h.ping6().status.success(), "IPv6 after renumbering:\n{}", h.routerd.logs());
}

/// SIGHUP: the port forward moves from 8080 to 8081, applied without a restart; then a
/// reload that readdresses the LAN is refused whole, and the forward stays.
fn reload(h: &Home) {
    let public = h.routerd.json("wan")["ipv4"].as_str().unwrap().to_string();
    let config = h.routerd.config();
    let original = std::fs::read_to_string(&config).unwrap();
    let status = || h.routerd.json("status")["status"].clone();
    let hup = |text: &str, expect: &str| {
        let before = status()["reloads"].as_u64().unwrap();
        std::fs::write(&config, text).unwrap();
        h.routerd.signal(Signal::SIGHUP);
        h.routerd.wait_for(secs(5), format!("the reload {expect}"), || {
            let s = status();
            let r = s["reload"].as_str().unwrap_or_default().to_string();
            if s["reloads"].as_u64() > Some(before) && r.starts_with(expect) {
                Ok(r)
            } else {
                Err(r)
            }
        })
    };
    let moved = original.replace("port = 8080", "port = 8081");
    let r = hup(&moved, "applied");
    assert!(r.contains("firewall"), "{r}");
    let web = PeerEcho::start(&h.lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
    let fwd = peer_seen(&h.inet, format!("{public}:8081").parse().unwrap(), secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "port forward after the reload");
    // A changed forward is an element update, not a new table (logged once it is done).
    h.routerd.wait_for(secs(5), "the forward updated in place", || {
        h.routerd.logs().contains("port forwards updated in place")
    });
    let old =
        peer_seen(&h.inet, format!("{public}:8080").parse().unwrap(), Duration::from_millis(700));
    assert_eq!(old, None, "the old forward is gone");
    let r = hup(&moved.replace("192.168.1.1/24", "192.168.7.1/24"), "refused");
    assert!(r.contains("line 14: lan[0].dhcp4.pool"), "invalid: the key and line: {r}");
    let r = hup(&moved.replace("192.168.1.", "192.168.7."), "refused");
    assert!(r.contains("lan[lan].ipv4"), "valid, but only a restart readdresses a LAN: {r}");
    let fwd = peer_seen(&h.inet, format!("{public}:8081").parse().unwrap(), secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "the forward stays after a refused reload");
    drop(web);
    std::fs::write(&config, &moved).unwrap();
    assert!(h.routerd.healthy(), "healthy after the reloads");
}

/// SIGKILL, then a restart on the same state: the ISP's stale session is cleared by a
/// PADT, the same prefix is asked for and given, and the lease is still there.
fn restart_after_sigkill(h: &Home, ip: &str) {
    let prefixes_before = h.routerd.ctl(&["prefixes", "--json"]).1;
    h.routerd.kill();
    let (stale, n) = h.sessions();
    assert_eq!(n, 1, "the ISP still holds the session: {stale}");
    h.routerd.restart();
    h.routerd.wait_for(secs(20), "routerd back after the restart", || {
        h.routerd.logs().contains("router ready") && h.routerd.healthy()
    });
    let logs = h.routerd.logs();
    assert!(logs.contains("PADT for the session left by the previous run"), "{logs}");
    let (sessions, n) = h.sessions();
    assert_eq!(n, 1, "stale session gone: {sessions}");
    assert_ne!(sessions, stale);
    assert_eq!(h.routerd.ctl(&["prefixes", "--json"]).1, prefixes_before, "the same prefix again");
    let lease = udhcpc(&h.lan, h.dir.path(), Some("laptop"))
        .unwrap_or_else(|| panic!("no lease after the restart:\n{}", h.routerd.logs()));
    assert!(lease.starts_with(&format!("ip={ip} ")), "{lease}");
    assert_eq!(h.dig("laptop.home.arpa"), ip, "the name is back with the lease");
}

/// The delegation is remembered across a restart (RFC 9096): killed again, and the ISP
/// renumbers (to `renumbered`) while routerd is down. The restarted router gets a new prefix
/// and announces the one the LAN host still holds (in `held`) as deprecated, so the host
/// stops preferring it at once instead of when its lifetime runs out.
fn remembered_delegation(h: &Home, held: ipnet::Ipv6Net, renumbered: ipnet::Ipv6Net) {
    let before = h
        .host_addresses()
        .into_iter()
        .find_map(|a| match a.net {
            ipnet::IpNet::V6(n) if held.contains(&n.addr()) && !a.deprecated => Some(n.addr()),
            _ => None,
        })
        .expect("the host holds an address in the current prefix");
    h.routerd.kill();
    assert_eq!(h.isp.ctl(&format!("pd pool {renumbered}")).trim(), "ok");
    h.routerd.restart();
    h.routerd.wait_for(
        secs(30),
        format!("{before} deprecated and an address in {renumbered}"),
        || {
            let a = h.host_addresses();
            let old_deprecated =
                a.iter().any(|a| a.net.addr() == IpAddr::V6(before) && a.deprecated);
            let new = a
                .iter()
                .any(|a| matches!(a.net, ipnet::IpNet::V6(n) if renumbered.contains(&n.addr())));
            (old_deprecated && new).then_some(()).ok_or_else(|| format!("{a:?}"))
        },
    );
    assert!(h.routerd.logs().contains("remembered delegation"), "{}", h.routerd.logs());
}

/// SIGTERM: a clean stop; the ISP sees the session end (PADT).
fn sigterm(h: &Home) {
    h.routerd.stop();
    wait_for(secs(5), "the ISP to drop the session", || {
        let (s, n) = h.sessions();
        (n == 0).then_some(()).ok_or(s)
    });
}

// ---- The tests.

#[test]
fn root_routerd_lan_host_gets_lease_names_and_internet() {
    let h = Home::start("routerd");
    let ip = scenario("lease", || lease(&h));
    scenario("names", || names(&h, &ip));
    let public = scenario("nat", || nat(&h));
    let gw6 = scenario("lan numbered", || lan_numbered(&h));
    let host = scenario("slaac", || slaac(&h, gw6));
    scenario("port forward and pinhole", || port_forward_and_pinhole(&h, &ip, &public, host));
    scenario("routerctl", || routerctl(&h, &ip));
}

#[test]
fn root_routerd_holds_100_leases_in_bounded_memory() {
    let h = Home::start("leases100");
    let ip = scenario("lease", || lease(&h));
    scenario("100 leases", || hundred_leases(&h, &ip));
}

#[test]
fn root_routerd_redials_and_follows_the_isp_renumbering() {
    let h = Home::start("redial");
    scenario("lease", || lease(&h));
    let gw6 = scenario("lan numbered", || lan_numbered(&h));
    let host = scenario("slaac", || slaac(&h, gw6));
    scenario("redial", || redial(&h));
    scenario("renumbering", || renumbering(&h, host));
}

#[test]
fn root_routerd_sighup_applies_a_config_or_refuses_it_whole() {
    let h = Home::start("reload");
    scenario("lease", || lease(&h));
    scenario("reload", || reload(&h));
}

#[test]
fn root_routerd_restarts_after_sigkill_with_session_prefix_and_lease() {
    let h = Home::start("sigkill");
    let ip = scenario("lease", || lease(&h));
    let gw6 = scenario("lan numbered", || lan_numbered(&h));
    scenario("slaac", || slaac(&h, gw6));
    scenario("restart after SIGKILL", || restart_after_sigkill(&h, &ip));
    let (held, renumbered) =
        ("2001:db8:1000::/36".parse().unwrap(), "2001:db8:2000::/36".parse().unwrap());
    scenario("remembered delegation", || remembered_delegation(&h, held, renumbered));
    scenario("sigterm", || sigterm(&h));
}

#[test]
fn root_routerd_bad_config_is_refused_whole_and_applies_nothing() {
    let lab = lab("badcfg");
    let (lan, router) = (lab.netns("lan").unwrap(), lab.netns("r").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    let dir = TempDir::new("routerd-bad");
    let config = dir.join("routerd.toml");
    // Everything valid but the pool, on line 12: nothing may be applied.
    std::fs::write(
        &config,
        "[wan]\ninterface = \"eth0\"\nmode = \"pppoe\"\n[wan.pppoe]\nusername = \"u\"\npassword = \"p\"\n\
         [[lan]]\nname = \"lan\"\ninterface = \"lan0\"\nipv4 = \"192.168.1.1/24\"\n\
         [lan.dhcp4]\npool = \"192.168.9.100-192.168.9.199\"\n",
    )
    .unwrap();
    let out =
        router.command(bin("routerd")).arg("run").arg("--config").arg(&config).output().unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("line 12") && text.contains("lan[0].dhcp4.pool"), "{text}");
    let tables = router.command("nft").args(["list", "tables"]).output().unwrap();
    assert!(String::from_utf8_lossy(&tables.stdout).trim().is_empty(), "no firewall applied");
    let addrs = router
        .netcfg(|nc| async move {
            let l = nc.link_by_name("lan0").await?;
            nc.addresses(Some(&l)).await
        })
        .unwrap();
    assert!(addrs.iter().all(|a| !a.net.addr().is_ipv4()), "no LAN address applied: {addrs:?}");
}

// ---- The HTTP endpoint: status page, /api/status, /metrics.

/// `curl` from the LAN host: status code and body.
fn get(h: &Home, path: &str, extra: &[&str]) -> (u16, String) {
    let out = h
        .lan
        .command("curl")
        .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(format!("http://192.168.1.1:8080{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// One sample of a scrape (`name{labels}` as printed), 0 when absent.
fn sample(metrics: &str, key: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// A scrape that promtool accepts.
fn scrape(h: &Home) -> String {
    let (code, body) = get(h, "/metrics", &[]);
    assert_eq!(code, 200, "{body}");
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    body
}

/// `/api/status` is what `routerctl status --json` prints; `/metrics` passes promtool and
/// its counters move by what the test did: 5 local DNS queries, one DORA.
fn metrics_follow_traffic(h: &Home) {
    let (code, body) = get(h, "/api/status", &[]);
    assert_eq!(code, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ctl = h.routerd.json("status");
    assert_eq!(api["status"]["wan"]["state"], "up");
    assert_eq!(api["status"]["wan"]["ipv4"], ctl["status"]["wan"]["ipv4"]);
    assert_eq!(api["status"]["leases"], ctl["status"]["leases"]);
    let before = scrape(h);
    assert_eq!(sample(&before, "routerd_wan_up"), 1.0);
    for _ in 0..5 {
        assert_eq!(h.dig("printer.home.arpa"), "192.168.1.20");
    }
    udhcpc(&h.lan, h.dir.path(), Some("laptop")).expect("a lease");
    let after = scrape(h);
    let moved = |key: &str| sample(&after, key) - sample(&before, key);
    assert_eq!(moved("routerd_dns_queries_total{outcome=\"local\"}"), 5.0);
    let v4 = |t: &str| {
        format!("routerd_dhcp_sent_messages_total{{family=\"v4\",lan=\"lan\",type=\"{t}\"}}")
    };
    assert_eq!((moved(&v4("offer")), moved(&v4("ack"))), (1.0, 1.0));
    assert!(sample(&after, "routerd_dhcp_active_leases{lan=\"lan\",family=\"v4\"}") >= 1.0);
    assert_eq!(sample(&after, "routerd_dhcp_pool_size{lan=\"lan\"}"), 100.0);
    assert!(sample(&after, "routerd_wan_bytes_total{direction=\"rx\"}") > 0.0);
    assert!(after.contains("routerd_delegated_prefix_info{prefix=\"2001:db8:"), "{after}");
    assert!(sample(&after, "routerd_service_up{service=\"http\"}") == 1.0);
}

/// The page in a real headless Chromium on the LAN host: it renders the WAN up and the
/// lease's host name with no console error; a screenshot is kept as an artifact.
fn status_page(h: &Home) {
    let profile = h.dir.join("chromium");
    let run = |extra: &[String]| {
        let out = h
            .lan
            .command("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .args(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg("http://192.168.1.1:8080/")
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (dom, log) = run(&["--dump-dom".to_string()]);
    assert!(dom.contains("WAN up"), "the badge says the WAN is up: {dom}\n{log}");
    assert!(dom.contains("laptop"), "the lease's host name in the table: {dom}");
    assert!(dom.contains("2001:db8:"), "the delegated prefix: {dom}");
    assert!(dom.contains("fast path: not with a PPPoE WAN"), "the fast path's state: {dom}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let shot = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from)
        .join("routerd-status-page.png");
    let _ =
        run(&["--window-size=1280,1100".to_string(), format!("--screenshot={}", shot.display())]);
    assert!(
        std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false),
        "screenshot at {}",
        shot.display()
    );
    println!("status page screenshot: {}", shot.display());
}

/// Never on the WAN: routerd listens on the LAN's addresses only, the firewall accepts the
/// port on `lan0` only, and from the internet the public address's port is not routerd's.
fn not_on_the_wan(h: &Home) {
    let ss = h.router.command("ss").args(["-Htln", "sport = :8080"]).output().unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout);
    let local: Vec<&str> = ss.lines().filter_map(|l| l.split_whitespace().nth(3)).collect();
    assert!(!local.is_empty(), "{ss}");
    assert!(
        local.iter().all(|a| a.starts_with("192.168.1.1:")
            || a.starts_with("[fd")
            || a.starts_with("[2001:db8")),
        "only LAN addresses: {local:?}"
    );
    let nft = h
        .router
        .command("nft")
        .args(["list", "chain", "inet", "routerd", "input"])
        .output()
        .unwrap();
    let nft = String::from_utf8_lossy(&nft.stdout);
    let opens: Vec<&str> = nft.lines().filter(|l| l.contains("dport 8080")).collect();
    assert!(!opens.is_empty() && opens.iter().all(|l| l.contains("iifname \"lan0\"")), "{nft}");
    let public = h.routerd.json("wan")["ipv4"].as_str().unwrap().to_string();
    let out = h
        .inet
        .command("curl")
        .args(["-s", "--max-time", "2"])
        .arg(format!("http://{public}:8080/api/status"))
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("healthy"),
        "routerd answered from the WAN"
    );
}

/// Bad requests get 4xx and change nothing: garbage, a 20 KB header, a slow client that
/// never finishes its head; DNS and DHCP keep answering, the page keeps serving.
fn bad_requests(h: &Home) {
    let raw = |send: &str| {
        let script = format!(
            "exec 3<>/dev/tcp/192.168.1.1/8080; printf '{send}' >&3; timeout 12 head -c 12 <&3"
        );
        let out = h.lan.command("bash").args(["-c", &script]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(raw("GARBAGE\\r\\n\\r\\n"), "HTTP/1.1 400");
    let big = "x".repeat(20_000);
    assert_eq!(get(h, "/api/status", &["-H", &format!("X-Big: {big}")]).0, 431);
    assert_eq!(get(h, "/nosuch", &[]).0, 404);
    assert_eq!(get(h, "/metrics", &["-X", "POST", "-d", "x"]).0, 405);
    // A slow client: half a request line, then nothing; hyper closes it after its head
    // timeout (10 s) without an answer, and others are served meanwhile.
    let slow = h.lan.command("bash")
        .args(["-c", "exec 3<>/dev/tcp/192.168.1.1/8080; printf 'GET / HT' >&3; timeout 15 cat <&3; echo closed"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(get(h, "/api/status", &[]).0, 200, "served beside the slow client");
    let out = slow.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("closed"));
    assert_eq!(h.dig("printer.home.arpa"), "192.168.1.20");
    udhcpc(&h.lan, h.dir.path(), Some("laptop")).expect("DHCP still answers");
    assert!(h.routerd.healthy());
}

/// With `[http] token_file` (applied by SIGHUP: the endpoint restarts), the data paths need
/// the bearer token; the page itself stays public.
fn token(h: &Home) {
    let config = h.routerd.config();
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(h.dir.join("http-token"), "s3cret-token\n").unwrap();
    let with =
        format!("{original}\n[http]\ntoken_file = \"{}\"\n", h.dir.join("http-token").display());
    std::fs::write(&config, with).unwrap();
    h.routerd.signal(Signal::SIGHUP);
    h.routerd.wait_for(secs(10), "401 without the token", || get(h, "/metrics", &[]).0 == 401);
    assert_eq!(get(h, "/api/status", &["-H", "Authorization: Bearer wrong"]).0, 401);
    assert_eq!(get(h, "/api/status", &["-H", "Authorization: Bearer s3cret-token"]).0, 200);
    assert_eq!(get(h, "/", &[]).0, 200);
    std::fs::write(&config, original).unwrap();
}

/// The page stays open in Chromium (DevTools on the LAN host's loopback) across a PADT:
/// its WAN badge goes down and comes up again without a reload, with no console error.
fn page_follows_a_redial(h: &Home) {
    let profile = h.dir.join("chromium-live");
    let mut cmd = h.lan.command("chromium");
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg("--remote-debugging-port=9222")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("http://192.168.1.1:8080/")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _browser = h.lan.spawn_process(&mut cmd).unwrap();
    let watch = h
        .lan
        .spawn(|_| async move {
            let mut page = router_tests::cdp::Page::attach(9222).expect("DevTools");
            let mut seen: Vec<String> = Vec::new();
            let until = Instant::now() + Duration::from_secs(45);
            while Instant::now() < until {
                let badge = page
                    .eval("document.getElementById('wan-badge').textContent")
                    .unwrap()
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if seen.last() != Some(&badge) {
                    seen.push(badge);
                }
                let ups = seen.iter().filter(|b| *b == "WAN up").count();
                if ups >= 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let reloaded = page.eval("performance.getEntriesByType('navigation').length").unwrap();
            (seen, page.errors.clone(), reloaded)
        })
        .unwrap();
    h.routerd.wait_for(secs(10), "the page to show the WAN up", || {
        get(h, "/api/status", &[]).0 == 200 && h.routerd.healthy()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(h.isp.ctl("padi off").starts_with("ok"));
    assert!(h.isp.ctl("padt all").starts_with("ok"));
    wait_for(secs(5), "routerd unhealthy after the PADT", || !h.routerd.healthy());
    std::thread::sleep(Duration::from_secs(3));
    assert!(h.isp.ctl("padi on").starts_with("ok"));
    h.routerd.wait_for(secs(20), "routerd healthy again", || h.routerd.healthy());
    let (seen, errors, navigations) = watch.join().unwrap();
    println!("the page's WAN badge: {seen:?}");
    let up = seen.iter().position(|b| b == "WAN up").expect("up at first");
    let down = seen.iter().skip(up).position(|b| b != "WAN up").expect("then down") + up;
    assert!(seen.iter().skip(down).any(|b| b == "WAN up"), "and up again: {seen:?}");
    assert_eq!(navigations, 1, "one page load, no reload");
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[test]
fn root_routerd_serves_metrics_and_the_status_page_on_the_lan_only() {
    let h = Home::start("http");
    scenario("lease", || lease(&h));
    scenario("metrics follow traffic", || metrics_follow_traffic(&h));
    scenario("status page in chromium", || status_page(&h));
    scenario("not on the wan", || not_on_the_wan(&h));
    scenario("bad requests", || bad_requests(&h));
    scenario("redial counted", || {
        let before = scrape(&h);
        redial(&h);
        let after = scrape(&h);
        let key = "routerd_wan_downs_total{reason=\"padt\"}";
        assert_eq!(sample(&after, key) - sample(&before, key), 1.0);
    });
    scenario("the page follows a redial live", || page_follows_a_redial(&h));
    scenario("token", || token(&h));
}
