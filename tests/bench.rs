//! What the benchmarks read off the process under test and off perfdhcp's and iperf3's
//! reports, and the iperf3 server they measure against.

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux); 0 if it is gone.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // proc(5): utime and stime are fields 14 and 15; after the comm, field 3 is index 0.
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// The peak resident set (VmHWM) of a process, in KiB; 0 if it is gone.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// The resident set now (VmRSS) of a process, in KiB; 0 if it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// A `kB` field of `/proc/PID/status`; 0 if the process or the field is gone.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Datagrams the kernel dropped in `ns` because a UDP socket's receive buffer was full, over
/// IPv4 and IPv6 (`Udp: RcvbufErrors` of `/proc/net/snmp` and `Udp6RcvbufErrors` of
/// `/proc/net/snmp6`, both per network namespace): where a benchmark's losses happened, the
/// server's socket or the load generator's own.
pub fn udp_rcvbuf_errors(ns: &netlab::Netns) -> u64 {
    let read = |file: &str| {
        let out = ns.command("cat").arg(file).output().expect("cat /proc/net/snmp*");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let snmp = read("/proc/net/snmp");
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let v4 = match (udp.next(), udp.next()) {
        (Some(names), Some(values)) => names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "RcvbufErrors")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    let v6: u64 = read("/proc/net/snmp6")
        .lines()
        .find_map(|l| l.strip_prefix("Udp6RcvbufErrors"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    v4 + v6
}

/// A number after `key` in perfdhcp's section `section` (`Statistics for: REQUEST-ACK`).
pub fn perfdhcp_stat(text: &str, section: &str, key: &str) -> u64 {
    let Some((_, rest)) = text.split_once(&format!("Statistics for: {section}")) else {
        return 0;
    };
    rest.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// perfdhcp's average delay in `section`, in ms as it prints it (`?` when missing).
pub fn perfdhcp_avg_delay_ms(text: &str, section: &str) -> String {
    text.split_once(&format!("Statistics for: {section}"))
        .and_then(|(_, r)| r.lines().find_map(|l| l.trim().strip_prefix("avg delay:")))
        .map_or_else(|| "?".into(), |v| v.trim().trim_end_matches("ms").trim().to_owned())
}

/// What one loaded run measured of the server under test.
pub struct Measured {
    /// The load generator's standard output.
    pub stdout: String,
    /// The server's CPU time (user + system) during the load, µs.
    pub cpu_us: f64,
    /// The server's peak resident set (VmHWM), KiB.
    pub peak_kib: u64,
}

/// Starts `server` in `ns`, waits with `ready` until it answers, runs `load` to its end and
/// measures the server over it; the server is stopped afterwards.
pub fn measure(
    ns: &netlab::Netns,
    server: &mut std::process::Command,
    ready: impl FnOnce(),
    load: &mut std::process::Command,
) -> Measured {
    let mut guard = ns.spawn_process(server).expect("spawn the server under test");
    let pid = guard.child().id();
    ready();
    let before = cpu_ticks(pid);
    let out = load.output().expect("run the load generator");
    let after = cpu_ticks(pid);
    let peak_kib = peak_rss_kib(pid);
    drop(guard);
    let hz = 100.0; // USER_HZ on Linux
    Measured {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        cpu_us: after.saturating_sub(before) as f64 / hz * 1e6,
        peak_kib,
    }
}

/// `iperf3 -s -1 -B ADDR` (one test, then it exits) in `ns`, returned once it listens on its
/// port (5201); the guard kills it if it is still there.
pub fn iperf3_server(ns: &netlab::Netns, addr: &str) -> netlab::ProcessGuard {
    let mut cmd = ns.command("iperf3");
    cmd.args(["-s", "-1", "-B", addr]).stdout(std::process::Stdio::null());
    let mut guard = ns.spawn_process(&mut cmd).expect("iperf3 (Debian iperf3)");
    crate::wait_for(std::time::Duration::from_secs(5), "iperf3 listening on 5201", || {
        if let Ok(Some(st)) = guard.child().try_wait() {
            panic!("iperf3 -s exited ({st})");
        }
        crate::listening(ns, "tcp", "sport = :5201")
    });
    guard
}

/// The received rate of an iperf3 client run (`-J` output), in Gbit/s; panics on a run that
/// reports none (a failed run is no figure, not 0 Gbit/s).
pub fn iperf3_gbits(out: &std::process::Output) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let bps = v.pointer("/end/sum_received/bits_per_second").and_then(serde_json::Value::as_f64);
    let err = v.get("error").and_then(serde_json::Value::as_str).unwrap_or_default();
    bps.unwrap_or_else(|| panic!("iperf3 gave no result: {err}")) / 1e9
}
