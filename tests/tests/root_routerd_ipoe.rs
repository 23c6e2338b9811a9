//! routerd with its WAN by DHCP (IPoE) or a static address. By DHCP, against ISC Kea as the
//! ISP: kea-dhcp4 leases the WAN address, kea-dhcp6 delegates a /48 on the same link. On the
//! LAN, ISC dhclient gets IPv4 by DHCP and, as `dhclient -6 -N -P`, an address (IA_NA) and a
//! /60 for a router behind it (IA_PD) from routerd's DHCPv6 server; the /60 is routed to it,
//! its name (A and AAAA) and PTR are in DNS; then dhcpcd gets an address and a /60 of its
//! own, routed too; and its traffic leaves NATed to the leased address. The scenarios run in
//! order on one [`Ipoe`] fixture, each named in the output and in its failure. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use netlab::{Lab, Netns, ProcessGuard};
use router_tests::clients::{Dhcpcd, Family};
use router_tests::routerd::Routerd;
use router_tests::{PeerEcho, TempDir, kea, lab, peer_seen, scenario};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

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

/// kea-dhcp4 leasing 198.51.100.100-199 (router and DNS 198.51.100.1), its files in `dir`.
fn kea4_config(dir: &std::path::Path) -> String {
    format!(
        r#"{{"Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{0}/leases4.csv", "lfc-interval": 0 }},
  "valid-lifetime": 600,
  "subnet4": [{{ "id": 1, "subnet": "198.51.100.0/24", "pools": [{{ "pool": "198.51.100.100 - 198.51.100.199" }}],
    "option-data": [{{ "name": "routers", "data": "198.51.100.1" }},
                    {{ "name": "domain-name-servers", "data": "198.51.100.1" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "output_options": [{{ "output": "{0}/kea.log" }}], "severity": "INFO" }}]
}}}}"#,
        dir.display()
    )
}

