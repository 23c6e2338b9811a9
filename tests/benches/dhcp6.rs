//! DHCPv6 server benchmark: crates/dhcpv6's `Server6` against ISC Kea (kea-dhcp6,
//! memfile with persist=true), driven by perfdhcp -6 (Solicit/Advertise/Request/Reply with
//! IA_NA), in the same namespaces and run. `sudo cargo bench -p router-tests --bench dhcp6`.
//!
//! The server under test is pinned to CPU 1 and perfdhcp to CPU 0 (see shared/PEERS.md).
//! Reported per server: at a fixed rate, the server's CPU time per exchange ((utime + stime)
//! from /proc/PID/stat / Replies received); then the highest rate tried with < 1% lost by
//! the server: exchanges perfdhcp did not complete, less the answers its own socket dropped
//! for a full receive buffer (`Udp: RcvbufErrors` in its namespace; the load generator's
//! limit, not the server's), both printed (one grid for both servers, from
//! `DHCP6_BENCH_RATES`, comma-separated).
//!
//! Ours `fdatasync`s every lease before its Reply (group commit); Kea's memfile writes its
//! CSV without fsync. perfdhcp simulates 10,000 clients (`-R`) from a fixed DUID (`-b
//! duid=...`, PEERS.md: otherwise every run has new DUIDs); Kea's pool is a /80, ours the
//! whole /64 by hashed interface ids. `DHCP6_BENCH_SECS` sets the run length (default 10);
//! `DHCP6_BENCH_COMMIT_DELAY_US` our writer's commit delay (default 2 ms; 0 syncs at once).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dhcpv6::driver::server::{self as driver6, Driver6Config};
use dhcpv6::server::Server6Config;
use netlab::Netns;
use router_tests::bench::{measure, perfdhcp_avg_delay_ms, perfdhcp_stat, udp_rcvbuf_errors};
use router_tests::wait_for;

const DUID: &str = "duid=00010001000000010000000c0102";

