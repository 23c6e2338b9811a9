//! routerd under a service manager (root): started with `NOTIFY_SOCKET` and `WATCHDOG_USEC`
//! as systemd's `Type=notify` with `WatchdogSec=` starts it, it says `READY=1` once the
//! firewall is in force and the LANs are up (both checked at that moment), `STATUS=` with the
//! WAN's state, `WATCHDOG=1` at half the interval, `RELOADING=1` then `READY=1` around a
//! SIGHUP, `STOPPING=1` on SIGTERM. And the unit file (`packaging/systemd/routerd.service`)
//! as `systemd-analyze security --offline` rates it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use router_tests::routerd::Routerd;
use router_tests::{Signal, TempDir, lab};

fn config(dir: &TempDir) -> String {
    format!(
        r#"state_dir = "{}"
[wan]
interface = "eth0"
mode = "static"
[wan.static]
ipv4 = "198.51.100.2/24"
gateway = "198.51.100.1"
[wan.ipv6]
enabled = false
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
dhcp4 = {{ pool = "192.168.1.100-192.168.1.199" }}
[http]
enabled = false
[control]
socket = "{}"
"#,
        dir.join("state").display(),
        dir.join("control.sock").display()
    )
}

/// The next datagram within `limit`, as text.
fn next(sock: &UnixDatagram, limit: Duration) -> Option<String> {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).to_string())
}

/// Datagrams until one satisfies `f` (within `limit`), all of them.
fn until(sock: &UnixDatagram, limit: Duration, f: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end {
        let Some(m) = next(sock, end.saturating_duration_since(Instant::now())) else { break };
        let done = f(&m);
        seen.push(m);
        if done {
            return seen;
        }
    }
    panic!("not within {limit:?}; got {seen:?}");
}

#[test]
fn root_routerd_speaks_sd_notify_ready_status_watchdog_reload_stop() {
    let lab = lab("notify");
    let (lan, router, isp) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    isp.add_addr("eth0", "198.51.100.1/24").unwrap();
    let dir = TempDir::new("routerd-notify");
    std::fs::write(dir.join("routerd.toml"), config(&dir)).unwrap();
    let path = dir.join("notify.sock");
    let manager = UnixDatagram::bind(&path).unwrap();
    let env =
        [("NOTIFY_SOCKET", path.display().to_string()), ("WATCHDOG_USEC", "1000000".to_string())];
    let routerd = Routerd::start_with_env(&router, dir.path(), &env);

    // READY=1 first, and at that moment the firewall is in force and the LAN numbered.
    let first = next(&manager, Duration::from_secs(15)).expect("READY=1");
    assert!(first.starts_with("READY=1\n"), "{first:?}");
    let nft = router.command("nft").args(["list", "table", "inet", "routerd"]).output().unwrap();
    assert!(nft.status.success(), "the firewall at READY");
    let addr = router.command("ip").args(["-4", "addr", "show", "dev", "lan0"]).output().unwrap();
    assert!(String::from_utf8_lossy(&addr.stdout).contains("192.168.1.1/24"), "the LAN at READY");

    // The WAN's state, and the watchdog fed every half second.
    until(&manager, Duration::from_secs(10), |m| m == "STATUS=WAN up 198.51.100.2");
    let started = Instant::now();
    let seen = until(&manager, Duration::from_secs(5), |_| {
        started.elapsed() >= Duration::from_millis(2_000)
    });
    let feeds = seen.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!((3..=6).contains(&feeds), "{feeds} WATCHDOG=1 in 2 s: {seen:?}");

    // A reload: RELOADING=1, then READY=1 with what it did.
    routerd.signal(Signal::SIGHUP);
    let seen = until(&manager, Duration::from_secs(10), |m| m.starts_with("READY=1"));
    let reloading = seen.iter().position(|m| m == "RELOADING=1").expect("RELOADING=1");
    let ready = seen.last().unwrap();
    assert!(reloading < seen.len() - 1 && ready.contains("STATUS=reload applied"), "{seen:?}");

    // Stop.
    routerd.signal(Signal::SIGTERM);
    until(&manager, Duration::from_secs(10), |m| m.starts_with("STOPPING=1"));
    drop(routerd);
    drop(lab);
}

#[test]
fn the_systemd_unit_is_hardened_as_systemd_analyze_rates_it() {
    let unit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/systemd/routerd.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "ExecStartPre=/usr/sbin/routerd check",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=routerd",
        "RuntimeDirectory=routerd",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
        "RestrictAddressFamilies=AF_NETLINK AF_PACKET AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(text.contains(key), "{key}");
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian systemd)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for routerd.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no score: {text}{}", String::from_utf8_lossy(&out.stderr)));
    println!("systemd-analyze security: routerd.service exposure {score}");
    assert!(score <= 3.5, "exposure {score}:\n{text}");
}
