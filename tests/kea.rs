//! ISC Kea as a real peer: started by hand in a namespace with its files in a directory of the
//! test, waited for until it listens, stopped with the guard.

use std::path::Path;
use std::time::Duration;

use netlab::{Netns, ProcessGuard};

/// Waits until `ifname` in `ns` has a link-local address that finished DAD (Kea's DHCPv6
/// server will not bind before).
pub fn wait_dad(ns: &Netns, ifname: &str) {
    crate::wait_for(Duration::from_secs(10), format!("DAD on {ifname} to finish"), || {
        let out = ns.command("ip").args(["-6", "addr", "show", "dev", ifname]).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        if text.contains("fe80::") && !text.contains("tentative") { Ok(()) } else { Err(text) }
    });
}

/// Starts `kea-dhcp4` (`v6` false) or `kea-dhcp6` in `ns` with `config` (the whole JSON
/// document) written to `dir/kea.json`, and waits until it listens on its port.
pub fn start(ns: &Netns, dir: &Path, v6: bool, config: &str) -> ProcessGuard {
    let (bin, port) = if v6 { ("kea-dhcp6", 547) } else { ("kea-dhcp4", 67) };
    std::fs::create_dir_all(dir).expect("kea dir");
    let path = dir.join("kea.json");
    std::fs::write(&path, config).expect("kea.json");
    let mut cmd = ns.command(bin);
    cmd.arg("-c")
        .arg(&path)
        .env("KEA_PIDFILE_DIR", dir)
        .env("KEA_LOCKFILE_DIR", dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut guard = ns.spawn_process(&mut cmd).expect("spawn kea");
    crate::wait_for(Duration::from_secs(10), format!("{bin} listening on {port}"), || {
        if let Ok(Some(st)) = guard.child().try_wait() {
            let log = std::fs::read_to_string(dir.join("kea.log")).unwrap_or_default();
            panic!("{bin} exited ({st}): {log}");
        }
        crate::listening(ns, "udp", &format!("sport = :{port}"))
    });
    guard
}

/// The rows of a Kea memfile lease file (`leases4.csv` or `leases6.csv`) for `address`, as
/// column name → value, oldest first (Kea appends a row per change; a released or expired
/// lease is a row with `valid_lifetime` 0).
pub fn lease_rows(
    csv: &Path,
    address: std::net::IpAddr,
) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(csv).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<String> =
        lines.next().unwrap_or_default().split(',').map(str::to_string).collect();
    lines
        .map(|l| header.iter().cloned().zip(l.split(',').map(str::to_string)).collect())
        .filter(|r: &std::collections::HashMap<String, String>| {
            r.get("address").is_some_and(|a| a.parse::<std::net::IpAddr>().ok() == Some(address))
        })
        .collect()
}
