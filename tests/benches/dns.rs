//! DNS benchmark, side by side with unbound in one run (root):
//!
//! 1. Local names: 1,000 hosts (A + AAAA) in `home.arpa`, as our static hosts and as unbound
//!    `local-data` (`local-zone: "home.arpa." static`).
//! 2. Cached forwarded names: 1,000 names served by dnsmasq in an `isp` namespace; both
//!    servers forward there, their caches are warmed first, then measured.
//!
//! Each server runs as its own process pinned to CPU 1 (`taskset -c 1`; ours is this binary
//! re-executed with `DNS_BENCH_SERVE` set), one thread; dnsperf (`-c 10 -q 100`) runs pinned
//! to CPU 0 in a client namespace. Reported per server: queries/s, average latency, lost
//! queries, server CPU µs per query (utime+stime from /proc, the steadiest figure), RSS; and
//! the ratio ours/unbound. Rounds alternate between the servers.
//!
//! `sudo cargo bench -p router-tests --bench dns` (DNS_BENCH_SECS=N to change the 8 s runs)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use netlab::{Netns, ProcessGuard};
use router_tests::bench::cpu_ticks;
use router_tests::{listening, wait_for};

const NAMES: usize = 1000;
const SERVER: &str = "192.168.50.1";

fn host_v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 100 + (i / 250) as u8, (i % 250) as u8 + 1)
}

fn host_v6(i: usize) -> String {
    format!("fd00:64::{:x}", i + 1)
}

/// The server process: our DNS with the bench's configuration, until killed.
fn serve_child(dir: &str) {
    let hosts = (0..NAMES)
        .map(|i| dns::StaticHost {
            name: format!("h{i}"),
            ipv4: vec![host_v4(i)],
            ipv6: vec![host_v6(i).parse().unwrap()],
        })
        .collect();
    let config = dns::DnsConfig {
        listen: vec![format!("{SERVER}:53").parse().unwrap()],
        hosts,
        lan_v4: vec!["192.168.50.0/24".parse().unwrap()],
        upstreams: vec!["203.0.113.1:53".parse().unwrap()],
        state_dir: PathBuf::from(dir),
        ..dns::DnsConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (_h, task) = dns::serve(config).await.unwrap();
        let _ = task.await;
    });
}

fn unbound_conf(dir: &Path) -> PathBuf {
    let mut c = format!(
        "server:\n  interface: {SERVER}\n  port: 53\n  num-threads: 1\n  username: \"\"\n  \
         chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  use-syslog: no\n  \
         logfile: \"\"\n  verbosity: 0\n  access-control: 192.168.50.0/24 allow\n  \
         do-not-query-localhost: no\n  module-config: \"iterator\"\n  \
         local-zone: \"home.arpa.\" static\n",
        d = dir.display()
    );
    for i in 0..NAMES {
        c.push_str(&format!("  local-data: \"h{i}.home.arpa. 300 IN A {}\"\n", host_v4(i)));
        c.push_str(&format!("  local-data: \"h{i}.home.arpa. 300 IN AAAA {}\"\n", host_v6(i)));
    }
    c.push_str("forward-zone:\n  name: \".\"\n  forward-addr: 203.0.113.1\n");
    let p = dir.join("unbound.conf");
    std::fs::write(&p, c).unwrap();
    p
}

struct Run {
    qps: f64,
    latency_ms: f64,
    lost: u64,
    cpu_us: f64,
    rss_kb: u64,
    codes: String,
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn field(out: &str, key: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("{key} in {out}"));
    line.split(':').nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
}

fn dnsperf(cli: &Netns, file: &Path, secs: u64, pid: u32) -> Run {
    let ticks = cpu_ticks(pid);
    let out = cli
        .command("taskset")
        .args(["-c", "0", "dnsperf", "-s", SERVER, "-c", "10", "-q", "100", "-l"])
        .arg(secs.to_string())
        .arg("-d")
        .arg(file)
        .output()
        .expect("dnsperf runs (package dnsperf)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let hz = 100.0; // USER_HZ on Linux
    let completed = field(&text, "Queries completed");
    let cpu = (cpu_ticks(pid) - ticks) as f64 / hz;
    Run {
        qps: field(&text, "Queries per second"),
        latency_ms: field(&text, "Average Latency (s)") * 1000.0,
        lost: field(&text, "Queries lost") as u64,
        cpu_us: cpu * 1e6 / completed.max(1.0),
        rss_kb: rss_kb(pid),
        codes: text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("Response codes:"))
            .unwrap_or("?")
            .trim()
            .to_string(),
    }
}

fn wait_port(ns: &Netns) {
    let bound = || listening(ns, "udp", &format!("src {SERVER}:53"));
    wait_for(Duration::from_secs(10), "the server under test on port 53", bound);
}

fn start(ns: &Netns, cmd: &mut Command) -> ProcessGuard {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let g = ns.spawn_process(cmd).unwrap();
    wait_port(ns);
    g
}