/// kea-dhcp6 delegating /48s out of 2001:db8:100::/40 on the link, its files in `dir`.
fn kea6_config(dir: &std::path::Path) -> String {
    format!(
        r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "data-directory": "{0}",
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{0}/leases6.csv", "lfc-interval": 0 }},
  "preferred-lifetime": 3000, "valid-lifetime": 4000,
  "subnet6": [{{ "id": 1, "subnet": "fd00::/64", "interface": "eth0",
    "pd-pools": [{{ "prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 48 }}] }}],
  "loggers": [{{ "name": "kea-dhcp6", "output_options": [{{ "output": "{0}/kea.log" }}], "severity": "INFO" }}]
}}}}"#,
        dir.display()
    )
}

/// routerd's configuration: WAN by DHCP with a /48 by DHCPv6-PD, one LAN (subnet 1, a ULA)
/// with a stateful DHCPv6 server delegating /60s.
fn routerd_config(dir: &TempDir) -> String {
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
    )
}

/// A LAN host on routerd's `lan0`; routerd's WAN on the ISP's link, where Kea leases IPv4
/// and delegates IPv6 prefixes. The LAN host runs ISC dhclient (script and configuration in
/// the test directory, sending the FQDN `pc6`) and dhcpcd.
struct Ipoe {
    routerd: Routerd,
    lan: Netns,
    router: Netns,
    isp: Netns,
    _kea: (ProcessGuard, ProcessGuard),
    dir: TempDir,
    _lab: Lab,
}

impl Ipoe {
    /// Builds the lab, starts Kea (v4, then v6 once the ISP's link-local address is usable)
    /// and routerd; returns once routerd is ready.
    fn start() -> Ipoe {
        let lab = lab("ipoe");
        let (lan, router, isp) =
            (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
        lab.connect(&lan, "eth0", &router, "lan0").unwrap();
        lab.connect(&router, "eth0", &isp, "eth0").unwrap();
        isp.add_addr("eth0", "198.51.100.1/24").unwrap();
        isp.add_addr("eth0", "fd00::1/64").unwrap();
        let dir = TempDir::new("routerd-ipoe");
        let (d4, d6) = (dir.join("kea4"), dir.join("kea6"));
        let kea4 = kea::start(&isp, &d4, false, &kea4_config(&d4));
        kea::wait_dad(&isp, "eth0");
        let kea6 = kea::start(&isp, &d6, true, &kea6_config(&d6));
        std::fs::write(dir.join("routerd.toml"), routerd_config(&dir)).unwrap();
        let routerd = Routerd::start(&router, dir.path());
        routerd.wait_for(secs(20), "router ready", || routerd.logs().contains("router ready"));
        Ipoe { routerd, lan, router, isp, _kea: (kea4, kea6), dir, _lab: lab }
    }

    /// `ip ARGS` in the router's namespace.
    fn router_ip(&self, args: &[&str]) -> String {
        let out = self.router.command("ip").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// dhclient `v` (`-4` or `-6`) in the foreground on the LAN host's `eth0`, with `extra`
    /// arguments; its script logs every call to `dhclient.log`.
    fn dhclient(&self, v: &str, extra: &[&str]) -> ProcessGuard {
        let script = self.dir.join("dhclient-script");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{{ echo \"--- $reason\"; env | sort; }} >> {}\n\
                 case \"$reason\" in BOUND|RENEW|REBIND|REBOOT)\n\
                   ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\"\n\
                   ip route replace default via \"${{new_routers%% *}}\" dev \"$interface\" ;;\n\
                 esac\nexit 0\n",
                self.dir.join("dhclient.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::write(self.dir.join("dhclient.conf"), "send fqdn.fqdn \"pc6\";\n").unwrap();
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let mut c = self.lan.command("dhclient");
        c.args([v, "-d", "-v", "-cf", &d("dhclient.conf"), "-sf", &d("dhclient-script")])
            .args(["-lf", &d(&format!("leases{v}")), "-pf", &d(&format!("pid{v}"))])
            .args(extra)
            .arg("eth0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.lan.spawn_process(&mut c).unwrap()
    }

    /// What dhclient's script logged.
    fn dhclient_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dhclient.log")).unwrap_or_default()
    }

    /// The last value of `name` dhclient's script saw.
    fn var(&self, name: &str) -> Option<String> {
        self.dhclient_log()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    }

    /// `dig @192.168.1.1 +short ARGS` from the LAN host.
    fn dig(&self, args: &[&str]) -> String {
        let out = self
            .lan
            .command("dig")
            .args(["@192.168.1.1", "+short", "+time=2", "+tries=2"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

// ---- The scenarios, in the order the test runs them.

/// The WAN leased by Kea (address and DNS server), a /48 delegated, the LAN numbered by its
/// subnet id. Returns the WAN address and routerctl's prefixes (JSON).
fn wan_by_dhcp(f: &Ipoe) -> (String, String) {
    let wan = f.routerd.json("wan");
    let public = wan["ipv4"].as_str().unwrap().to_string();
    assert!(public.starts_with("198.51.100.1"), "leased by Kea: {wan}");
    assert_eq!(wan["dns"][0], "198.51.100.1", "{wan}");
    let prefixes = f.routerd.ctl(&["prefixes", "--json"]).1;
    assert!(prefixes.contains("2001:db8:1") && prefixes.contains("/48"), "{prefixes}");
    let addrs = f.router_ip(&["-6", "addr", "show", "dev", "lan0"]);
    assert!(addrs.contains(":1::1/64"), "LAN numbered by subnet id 1: {addrs}");
    (public, prefixes)
}

/// The LAN host: ISC dhclient for IPv4, routerd its router and DNS server. Returns the
/// address and the running dhclient.
fn dhclient4(f: &Ipoe) -> (String, ProcessGuard) {
    let dhclient = f.dhclient("-4", &[]);
    let v4 = f.routerd.wait_for(secs(20), "a DHCPv4 lease for dhclient", || {
        f.var("new_ip_address").ok_or_else(|| f.dhclient_log())
    });
    assert!(v4.starts_with("192.168.1.1"), "{v4}");
    assert_eq!(f.var("new_routers").as_deref(), Some("192.168.1.1"));
    assert_eq!(f.var("new_domain_name_servers").as_deref(), Some("192.168.1.1"));
    (v4, dhclient)
}

/// Then `dhclient -6 -N -P`: an address on the LAN's /64s (IA_NA) and a /60 out of the
/// delegation pool (IA_PD), routed to it. Returns both and the running dhclient.
fn dhclient6(f: &Ipoe, prefixes: &str) -> (String, String, ProcessGuard) {
    kea::wait_dad(&f.lan, "eth0");
    let dhclient = f.dhclient("-6", &["-N", "-P"]);
    let (a6, p6) = f.routerd.wait_for(secs(20), "a DHCPv6 lease for dhclient", || {
        f.var("new_ip6_address").zip(f.var("new_ip6_prefix")).ok_or_else(|| f.dhclient_log())
    });
    println!("dhclient via routerd: {a6}, {p6}");
    let na: Ipv6Addr = a6.parse().unwrap();
    let lan64: ipnet::Ipv6Net = prefixes_net(prefixes, 1);
    let ula: ipnet::Ipv6Net = "fd12:3456:789a:1::/64".parse().unwrap();
    assert!(lan64.contains(&na) || ula.contains(&na), "IA_NA {na} on the LAN's /64s");
    let pd: ipnet::Ipv6Net = p6.parse().unwrap();
    let pool = prefixes_net(prefixes, 0x100).supernet_of(56);
    assert!(pd.prefix_len() == 60 && pool.contains(&pd), "IA_PD {pd} out of pool {pool}");
    let route = f.router_ip(&["-6", "route", "show", &p6]);
    assert!(
        route.contains("via fe80:") && route.contains("lan0"),
        "{p6} routed to the host: {route}"
    );
    (a6, p6, dhclient)
}

/// The host's name in DNS: its AAAA (the IA_NA) and, one host one name, its A (the DHCPv4
/// lease by MAC and the DHCPv6 lease by a DUID-LLT from the same MAC are published together);
/// and the reverse zone follows the delegated prefix: the address's PTR names the host.
fn names(f: &Ipoe, v4: &str, a6: &str) {
    let na: Ipv6Addr = a6.parse().unwrap();
    let aaaa = f.dig(&["AAAA", "pc6.home.arpa"]);
    assert!(
        aaaa.lines().any(|l| l.trim() == na.to_string()),
        "pc6.home.arpa: {aaaa}\n{}",
        f.routerd.logs()
    );
    let a = f.dig(&["A", "pc6.home.arpa"]);
    assert_eq!(a.trim(), v4, "A of pc6\n{}", f.routerd.logs());
    let ptr = f.dig(&["-x", a6]);
    assert_eq!(ptr.trim(), "pc6.home.arpa.", "PTR of {a6}\n{}", f.routerd.logs());
}

/// dhcpcd in dhclient's place (dhclient stopped without a Release): an address and a /60 of
/// its own, the /60 routed to it too and listed by `routerctl leases`.
fn dhcpcd(f: &Ipoe) {
    let dcd = f.dir.join("dhcpcd");
    std::fs::create_dir_all(&dcd).unwrap();
    let conf = "ipv6only\nnoipv6rs\nia_na 1\nia_pd 2\nfqdn both\nhostname dcd\n";
    let mut dhcpcd = Dhcpcd::new(&f.lan, &dcd, "eth0", Family::V6, conf);
    dhcpcd.start();
    let routed = f.routerd.wait_for(secs(20), "a /60 for dhcpcd", || {
        let r = f.router_ip(&["-6", "route", "show", "dev", "lan0"]);
        let sixties: Vec<String> = r
            .lines()
            .filter(|l| l.contains("/60 via fe80:"))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect();
        if sixties.len() >= 2 && dhcpcd.log().contains("/60") {
            Ok(sixties)
        } else {
            Err(format!("{r}\n{}", dhcpcd.log()))
        }
    });
    println!("dhcpcd via routerd: /60s routed {routed:?}");
    let leases = f.routerd.ctl(&["leases", "--json"]).1;
    assert!(routed.iter().all(|p| leases.contains(p.as_str())), "{leases}");
}

/// The LAN host's traffic leaves NATed to the leased address.
fn nat(f: &Ipoe, public: &str) {
    let echo = PeerEcho::start(&f.isp, "198.51.100.1:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&f.lan, "198.51.100.1:8080".parse().unwrap(), secs(5));
    assert_eq!(seen.as_deref(), Some(public), "NATed to the DHCP address");
    drop(echo);
}

/// SIGTERM: a clean stop; Kea's lease is released (routerd sends DHCPRELEASE).
fn sigterm(f: &Ipoe) {
    f.routerd.stop();
    let kea_log = std::fs::read_to_string(f.dir.join("kea4").join("kea.log")).unwrap_or_default();
    assert!(kea_log.contains("DHCP4_RELEASE"), "Kea saw the release:\n{kea_log}");
}

#[test]
fn root_routerd_wan_by_dhcp_from_kea_with_prefix_delegation() {
    let f = Ipoe::start();
    let (public, prefixes) = scenario("wan by dhcp", || wan_by_dhcp(&f));
    let (v4, _dhclient4) = scenario("dhclient -4", || dhclient4(&f));
    let (a6, _p6, dhclient6) = scenario("dhclient -6", || dhclient6(&f, &prefixes));
    scenario("names", || names(&f, &v4, &a6));
    drop(dhclient6);
    scenario("dhcpcd", || dhcpcd(&f));
    scenario("nat", || nat(&f, &public));
    scenario("sigterm", || sigterm(&f));
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
    let dir = TempDir::new("routerd-static");
    std::fs::write(
        dir.join("routerd.toml"),
        format!(
            "state_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nmode = \"static\"\n\
             [wan.static]\nipv4 = \"198.51.100.7/24\"\ngateway = \"198.51.100.1\"\n\
             dns = [\"198.51.100.1\"]\n[wan.ipv6]\nenabled = false\n\
             [[lan]]\nname = \"lan\"\ninterface = \"lan0\"\nipv4 = \"192.168.1.1/24\"\n\
             [control]\nsocket = \"{0}/control.sock\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let routerd = Routerd::start(&router, dir.path());
    routerd.wait_for(secs(10), "the static WAN up", || routerd.logs().contains("wan up (static)"));
    let (ok, text) = routerd.ctl(&["status", "--check"]);
    assert!(ok, "healthy: {text}");
    // The fast path (on by default with an Ethernet WAN): on where the kernel takes
    // flowtables, else refused and said so, and the rest of the firewall in force either
    // way (the NAT below).
    let fast = routerd.wait_for(secs(10), "the firewall service to apply the fast path", || {
        let f = routerd.json("status")["status"]["fast_path"].clone();
        if f["state"] == "pending" { Err(f.to_string()) } else { Ok(f) }
    });
    let table = router.command("nft").args(["list", "table", "inet", "routerd"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    match router_tests::kernel_flowtables(&router, "lan0") {
        Ok(()) => {
            assert_eq!(fast["state"], "on", "{fast}");
            assert_eq!(fast["devices"], serde_json::json!(["eth0", "lan0"]), "{fast}");
            assert!(
                table.contains("flowtable fastpath") && table.contains("flow add @fastpath"),
                "{table}"
            );
        }
        Err(nft_says) => {
            assert_eq!(fast["state"], "refused", "{fast} (nft: {nft_says})");
            assert!(fast["error"].as_str().unwrap_or_default().contains("flowtable"), "{fast}");
            assert!(!table.contains("flow") && table.contains("masquerade"), "{table}");
            assert!(routerd.logs().contains("refused the fast path"), "{}", routerd.logs());
        }
    }
    let echo = PeerEcho::start(&isp, "198.51.100.1:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&lan, "198.51.100.1:8080".parse().unwrap(), secs(5));
    assert_eq!(seen.as_deref(), Some("198.51.100.7"), "NATed to the static address");
    drop(echo);

    // SIGTERM: the address and the default route come off the WAN.
    routerd.stop();
    let addrs = router.command("ip").args(["-4", "addr", "show", "dev", "eth0"]).output().unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout).into_owned();
    assert!(!addrs.contains("198.51.100.7"), "{addrs}");
}
