//! DHCPv4 server benchmark: crates/dhcpv4 (its server) against ISC Kea (kea-dhcp4, memfile with
//! persist=true), driven by perfdhcp (relay mode), in the same namespaces and run.
//! `sudo cargo bench -p router-tests --bench dhcp4` (root: it builds namespaces).
//!
//! The server under test is pinned to CPU 1 and perfdhcp to CPU 0 (see shared/PEERS.md).
//! Reported per server: at a fixed rate, the server's CPU time per DORA ((utime + stime)
//! from /proc/PID/stat / completed DORAs), the steady figure; then the highest rate tried
//! with < 1% lost by the server: exchanges perfdhcp did not complete, less the answers its
//! own socket dropped for a full receive buffer (`Udp: RcvbufErrors` in its namespace; the
//! load generator's limit, not the server's), both printed (one grid for both servers, from `DHCP4_BENCH_RATES`, comma-separated).
//!
//! Ours `fdatasync`s every lease before its ACK (group commit); Kea's memfile writes its CSV
//! without fsync. perfdhcp simulates 10,000 clients (`-R`), fewer than the pool (16,127
//! addresses), so returning clients get their address again on both servers.
//! `DHCP4_BENCH_SECS` sets the run length (default 10); `DHCP4_BENCH_COMMIT_DELAY_US` our
//! writer's commit delay (default `driver::COMMIT_DELAY`, 2 ms; 0 syncs at once).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dhcpv4::driver::server::{self as driver, DriverConfig};
use dhcpv4::server::{PoolRange, ServerConfig};
use netlab::Netns;
use router_tests::bench::{measure, perfdhcp_avg_delay_ms, perfdhcp_stat, udp_rcvbuf_errors};
use router_tests::wait_for;

const SERVER: &str = "192.168.64.1";

