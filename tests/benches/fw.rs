//! Firewall benchmark, side by side with the nft CLI in one run (root):
//!
//! 1. Time to replace a ruleset with 1,000 port forwards: `fw::Firewall::apply` (one netlink
//!    transaction) against `nft -f` of the same ruleset as text, alternating, in the same
//!    namespace; medians and their ratio.
//! 2. Forwarding throughput lan -> router -> wan (iperf3, 5 s, one TCP flow) with the router's
//!    ruleset (port forwards included) against no ruleset at all; ratio and CPU.
//!
//! `sudo cargo bench -p router-tests --bench fw`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fw::{Firewall, FwConfig, FwState, Lan, PortForward, Proto};
use netcfg::{Family, Route};
use netlab::Netns;
use router_tests::bench::{iperf3_gbits, iperf3_server};

fn config(forwards: u16) -> FwConfig {
    FwConfig {
        table: "routerd".into(),
        wan: "wan0".into(),
        clamp_mss: true,
        lans: vec![Lan {
            name: "lan".into(),
            interface: "lan0".into(),
            ipv4: Some("192.168.1.0/24".parse().unwrap()),
        }],
        port_forwards: (0..forwards)
            .map(|i| PortForward {
                name: format!("pf{i}"),
                proto: Proto::Tcp,
                port: 10000 + i,
                to: Ipv4Addr::new(192, 168, 1, 10 + (i % 200) as u8),
                to_port: 20000 + i,
            })
            .collect(),
        pinholes: vec![],
        open: vec![],
        lan_tcp: vec![],
        extra_wans: vec![],
        split: None,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn apply_times(ns: &Netns, rs: &fw::Ruleset, rounds: usize) -> (Duration, Duration) {
    let script = std::env::temp_dir().join(format!("fwbench-{}.nft", std::process::id()));
    std::fs::write(&script, rs.to_nft()).unwrap();
    let (mut ours, mut cli) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let r = rs.clone();
        ours.push(
            ns.run(move |_| async move {
                let t = Instant::now();
                Firewall::apply(&r).unwrap();
                t.elapsed()
            })
            .unwrap(),
        );
        let t = Instant::now();
        let st = ns.command("nft").arg("-f").arg(&script).status().unwrap();
        cli.push(t.elapsed());
        assert!(st.success());
    }
    let _ = std::fs::remove_file(&script);
    (median(ours), median(cli))
}

fn iperf(lan: &Netns, wan: &Netns) -> f64 {
    let _srv = iperf3_server(wan, "203.0.113.10");
    let out = lan
        .command("iperf3")
        .args(["-c", "203.0.113.10", "-t", "5", "-J", "--connect-timeout", "3000"])
        .output()
        .unwrap();
    iperf3_gbits(&out)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // cargo test --benches probes harness=false benches this way
    }
    netlab::require_root().expect("the firewall benchmark builds namespaces: run it as root");
    let lab = netlab::Lab::new("fwbench").unwrap();

    // 1. Apply time, 1,000 port forwards.
    let ns = lab.netns("apply").unwrap();
    let rs = fw::build(&config(1000), &FwState::default()).unwrap();
    let (ours, cli) = apply_times(&ns, &rs, 15);
    println!(
        "apply {} rules (1000 port forwards): fw {:.2} ms, nft -f {:.2} ms, nft/fw = {:.1}x",
        rs.rule_count(),
        ours.as_secs_f64() * 1e3,
        cli.as_secs_f64() * 1e3,
        cli.as_secs_f64() / ours.as_secs_f64()
    );

    // 2. Forwarding throughput with and without the ruleset.
    let (lan, r, wan) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("wan").unwrap());
    lab.connect(&lan, "eth0", &r, "lan0").unwrap();
    lab.connect(&r, "wan0", &wan, "eth0").unwrap();
    lan.add_addr("eth0", "192.168.1.10/24").unwrap();
    r.add_addr("lan0", "192.168.1.1/24").unwrap();
    r.add_addr("wan0", "198.51.100.2/24").unwrap();
    wan.add_addr("eth0", "198.51.100.1/24").unwrap();
    wan.add_addr("eth0", "203.0.113.10/24").unwrap();
    // Without the ruleset there is no NAT: the WAN side routes the LAN back itself.
    wan.netcfg(|nc| async move {
        nc.add_route(&Route::via(
            "192.168.1.0/24".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
        ))
        .await
    })
    .unwrap();
    lan.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "192.168.1.1".parse().unwrap()))
            .await
    })
    .unwrap();
    r.netcfg(|nc| async move {
        nc.set_forwarding("all", Family::V4, true)?;
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "198.51.100.1".parse().unwrap()))
            .await
    })
    .unwrap();
    let mut plain = Vec::new();
    let mut ruled = Vec::new();
    let rs =
        fw::build(&config(1000), &FwState { public_ipv4: Some("198.51.100.2".parse().unwrap()) })
            .unwrap();
    for round in 0..2 {
        // Alternate: no ruleset, then the ruleset, twice.
        let _ = r
            .command("nft")
            .args(["delete", "table", "inet", "routerd"])
            .stderr(Stdio::null())
            .status();
        plain.push(iperf(&lan, &wan));
        let rs2 = rs.clone();
        r.run(move |_| async move { Firewall::apply(&rs2) }).unwrap().unwrap();
        ruled.push(iperf(&lan, &wan));
        println!(
            "  round {round}: plain {:.2} Gbit/s, with ruleset {:.2} Gbit/s",
            plain[round], ruled[round]
        );
    }
    let (p, w) = (plain.iter().sum::<f64>() / 2.0, ruled.iter().sum::<f64>() / 2.0);
    println!(
        "forwarding, 1 TCP flow: plain {p:.2} Gbit/s, with ruleset {w:.2} Gbit/s, ratio {:.2}",
        w / p
    );
}
