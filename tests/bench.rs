//! What the benchmarks read off the process under test and off perfdhcp's report.

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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
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
