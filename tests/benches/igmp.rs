//! Our IGMP proxy beside Debian's igmpproxy, in one run (root): the same namespaces (a
//! head-end sending 20 channels of 5 Mbit/s, 1,316-octet datagrams as an IPTV multicast of
//! 7 MPEG-TS packets, the router, a plain switch and two set-top boxes that are the kernel's
//! IGMPv3 host stack), the same timers (Robustness 2, Last Member Query Interval 1 s, no
//! fast leave). For each: join to first packet and leave to last forwarded packet over ten
//! channels, one at a time, and the proxy's CPU seconds over 10 s with all 20 channels
//! forwarded (by the kernel in both cases; the proxy only answers IGMP). `RUNS` runs
//! (default 3), alternating which goes first; medians, min-max.
//!
//! `sudo cargo bench -p router-tests --bench igmp`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netlab::{Netns, ProcessGuard};
use router_tests::mcast::{
    HeadEnd, Running, Stb, lan_vif_packets_out, net, proxy_config, task_cpu_seconds,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Ours,
    Igmpproxy,
}

enum Subject {
    Ours(Running),
    Igmpproxy(ProcessGuard),
}

impl Subject {
    fn start(which: Which, router: &Netns, dir: &std::path::Path) -> Self {
        match which {
            Which::Ours => {
                let cfg = proxy_config(&["239.0.0.0/8"], Duration::from_secs(125), false);
                Subject::Ours(Running::start(router, cfg))
            }
            Which::Igmpproxy => {
                let conf = dir.join("igmpproxy.conf");
                std::fs::write(
                    &conf,
                    "phyint iptv0 upstream ratelimit 0 threshold 1\n  altnet 10.10.0.0/24\n\
                     phyint lan0 downstream ratelimit 0 threshold 1\n",
                )
                .unwrap();
                let mut cmd = router.command("igmpproxy");
                let log = std::fs::File::create(dir.join("igmpproxy.log")).unwrap();
                cmd.arg("-n").arg(&conf).stderr(log);
                let g = router.spawn_process(&mut cmd).expect("igmpproxy (Debian igmpproxy)");
                Subject::Igmpproxy(g)
            }
        }
    }

    fn cpu_seconds(&mut self) -> f64 {
        match self {
            Subject::Ours(r) => r.cpu_seconds(),
            Subject::Igmpproxy(g) => task_cpu_seconds(&format!("/proc/{}/stat", g.child().id())),
        }
    }
}

/// Waits for the LAN vif's packet count to stop growing (no change for 500 ms): the time
/// from `since` to its last change.
fn until_forwarding_stops(router: &Netns, since: Instant) -> Duration {
    let mut last = lan_vif_packets_out(router);
    let mut changed = Instant::now();
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end && changed.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(5));
        let v = lan_vif_packets_out(router);
        if v != last {
            last = v;
            changed = Instant::now();
        }
    }
    changed.saturating_duration_since(since)
}

struct Run {
    join: Vec<Duration>,
    leave: Vec<Duration>,
    cpu: f64,
    received: usize,
}

