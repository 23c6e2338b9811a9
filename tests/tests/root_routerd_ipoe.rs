//! routerd with its WAN by DHCP (IPoE) or a static address. By DHCP, against ISC Kea as the
//! ISP: kea-dhcp4 leases the WAN address, kea-dhcp6 delegates a /48 on the same link. On the
//! LAN, ISC dhclient gets IPv4 by DHCP and, as `dhclient -6 -N -P`, an address (IA_NA) and a
//! /60 for a router behind it (IA_PD) from routerd's DHCPv6 server; the /60 is routed to it,
//! its name (A and AAAA) and PTR are in DNS; then dhcpcd gets an address and a /60 of its
//! own, routed too; and its traffic leaves NATed to the leased address. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use router_tests::clients::{Dhcpcd, Family};
use router_tests::wan::bin;
use router_tests::{PeerEcho, kea, lab, peer_seen};

/// The /64 number `id` of the delegated /48 in `prefixes` (routerctl's JSON list).
fn prefixes_net(prefixes: &str, id: u16) -> ipnet::Ipv6Net {
    let v: serde_json::Value = serde_json::from_str(prefixes).unwrap();
    let p: ipnet::Ipv6Net = v[0].as_str().unwrap().parse().unwrap();
    let base = u128::from(p.network()) | (u128::from(id) << 64);
    ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(base), 64).unwrap()
}

/// `net`'s enclosing prefix of length `len`.
trait Supernet {
    fn supernet_of(self, len: u8) -> ipnet::Ipv6Net;
}

impl Supernet for ipnet::Ipv6Net {
    fn supernet_of(self, len: u8) -> ipnet::Ipv6Net {
        ipnet::Ipv6Net::new(self.network(), len).unwrap().trunc()
    }
}