fn main() {
    if let Ok(dir) = std::env::var("DHCP4_BENCH_STATE") {
        return run_our_server(PathBuf::from(dir));
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists targets: nothing to list.
    }
    let lab = router_tests::lab("dhcp4bench");
    let srv = lab.netns("srv").unwrap();
    let cli = lab.netns("cli").unwrap();
    sh(&srv, "ip link add br0 type bridge && ip link set br0 up");
    lab.connect(&srv, "p0", &cli, "eth0").unwrap();
    sh(&srv, "ip link set p0 master br0");
    srv.add_addr("br0", "192.168.64.1/18").unwrap();
    cli.add_addr("eth0", "192.168.64.2/18").unwrap();
    let secs: u32 =
        std::env::var("DHCP4_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = std::env::temp_dir().join(format!("dhcp4-bench-{}", std::process::id()));
    println!("dhcp4 bench: {secs} s runs, server on CPU 1, perfdhcp on CPU 0");
    let fixed = 1500;
    if std::env::var_os("DHCP4_BENCH_WATCHED_ONLY").is_some() {
        // The cost of being watched alone: ours unwatched and watched, alternating, ROUNDS
        // (default 3) times, so that drift hits both alike.
        let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
        let mut ratios = Vec::new();
        for round in 0..rounds {
            let plain = run(&srv, &cli, Which::Ours, fixed, secs, &tmp);
            let watched = run(&srv, &cli, Which::OursWatched, fixed, secs, &tmp);
            println!("round {round}: Ours {plain}\nround {round}: OursWatched {watched}");
            ratios.push(watched.cpu_us_per_dora / plain.cpu_us_per_dora);
        }
        ratios.sort_by(|a, b| a.total_cmp(b));
        println!(
            "the cost of being watched: CPU per DORA watched / unwatched, median {:.3} ({:.3}-{:.3}) of {rounds} alternating rounds at {fixed}/s",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
        let _ = std::fs::remove_dir_all(&tmp);
        return;
    }
    let mut cpu = [0.0f64; 3];
    for (i, which) in [Which::Ours, Which::Kea, Which::OursWatched].into_iter().enumerate() {
        let r = run(&srv, &cli, which, fixed, secs, &tmp);
        cpu[i] = r.cpu_us_per_dora;
        println!("{which:?} at {fixed}/s: {r}");
    }
    println!(
        "RESULT dhcp4 CPU per DORA Kea / ours = {:.3} | {:.1} vs {:.1} µs at {fixed}/s",
        cpu[1] / cpu[0],
        cpu[1],
        cpu[0]
    );
    println!(
        "the cost of being watched (counters published for /metrics, read every second): \
         {:.1} µs/DORA against {:.1} µs off: {:+.1}%",
        cpu[2],
        cpu[0],
        (cpu[2] / cpu[0] - 1.0) * 100.0
    );
    let mut best = [0u32; 2];
    // One rate grid for both servers (like for like).
    let grid = rates("DHCP4_BENCH_RATES", &[4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000]);
    for (i, (which, rates)) in
        [(Which::Ours, grid.clone()), (Which::Kea, grid)].into_iter().enumerate()
    {
        for rate in rates {
            let r = run(&srv, &cli, which, rate, secs, &tmp);
            println!("{which:?} at {rate}/s: {r}");
            if r.server_drop_ratio() < 0.01 {
                best[i] = best[i].max(r.dora_per_sec() as u32);
            }
        }
    }
    println!(
        "RESULT dhcp4 highest DORA/s with < 1% lost by the server ours / Kea = {:.3} | {} vs {}",
        f64::from(best[0]) / f64::from(best[1].max(1)),
        best[0],
        best[1]
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Rates to try, from a comma-separated environment variable or the defaults.
fn rates(var: &str, default: &[u32]) -> Vec<u32> {
    match std::env::var(var) {
        Ok(v) => v.split(',').filter_map(|r| r.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Ours,
    Kea,
    /// Ours with its counters published on a watch and read every second, as routerd's
    /// `/metrics` does.
    OursWatched,
}

struct RunResult {
    discovers: u64,
    acks: u64,
    secs: u32,
    cpu_us_per_dora: f64,
    ack_delay_ms: String,
    /// The server's peak resident set (VmHWM), KiB.
    peak_kib: u64,
    /// Datagrams dropped for a full receive buffer: in the server's namespace and in
    /// perfdhcp's.
    rcvbuf_drops: (u64, u64),
}

impl RunResult {
    fn drop_ratio(&self) -> f64 {
        1.0 - self.acks as f64 / self.discovers.max(1) as f64
    }

    /// The exchanges lost other than in perfdhcp's own socket (an answer dropped there was
    /// sent: the load generator, not the server, could not keep up), as a share.
    fn server_drop_ratio(&self) -> f64 {
        let answered = (self.acks + self.rcvbuf_drops.1).min(self.discovers);
        1.0 - answered as f64 / self.discovers.max(1) as f64
    }

    fn dora_per_sec(&self) -> f64 {
        self.acks as f64 / f64::from(self.secs)
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} DISCOVERs, {} ACKs ({:.0} DORA/s), drops {:.2}% ({:.2}% not in perfdhcp's socket), server CPU {:.1} µs/DORA, \
             REQUEST-ACK avg delay {} ms, peak RSS {:.1} MiB, \
             receive buffer full: {} in the server's namespace, {} in perfdhcp's",
            self.discovers,
            self.acks,
            self.dora_per_sec(),
            self.drop_ratio() * 100.0,
            self.server_drop_ratio() * 100.0,
            self.cpu_us_per_dora,
            self.ack_delay_ms,
            self.peak_kib as f64 / 1024.0,
            self.rcvbuf_drops.0,
            self.rcvbuf_drops.1
        )
    }
}

fn sh(ns: &Netns, cmd: &str) {
    assert!(ns.command("sh").args(["-c", cmd]).status().unwrap().success(), "{cmd}");
}

/// One fresh server of kind `which`, one perfdhcp run at `rate` for `secs`.
fn run(srv: &Netns, cli: &Netns, which: Which, rate: u32, secs: u32, tmp: &Path) -> RunResult {
    let dir = tmp.join(format!("{which:?}-{rate}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = srv.command("taskset");
    cmd.args(["-c", "1"]).stdout(Stdio::null()).stderr(Stdio::null());
    match which {
        Which::Ours | Which::OursWatched => {
            cmd.arg(std::env::current_exe().unwrap()).env("DHCP4_BENCH_STATE", &dir);
            if which == Which::OursWatched {
                cmd.env("DHCP4_BENCH_WATCHED", "1");
            }
        }
        Which::Kea => {
            let conf = dir.join("kea.json");
            std::fs::write(&conf, kea_config(&dir)).unwrap();
            cmd.args(["kea-dhcp4", "-c"]).arg(&conf);
            cmd.env("KEA_PIDFILE_DIR", &dir).env("KEA_LOCKFILE_DIR", &dir);
        }
    }
    let before = (udp_rcvbuf_errors(srv), udp_rcvbuf_errors(cli));
    let m = measure(
        srv,
        &mut cmd,
        || wait_ready(cli),
        cli.command("timeout")
            .args([&(secs + 20).to_string(), "taskset", "-c", "0", "perfdhcp", "-4"])
            .args(["-r", &rate.to_string(), "-R", "10000", "-p", &secs.to_string()])
            .args(["-W", "500000", SERVER]),
    );
    let discovers = perfdhcp_stat(&m.stdout, "DISCOVER-OFFER", "sent packets:");
    let acks = perfdhcp_stat(&m.stdout, "REQUEST-ACK", "received packets:");
    RunResult {
        discovers,
        acks,
        secs,
        cpu_us_per_dora: m.cpu_us / acks.max(1) as f64,
        ack_delay_ms: perfdhcp_avg_delay_ms(&m.stdout, "REQUEST-ACK"),
        peak_kib: m.peak_kib,
        rcvbuf_drops: (
            udp_rcvbuf_errors(srv).saturating_sub(before.0),
            udp_rcvbuf_errors(cli).saturating_sub(before.1),
        ),
    }
}

/// Until a short perfdhcp probe gets answers (the server bound and loaded).
fn wait_ready(cli: &Netns) {
    wait_for(Duration::from_secs(60), "the server under test to answer a probe", || {
        let out = cli
            .command("timeout")
            .args(["5", "perfdhcp", "-4", "-r", "100", "-p", "1", "-b", "mac=00:0c:09:09:09:09"])
            .arg(SERVER)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        perfdhcp_stat(&text, "REQUEST-ACK", "received packets:") > 0
    });
}

fn kea_config(dir: &Path) -> String {
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["br0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}/leases4.csv", "lfc-interval": 0 }},
  "valid-lifetime": 3600,
  "subnet4": [{{ "id": 1, "subnet": "192.168.64.0/18",
      "pools": [{{ "pool": "192.168.65.0 - 192.168.127.254" }}],
      "option-data": [{{ "name": "routers", "data": "192.168.64.1" }},
                      {{ "name": "domain-name-servers", "data": "192.168.64.1" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "severity": "WARN", "output_options": [{{ "output": "stdout" }}] }}]
}} }}"#,
        dir.display()
    )
}

/// The server under test, as a process of its own (this binary, re-executed).
fn run_our_server(dir: PathBuf) {
    let pool = PoolRange {
        first: "192.168.65.0".parse().unwrap(),
        last: "192.168.127.254".parse().unwrap(),
    };
    let mut cfg =
        ServerConfig::new(SERVER.parse().unwrap(), "192.168.64.0/18".parse().unwrap(), pool);
    cfg.lease_time = 3600;
    cfg.rapid_commit = false;
    let mut dcfg = DriverConfig::new("br0", dir, cfg);
    if let Some(us) = std::env::var("DHCP4_BENCH_COMMIT_DELAY_US").ok().and_then(|v| v.parse().ok())
    {
        dcfg.commit_delay = Duration::from_micros(us);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if std::env::var_os("DHCP4_BENCH_WATCHED").is_some() {
        let (tx, rx) = tokio::sync::watch::channel(dhcpv4::server::Stats::default());
        dcfg.stats = Some(tx);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let s = *rx.borrow();
                std::hint::black_box(format!("{s:?}"));
            }
        });
    }
    rt.block_on(driver::run(dcfg, None, std::future::pending())).unwrap();
}