fn one(which: Which, channels: &[Ipv4Addr]) -> Run {
    let n = net("bigmp");
    let dir = std::env::temp_dir().join(format!("igmp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 475 datagrams/s of 1,316 octets: 5.0 Mbit/s per channel.
    let _head = HeadEnd::stream(&n.head, channels.to_vec(), 1316, 475);
    let mut subject = Subject::start(which, &n.router, &dir);
    let stb = Stb::new(&n.stb1, "192.168.1.10");
    let _pcap = std::env::var("IGMP_BENCH_PCAP").ok().map(|p| {
        let mut c = n.router.command("tcpdump");
        c.args(["-i", "lan0", "-U", "-w", &format!("{p}-{which:?}.pcap")]);
        n.router.spawn_process(&mut c).unwrap()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (mut join, mut leave) = (Vec::new(), Vec::new());
    // Leave to last forwarded packet, three channels, one at a time (nothing else joined).
    for g in channels.iter().take(3) {
        let g = g.to_string();
        stb.join(&g);
        assert!(stb.first_packet(&g, Duration::from_secs(10)).is_some(), "{which:?}: {g}");
        stb.receive(Duration::from_millis(200));
        let left = Instant::now();
        stb.leave(&g);
        leave.push(until_forwarding_stops(&n.router, left));
        stb.drain();
    }
    // Join to first packet, ten channels (each left again at once).
    for g in channels.iter().skip(3).take(10) {
        let g = g.to_string();
        stb.join(&g);
        join.push(
            stb.first_packet(&g, Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{which:?}: {g} never arrived")),
        );
        stb.receive(Duration::from_millis(100));
        stb.leave(&g);
    }
    for g in channels {
        stb.join(&g.to_string());
    }
    let last = channels.last().unwrap().to_string();
    assert!(stb.first_packet(&last, Duration::from_secs(10)).is_some(), "{which:?}: all 20");
    stb.receive(Duration::from_secs(1));
    let cpu0 = subject.cpu_seconds();
    let received = stb.receive(Duration::from_secs(10)).len();
    let cpu = subject.cpu_seconds() - cpu0;
    drop(subject);
    drop(n.lab);
    let _ = std::fs::remove_dir_all(&dir);
    Run { join, leave, cpu, received }
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    netlab::require_root().expect("run as root");
    assert!(
        router_tests::mcast::kernel_routes_multicast(),
        "the IGMP bench needs a kernel with multicast routing (CONFIG_IP_MROUTE)"
    );
    let only = std::env::var("IGMP_BENCH_ONLY").ok();
    let runs: usize = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let channels: Vec<Ipv4Addr> = (1..=20).map(|i| Ipv4Addr::new(239, 1, 1, i)).collect();
    let mut results: Vec<(Which, Run)> = Vec::new();
    for r in 0..runs {
        let order = if r % 2 == 0 {
            [Which::Ours, Which::Igmpproxy]
        } else {
            [Which::Igmpproxy, Which::Ours]
        };
        for which in order {
            if only.as_deref().is_some_and(|o| o != format!("{which:?}")) {
                continue;
            }
            let run = one(which, &channels);
            let j = median(run.join.iter().map(ms).collect());
            let l = median(run.leave.iter().map(ms).collect());
            println!(
                "run {r} {which:?}: join {:.1} ms (median of 10), leave {:.0} ms (median of 3), CPU {:.3} s over 10 s with 20 x 5 Mbit/s ({} datagrams received, {:.0}/s)",
                j.0,
                l.0,
                run.cpu,
                run.received,
                run.received as f64 / 10.0
            );
            results.push((which, run));
        }
    }
    let stat = |w: Which, f: &dyn Fn(&Run) -> f64| {
        median(results.iter().filter(|(x, _)| *x == w).map(|(_, r)| f(r)).collect())
    };
    let join = |r: &Run| median(r.join.iter().map(ms).collect()).0;
    let leave = |r: &Run| median(r.leave.iter().map(ms).collect()).0;
    let cpu = |r: &Run| r.cpu;
    println!("igmp proxy, {runs} runs, median (min-max):");
    for (name, f) in [
        ("join to first packet, ms", &join as &dyn Fn(&Run) -> f64),
        ("leave to last packet, ms", &leave),
        ("CPU s per 10 s at 20 x 5 Mbit/s", &cpu),
    ] {
        let (o, p) = (stat(Which::Ours, f), stat(Which::Igmpproxy, f));
        println!(
            "RESULT igmp {name}, ours / igmpproxy = {6:.3} | ours {0:.3} ({1:.3}-{2:.3}), igmpproxy {3:.3} ({4:.3}-{5:.3})",
            o.0,
            o.1,
            o.2,
            p.0,
            p.1,
            p.2,
            if p.0 > 0.0 { o.0 / p.0 } else { f64::NAN } // NaN: both below /proc's 10 ms tick
        );
    }
}