fn main() {
    if let Ok(dir) = std::env::var("DHCP6_BENCH_STATE") {
        return run_our_server(PathBuf::from(dir));
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists targets: nothing to list.
    }
    let lab = router_tests::lab("dhcp6bench");
    let srv = lab.netns("srv").unwrap();
    let cli = lab.netns("cli").unwrap();
    for ns in [&srv, &cli] {
        sh(ns, "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
    }
    lab.connect(&srv, "lan0", &cli, "eth0").unwrap();
    srv.add_addr("lan0", "2001:db8:64::1/64").unwrap();
    let secs: u32 =
        std::env::var("DHCP6_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = std::env::temp_dir().join(format!("dhcp6-bench-{}", std::process::id()));
    println!("dhcp6 bench: {secs} s runs, server on CPU 1, perfdhcp on CPU 0");
    let fixed = 1500;
    let mut cpu = [0.0f64; 2];
    for (i, which) in [Which::Ours, Which::Kea].into_iter().enumerate() {
        let r = run(&srv, &cli, which, fixed, secs, &tmp);
        cpu[i] = r.cpu_us_per_exchange;
        println!("{which:?} at {fixed}/s: {r}");
    }
    println!(
        "RESULT dhcp6 CPU per exchange Kea / ours = {:.3} | {:.1} vs {:.1} µs at {fixed}/s",
        cpu[1] / cpu[0],
        cpu[1],
        cpu[0]
    );
    let mut best = [0u32; 2];
    // One rate grid for both servers (like for like).
    let grid = rates("DHCP6_BENCH_RATES", &[4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000]);
    for (i, (which, rates)) in
        [(Which::Ours, grid.clone()), (Which::Kea, grid)].into_iter().enumerate()
    {
        for rate in rates {
            let r = run(&srv, &cli, which, rate, secs, &tmp);
            println!("{which:?} at {rate}/s: {r}");
            if r.server_drop_ratio() < 0.01 {
                best[i] = best[i].max(r.per_sec() as u32);
            }
        }
    }
    println!(
        "RESULT dhcp6 highest exchanges/s with < 1% lost by the server ours / Kea = {:.3} | {} vs {}",
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
}

struct RunResult {
    solicits: u64,
    replies: u64,
    secs: u32,
    cpu_us_per_exchange: f64,
    reply_delay_ms: String,
    /// The server's peak resident set (VmHWM), KiB.
    peak_kib: u64,
    /// Datagrams dropped for a full receive buffer: in the server's namespace and in
    /// perfdhcp's.
    rcvbuf_drops: (u64, u64),
}

impl RunResult {
    fn drop_ratio(&self) -> f64 {
        1.0 - self.replies as f64 / self.solicits.max(1) as f64
    }

    /// The exchanges lost other than in perfdhcp's own socket (an answer dropped there was
    /// sent: the load generator, not the server, could not keep up), as a share.
    fn server_drop_ratio(&self) -> f64 {
        let answered = (self.replies + self.rcvbuf_drops.1).min(self.solicits);
        1.0 - answered as f64 / self.solicits.max(1) as f64
    }

    fn per_sec(&self) -> f64 {
        self.replies as f64 / f64::from(self.secs)
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} Solicits, {} Replies ({:.0} exchanges/s), drops {:.2}% ({:.2}% not in perfdhcp's socket), server CPU {:.1} µs per \
             exchange, Request-Reply avg delay {} ms, peak RSS {:.1} MiB, \
             receive buffer full: {} in the server's namespace, {} in perfdhcp's",
            self.solicits,
            self.replies,
            self.per_sec(),
            self.drop_ratio() * 100.0,
            self.server_drop_ratio() * 100.0,
            self.cpu_us_per_exchange,
            self.reply_delay_ms,
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
        Which::Ours => {
            cmd.arg(std::env::current_exe().unwrap()).env("DHCP6_BENCH_STATE", &dir);
        }
        Which::Kea => {
            let conf = dir.join("kea.json");
            std::fs::write(&conf, kea_config(&dir)).unwrap();
            cmd.args(["kea-dhcp6", "-c"]).arg(&conf);
            cmd.env("KEA_PIDFILE_DIR", &dir).env("KEA_LOCKFILE_DIR", &dir);
        }
    }
    let before = (udp_rcvbuf_errors(srv), udp_rcvbuf_errors(cli));
    let m = measure(
        srv,
        &mut cmd,
        || wait_ready(cli),
        cli.command("timeout")
            .args([&(secs + 20).to_string(), "taskset", "-c", "0", "perfdhcp", "-6", "-l", "eth0"])
            .args(["-r", &rate.to_string(), "-R", "10000", "-p", &secs.to_string()])
            .args(["-b", DUID, "-W", "500000"]),
    );
    let solicits = perfdhcp_stat(&m.stdout, "SOLICIT-ADVERTISE", "sent packets:");
    let replies = perfdhcp_stat(&m.stdout, "REQUEST-REPLY", "received packets:");
    RunResult {
        solicits,
        replies,
        secs,
        cpu_us_per_exchange: m.cpu_us / replies.max(1) as f64,
        reply_delay_ms: perfdhcp_avg_delay_ms(&m.stdout, "REQUEST-REPLY"),
        peak_kib: m.peak_kib,
        rcvbuf_drops: (
            udp_rcvbuf_errors(srv).saturating_sub(before.0),
            udp_rcvbuf_errors(cli).saturating_sub(before.1),
        ),
    }
}

/// Until a short perfdhcp probe gets Replies (the server bound and loaded).
fn wait_ready(cli: &Netns) {
    wait_for(Duration::from_secs(60), "the server under test to answer a probe", || {
        let out = cli
            .command("timeout")
            .args(["5", "perfdhcp", "-6", "-l", "eth0", "-r", "100", "-p", "1"])
            .args(["-b", "duid=00010001000000010000000c0909"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        perfdhcp_stat(&text, "REQUEST-REPLY", "received packets:") > 0
    });
}

fn kea_config(dir: &Path) -> String {
    format!(
        r#"{{ "Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["lan0"] }},
  "data-directory": "{dir}",
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{dir}/leases6.csv", "lfc-interval": 0 }},
  "preferred-lifetime": 1800, "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1440,
  "subnet6": [{{ "id": 1, "subnet": "2001:db8:64::/64", "interface": "lan0",
      "pools": [{{ "pool": "2001:db8:64::1:0:0/80" }}],
      "option-data": [{{ "name": "dns-servers", "data": "2001:db8:64::1" }}] }}],
  "loggers": [{{ "name": "kea-dhcp6", "severity": "WARN", "output_options": [{{ "output": "stdout" }}] }}]
}} }}"#,
        dir = dir.display()
    )
}

/// The server under test, as a process of its own (this binary, re-executed).
fn run_our_server(dir: PathBuf) {
    let duid = vec![0, 3, 0, 1, 2, 0, 0, 0, 0x64, 1];
    let mut cfg = Server6Config::new(duid, vec!["2001:db8:64::/64".parse().unwrap()]);
    cfg.preferred = 1800;
    cfg.valid = 3600;
    cfg.t1 = 900;
    cfg.t2 = 1440;
    cfg.rapid_commit = false;
    cfg.dns_servers = vec!["2001:db8:64::1".parse().unwrap()];
    let (_handle, control) = driver6::control();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut dcfg = Driver6Config::new("lan0", dir, cfg);
    if let Some(us) = std::env::var("DHCP6_BENCH_COMMIT_DELAY_US").ok().and_then(|v| v.parse().ok())
    {
        dcfg.commit_delay = Duration::from_micros(us);
    }
    rt.block_on(driver6::run(dcfg, None, control, std::future::pending())).unwrap();
}