#[test]
fn root_routerd_wan_by_dhcp_from_kea_with_prefix_delegation() {
    let lab = lab("ipoe");
    let (lan, router, isp) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    isp.add_addr("eth0", "198.51.100.1/24").unwrap();
    isp.add_addr("eth0", "fd00::1/64").unwrap();
    let dir = std::env::temp_dir().join(format!("routerd-ipoe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let (d4, d6) = (dir.join("kea4"), dir.join("kea6"));
    let _kea4 = kea::start(
        &isp,
        &d4,
        false,
        &format!(
            r#"{{"Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}/leases4.csv", "lfc-interval": 0 }},
  "valid-lifetime": 600,
  "subnet4": [{{ "id": 1, "subnet": "198.51.100.0/24", "pools": [{{ "pool": "198.51.100.100 - 198.51.100.199" }}],
    "option-data": [{{ "name": "routers", "data": "198.51.100.1" }},
                    {{ "name": "domain-name-servers", "data": "198.51.100.1" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "output_options": [{{ "output": "{}/kea.log" }}], "severity": "INFO" }}]
}}}}"#,
            d4.display(),
            d4.display()
        ),
    );
    kea::wait_dad(&isp, "eth0");
    let _kea6 = kea::start(
        &isp,
        &d6,
        true,
        &format!(
            r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "data-directory": "{}",
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}/leases6.csv", "lfc-interval": 0 }},
  "preferred-lifetime": 3000, "valid-lifetime": 4000,
  "subnet6": [{{ "id": 1, "subnet": "fd00::/64", "interface": "eth0",
    "pd-pools": [{{ "prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 48 }}] }}],
  "loggers": [{{ "name": "kea-dhcp6", "output_options": [{{ "output": "{}/kea.log" }}], "severity": "INFO" }}]
}}}}"#,
            d6.display(),
            d6.display(),
            d6.display()
        ),
    );

    let config = dir.join("routerd.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{}"
[wan]
interface = "eth0"
mode = "dhcp"
[wan.ipv6]
pd_length = 48
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
subnet_id = 1
ula = "fd12:3456:789a:1::1/64"
dhcp4 = {{ pool = "192.168.1.100-192.168.1.199", lease_time = "1h" }}
dhcp6 = {{ mode = "stateful", delegate = {{ pool = 1, pool_length = 56, length = 60 }} }}
[control]
socket = "{}"
"#,
            dir.join("state").display(),
            dir.join("control.sock").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("routerd.log")).unwrap();
    let mut cmd = router.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(&config).stdout(log.try_clone().unwrap()).stderr(log);
    let mut routerd = router.spawn_process(&mut cmd).unwrap();
    let logs = || std::fs::read_to_string(dir.join("routerd.log")).unwrap_or_default();
    let ctl = |what: &str| {
        let out = std::process::Command::new(bin("routerctl"))
            .arg("--socket")
            .arg(dir.join("control.sock"))
            .args([what, "--json"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !logs().contains("router ready") {
        assert!(Instant::now() < until, "not ready within 20 s:\n{}", logs());
        assert!(routerd.child().try_wait().unwrap().is_none(), "routerd exited:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let wan: serde_json::Value = serde_json::from_str(&ctl("wan")).unwrap();
    let public = wan["ipv4"].as_str().unwrap().to_string();
    assert!(public.starts_with("198.51.100.1"), "leased by Kea: {wan}");
    assert_eq!(wan["dns"][0], "198.51.100.1", "{wan}");
    let prefixes = ctl("prefixes");
    assert!(prefixes.contains("2001:db8:1") && prefixes.contains("/48"), "{prefixes}");
    let addrs = router.command("ip").args(["-6", "addr", "show", "dev", "lan0"]).output().unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout).into_owned();
    assert!(addrs.contains(":1::1/64"), "LAN numbered by subnet id 1: {addrs}");

    // The LAN host: ISC dhclient for IPv4, then for an address and a prefix over DHCPv6.
    let script = dir.join("dhclient-script");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"--- $reason\"; env | sort; }} >> {}\n\
             case \"$reason\" in BOUND|RENEW|REBIND|REBOOT)\n\
               ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\"\n\
               ip route replace default via \"${{new_routers%% *}}\" dev \"$interface\" ;;\n\
             esac\nexit 0\n",
            dir.join("dhclient.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("dhclient.conf"), "send fqdn.fqdn \"pc6\";\n").unwrap();
    let dhclient = |v: &str, extra: &[&str]| {
        let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let mut c = lan.command("dhclient");
        c.args([v, "-d", "-v", "-cf", &d("dhclient.conf"), "-sf", &d("dhclient-script")])
            .args(["-lf", &d(&format!("leases{v}")), "-pf", &d(&format!("pid{v}"))])
            .args(extra)
            .arg("eth0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        lan.spawn_process(&mut c).unwrap()
    };
    let log = || std::fs::read_to_string(dir.join("dhclient.log")).unwrap_or_default();
    let var = |name: &str| {
        log().lines().rev().find_map(|l| l.strip_prefix(&format!("{name}="))).map(str::to_string)
    };
    let _dhclient4 = dhclient("-4", &[]);
    let until = Instant::now() + Duration::from_secs(20);
    while var("new_ip_address").is_none() {
        assert!(Instant::now() < until, "no DHCPv4 lease for dhclient:\n{}\n{}", log(), logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let v4 = var("new_ip_address").unwrap();
    assert!(v4.starts_with("192.168.1.1"), "{v4}");
    assert_eq!(var("new_routers").as_deref(), Some("192.168.1.1"));
    assert_eq!(var("new_domain_name_servers").as_deref(), Some("192.168.1.1"));
    kea::wait_dad(&lan, "eth0");
    let dhclient6 = dhclient("-6", &["-N", "-P"]);
    let until = Instant::now() + Duration::from_secs(20);
    while var("new_ip6_address").is_none() || var("new_ip6_prefix").is_none() {
        assert!(Instant::now() < until, "no DHCPv6 lease for dhclient:\n{}\n{}", log(), logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (a6, p6) = (var("new_ip6_address").unwrap(), var("new_ip6_prefix").unwrap());
    println!("dhclient via routerd: {v4}, {a6}, {p6}");
    let na: std::net::Ipv6Addr = a6.parse().unwrap();
    let lan64: ipnet::Ipv6Net = prefixes_net(&prefixes, 1);
    let ula: ipnet::Ipv6Net = "fd12:3456:789a:1::/64".parse().unwrap();
    assert!(lan64.contains(&na) || ula.contains(&na), "IA_NA {na} on the LAN's /64s");
    let pd: ipnet::Ipv6Net = p6.parse().unwrap();
    let pool = prefixes_net(&prefixes, 0x100).supernet_of(56);
    assert!(pd.prefix_len() == 60 && pool.contains(&pd), "IA_PD {pd} out of pool {pool}");
    let route = router.command("ip").args(["-6", "route", "show", &p6]).output().unwrap();
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    assert!(
        route.contains("via fe80:") && route.contains("lan0"),
        "{p6} routed to the host: {route}"
    );
    let dig = lan
        .command("dig")
        .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", "AAAA", "pc6.home.arpa"])
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&dig.stdout).into_owned();
    assert!(
        names.lines().any(|l| l.trim() == na.to_string()),
        "pc6.home.arpa: {names}\n{}",
        logs()
    );
    // One host, one name: its DHCPv4 lease (by MAC) and its DHCPv6 lease (a DUID-LLT from
    // the same MAC) are published together, A and AAAA.
    let a = lan
        .command("dig")
        .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", "A", "pc6.home.arpa"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&a.stdout).trim(), v4, "A of pc6\n{}", logs());
    // The reverse zone follows the delegated prefix: the address's PTR names the host.
    let ptr = lan
        .command("dig")
        .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", "-x", &a6])
        .output()
        .unwrap();
    let ptr = String::from_utf8_lossy(&ptr.stdout).into_owned();
    assert_eq!(ptr.trim(), "pc6.home.arpa.", "PTR of {a6}\n{}", logs());

    // dhcpcd in dhclient's place (stopped without a Release): an address and a /60 of its
    // own, the /60 routed to it too.
    drop(dhclient6);
    let dcd = dir.join("dhcpcd");
    std::fs::create_dir_all(&dcd).unwrap();
    let conf = "ipv6only\nnoipv6rs\nia_na 1\nia_pd 2\nfqdn both\nhostname dcd\n";
    let mut dhcpcd = Dhcpcd::new(&lan, &dcd, "eth0", Family::V6, conf);
    dhcpcd.start();
    let until = Instant::now() + Duration::from_secs(20);
    let routed = loop {
        let r = router.command("ip").args(["-6", "route", "show", "dev", "lan0"]).output().unwrap();
        let r = String::from_utf8_lossy(&r.stdout).into_owned();
        let sixties: Vec<String> = r
            .lines()
            .filter(|l| l.contains("/60 via fe80:"))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect();
        if sixties.len() >= 2 && dhcpcd.log().contains("/60") {
            break sixties;
        }
        assert!(Instant::now() < until, "no /60 for dhcpcd: {r}\n{}\n{}", dhcpcd.log(), logs());
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("dhcpcd via routerd: /60s routed {routed:?}");
    let leases = std::process::Command::new(bin("routerctl"))
        .arg("--socket")
        .arg(dir.join("control.sock"))
        .args(["leases", "--json"])
        .output()
        .unwrap();
    let leases = String::from_utf8_lossy(&leases.stdout).into_owned();
    assert!(routed.iter().all(|p| leases.contains(p.as_str())), "{leases}");
    drop(dhcpcd);

    // The LAN host's traffic leaves NATed to the leased address.
    let echo = PeerEcho::start(&isp, "198.51.100.1:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&lan, "198.51.100.1:8080".parse().unwrap(), Duration::from_secs(5));
    assert_eq!(seen.as_deref(), Some(public.as_str()), "NATed to the DHCP address");
    drop(echo);

    // SIGTERM: a clean stop; Kea's lease is released (routerd sends DHCPRELEASE).
    let pid = routerd.child().id();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(8);
    while routerd.child().try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "routerd did not stop on SIGTERM:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let kea_log = std::fs::read_to_string(d4.join("kea.log")).unwrap_or_default();
    assert!(kea_log.contains("DHCP4_RELEASE"), "Kea saw the release:\n{kea_log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A static WAN address: routerd puts it and the default route on the WAN, NATs the LAN to
/// it, forwards DNS to the configured servers, and takes them off when it stops.
#[test]
fn root_routerd_wan_static() {
    let lab = lab("static");
    let (lan, router, isp) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    isp.add_addr("eth0", "198.51.100.1/24").unwrap();
    lan.add_addr("eth0", "192.168.1.50/24").unwrap();
    let default = netcfg::Route::via("0.0.0.0/0".parse().unwrap(), "192.168.1.1".parse().unwrap());
    lan.netcfg(|nc| async move { nc.add_route(&default).await }).unwrap();
    let dir = std::env::temp_dir().join(format!("routerd-static-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("routerd.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nmode = \"static\"\n\
             [wan.static]\nipv4 = \"198.51.100.7/24\"\ngateway = \"198.51.100.1\"\n\
             dns = [\"198.51.100.1\"]\n[wan.ipv6]\nenabled = false\n\
             [[lan]]\nname = \"lan\"\ninterface = \"lan0\"\nipv4 = \"192.168.1.1/24\"\n\
             [control]\nsocket = \"{0}/control.sock\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("routerd.log")).unwrap();
    let mut cmd = router.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(&config).stdout(log.try_clone().unwrap()).stderr(log);
    let mut routerd = router.spawn_process(&mut cmd).unwrap();
    let logs = || std::fs::read_to_string(dir.join("routerd.log")).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(10);
    while !logs().contains("wan up (static)") {
        assert!(Instant::now() < until, "no static WAN:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let ctl = std::process::Command::new(bin("routerctl"))
        .arg("--socket")
        .arg(dir.join("control.sock"))
        .args(["status", "--check"])
        .output()
        .unwrap();
    assert!(ctl.status.success(), "healthy: {}", String::from_utf8_lossy(&ctl.stdout));
    let echo = PeerEcho::start(&isp, "198.51.100.1:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&lan, "198.51.100.1:8080".parse().unwrap(), Duration::from_secs(5));
    assert_eq!(seen.as_deref(), Some("198.51.100.7"), "NATed to the static address");
    drop(echo);

    // SIGTERM: the address and the default route come off the WAN.
    unsafe { libc::kill(routerd.child().id() as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(8);
    while routerd.child().try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "routerd did not stop:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let addrs = router.command("ip").args(["-4", "addr", "show", "dev", "eth0"]).output().unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout).into_owned();
    assert!(!addrs.contains("198.51.100.7"), "{addrs}");
    let _ = std::fs::remove_dir_all(&dir);
}
