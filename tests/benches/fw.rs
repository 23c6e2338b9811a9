//! Firewall benchmark, side by side with the nft CLI in one run (root). Like for like:
//!
//! 1. **Apply**, at 10 / 100 / 1,000 / 10,000 port forwards, alternating `ROUNDS` times:
//!    - `routerd firewall --config FILE`: a configuration on disk to the ruleset in force,
//!      one process (read, validate, build, one netlink transaction);
//!    - `nft -f` of the same ruleset (`routerd firewall --print`: the forwards as a map), one
//!      process: nft's own set replace;
//!    - `nft -f` of the same forwards written as one DNAT rule each (how hand-written
//!      scripts do it);
//!    - and, for the record, the in-process part (`fw::build` + `Firewall::apply`).
//! 2. **Incremental**: one forward added to 1,000: `routerd firewall` of the new
//!    configuration (it replaces the table whole) and a running routerd's reload path
//!    (`Firewall::update` of the two rulesets: the one element added in one transaction)
//!    against `nft add element` of that one element.
//! 3. **New connections per second** through the last forward, with 10 and with 10,000
//!    forwards, as a map and as rules (a NAT chain sees each connection's first packet: the
//!    rules are walked once per connection).
//! 4. **Forwarding throughput** (iperf3, one TCP flow lan -> wan): no ruleset, the map with
//!    10 forwards, and with 10,000 (all without the fast path, `fast_path = false`).
//! 5. **The fast path**: the same with 10 forwards and the flowtable, against part 4's figure
//!    without it; not measured (and said so) where the kernel has no `nf_flow_table`.
//!
//! `sudo cargo bench -p router-tests --bench fw` (`FW_BENCH_ROUNDS`, default 7). The last
//! lines, `RESULT <what> = <ratio> | <figures>`, are what `make bench` collects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fw::{Firewall, FwConfig, FwState, Lan, PortForward, Proto};
use netcfg::{Family, Route};
use netlab::Netns;
use router_tests::bench::{iperf3_gbits, iperf3_server};
use router_tests::wan::bin;

const SIZES: [u16; 4] = [10, 100, 1000, 10_000];

/// Forward `i`: public port 10000+i to 192.168.1.10:(20000+i), TCP.
fn forward(i: u16) -> (u16, u16) {
    (10_000 + i, 20_000 + i)
}

/// The routerd configuration with `n` forwards (static WAN `wan0`, LAN `lan0`).
fn toml(n: u16) -> String {
    let mut t = String::from(
        "[wan]\ninterface = \"wan0\"\nmode = \"static\"\n[wan.static]\nipv4 = \"198.51.100.2/24\"\n\
         gateway = \"198.51.100.1\"\n[wan.ipv6]\nenabled = false\n[[lan]]\nname = \"lan\"\n\
         interface = \"lan0\"\nipv4 = \"192.168.1.1/24\"\n[http]\nenabled = false\n\
         [firewall]\nfast_path = false\n",
    );
    for i in 0..n {
        let (port, to) = forward(i);
        let _ = write!(
            t,
            "[[firewall.port_forward]]\nname = \"pf{i}\"\nproto = \"tcp\"\nport = {port}\nto = \"192.168.1.10:{to}\"\n"
        );
    }
    t
}

/// The same configuration as `fw` sees it (for the in-process timing).
fn fw_config(n: u16) -> FwConfig {
    FwConfig {
        table: "routerd".into(),
        wan: "wan0".into(),
        clamp_mss: false,
        lans: vec![Lan {
            name: "lan".into(),
            interface: "lan0".into(),
            ipv4: Some("192.168.1.0/24".parse().unwrap()),
        }],
        port_forwards: (0..n)
            .map(|i| {
                let (port, to_port) = forward(i);
                PortForward {
                    name: format!("pf{i}"),
                    proto: Proto::Tcp,
                    port,
                    to: "192.168.1.10".parse().unwrap(),
                    to_port,
                }
            })
            .collect(),
        pinholes: vec![],
        open: vec![],
        lan_tcp: vec![],
        extra_wans: vec![],
        split: None,
        fast_path: false,
    }
}