fn main() {
    if let Ok(dir) = std::env::var("DNS_BENCH_SERVE") {
        return serve_child(&dir);
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists; nothing to list here
    }
    let secs: u64 = std::env::var("DNS_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let lab = router_tests::lab("dnsbench");
    let (cli, srv, isp) =
        (lab.netns("cli").unwrap(), lab.netns("srv").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&cli, "eth0", &srv, "lan0").unwrap();
    lab.connect(&srv, "wan0", &isp, "eth0").unwrap();
    cli.add_addr("eth0", "192.168.50.2/24").unwrap();
    srv.add_addr("lan0", "192.168.50.1/24").unwrap();
    srv.add_addr("wan0", "203.0.113.2/24").unwrap();
    isp.add_addr("eth0", "203.0.113.1/24").unwrap();

    let dir = std::env::temp_dir().join(format!("dnsbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut local = String::new();
    let mut fwd = String::new();
    let mut upstream_conf = String::new();
    for i in 0..NAMES {
        local.push_str(&format!("h{i}.home.arpa A\nh{i}.home.arpa AAAA\n"));
        fwd.push_str(&format!("f{i}.example.com A\n"));
        upstream_conf.push_str(&format!("address=/f{i}.example.com/203.0.113.{}\n", i % 250 + 1));
    }
    let (local_q, fwd_q) = (dir.join("local.txt"), dir.join("fwd.txt"));
    std::fs::write(&local_q, local).unwrap();
    std::fs::write(&fwd_q, fwd).unwrap();
    std::fs::write(dir.join("upstream.conf"), upstream_conf).unwrap();
    let _upstream = isp
        .spawn_process(
            isp.command("dnsmasq")
                .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=53"])
                .args(["--listen-address=203.0.113.1", "--bind-interfaces", "--local-ttl=3600"])
                .args(["--pid-file", "--user=root", "--cache-size=10000"])
                .arg(format!("--conf-file={}", dir.join("upstream.conf").display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("dnsmasq (package dnsmasq-base)");
    let unbound_cfg = unbound_conf(&dir);
    let exe = std::env::current_exe().unwrap();

    type Starter<'a> = Box<dyn Fn() -> ProcessGuard + 'a>;
    let servers: [(&str, Starter); 2] = [
        (
            "routerd-dns",
            Box::new(|| {
                let mut c = srv.command("taskset");
                c.args(["-c", "1"]).arg(&exe).env("DNS_BENCH_SERVE", dir.join("state"));
                start(&srv, &mut c)
            }),
        ),
        (
            "unbound",
            Box::new(|| {
                let mut c = srv.command("taskset");
                c.args(["-c", "1", "unbound", "-d", "-c"]).arg(&unbound_cfg);
                start(&srv, &mut c)
            }),
        ),
    ];
    let mut results: Vec<(String, &str, Run)> = Vec::new();
    for round in 0..2 {
        for (name, starter) in &servers {
            let mut g = starter();
            let pid = g.child().id();
            // Warm the forwarding cache: one pass over the forwarded names.
            let _ =
                cli.command("dnsperf").args(["-s", SERVER, "-n", "1", "-d"]).arg(&fwd_q).output();
            for (set, file) in [("local", &local_q), ("cached-forwarded", &fwd_q)] {
                let r = dnsperf(&cli, file, secs, pid);
                println!(
                    "round {round} {name:12} {set:17} {:>9.0} q/s  {:>6.3} ms  lost {:>5}  {:>6.2} µs CPU/q  RSS {:>6} kB  {}",
                    r.qps, r.latency_ms, r.lost, r.cpu_us, r.rss_kb, r.codes
                );
                assert!(
                    r.codes.starts_with("NOERROR") && r.codes.ends_with("(100.00%)"),
                    "{name} {set}: {}",
                    r.codes
                );
                results.push((name.to_string(), set, r));
            }
            drop(g);
            let free = || !listening(&srv, "udp", &format!("src {SERVER}:53"));
            wait_for(Duration::from_secs(10), "port 53 free for the next server", free);
        }
    }
    println!("\nratios ours/unbound (mean of rounds): qps >1 is better, CPU/q <1 is better");
    for set in ["local", "cached-forwarded"] {
        let mean = |who: &str, f: fn(&Run) -> f64| {
            let v: Vec<f64> = results
                .iter()
                .filter(|(n, s, _)| n == who && *s == set)
                .map(|(_, _, r)| f(r))
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (q1, q2) = (mean("routerd-dns", |r| r.qps), mean("unbound", |r| r.qps));
        let (c1, c2) = (mean("routerd-dns", |r| r.cpu_us), mean("unbound", |r| r.cpu_us));
        let (m1, m2) =
            (mean("routerd-dns", |r| r.rss_kb as f64), mean("unbound", |r| r.rss_kb as f64));
        println!(
            "{set:17} qps {q1:.0} vs {q2:.0} = {:.2}x   CPU/q {c1:.2} vs {c2:.2} µs = {:.2}x   RSS {m1:.0} vs {m2:.0} kB",
            q1 / q2,
            c1 / c2
        );
        println!(
            "RESULT dns {set}, CPU per query unbound / ours = {:.3} | {c2:.2} vs {c1:.2} µs; qps {:.2}x; RSS {m1:.0} vs {m2:.0} kB",
            c2 / c1,
            q1 / q2
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
