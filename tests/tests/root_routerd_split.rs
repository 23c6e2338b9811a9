//! The split deployment in namespaces (DESIGN.md, "Split deployment"): internet <-> ispemu
//! <-> routerd `ingress` <-> DMZ <-> routerd `gateway` <-> a LAN host. The gateway leases
//! the ingress its DMZ address; the ingress delegates the gateway a /56 of the ISP's /48
//! and passes every inbound IPv4 connection to it. The LAN host gets a lease, resolves
//! names, reaches the internet over IPv4 (NAT twice) and IPv6 (routed), is reached through a
//! port forward on the gateway, and keeps working after the ISP drops the session and after
//! the ISP renumbers. The scenarios run in order on one [`Split`] fixture, each named in
//! the output and in its failure. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Display;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use netlab::{Lab, Netns, ProcessGuard};
use router_tests::clients::udhcpc;
use router_tests::routerd::Routerd;
use router_tests::wan::{Isp, internet};
use router_tests::{PeerEcho, Ready, TempDir, lab, peer_seen, scenario, timed_out, try_wait_for};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The LAN host's global IPv6 address in `within`, once DAD is done.
fn slaac(ns: &netlab::Netns, within: ipnet::Ipv6Net) -> Option<std::net::Ipv6Addr> {
    let addrs = ns
        .netcfg(|nc| async move {
            let l = nc.link_by_name("eth0").await?;
            nc.addresses(Some(&l)).await
        })
        .unwrap();
    addrs.iter().find_map(|a| match a.net {
        ipnet::IpNet::V6(n) if within.contains(&n.addr()) && !a.tentative && !a.deprecated => {
            Some(n.addr())
        }
        _ => None,
    })
}

/// The split deployment: the ISP (ispemu, KPN profile) and the stand-in internet, the
/// ingress (PPPoE, DMZ `dmz0`), the gateway (static WAN on the DMZ, one LAN with a port
/// forward to 192.168.1.100:80) and a LAN host.
struct Split {
    ingress: Routerd,
    gateway: Routerd,
    isp: Isp,
    lan: Netns,
    gw: Netns,
    ing: Netns,
    inet: Netns,
    /// When the routers were started.
    started: Instant,
    _internet: ProcessGuard,
    dir: TempDir,
    _lab: Lab,
}

impl Split {
    /// Builds the lab and starts both routers (the gateway first); returns once both are
    /// ready.
    fn start() -> Split {
        let lab = lab("split");
        let ns = |n| lab.netns(n).unwrap();
        let (lan, gw, ing, isp, inet) = (ns("lan"), ns("gw"), ns("ing"), ns("isp"), ns("inet"));
        let internet = internet(&lab, &isp, &inet);
        lab.connect(&ing, "eth0", &isp, "eth0").unwrap();
        lab.connect(&ing, "dmz0", &gw, "eth0").unwrap();
        lab.connect(&gw, "lan0", &lan, "eth0").unwrap();
        let dir = TempDir::new("routerd-split");
        let (di, dg) = (dir.join("ingress"), dir.join("gateway"));
        std::fs::create_dir_all(&di).unwrap();
        std::fs::create_dir_all(&dg).unwrap();
        let isp = Isp::start(&isp, dir.path(), "vlan = 6\n");
        std::fs::write(
            di.join("routerd.toml"),
            format!(
                "role = \"ingress\"\nstate_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nvlan = 6\nmode = \"pppoe\"\n\
                 [wan.pppoe]\nusername = \"internet\"\npassword = \"internet\"\n[wan.ipv6]\npd_length = 48\n\
                 [dmz]\ninterface = \"dmz0\"\ndelegate_length = 56\n[control]\nsocket = \"{0}/control.sock\"\n",
                di.display()
            ),
        )
        .unwrap();
        std::fs::write(
            dg.join("routerd.toml"),
            format!(
                "role = \"gateway\"\nstate_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nmode = \"static\"\n\
                 [wan.static]\nipv4 = \"10.255.0.1/30\"\ngateway = \"10.255.0.2\"\ndns = [\"203.0.113.53\"]\n\
                 [wan.ipv6]\npd_length = 56\n\
                 [[lan]]\nname = \"home\"\ninterface = \"lan0\"\nipv4 = \"192.168.1.1/24\"\nsubnet_id = 1\n\
                 dhcp4 = {{ pool = \"192.168.1.100-192.168.1.199\", lease_time = \"1h\" }}\n\
                 [[firewall.port_forward]]\nname = \"web\"\nproto = \"tcp\"\nport = 8080\nto = \"192.168.1.100:80\"\n\
                 [control]\nsocket = \"{0}/control.sock\"\n",
                dg.display()
            ),
        )
        .unwrap();
        let started = Instant::now();
        let gateway = Routerd::start(&gw, &dg);
        let ingress = Routerd::start(&ing, &di);
        let f = Split {
            ingress,
            gateway,
            isp,
            lan,
            gw,
            ing,
            inet,
            started,
            _internet: internet,
            dir,
            _lab: lab,
        };
        let ready = |r: &Routerd| r.logs().contains("router ready");
        f.wait_for(secs(30), "both routers ready", || ready(&f.ingress) && ready(&f.gateway));
        // The ingress is ready only once the gateway leased it its DMZ address: before that
        // nothing reaches the LANs behind the gateway (it said "ready" before the lease once).
        let logs = f.ingress.logs();
        let (leased, ready_at) =
            (logs.find("dmz up: the gateway leased"), logs.find("router ready"));
        assert!(
            leased.is_some() && leased < ready_at && logs.contains("dmz leased"),
            "the ingress was ready before its DMZ lease:\n{logs}"
        );
        println!("split: both ready {:?} after start", f.started.elapsed());
        f
    }

