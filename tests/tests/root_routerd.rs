//! routerd end to end (the first slice): internet <-> ispemu <-> routerd <-> a LAN host.
//! routerd runs as a process from a config file; the LAN host is a real DHCP client (busybox
//! udhcpc), asks routerd's DNS with dig, and reaches the stand-in internet through PPPoE and
//! NAT. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use router_tests::wan::{Isp, bin};
use router_tests::{PeerEcho, lab, peer_seen};

fn dig(ns: &netlab::Netns, name: &str) -> String {
    let out = ns
        .command("dig")
        .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn root_routerd_lan_host_gets_lease_names_and_internet() {
    let lab = lab("routerd");
    let (lan, router, isp, inet) = (
        lab.netns("lan").unwrap(),
        lab.netns("r").unwrap(),
        lab.netns("isp").unwrap(),
        lab.netns("inet").unwrap(),
    );
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    let _internet = router_tests::wan::internet(&lab, &isp, &inet);
    let dir = std::env::temp_dir().join(format!("routerd-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The ISP: KPN profile.
    let isp = Isp::start(&isp, &dir, "vlan = 6\n");

    // routerd from a config file.
    // The LAN host's MAC: a reservation (for the port forward) and its SLAAC interface
    // identifier (for the pinhole).
    let mac: [u8; 6] =
        lan.netcfg(|nc| async move { Ok(nc.link_by_name("eth0").await?.mac.unwrap()) }).unwrap();
    let mac_text = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let eui64 = u128::from_be_bytes([
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]);
    let suffix = std::net::Ipv6Addr::from(eui64);
    let config = dir.join("routerd.toml");
    std::fs::write(
        &config,
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
reservations = [{{ mac = "{mac_text}", ipv4 = "192.168.1.10" }}]
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
        ),
    )
    .unwrap();
    let check = std::process::Command::new(bin("routerd"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let log = std::fs::File::create(dir.join("routerd.log")).unwrap();
    let mut cmd = router.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(&config).stdout(log.try_clone().unwrap()).stderr(log);
    let started = Instant::now();
    let mut routerd = router.spawn_process(&mut cmd).unwrap();
    let logs = || std::fs::read_to_string(dir.join("routerd.log")).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(15);
    while !logs().contains("wan up") {
        assert!(Instant::now() < until, "routerd: no WAN within 15 s:\n{}", logs());
        assert!(routerd.child().try_wait().unwrap().is_none(), "routerd exited:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }

    let wan_up = started.elapsed();
    let until = Instant::now() + Duration::from_secs(15);
    while !logs().contains("lan numbered from the delegated prefix") {
        assert!(Instant::now() < until, "routerd: no delegated prefix within 15 s:\n{}", logs());
        std::thread::sleep(Duration::from_millis(10));
    }
    let lan_ready = started.elapsed();

    // The LAN host: a lease by DHCP (busybox udhcpc), configured by its script.
    let script = dir.join("udhcpc.sh");
    let got = dir.join("lease.env");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add $ip/$mask dev $interface\n  for r in $router; do ip route replace default via $r dev $interface; done\n  echo \"ip=$ip dns=$dns domain=$domain\" > {}\n;; esac\n",
            got.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&script).status().unwrap();
    let st = lan
        .command("busybox")
        .args(["udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-x", "hostname:laptop", "-s"])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "no lease; routerd log:\n{}", logs());
    let lease = std::fs::read_to_string(&got).unwrap();
    assert!(
        lease.contains("ip=192.168.1.1")
            && lease.contains("dns=192.168.1.1")
            && lease.contains("domain=home.arpa"),
        "{lease}"
    );
    let ip = lease.split_whitespace().next().unwrap().trim_start_matches("ip=").to_string();

    // Names: static, the lease's, and one forwarded to the ISP's resolver.
    assert_eq!(dig(&lan, "printer.home.arpa"), "192.168.1.20");
    let until = Instant::now() + Duration::from_secs(5);
    while dig(&lan, "laptop.home.arpa") != ip {
        assert!(Instant::now() < until, "laptop.home.arpa never resolved to {ip}:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        dig(&lan, "www.example.test"),
        "203.0.113.10",
        "forwarded to the upstream learned by IPCP"
    );

    // The internet, through PPPoE and NAT.
    let server = PeerEcho::start(&inet, "203.0.113.10:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&lan, "203.0.113.10:8080".parse().unwrap(), Duration::from_secs(5));
    assert!(
        seen.as_deref().is_some_and(|s| s.starts_with("198.51.100.")),
        "NATed to the PPP address: {seen:?}"
    );
    drop(server);

    // IPv6: the ISP delegated a /48; routerd numbered the LAN with its /64 number 1.
    let until = Instant::now() + Duration::from_secs(15);
    let gw = loop {
        let addrs = router
            .netcfg(|nc| async move {
                let l = nc.link_by_name("lan0").await?;
                nc.addresses(Some(&l)).await
            })
            .unwrap();
        let pool: ipnet::Ipv6Net = "2001:db8:1000::/36".parse().unwrap();
        if let Some(a) =
            addrs.iter().find(|a| matches!(a.net, ipnet::IpNet::V6(n) if pool.contains(&n.addr())))
        {
            break a.net;
        }
        assert!(Instant::now() < until, "LAN not numbered from a delegated prefix:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    };
    // Figures for the record (printed with --nocapture): start to LAN ready, and memory.
    let rss = std::fs::read_to_string(format!("/proc/{}/status", routerd.child().id()))
        .unwrap_or_default();
    let rss = rss.lines().find(|l| l.starts_with("VmRSS")).unwrap_or("VmRSS: ?").to_string();
    println!("routerd: WAN up {wan_up:?} and LAN numbered {lan_ready:?} after start; {rss}");
    let ipnet::IpNet::V6(gw6) = gw else { unreachable!() };
    assert_eq!(gw6.prefix_len(), 64);
    assert_eq!(gw6.addr().segments()[3] & 0xff, 1, "subnet id 1: {gw6}");
    // The LAN host numbers itself by SLAAC from routerd's router advertisement (the kernel's
    // own SLAAC) and takes its default route from it.
    let net64 = gw6.trunc();
    let until = Instant::now() + Duration::from_secs(15);
    let host = loop {
        let addrs = lan
            .netcfg(|nc| async move {
                let l = nc.link_by_name("eth0").await?;
                nc.addresses(Some(&l)).await
            })
            .unwrap();
        let slaac = addrs.iter().find_map(|a| match a.net {
            ipnet::IpNet::V6(n) if net64.contains(&n.addr()) && !a.tentative => Some(n.addr()),
            _ => None,
        });
        if let Some(a) = slaac {
            break a;
        }
        assert!(
            Instant::now() < until,
            "no SLAAC address in {net64} on the LAN host: {addrs:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let routes = lan.netcfg(|nc| async move { nc.routes(true).await }).unwrap();
    assert!(
        routes.iter().any(|r| r.dst.prefix_len() == 0
            && r.gateway.is_some_and(
                |g| matches!(g, std::net::IpAddr::V6(v) if v.segments()[0] == 0xfe80)
            )),
        "default route from the RA: {routes:?}"
    );
    let ping6 = lan
        .command("ping")
        .args(["-6", "-c", "2", "-W", "2", "2001:db8:ffff::10"])
        .output()
        .unwrap();
    assert!(
        ping6.status.success(),
        "{host} reaches the internet over IPv6: {}\n{}",
        String::from_utf8_lossy(&ping6.stdout),
        logs()
    );

    // From the internet: the port forward reaches the LAN host (the source kept), and the
    // pinhole reaches its SLAAC address on port 22, nothing else.
    assert_eq!(ip, "192.168.1.10", "the reservation");
    let public = seen.clone().unwrap();
    let web = PeerEcho::start(&lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
    let fwd = peer_seen(&inet, format!("{public}:8080").parse().unwrap(), Duration::from_secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "port forward");
    drop(web);
    let (ssh, telnet) = (
        PeerEcho::start(&lan, "[::]:22".parse::<SocketAddr>().unwrap()),
        PeerEcho::start(&lan, "[::]:23".parse::<SocketAddr>().unwrap()),
    );
    assert_eq!(host.segments()[4..], suffix.segments()[4..], "SLAAC from the MAC");
    let pin = peer_seen(&inet, SocketAddr::new(host.into(), 22), Duration::from_secs(5));
    assert_eq!(pin.as_deref(), Some("2001:db8:ffff::10"), "pinhole");
    let blocked = peer_seen(&inet, SocketAddr::new(host.into(), 23), Duration::from_millis(700));
    assert_eq!(blocked, None, "no pinhole for port 23");
    drop((ssh, telnet));

    // routerctl: status, leases, prefixes; --check follows the WAN.
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(bin("routerctl"))
            .arg("--socket")
            .arg(dir.join("control.sock"))
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, text) = ctl(&["status", "--check"]);
    assert!(ok, "healthy while up: {text}");
    assert!(text.contains("state: up"), "{text}");
    let (_, json) = ctl(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for svc in ["firewall", "dns", "addressing", "dhcp4/lan", "ra/lan", "wan", "dhcpv6pd"] {
        assert_eq!(v["status"]["services"][svc]["state"], "running", "{svc}: {json}");
    }
    assert!(v["status"]["ready_after_ms"].as_u64().is_some(), "{json}");
    let (_, leases) = ctl(&["leases", "--json"]);
    assert!(
        leases.contains(&format!("\"address\":\"{ip}\""))
            && leases.contains("\"hostname\":\"laptop\""),
        "{leases}"
    );
    // Memory at steady state with 100 leases (99 more from perfdhcp, relayed through the
    // LAN host's address), for the record.
    let st = lan
        .command("timeout")
        .args(["20", "perfdhcp", "-4", "-r", "50", "-R", "99", "-n", "99", "-p", "4"])
        .args(["-b", "mac=00:0c:01:02:03:04", "192.168.1.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let count = || {
        let v: serde_json::Value = serde_json::from_str(&ctl(&["leases", "--json"]).1).unwrap();
        v.as_array().map_or(0, Vec::len)
    };
    std::thread::sleep(Duration::from_millis(500));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", routerd.child().id()))
        .unwrap_or_default();
    let rss = rss.lines().find(|l| l.starts_with("VmRSS")).unwrap_or("VmRSS: ?").to_string();
    println!("routerd with {} leases (perfdhcp: {st}): {rss}", count());
    assert!(count() >= 50, "perfdhcp's leases: {}", count());
    let (_, prefixes) = ctl(&["prefixes", "--json"]);
    assert!(prefixes.contains("2001:db8:1") && prefixes.contains("/48"), "{prefixes}");
    // The ISP drops the session and stays silent: not healthy; then it answers again and
    // routerd redials by itself. `routerctl events` follows it as it happens.
    let events_file = dir.join("events.jsonl");
    let mut events = std::process::Command::new(bin("routerctl"))
        .arg("--socket")
        .arg(dir.join("control.sock"))
        .args(["events", "--json"])
        .stdout(std::fs::File::create(&events_file).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(isp.ctl("padi off").starts_with("ok"));
    assert!(isp.ctl("padt all").starts_with("ok"));
    let until = Instant::now() + Duration::from_secs(5);
    while ctl(&["status", "--check"]).0 {
        assert!(Instant::now() < until, "still healthy after the PADT");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(isp.ctl("padi on").starts_with("ok"));
    let until = Instant::now() + Duration::from_secs(20);
    while !ctl(&["status", "--check"]).0 {
        assert!(Instant::now() < until, "not back up:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let public_now: String = {
        let v: serde_json::Value = serde_json::from_str(&ctl(&["wan", "--json"]).1).unwrap();
        v["ipv4"].as_str().unwrap().to_string()
    };
    // Back up without touching the LAN host: its NATed traffic flows again.
    let ping = lan.command("ping").args(["-c", "2", "-W", "2", "203.0.113.10"]).output().unwrap();
    assert!(ping.status.success(), "after the redial: {}", String::from_utf8_lossy(&ping.stdout));
    let until = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let text = std::fs::read_to_string(&events_file).unwrap_or_default();
        let kinds: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["event"].as_str().map(str::to_string))
            .collect();
        let pos = |k: &str| kinds.iter().position(|e| e == k);
        if let (Some(down), Some(up), Some(_)) =
            (pos("wan_down"), pos("wan_up"), pos("prefix_delegated"))
        {
            assert!(down < up, "down before up: {kinds:?}");
            break kinds;
        }
        assert!(Instant::now() < until, "routerctl events: {kinds:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = events.kill();
    let _ = events.wait();
    println!("routerctl events during the redial: {seen:?}");

    // The ISP renumbers: a different prefix on the redial. The LAN follows: routerd numbers
    // it from the new /48, the host gets an address in the new /64 by SLAAC and its old one
    // is deprecated (RFC 9096), and the pinhole follows the host's new address.
    assert_eq!(isp.ctl("pd pool 2001:db8:2000::/36").trim(), "ok");
    assert!(isp.ctl("padt all").starts_with("ok"));
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let p = ctl(&["prefixes", "--json"]).1;
        if p.contains("2001:db8:2") && !p.contains("2001:db8:1") {
            break;
        }
        assert!(Instant::now() < until, "no new prefix after the ISP renumbered: {p}\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let until = Instant::now() + Duration::from_secs(20);
    let (new_host, old_state) = loop {
        let addrs = lan
            .netcfg(|nc| async move {
                let l = nc.link_by_name("eth0").await?;
                nc.addresses(Some(&l)).await
            })
            .unwrap();
        let renumbered: ipnet::Ipv6Net = "2001:db8:2000::/36".parse().unwrap();
        let new = addrs.iter().find_map(|a| match a.net {
            ipnet::IpNet::V6(n) if renumbered.contains(&n.addr()) && !a.tentative => Some(n.addr()),
            _ => None,
        });
        let old = addrs.iter().find(|a| a.net.addr() == std::net::IpAddr::V6(host));
        if let (Some(new), true) = (new, old.is_none_or(|o| o.deprecated)) {
            break (new, old.map(|o| o.deprecated));
        }
        assert!(Instant::now() < until, "LAN host not renumbered: {addrs:?}\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(new_host.segments()[4..], suffix.segments()[4..], "same interface id");
    println!("renumbered: {host} (deprecated: {old_state:?}) -> {new_host}");
    let ssh = PeerEcho::start(&lan, "[::]:22".parse::<SocketAddr>().unwrap());
    let pin = peer_seen(&inet, SocketAddr::new(new_host.into(), 22), Duration::from_secs(5));
    assert_eq!(pin.as_deref(), Some("2001:db8:ffff::10"), "pinhole on the new prefix");
    drop(ssh);
    let ping6 = lan
        .command("ping")
        .args(["-6", "-c", "2", "-W", "2", "2001:db8:ffff::10"])
        .output()
        .unwrap();
    assert!(ping6.status.success(), "IPv6 after renumbering:\n{}", logs());

    // SIGHUP: the port forward moves from 8080 to 8081, applied without a restart; then a
    // reload that readdresses the LAN is refused whole, and the forward stays.
    let pid = routerd.child().id();
    let original = std::fs::read_to_string(&config).unwrap();
    let reloads = || {
        let v: serde_json::Value = serde_json::from_str(&ctl(&["status", "--json"]).1).unwrap();
        v["status"]["reloads"].as_u64().unwrap()
    };
    let hup = |text: &str, expect: &str| {
        let before = reloads();
        std::fs::write(&config, text).unwrap();
        unsafe { libc::kill(pid as i32, libc::SIGHUP) };
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let v: serde_json::Value = serde_json::from_str(&ctl(&["status", "--json"]).1).unwrap();
            let r = v["status"]["reload"].as_str().unwrap_or_default().to_string();
            if v["status"]["reloads"].as_u64() > Some(before) && r.starts_with(expect) {
                return r;
            }
            assert!(Instant::now() < until, "reload not {expect}: {r}\n{}", logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let moved = original.replace("port = 8080", "port = 8081");
    let r = hup(&moved, "applied");
    assert!(r.contains("firewall"), "{r}");
    let web = PeerEcho::start(&lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
    let fwd =
        peer_seen(&inet, format!("{public_now}:8081").parse().unwrap(), Duration::from_secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "port forward after the reload");
    let old =
        peer_seen(&inet, format!("{public_now}:8080").parse().unwrap(), Duration::from_millis(700));
    assert_eq!(old, None, "the old forward is gone");
    let r = hup(&moved.replace("192.168.1.1/24", "192.168.7.1/24"), "refused");
    assert!(r.contains("line 14: lan[0].dhcp4.pool"), "invalid: the key and line: {r}");
    let r = hup(&moved.replace("192.168.1.", "192.168.7."), "refused");
    assert!(r.contains("lan[lan].ipv4"), "valid, but only a restart readdresses a LAN: {r}");
    let fwd =
        peer_seen(&inet, format!("{public_now}:8081").parse().unwrap(), Duration::from_secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "the forward stays after a refused reload");
    drop(web);
    std::fs::write(&config, &moved).unwrap();
    assert!(ctl(&["status", "--check"]).0, "healthy after the reloads");

    // SIGKILL, then a restart on the same state: the ISP's stale session is cleared by a
    // PADT, the same prefix is asked for and given, and the lease is still there.
    let prefixes_before = ctl(&["prefixes", "--json"]).1;
    let killed = routerd.child().id();
    unsafe { libc::kill(killed as i32, libc::SIGKILL) };
    let _ = routerd.child().wait();
    let stale = isp.ctl("sessions");
    assert_eq!(stale.matches("session_id").count(), 1, "the ISP still holds the session: {stale}");
    let log = std::fs::File::create(dir.join("routerd.log")).unwrap();
    let mut cmd = router.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(&config).stdout(log.try_clone().unwrap()).stderr(log);
    routerd = router.spawn_process(&mut cmd).unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while !(logs().contains("router ready") && ctl(&["status", "--check"]).0) {
        assert!(Instant::now() < until, "not back after the restart:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(logs().contains("PADT for the session left by the previous run"), "{}", logs());
    let sessions = isp.ctl("sessions");
    assert_eq!(sessions.matches("session_id").count(), 1, "stale session gone: {sessions}");
    assert_ne!(sessions, stale);
    assert_eq!(ctl(&["prefixes", "--json"]).1, prefixes_before, "the same prefix again");
    let st = lan
        .command("busybox")
        .args(["udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-x", "hostname:laptop", "-s"])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "no lease after the restart:\n{}", logs());
    assert!(std::fs::read_to_string(&got).unwrap().starts_with(&format!("ip={ip} ")));
    assert_eq!(dig(&lan, "laptop.home.arpa"), ip, "the name is back with the lease");

    // The delegation is remembered across a restart (RFC 9096): killed again, and the ISP
    // renumbers while routerd is down. The restarted router gets a new prefix and announces
    // the one the LAN host still holds as deprecated, so the host stops preferring it at
    // once instead of when its lifetime runs out.
    let held: ipnet::Ipv6Net = "2001:db8:2000::/36".parse().unwrap();
    let addrs = |ns: &netlab::Netns| {
        ns.netcfg(|nc| async move {
            let l = nc.link_by_name("eth0").await?;
            nc.addresses(Some(&l)).await
        })
        .unwrap()
    };
    let before = addrs(&lan)
        .into_iter()
        .find_map(|a| match a.net {
            ipnet::IpNet::V6(n) if held.contains(&n.addr()) && !a.deprecated => Some(n.addr()),
            _ => None,
        })
        .expect("the host holds an address in the current prefix");
    unsafe { libc::kill(routerd.child().id() as i32, libc::SIGKILL) };
    let _ = routerd.child().wait();
    assert_eq!(isp.ctl("pd pool 2001:db8:3000::/36").trim(), "ok");
    let log = std::fs::File::create(dir.join("routerd.log")).unwrap();
    let mut cmd = router.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(&config).stdout(log.try_clone().unwrap()).stderr(log);
    routerd = router.spawn_process(&mut cmd).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let a = addrs(&lan);
        let old_deprecated =
            a.iter().any(|a| a.net.addr() == std::net::IpAddr::V6(before) && a.deprecated);
        let renumbered: ipnet::Ipv6Net = "2001:db8:3000::/36".parse().unwrap();
        let new = a
            .iter()
            .any(|a| matches!(a.net, ipnet::IpNet::V6(n) if renumbered.contains(&n.addr())));
        if old_deprecated && new {
            break;
        }
        assert!(Instant::now() < until, "after the restart: {a:?}\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(logs().contains("remembered delegation"), "{}", logs());

    // SIGTERM: a clean stop (the ISP sees the session end).
    let pid = routerd.child().id();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(8);
    while routerd.child().try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "routerd did not stop on SIGTERM:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(isp);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn root_routerd_bad_config_is_refused_whole_and_applies_nothing() {
    let lab = lab("badcfg");
    let (lan, router) = (lab.netns("lan").unwrap(), lab.netns("r").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    let dir = std::env::temp_dir().join(format!("routerd-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
}
