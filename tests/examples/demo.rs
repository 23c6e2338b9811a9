//! `make demo` until the container demo exists: a KPN-style line in network namespaces.
//!
//! ```text
//!  lan (192.168.1.100) -- router -- isp (ispemu: PPPoE on VLAN 6, PAP internet/internet)
//!                           |              |
//!                   ppp0 over eth0.6     internet (203.0.113.10, 2001:db8:ffff::10)
//! ```
//!
//! The router dials PPPoE with our client (VLAN tagged in user space, RFC 4638 MTU 1500),
//! NATs the LAN with our nftables ruleset applied over netlink, and the LAN host reaches the
//! stand-in internet. Needs root; everything is removed on exit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use fw::{Firewall, FwConfig, FwState, Lan};
use netcfg::{Family, Route};
use netlab::{Lab, Netns};
use pppoe::driver::client;
use router_tests::wan::{Isp, Wan, kpn_credentials};

fn step(what: &str) {
    println!("\n==> {what}");
}

fn show(ns: &Netns, args: &[&str]) {
    let out = ns.command(args[0]).args(&args[1..]).output().unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

fn main() {
    if let Err(e) = netlab::require_root() {
        eprintln!("demo: {e}");
        std::process::exit(1);
    }
    let lab = Lab::new("demo").unwrap();
    step("namespaces: lan, router, isp, internet");
    let (lan, router, isp, inet) = (
        lab.netns("lan").unwrap(),
        lab.netns("router").unwrap(),
        lab.netns("isp").unwrap(),
        lab.netns("inet").unwrap(),
    );
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    lab.connect(&isp, "up0", &inet, "eth0").unwrap();
    lan.add_addr("eth0", "192.168.1.100/24").unwrap();
    router.add_addr("lan0", "192.168.1.1/24").unwrap();
    isp.add_addr("up0", "203.0.113.1/24").unwrap();
    inet.add_addr("eth0", "203.0.113.10/24").unwrap();
    lan.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "192.168.1.1".parse().unwrap()))
            .await
    })
    .unwrap();
    inet.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "203.0.113.1".parse().unwrap()))
            .await
    })
    .unwrap();
    router.netcfg(|nc| async move { nc.set_forwarding("all", Family::V4, true) }).unwrap();

    step("ispemu: PPPoE access concentrator on VLAN 6, PAP internet/internet, 198.51.100.0/24");
    let dir = std::env::temp_dir().join(format!("routerd-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let isp_handle = Isp::start(&isp, &dir, "vlan = 6\nauth = \"pap\"\n");

    step("router: PPPoE client on eth0, VLAN 6, MTU 1500 (RFC 4638)");
    let mut c = client::Config::new("eth0", Some(kpn_credentials()));
    c.vlan = Some(6);
    c.mtu = 1500;
    let t0 = Instant::now();
    let mut wan = Wan::start(&router, c);
    let link = wan.up(Duration::from_secs(15));
    let v4 = link.ipv4.clone().unwrap();
    println!(
        "    up in {:.0} ms: session {}, {} peer {}, DNS {:?}, MTU {}",
        t0.elapsed().as_secs_f64() * 1e3,
        link.session_id,
        v4.local,
        v4.peer,
        v4.dns,
        link.mtu
    );
    show(&router, &["ip", "-br", "addr", "show", "ppp0"]);
    show(&router, &["ip", "route"]);

    step("router: firewall and NAT over netlink (nftables table inet routerd)");
    let fwc = FwConfig {
        table: "routerd".into(),
        wan: "ppp0".into(),
        clamp_mss: true,
        lans: vec![Lan {
            name: "lan".into(),
            interface: "lan0".into(),
            ipv4: Some("192.168.1.0/24".parse().unwrap()),
        }],
        port_forwards: vec![],
        pinholes: vec![],
        open: vec![],
        lan_tcp: vec![],
        extra_wans: vec![],
        split: None,
        fast_path: false,
    };
    let rs =
        fw::build(&fwc, &FwState { public_ipv4: Some(v4.local), ..FwState::default() }).unwrap();
    let rules = rs.rule_count();
    router.run(move |_| async move { Firewall::apply(&rs) }).unwrap().unwrap();
    println!("    {rules} rules applied in one transaction");

    step("the LAN host reaches the internet through PPPoE and NAT");
    let st = lan.command("ping").args(["-c", "3", "-i", "0.2", "203.0.113.10"]).status().unwrap();
    println!("    ping 203.0.113.10 from the LAN: {}", if st.success() { "ok" } else { "FAILED" });

    step("the ISP's view");
    print!("    ispemu ctl sessions: {}", isp_handle.ctl("sessions"));

    step("shutting down: the client closes its session (LCP Terminate, PADT)");
    let counters = wan.stop();
    println!("    data path: {counters:?}");
    drop(isp_handle);
    let _ = std::fs::remove_dir_all(&dir);
    println!("\ndone; the lab removes its namespaces now");
}