    /// Both routers' logs.
    fn logs(&self) -> String {
        format!("--- ingress\n{}\n--- gateway\n{}", self.ingress.logs(), self.gateway.logs())
    }

    /// [`router_tests::wait_for`] with both routers' logs in the panic.
    #[track_caller]
    fn wait_for<R: Ready>(
        &self,
        limit: Duration,
        what: impl Display,
        poll: impl FnMut() -> R,
    ) -> R::Value {
        match try_wait_for(limit, poll) {
            Ok(v) => v,
            Err(seen) => panic!("{}\n{}", timed_out(limit, &what, &seen), self.logs()),
        }
    }

    /// The public address the internet host sees a connection from the LAN host come from,
    /// if one gets through.
    fn reach4(&self) -> Option<String> {
        let _echo = PeerEcho::start(&self.inet, "203.0.113.10:8080".parse::<SocketAddr>().unwrap());
        peer_seen(&self.lan, "203.0.113.10:8080".parse().unwrap(), secs(5))
    }

    /// Whether the LAN host pings the internet host over IPv6.
    fn ping6(&self) -> bool {
        self.lan
            .command("ping")
            .args(["-6", "-c", "2", "-W", "2", "2001:db8:ffff::10"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// The routes and forwarding settings that matter to IPv6 through both routers.
    fn ipv6_debug(&self) -> String {
        let r = self.gw.command("ip").args(["-6", "route"]).output().unwrap();
        let a = self
            .gw
            .command("sysctl")
            .args(["net.ipv6.conf.eth0.accept_ra", "net.ipv6.conf.eth0.forwarding"])
            .output()
            .unwrap();
        let i = self.ing.command("ip").args(["-6", "route"]).output().unwrap();
        format!(
            "gateway routes:\n{}{}ingress routes:\n{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&i.stdout)
        )
    }
}

// ---- The scenarios, in the order the test runs them.

/// Both routers up: the ingress's public address, the gateway's /56 out of the ISP's /48,
/// both healthy. Returns the public address and the gateway's prefix.
fn routers_up(f: &Split) -> (String, ipnet::Ipv6Net) {
    let public = f.ingress.json("wan")["ipv4"].as_str().unwrap().to_string();
    assert!(public.starts_with("198.51.100."), "{public}");
    let isp_prefix = f.ingress.json("prefixes")[0].as_str().unwrap().to_string();
    let gw_prefix = f.gateway.json("prefixes")[0].as_str().unwrap().to_string();
    let isp_net: ipnet::Ipv6Net = isp_prefix.parse().unwrap();
    let gw_net: ipnet::Ipv6Net = gw_prefix.parse().unwrap();
    assert!(
        isp_net.prefix_len() == 48 && gw_net.prefix_len() == 56 && isp_net.contains(&gw_net),
        "the gateway's /56 out of the ISP's /48: {isp_prefix} {gw_prefix}"
    );
    let st = f.gateway.json("status");
    assert_eq!(st["healthy"], true, "{st}");
    assert_eq!(f.ingress.json("status")["healthy"], true);
    (public, gw_net)
}

/// The LAN host: a lease from the gateway, and a name from the stand-in internet through the
/// gateway's DNS.
fn lease_and_name(f: &Split) {
    let lease = udhcpc(&f.lan, f.dir.path(), None)
        .unwrap_or_else(|| panic!("no lease from the gateway:\n{}", f.logs()));
    assert!(lease.starts_with("ip=192.168.1.100 ") && lease.contains("dns=192.168.1.1"), "{lease}");
    let dig = || {
        let out = f
            .lan
            .command("dig")
            .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", "www.example.test"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // The first name forwarded through both routers right after they came up can be lost
    // on the way (SERVFAIL): asked again, within a bound.
    let answer =
        try_wait_for(Duration::from_secs(10), || Some(dig()).filter(|a| a == "203.0.113.10"))
            .unwrap_or_else(|_| dig());
    assert_eq!(answer, "203.0.113.10", "{}", f.logs());
}

/// IPv4 out: NATed by the gateway, then by the ingress to the public address.
fn nat_twice(f: &Split, public: &str) {
    assert_eq!(f.reach4().as_deref(), Some(public), "{}", f.logs());
}

/// IPv6: the host numbers itself in the gateway's /64 (subnet 1 of its /56) and is routed.
/// Returns its address.
fn ipv6(f: &Split, gw_net: ipnet::Ipv6Net) -> std::net::Ipv6Addr {
    let host =
        f.wait_for(secs(20), "a SLAAC address from the gateway's prefix", || slaac(&f.lan, gw_net));
    assert!(f.ping6(), "{host} reaches the internet over IPv6:\n{}\n{}", f.ipv6_debug(), f.logs());
    host
}

/// Inbound: the ingress passes the connection to the gateway, whose port forward takes it
/// to the LAN host (the source kept).
fn port_forward(f: &Split, public: &str) {
    let web = PeerEcho::start(&f.lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
    let fwd = peer_seen(&f.inet, format!("{public}:8080").parse().unwrap(), secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "port forward through both:\n{}", f.logs());
    drop(web);
}

/// The ISP drops the session: the ingress redials, the LAN host works again untouched.
/// IPv6 follows once the prefix is confirmed again and the DMZ's RA names the ingress a
/// default router again (RFC 4861 §6.2.5: router lifetime 0 while the WAN was down).
fn redial(f: &Split) {
    assert!(f.isp.ctl("padt all").starts_with("ok"));
    f.wait_for(secs(20), "the ingress back up", || {
        f.ingress.json("status")["healthy"] == true && f.reach4().is_some()
    });
    f.wait_for(secs(20), "IPv6 after the redial", || f.ping6());
}

/// The ISP renumbers: the ingress gets a new /48, the gateway a new /56 out of it at once
/// (the ingress sends it Reconfigure; else its next Renew, T1 30 s), and the LAN host a
/// new address.
fn renumbering(f: &Split, host: std::net::Ipv6Addr) {
    assert_eq!(f.isp.ctl("pd pool 2001:db8:2000::/36").trim(), "ok");
    assert!(f.isp.ctl("padt all").starts_with("ok"));
    let renumbered: ipnet::Ipv6Net = "2001:db8:2000::/36".parse().unwrap();
    let new_host = f.wait_for(secs(40), "the LAN host renumbered through both routers", || {
        slaac(&f.lan, renumbered)
    });
    println!("split: renumbered {host} -> {new_host} after {:?}", f.started.elapsed());
    f.wait_for(secs(20), "IPv6 after renumbering", || f.ping6());
}

#[test]
fn root_routerd_split_ingress_and_gateway() {
    let f = Split::start();
    let (public, gw_net) = scenario("routers up", || routers_up(&f));
    scenario("lease and name", || lease_and_name(&f));
    scenario("nat twice", || nat_twice(&f, &public));
    let host = scenario("ipv6", || ipv6(&f, gw_net));
    scenario("port forward", || port_forward(&f, &public));
    scenario("redial", || redial(&f));
    scenario("renumbering", || renumbering(&f, host));
    // SIGTERM on the ingress: a clean stop.
    scenario("sigterm", || f.ingress.stop());
}
