//! The user-space PPPoE data path against plain kernel routing, in one run (root):
//! lan -> router -> isp -> internet namespaces, iperf3 TCP for 5 s, 1 and 4 flows, both
//! directions, the router NATing with the same `fw` ruleset in both cases and the WAN MTU 1492
//! in both. Reports Gbit/s, the ratio PPPoE/kernel, and machine-wide CPU seconds per Gbit
//! (/proc/stat busy time over the run). The kernel runs twice: with the veths' segmentation
//! offloads (64 KiB packets cross the whole path unsegmented, as with a NIC doing TSO) and
//! without them on the router-to-ISP link, the one the PPPoE path replaces (every 1492-byte
//! packet handled there, as our path does; the LAN link keeps its offloads in both, as in the
//! PPPoE run). Kernel PPPoE itself cannot be had here (no ppp module): kernel routing at the
//! same MTU is the baseline, not a proxy for pppd. Then the PPPoE path with its mapped
//! receive ring and with batched recvmmsg instead (both ends), sessions alternating `ROUNDS`
//! times, for the ring's share. Also
//! the time from starting the client to IPCP up.
//!
//! `sudo cargo bench -p router-tests --bench pppoe`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use fw::{Firewall, FwConfig, FwState, Lan};
use netcfg::{Family, Route};
use netlab::{Lab, Netns};
use pppoe::driver::client;
use router_tests::bench::{iperf3_gbits, iperf3_server};
use router_tests::wan::{Isp, Wan, kpn_credentials};

fn cpu_busy() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<f64> =
        s.lines().next().unwrap().split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
    let total: f64 = v.iter().sum();
    (total - v[3] - v[4]) / 100.0 // USER_HZ
}

/// (Gbit/s, CPU seconds) of one iperf3 run from `lan` to the internet host.
fn iperf(lan: &Netns, inet: &Netns, flows: u32, reverse: bool) -> (f64, f64) {
    let srv = iperf3_server(inet, "203.0.113.10");
    let mut args =
        vec!["-c".to_string(), "203.0.113.10".into(), "-t".into(), "5".into(), "-J".into()];
    args.extend(["-P".into(), flows.to_string(), "--connect-timeout".into(), "3000".into()]);
    if reverse {
        args.push("-R".into());
    }
    let c0 = cpu_busy();
    let out = lan.command("iperf3").args(&args).output().unwrap();
    let cpu = cpu_busy() - c0;
    drop(srv);
    (iperf3_gbits(&out), cpu)
}

struct Topo {
    lab: Lab,
    lan: Netns,
    router: Netns,
    isp: Netns,
    inet: Netns,
}

fn topo(tag: &str) -> Topo {
    let lab = Lab::new(tag).unwrap();
    let (lan, router, isp, inet) = (
        lab.netns("lan").unwrap(),
        lab.netns("r").unwrap(),
        lab.netns("isp").unwrap(),
        lab.netns("inet").unwrap(),
    );
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    lab.connect(&isp, "up0", &inet, "eth0").unwrap();
    lan.add_addr("eth0", "192.168.1.10/24").unwrap();
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
    for ns in [&router, &isp] {
        ns.netcfg(|nc| async move { nc.set_forwarding("all", Family::V4, true) }).unwrap();
    }
    Topo { lab, lan, router, isp, inet }
}