/// `nft` text of the ruleset `routerd firewall --print` gives, with the map replaced by one
/// DNAT rule per forward.
fn as_rules(map_text: &str, n: u16) -> String {
    let mut out = String::new();
    let mut in_map = false;
    for line in map_text.lines() {
        if line.trim_start().starts_with("map forwards_tcp {") {
            in_map = true;
            continue;
        }
        if in_map {
            in_map = line.trim() != "}";
            continue;
        }
        if line.contains("dnat ip to th dport map @forwards_tcp") {
            let prefix = line.split("meta l4proto tcp").next().unwrap();
            for i in 0..n {
                let (port, to) = forward(i);
                let _ = writeln!(
                    out,
                    "{prefix}meta l4proto tcp th dport {port} dnat ip to 192.168.1.10:{to}"
                );
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = std::env::temp_dir().join(format!("fwbench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `cmd` in `ns`, timed; panics with its stderr when it fails.
fn timed(ns: &Netns, program: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = ns.command(program).args(args).stdout(Stdio::null()).output().unwrap();
    let d = t.elapsed();
    assert!(out.status.success(), "{program:?} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn nft_path() -> PathBuf {
    PathBuf::from("nft")
}

/// The scripts and configuration of one size.
struct Size {
    n: u16,
    config: PathBuf,
    map_script: PathBuf,
    rules_script: PathBuf,
}

fn prepare(files: &Files, n: u16) -> Size {
    let config = files.write(&format!("routerd-{n}.toml"), &toml(n));
    let printed = std::process::Command::new(bin("routerd"))
        .args(["firewall", "--print", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let text = String::from_utf8(printed.stdout).unwrap();
    let map_script = files.write(&format!("map-{n}.nft"), &text);
    let rules_script = files.write(&format!("rules-{n}.nft"), &as_rules(&text, n));
    Size { n, config, map_script, rules_script }
}

/// Part 1: the four ways to apply one size, alternating; medians.
fn apply(ns: &Netns, s: &Size, rounds: usize) -> [Duration; 4] {
    let routerd = bin("routerd");
    let (mut ours, mut map, mut rules, mut inproc) = (vec![], vec![], vec![], vec![]);
    let cfg = fw_config(s.n);
    for _ in 0..rounds {
        ours.push(timed(ns, &routerd, &["firewall", "--config", s.config.to_str().unwrap()]));
        map.push(timed(ns, &nft_path(), &["-f", s.map_script.to_str().unwrap()]));
        rules.push(timed(ns, &nft_path(), &["-f", s.rules_script.to_str().unwrap()]));
        let c = cfg.clone();
        inproc.push(
            ns.run(move |_| async move {
                let t = Instant::now();
                let rs = fw::build(&c, &FwState::default()).unwrap();
                Firewall::apply(&rs).unwrap();
                t.elapsed()
            })
            .unwrap(),
        );
    }
    [median(ours), median(map), median(rules), median(inproc)]
}

/// Part 3: connections per second from `wan` to the router's public address on `port`
/// (DNAT to the LAN host's `to_port`, where a listener accepts and closes), for `secs`.
fn connection_rate(lan: &Netns, wan: &Netns, port: u16, to_port: u16, secs: f64) -> f64 {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = lan
        .spawn(move |_| async move {
            let l = TcpListener::bind(("192.168.1.10", to_port)).unwrap();
            l.set_nonblocking(true).unwrap();
            let _ = ready_tx.send(());
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => std::thread::sleep(Duration::from_micros(50)),
                }
            }
        })
        .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let addr: SocketAddr = format!("198.51.100.2:{port}").parse().unwrap();
    let limit = Duration::from_secs_f64(secs);
    let n = wan
        .run(move |_| async move {
            let t = Instant::now();
            let mut n = 0u64;
            while t.elapsed() < limit {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
                // The server closes first (its side keeps TIME_WAIT, not our ports).
                let _ = std::io::Read::read(&mut s, &mut [0u8; 1]);
                n += 1;
            }
            n as f64 / t.elapsed().as_secs_f64()
        })
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = server.join();
    n
}

fn iperf(lan: &Netns, wan: &Netns) -> f64 {
    let _srv = iperf3_server(wan, "203.0.113.10");
    let out = lan
        .command("iperf3")
        .args(["-c", "203.0.113.10", "-t", "3", "-J", "--connect-timeout", "3000"])
        .output()
        .unwrap();
    iperf3_gbits(&out)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // cargo test --benches probes harness=false benches this way
    }
    netlab::require_root().expect("the firewall benchmark builds namespaces: run it as root");
    let rounds: usize =
        std::env::var("FW_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let files = Files::new();
    let lab = netlab::Lab::new("fwbench").unwrap();
    let (lan, r, wan) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("wan").unwrap());
    lab.connect(&lan, "eth0", &r, "lan0").unwrap();
    lab.connect(&r, "wan0", &wan, "eth0").unwrap();
    lan.add_addr("eth0", "192.168.1.10/24").unwrap();
    r.add_addr("lan0", "192.168.1.1/24").unwrap();
    r.add_addr("wan0", "198.51.100.2/24").unwrap();
    wan.add_addr("eth0", "198.51.100.1/24").unwrap();
    wan.add_addr("eth0", "203.0.113.10/24").unwrap();
    // Without a ruleset there is no NAT: the WAN side routes the LAN back itself.
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

    let sizes: Vec<Size> = SIZES.iter().map(|&n| prepare(&files, n)).collect();
    let mut results = Vec::new();

    // 1. Apply.
    println!(
        "apply (median of {rounds}, ms): forwards | routerd firewall | nft -f map | nft -f rules | in process"
    );
    let mut at = std::collections::BTreeMap::new();
    for s in &sizes {
        let [ours, map, rules, inproc] = apply(&r, s, rounds);
        println!(
            "  {:>6} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2}",
            s.n,
            ms(ours),
            ms(map),
            ms(rules),
            ms(inproc)
        );
        at.insert(s.n, (ours, map, rules));
    }
    let (o1, m1, r1) = at[&1000];
    let (o4, m4, r4) = at[&10_000];
    results.push(format!(
        "RESULT fw apply 1000 forwards, nft -f (map) time / routerd firewall time = {:.3} | {:.1} vs {:.1} ms; as rules {:.1} ms",
        m1.as_secs_f64() / o1.as_secs_f64(),
        ms(m1),
        ms(o1),
        ms(r1)
    ));
    results.push(format!(
        "RESULT fw apply 10000 forwards, nft -f (map) time / routerd firewall time = {:.3} | {:.1} vs {:.1} ms; as rules {:.1} ms",
        m4.as_secs_f64() / o4.as_secs_f64(),
        ms(m4),
        ms(o4),
        ms(r4)
    ));

    // 2. Incremental: one forward more than 1,000.
    let s1000 = &sizes[2];
    let plus = files.write("routerd-1001.toml", &toml(1001));
    let (mut ours, mut add) = (Vec::new(), Vec::new());
    let (port, to) = forward(1000);
    let element = format!("{{ {port} : 192.168.1.10 . {to} }}");
    for _ in 0..rounds {
        timed(&r, &bin("routerd"), &["firewall", "--config", s1000.config.to_str().unwrap()]);
        ours.push(timed(&r, &bin("routerd"), &["firewall", "--config", plus.to_str().unwrap()]));
        timed(&r, &bin("routerd"), &["firewall", "--config", s1000.config.to_str().unwrap()]);
        add.push(timed(
            &r,
            &nft_path(),
            &["add", "element", "inet", "routerd", "forwards_tcp", &element],
        ));
    }
    // What a running routerd does on a reload that adds the forward: the two rulesets it
    // holds (built from the parsed configurations) brought together by Firewall::update, one
    // netlink transaction of element changes, in process (the configuration's parse is
    // timed under "apply": `routerd firewall` includes it).
    let mut running = Vec::new();
    for _ in 0..rounds {
        let (c0, c1) = (fw_config(1000), fw_config(1001));
        running.push(
            r.run(move |_| async move {
                let old = fw::build(&c0, &FwState::default()).unwrap();
                let new = fw::build(&c1, &FwState::default()).unwrap();
                Firewall::apply(&old).unwrap();
                let t = Instant::now();
                let how = Firewall::update(Some(&old), &new).unwrap();
                let d = t.elapsed();
                assert!(matches!(how, fw::Update::Forwards { added: 1, removed: 0 }), "{how:?}");
                d
            })
            .unwrap(),
        );
    }
    let (ours, add, running) = (median(ours), median(add), median(running));
    println!(
        "incremental, one forward added to 1,000: routerd firewall (whole table) {:.2} ms, nft add element {:.2} ms, a running routerd's element update (in process) {:.3} ms",
        ms(ours),
        ms(add),
        ms(running)
    );
    results.push(format!(
        "RESULT fw one forward added to 1000 by a running routerd, nft add element time / Firewall::update time = {:.1} | {:.1} vs {:.3} ms (one netlink transaction in process against a whole nft process)",
        add.as_secs_f64() / running.as_secs_f64(),
        ms(add),
        ms(running)
    ));
    results.push(format!(
        "RESULT fw one forward added to 1000, nft add element time / routerd firewall time = {:.3} | {:.1} vs {:.1} ms (routerd firewall replaces the table; a running routerd updates elements)",
        add.as_secs_f64() / ours.as_secs_f64(),
        ms(add),
        ms(ours)
    ));

    // 3. New connections per second through the last forward.
    println!("new connections/s through the last forward (1.5 s each):");
    let mut rate = std::collections::BTreeMap::new();
    for _ in 0..2 {
        for s in [&sizes[0], &sizes[3]] {
            for (kind, script) in [("map", &s.map_script), ("rules", &s.rules_script)] {
                timed(&r, &nft_path(), &["-f", script.to_str().unwrap()]);
                let (port, to) = forward(s.n - 1);
                let c = connection_rate(&lan, &wan, port, to, 1.5);
                println!("  {:>6} forwards as {kind:<5}: {c:.0}/s", s.n);
                rate.entry((s.n, kind)).or_insert_with(Vec::new).push(c);
            }
        }
    }
    let best = |k: (u16, &str)| rate[&k].iter().copied().fold(0.0f64, f64::max);
    results.push(format!(
        "RESULT fw new connections/s with 10000 forwards / with 10 (map) = {:.3} | {:.0} vs {:.0}/s; as rules {:.3} ({:.0} vs {:.0}/s)",
        best((10_000, "map")) / best((10, "map")),
        best((10_000, "map")),
        best((10, "map")),
        best((10_000, "rules")) / best((10, "rules")),
        best((10_000, "rules")),
        best((10, "rules"))
    ));

    // 4. Throughput: none, 10, 10,000 forwards (map), alternating twice.
    let mut tput = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let _ = r
            .command("nft")
            .args(["delete", "table", "inet", "routerd"])
            .stderr(Stdio::null())
            .status();
        tput.entry("none").or_insert_with(Vec::new).push(iperf(&lan, &wan));
        for (name, s) in [("10", &sizes[0]), ("10000", &sizes[3])] {
            timed(&r, &bin("routerd"), &["firewall", "--config", s.config.to_str().unwrap()]);
            tput.entry(name).or_insert_with(Vec::new).push(iperf(&lan, &wan));
        }
    }
    let mean = |k: &str| tput[k].iter().sum::<f64>() / tput[k].len() as f64;
    println!(
        "forwarding, 1 TCP flow: no ruleset {:.2} Gbit/s, 10 forwards {:.2}, 10,000 forwards {:.2}",
        mean("none"),
        mean("10"),
        mean("10000")
    );
    results.push(format!(
        "RESULT fw throughput with 10000 forwards / with 10 = {:.3} | {:.2} vs {:.2} Gbit/s; {:.2} of no ruleset",
        mean("10000") / mean("10"),
        mean("10000"),
        mean("10"),
        mean("10000") / mean("none")
    ));

    // 5. The fast path: throughput with 10 forwards and the flowtable, against the same
    // ruleset without it (part 4), where the kernel takes flowtables.
    let fast = files
        .write("routerd-fast.toml", &toml(10).replace("fast_path = false", "fast_path = true"));
    let out = r
        .command(bin("routerd"))
        .args(["firewall", "--config", fast.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "routerd firewall with the fast path: {said}");
    if said.contains("without the fast path") {
        println!("fast path: not measured, {}", said.trim());
    } else {
        let with: Vec<f64> = (0..2).map(|_| iperf(&lan, &wan)).collect();
        let with = with.iter().sum::<f64>() / with.len() as f64;
        println!("forwarding, 1 TCP flow, 10 forwards with the fast path: {with:.2} Gbit/s");
        results.push(format!(
            "RESULT fw throughput with the fast path / without (10 forwards) = {:.3} | {:.2} vs {:.2} Gbit/s",
            with / mean("10"),
            with,
            mean("10")
        ));
    }
    for l in results {
        println!("{l}");
    }
}