fn nat(router: &Netns, wan: &str) {
    let cfg = FwConfig {
        table: "routerd".into(),
        wan: wan.into(),
        clamp_mss: false, // the PPPoE path clamps itself; the kernel path runs at MTU 1492 end to end
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
    let rs = fw::build(&cfg, &FwState::default()).unwrap();
    router.run(move |_| async move { Firewall::apply(&rs) }).unwrap().unwrap();
}

fn run_all(name: &str, t: &Topo, results: &mut Vec<(String, f64, f64)>) {
    for (flows, rev) in [(1, false), (4, false), (1, true), (4, true)] {
        let (g, cpu) = iperf(&t.lan, &t.inet, flows, rev);
        let label = format!(
            "{name} {flows} flow{} {}",
            if flows > 1 { "s" } else { "" },
            if rev { "down" } else { "up" }
        );
        println!(
            "  {label}: {g:.2} Gbit/s, {:.2} CPU s per Gbit",
            if g > 0.0 { cpu / (g * 5.0) } else { 0.0 }
        );
        results.push((label, g, cpu));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    netlab::require_root().expect("run as root");
    let mut kernel = Vec::new();
    let mut kernel_plain = Vec::new();
    let mut ppp = Vec::new();

    // Kernel routing at MTU 1492.
    {
        let t = topo("benchk");
        t.router.add_addr("eth0", "198.51.100.2/24").unwrap();
        t.isp.add_addr("eth0", "198.51.100.1/24").unwrap();
        for ns in [&t.router, &t.isp] {
            ns.netcfg(|nc| async move {
                let l = nc.link_by_name("eth0").await?;
                nc.set_mtu(&l, 1492).await
            })
            .unwrap();
        }
        t.router
            .netcfg(|nc| async move {
                nc.add_route(&Route::via(
                    "0.0.0.0/0".parse().unwrap(),
                    "198.51.100.1".parse().unwrap(),
                ))
                .await
            })
            .unwrap();
        nat(&t.router, "eth0");
        println!("kernel routing (MTU 1492):");
        run_all("kernel", &t, &mut kernel);
        // The same without segmentation offloads (TSO, GSO, GRO off) on the one link the
        // PPPoE path replaces, router to ISP: the kernel then handles every 1492-byte packet
        // there, as our path does, while the LAN link and the ISP's uplink keep their offloads
        // in both runs (like for like; REVIEW.md §4).
        for (ns, ifs) in [(&t.router, &["eth0"][..]), (&t.isp, &["eth0"])] {
            for i in ifs {
                let st = ns
                    .command("ethtool")
                    .args(["-K", i, "tso", "off", "gso", "off", "gro", "off"])
                    .status()
                    .unwrap();
                assert!(st.success(), "ethtool (Debian ethtool)");
            }
        }
        println!("kernel routing (MTU 1492), segmentation offloads off:");
        run_all("kernel-nooffload", &t, &mut kernel_plain);
        drop(t.lab);
    }

    // The user-space PPPoE path: ispemu's AC and our client, ppp0 MTU 1492.
    {
        let t = topo("benchp");
        let dir = std::env::temp_dir().join(format!("pppoe-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let isp = Isp::start(&t.isp, &dir, "max_payload = 1492\n");
        let started = Instant::now();
        let mut cfg = client::Config::new("eth0", Some(kpn_credentials()));
        let (stats_tx, stats_rx) = tokio::sync::watch::channel(pppoe::Stats::default());
        cfg.stats = Some(stats_tx);
        let counters = cfg.counters.clone();
        let mut wan = Wan::start(&t.router, cfg);
        wan.up(Duration::from_secs(15));
        let up = started.elapsed();
        println!("PPPoE: start to IPCP up in {:.1} ms", up.as_secs_f64() * 1e3);
        nat(&t.router, "ppp0");
        println!("user-space PPPoE (ppp0 MTU 1492):");
        run_all("pppoe", &t, &mut ppp);
        // The same, watched: what routerd's /metrics and status page do while a Prometheus
        // scrapes every second (read every data path counter and the session's stats, render
        // them as text). The data path counts the same atomics either way. Unwatched and
        // watched alternate, ROUNDS (default 3) times, so that drift hits both alike.
        let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let (stop, watching) = (stop.clone(), watching.clone());
            let (counters, stats) = (counters.clone(), stats_rx.clone());
            std::thread::spawn(move || {
                use std::fmt::Write;
                use std::sync::atomic::Ordering::Relaxed;
                let mut scrapes = 0u64;
                while !stop.load(Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    if !watching.load(Relaxed) {
                        continue;
                    }
                    let c = &counters;
                    let mut text = String::new();
                    for (name, v) in [
                        ("rx_packets", &c.rx_packets),
                        ("rx_bytes", &c.rx_bytes),
                        ("tx_packets", &c.tx_packets),
                        ("tx_bytes", &c.tx_bytes),
                        ("dropped_frames", &c.dropped_frames),
                        ("dropped_packets", &c.dropped_packets),
                        ("mss_clamped", &c.mss_clamped),
                    ] {
                        let _ = writeln!(text, "routerd_wan_{name}_total {}", v.load(Relaxed));
                    }
                    let _ = writeln!(text, "{:?}", *stats.borrow());
                    std::hint::black_box(&text);
                    scrapes += 1;
                }
                scrapes
            })
        };
        let cpg = |c: f64, g: f64| if g > 0.0 { c / (g * 5.0) } else { f64::NAN };
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); 4];
        for round in 0..rounds {
            let mut plain = Vec::new();
            if round > 0 {
                println!("user-space PPPoE, round {round}:");
                run_all("pppoe", &t, &mut plain);
            }
            let plain = if round == 0 { ppp.clone() } else { plain };
            let mut watched = Vec::new();
            watching.store(true, std::sync::atomic::Ordering::Relaxed);
            println!(
                "user-space PPPoE, its counters read every second (metrics on), round {round}:"
            );
            run_all("pppoe-watched", &t, &mut watched);
            watching.store(false, std::sync::atomic::Ordering::Relaxed);
            for (i, ((_, g0, c0), (_, g1, c1))) in plain.iter().zip(&watched).enumerate() {
                ratios[i].push(cpg(*c1, *g1) / cpg(*c0, *g0));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let scrapes = watcher.join().unwrap();
        println!(
            "ratio watched / unwatched, CPU per Gbit, median (min-max) of {rounds} alternating rounds ({scrapes} reads; goal < 1.02):"
        );
        for ((label, _, _), mut r) in ppp.iter().zip(ratios) {
            r.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  {}: {:.3} ({:.3}-{:.3})",
                label.split_once(' ').map_or(label.as_str(), |x| x.1),
                r[r.len() / 2],
                r[0],
                r[r.len() - 1]
            );
        }
        let counters = wan.stop();
        drop(isp);
        println!("  client path counters: {counters:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    // The receive ring against batched recvmmsg (both ends), in sessions of their own that
    // alternate ROUNDS times, so that drift over the run hits both alike.
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut ring_ratios: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut ring_last: Vec<(String, f64, f64)> = Vec::new();
    {
        let t = topo("benchq");
        let dir = std::env::temp_dir().join(format!("pppoe-bench-q-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cpg = |c: f64, g: f64| if g > 0.0 { c / (g * 5.0) } else { f64::NAN };
        for round in 0..rounds {
            let mut by_mode = Vec::new();
            for ring in [true, false] {
                pppoe::driver::set_packet_rings(ring);
                let isp = Isp::start(&t.isp, &dir, "max_payload = 1492\n");
                let mut wan =
                    Wan::start(&t.router, client::Config::new("eth0", Some(kpn_credentials())));
                wan.up(Duration::from_secs(15));
                nat(&t.router, "ppp0");
                let name = if ring { "pppoe-ring" } else { "pppoe-recvmmsg" };
                println!("user-space PPPoE receiving with {name}, round {round}:");
                let mut r = Vec::new();
                run_all(name, &t, &mut r);
                drop(wan);
                drop(isp);
                by_mode.push(r);
            }
            for (i, ((_, rg, rc), (_, bg, bc))) in by_mode[0].iter().zip(&by_mode[1]).enumerate() {
                ring_ratios[i].push(cpg(*bc, *bg) / cpg(*rc, *rg));
            }
            ring_last = by_mode[0]
                .iter()
                .zip(&by_mode[1])
                .map(|((l, rg, _), (_, bg, _))| (l.clone(), *rg, *bg))
                .collect();
        }
        pppoe::driver::set_packet_rings(true);
        let _ = std::fs::remove_dir_all(&dir);
    }

    for ((label, rg, bg), mut r) in ring_last.iter().zip(ring_ratios) {
        r.sort_by(|a, b| a.total_cmp(b));
        println!(
            "RESULT pppoe {}, CPU per Gbit recvmmsg / ring = {:.3} | median of {rounds} alternating rounds ({:.3}-{:.3}); last round ring {:.2} vs recvmmsg {:.2} Gbit/s",
            label.split_once(' ').map_or(label.as_str(), |x| x.1),
            r[r.len() / 2],
            r[0],
            r[r.len() - 1],
            rg,
            bg
        );
    }
    let cpg = |c: f64, g: f64| if g > 0.0 { c / (g * 5.0) } else { f64::NAN };
    for (name, base) in [("kernel", &kernel), ("kernel without offloads", &kernel_plain)] {
        println!("ratio PPPoE / {name} (throughput; CPU per Gbit):");
        for ((label, kg, kc), (_, pg, pc)) in base.iter().zip(&ppp) {
            println!(
                "RESULT pppoe {}, throughput PPPoE / {name} = {:.3} | {:.2} vs {:.2} Gbit/s; CPU per Gbit {:.2}x",
                label.split_once(' ').map_or(label.as_str(), |x| x.1),
                pg / kg,
                pg,
                kg,
                cpg(*pc, *pg) / cpg(*kc, *kg)
            );
        }
    }
}
