//! State at scale: how long a DHCPv4 server takes to come back with a big lease store, ours
//! (crates/dhcpv4's server, `leases4.log`) against ISC Kea (kea-dhcp4, memfile CSV), in the same
//! namespaces and run. `sudo cargo bench -p router-tests --bench state` (root: namespaces).
//!
//! Both servers are given the same leases, each in its own format, written by this bench
//! before the start: `STATE_BENCH_RECORDS` records (default 1,000,000), in two shapes:
//!
//! - `churn`: the records of 16,000 clients that renewed again and again (the last record of
//!   an address wins), in a /18, the shape a long-running store has before it is compacted
//!   (Kea's memfile grows a line per renewal; ours is compacted at 2x live, so this is more
//!   than ours ever holds);
//! - `live`: as many distinct clients as records, each with a bound lease, in 10.64.0.0/12
//!   (a private range that stays in the bench's namespaces): the table at its largest.
//!
//! Restart time is from the process start to the first OFFER to a relayed DISCOVER from a
//! client that holds a lease (the probe sends one every 2 ms), so the server has loaded its
//! store and is answering; its resident set (VmRSS) is read right then. Each shape runs
//! `STATE_BENCH_ROUNDS` times (default 3), ours and Kea alternating; medians are reported.
//!
//! Then memory with state in it: routerd itself (the release binary, static WAN, one LAN
//! with DHCPv4 and DNS), its resident set at the start, after perfdhcp has taken leases for
//! 10,000 clients, and after 100,000 distinct names were forwarded and cached (dnsperf, one
//! pass; the upstream a dnsmasq that answers every name under example.net); beside it
//! crates/dhcpv4's server alone and kea-dhcp4 after the same perfdhcp run, and unbound (its caches made big enough) after the
//! same pass. `STATE_BENCH_ONLY=restart` or `=rss` runs one part.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable};
use dhcpv4::driver::server::{self as driver, DriverConfig};
use dhcpv4::server::{HwAddr, LeaseRecord, PoolRange, ServerConfig};
use leases::writer::unix_now;
use leases::{Record, RecordState};
use netlab::Netns;
use router_tests::bench::{peak_rss_kib, rss_kib};

/// Lease time written in the records (and configured): they are all still bound at the start.
const LEASE_SECS: u64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Churn,
    Live,
}

impl Shape {
    /// Distinct clients (and addresses) among `records`.
    fn clients(self, records: u32) -> u32 {
        match self {
            Shape::Churn => 16_000.min(records),
            Shape::Live => records,
        }
    }

    fn subnet(self) -> (&'static str, Ipv4Addr, Ipv4Addr) {
        match self {
            Shape::Churn => (
                "192.168.64.0/18",
                Ipv4Addr::new(192, 168, 65, 0),
                Ipv4Addr::new(192, 168, 127, 254),
            ),
            Shape::Live => {
                ("10.64.0.0/12", Ipv4Addr::new(10, 64, 0, 10), Ipv4Addr::new(10, 79, 255, 254))
            }
        }
    }

    /// The server's address (br0) and the probe's (the relay, giaddr), in the subnet.
    fn server(self) -> Ipv4Addr {
        match self {
            Shape::Churn => Ipv4Addr::new(192, 168, 64, 1),
            Shape::Live => Ipv4Addr::new(10, 64, 0, 1),
        }
    }

    fn relay(self) -> Ipv4Addr {
        match self {
            Shape::Churn => Ipv4Addr::new(192, 168, 64, 2),
            Shape::Live => Ipv4Addr::new(10, 64, 0, 2),
        }
    }

    /// The address of client `c`.
    fn address(self, c: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet().1) + c)
    }
}

/// Client `c`'s MAC: 02:5e + the index.
fn mac(c: u32) -> [u8; 6] {
    let b = c.to_be_bytes();
    [0x02, 0x5e, b[0], b[1], b[2], b[3]]
}

fn main() {
    if let Ok(dir) = std::env::var("STATE_BENCH_SERVER") {
        let shape = if std::env::var("STATE_BENCH_SHAPE").as_deref() == Ok("live") {
            Shape::Live
        } else {
            Shape::Churn
        };
        return run_our_server(PathBuf::from(dir), shape);
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists targets: nothing to list.
    }
    let records: u32 =
        std::env::var("STATE_BENCH_RECORDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let rounds: usize =
        std::env::var("STATE_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let only = std::env::var("STATE_BENCH_ONLY").unwrap_or_default();
    let lab = router_tests::lab("statebench");
    if only != "restart" {
        rss_with_state(&lab);
    }
    if only == "rss" {
        return;
    }
    let srv = lab.netns("srv").unwrap();
    let cli = lab.netns("cli").unwrap();
    sh(&srv, "ip link add br0 type bridge && ip link set br0 up");
    lab.connect(&srv, "p0", &cli, "eth0").unwrap();
    sh(&srv, "ip link set p0 master br0");
    srv.add_addr("br0", "192.168.64.1/18").unwrap();
    srv.add_addr("br0", "10.64.0.1/12").unwrap();
    cli.add_addr("eth0", "192.168.64.2/18").unwrap();
    cli.add_addr("eth0", "10.64.0.2/12").unwrap();
    let tmp = std::env::temp_dir().join(format!("state-bench-{}", std::process::id()));
    let now = unix_now();
    println!("state bench: {records} DHCPv4 lease records, {rounds} rounds, server on CPU 1");
    for shape in [Shape::Churn, Shape::Live] {
        let dir = tmp.join(format!("{shape:?}"));
        let _ = std::fs::remove_dir_all(&dir);
        let ours_dir = dir.join("ours");
        let kea_dir = dir.join("kea");
        std::fs::create_dir_all(&ours_dir).unwrap();
        std::fs::create_dir_all(&kea_dir).unwrap();
        let (log_bytes, csv_bytes) = write_stores(shape, records, now, &ours_dir, &kea_dir);
        println!(
            "{shape:?}: {records} records of {} clients; leases4.log {:.1} MB, Kea's leases4.csv {:.1} MB",
            shape.clients(records),
            log_bytes as f64 / 1e6,
            csv_bytes as f64 / 1e6
        );
        let mut ours = Vec::new();
        let mut kea = Vec::new();
        for round in 0..rounds {
            for which in [Which::Ours, Which::Kea] {
                let r = restart(&srv, &cli, which, shape, &ours_dir, &kea_dir);
                println!("round {round}: {which:?} {shape:?}: {r}");
                if which == Which::Ours { ours.push(r) } else { kea.push(r) }
            }
        }
        let (o, k) = (median(&ours, |r| r.secs), median(&kea, |r| r.secs));
        println!(
            "RESULT state {shape:?} restart with {records} DHCPv4 lease records Kea / ours = {:.2} | {:.3} vs {:.3} s",
            k / o,
            o,
            k
        );
        let (o, k) = (median(&ours, |r| r.rss_mib), median(&kea, |r| r.rss_mib));
        println!(
            "RESULT state {shape:?} RSS with {} DHCPv4 leases loaded Kea / ours = {:.2} | {:.1} vs {:.1} MiB",
            shape.clients(records),
            k / o,
            o,
            k
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn median(v: &[Restart], f: impl Fn(&Restart) -> f64) -> f64 {
    let mut x: Vec<f64> = v.iter().map(f).collect();
    x.sort_by(f64::total_cmp);
    x[x.len() / 2]
}

/// Writes the same `records` for both servers; returns the two files' sizes.
fn write_stores(shape: Shape, records: u32, now: u64, ours: &Path, kea: &Path) -> (u64, u64) {
    let clients = shape.clients(records);
    let mut log = Vec::with_capacity(records as usize * 48);
    log.extend_from_slice(LeaseRecord::MAGIC);
    // Kea 2.2's memfile schema (lease file version 2.0).
    let mut csv = String::with_capacity(records as usize * 80);
    csv.push_str(
        "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n",
    );
    for i in 0..records {
        let c = i % clients;
        // Later records renew later: the last one of each address is the newest.
        let expires = now + LEASE_SECS - u64::from(records - i) / u64::from(clients);
        let address = shape.address(c);
        let m = mac(c);
        let hostname = format!("host-{c}");
        LeaseRecord {
            address,
            state: RecordState::Bound,
            expires,
            hw: HwAddr::ethernet(m),
            client_id: Vec::new(),
            hostname: Some(hostname.clone()),
        }
        .encode(&mut log);
        let _ = writeln!(
            csv,
            "{address},{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x},,{LEASE_SECS},{expires},1,0,0,{hostname},0,",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
    }
    std::fs::write(ours.join(LeaseRecord::FILE), &log).unwrap();
    std::fs::write(kea.join("leases4.csv"), &csv).unwrap();
    (log.len() as u64, csv.len() as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Ours,
    Kea,
}

struct Restart {
    /// Process start to the first OFFER.
    secs: f64,
    /// VmRSS at that moment.
    rss_mib: f64,
    /// VmHWM at that moment.
    peak_mib: f64,
    /// The address offered to the probe's client (the one its lease holds).
    offered: Ipv4Addr,
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "first OFFER after {:.3} s ({}), RSS {:.1} MiB, peak {:.1} MiB",
            self.secs, self.offered, self.rss_mib, self.peak_mib
        )
    }
}

/// Starts a server on a copy of its store and times it to its first answer.
fn restart(
    srv: &Netns,
    cli: &Netns,
    which: Which,
    shape: Shape,
    ours: &Path,
    kea: &Path,
) -> Restart {
    // Each run starts from the store as written (Kea rewrites its CSV on start, ours may
    // compact): copy it to a run directory first, outside the timing.
    let run = ours.parent().unwrap().join("run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let mut cmd = srv.command("taskset");
    let out = std::fs::File::create(run.join("server.log")).unwrap();
    cmd.args(["-c", "1"]).stdout(out.try_clone().unwrap()).stderr(out);
    match which {
        Which::Ours => {
            std::fs::copy(ours.join(LeaseRecord::FILE), run.join(LeaseRecord::FILE)).unwrap();
            cmd.arg(std::env::current_exe().unwrap()).env("STATE_BENCH_SERVER", &run);
            cmd.env("STATE_BENCH_SHAPE", if shape == Shape::Live { "live" } else { "churn" });
        }
        Which::Kea => {
            std::fs::copy(kea.join("leases4.csv"), run.join("leases4.csv")).unwrap();
            let conf = run.join("kea.json");
            std::fs::write(&conf, kea_config(&run, shape)).unwrap();
            cmd.args(["kea-dhcp4", "-c"]).arg(&conf);
            cmd.env("KEA_PIDFILE_DIR", &run).env("KEA_LOCKFILE_DIR", &run);
        }
    }
    // Both read a file just copied (in the page cache alike).
    let probe = Probe::open(cli, shape.relay());
    let start = Instant::now();
    let mut guard = srv.spawn_process(&mut cmd).expect("spawn the server under test");
    let pid = guard.child().id();
    let offered = probe.until_offer(
        shape.server(),
        shape.address(0),
        mac(0),
        Duration::from_secs(120),
        &mut || {
            if let Ok(Some(st)) = guard.child().try_wait() {
                panic!("{which:?} exited before answering ({st})");
            }
        },
    );
    let Some(offered) = offered else {
        let log = std::fs::read_to_string(run.join("server.log")).unwrap_or_default();
        panic!("{which:?} sent no OFFER within 120 s; its output:\n{log}");
    };
    let secs = start.elapsed().as_secs_f64();
    let rss_mib = rss_kib(pid) as f64 / 1024.0;
    let peak_mib = peak_rss_kib(pid) as f64 / 1024.0;
    drop(guard);
    let _ = std::fs::remove_dir_all(&run);
    Restart { secs, rss_mib, peak_mib, offered }
}

/// A relay agent in the client namespace: a UDP socket on RELAY:67 (relayed DISCOVERs are
/// answered to the relay's port 67, RFC 2131 §4.1).
struct Probe {
    socket: UdpSocket,
    relay: Ipv4Addr,
}

impl Probe {
    fn open(cli: &Netns, relay: Ipv4Addr) -> Probe {
        let socket = cli
            .run(move |_| async move { UdpSocket::bind(SocketAddrV4::new(relay, 67)).unwrap() })
            .unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        Probe { socket, relay }
    }

    /// Sends a DISCOVER from `mac` every 2 ms until an OFFER to one of them comes back; the offered address
    /// (`None` after `limit`).
    fn until_offer(
        &self,
        server: Ipv4Addr,
        expect: Ipv4Addr,
        mac: [u8; 6],
        limit: Duration,
        alive: &mut dyn FnMut(),
    ) -> Option<Ipv4Addr> {
        let start = Instant::now();
        let mut buf = [0u8; 1500];
        let mut next_send = start;
        let mut sent = 0u32;
        while start.elapsed() < limit {
            alive();
            if Instant::now() >= next_send {
                sent += 1;
                let mut m = Message::default();
                m.set_opcode(Opcode::BootRequest)
                    .set_xid(sent)
                    .set_flags(Flags::default())
                    .set_giaddr(self.relay)
                    .set_chaddr(&mac);
                m.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
                // Until the server's port is bound these go nowhere.
                let _ = self.socket.send_to(&m.to_vec().unwrap(), SocketAddrV4::new(server, 67));
                next_send += Duration::from_millis(2);
            }
            // Any OFFER to one of ours counts (a server that bound its port before it was
            // ready answers the queued DISCOVERs first, oldest first).
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else { continue };
            let Ok(reply) = Message::decode(&mut Decoder::new(&buf[..n])) else { continue };
            if (1..=sent).contains(&reply.xid())
                && reply.chaddr().get(..6) == Some(&mac[..])
                && reply.opts().msg_type() == Some(MessageType::Offer)
            {
                let yiaddr = reply.yiaddr();
                assert_eq!(yiaddr, expect, "the probe's client was offered another address");
                return Some(yiaddr);
            }
        }
        None
    }
}

fn sh(ns: &Netns, cmd: &str) {
    assert!(ns.command("sh").args(["-c", cmd]).status().unwrap().success(), "{cmd}");
}

fn kea_config(dir: &Path, shape: Shape) -> String {
    let (subnet, first, last) = shape.subnet();
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["br0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}/leases4.csv", "lfc-interval": 0 }},
  "valid-lifetime": {LEASE_SECS},
  "subnet4": [{{ "id": 1, "subnet": "{subnet}",
      "pools": [{{ "pool": "{first} - {last}" }}],
      "option-data": [{{ "name": "routers", "data": "{}" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "severity": "WARN", "output_options": [{{ "output": "stdout" }}] }}]
}} }}"#,
        dir.display(),
        shape.server()
    )
}

/// The server under test, as a process of its own (this binary, re-executed).
fn run_our_server(dir: PathBuf, shape: Shape) {
    let (subnet, first, last) = shape.subnet();
    let mut cfg =
        ServerConfig::new(shape.server(), subnet.parse().unwrap(), PoolRange { first, last });
    cfg.lease_time = LEASE_SECS as u32;
    cfg.rapid_commit = false;
    let iface = std::env::var("STATE_BENCH_IFACE").unwrap_or_else(|_| "br0".into());
    let dcfg = DriverConfig::new(&iface, dir, cfg);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(driver::run(dcfg, None, std::future::pending())).unwrap();
}

/// Clients perfdhcp simulates, and distinct names forwarded, in the memory part.
const LEASE_CLIENTS: u32 = 10_000;
const CACHED_NAMES: u32 = 100_000;

/// routerd's resident set with 10,000 leases and 100,000 cached names, beside kea-dhcp4 and
/// unbound holding the same.
fn rss_with_state(lab: &netlab::Lab) {
    let (cli, r, isp) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&cli, "eth0", &r, "lan0").unwrap();
    lab.connect(&r, "eth0", &isp, "eth0").unwrap();
    cli.add_addr("eth0", "192.168.64.2/18").unwrap();
    isp.add_addr("eth0", "198.51.100.1/24").unwrap();
    let dir = router_tests::TempDir::new("state-bench-rss");
    let names = dir.join("names.txt");
    let mut q = String::with_capacity(CACHED_NAMES as usize * 24);
    for i in 0..CACHED_NAMES {
        let _ = writeln!(q, "n{i}.example.net A");
    }
    std::fs::write(&names, q).unwrap();
    let _upstream = isp
        .spawn_process(
            isp.command("dnsmasq")
                .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=53"])
                .args(["--listen-address=198.51.100.1", "--bind-interfaces", "--local-ttl=3600"])
                .args(["--pid-file", "--user=root", "--cache-size=0"])
                .arg("--address=/example.net/203.0.113.9")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("dnsmasq (package dnsmasq-base)");

    // routerd.
    std::fs::write(
        dir.join("routerd.toml"),
        format!(
            "state_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nmode = \"static\"\n\
             [wan.static]\nipv4 = \"198.51.100.7/24\"\ngateway = \"198.51.100.1\"\n\
             dns = [\"198.51.100.1\"]\n[wan.ipv6]\nenabled = false\n\
             [[lan]]\nname = \"lan\"\ninterface = \"lan0\"\nipv4 = \"192.168.64.1/18\"\n\
             dhcp4 = {{ pool = \"192.168.65.0-192.168.127.254\", lease_time = \"1h\" }}\n\
             [dns]\ncache_size = 200000\n\
             [control]\nsocket = \"{0}/control.sock\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let routerd = router_tests::routerd::Routerd::start(&r, dir.path());
    routerd.wait_for(Duration::from_secs(20), "routerd healthy", || routerd.healthy());
    routerd.wait_for(Duration::from_secs(10), "DNS on 192.168.64.1:53", || {
        router_tests::listening(&r, "udp", "src 192.168.64.1:53")
    });
    let start_mib = routerd.rss_kib() as f64 / 1024.0;
    let acks = take_leases(&cli);
    // Resident sets are read before routerctl or /metrics are asked (their answers, 10,000
    // leases as JSON, would be counted).
    let leases_mib = routerd.rss_kib() as f64 / 1024.0;
    let leases = routerd.json("leases").as_array().map_or(0, Vec::len);
    let answered = cache_names(&cli, &names);
    let cached_mib = routerd.rss_kib() as f64 / 1024.0;
    let metrics = http_get(&cli, "192.168.64.1:8080", "/metrics");
    let cached = metrics
        .lines()
        .find_map(|l| l.strip_prefix("routerd_dns_cache_entries "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    println!(
        "routerd: RSS {start_mib:.1} MiB at the start, {leases_mib:.1} with {leases} leases ({acks} ACKs), \
         {cached_mib:.1} with {cached} cached answers ({answered} names answered)"
    );
    assert!(leases >= (LEASE_CLIENTS as usize) * 9 / 10, "perfdhcp took {leases} leases");
    assert!(cached >= u64::from(CACHED_NAMES) * 9 / 10, "{cached} answers cached");
    routerd.stop();

    // crates/dhcpv4's server alone, kea-dhcp4 and unbound on the same links, the LAN
    // address as routerd had it.
    sh(&r, "ip addr replace 192.168.64.1/18 dev lan0 && ip addr replace 198.51.100.7/24 dev eth0");
    let mut alone = r.command(std::env::current_exe().unwrap());
    alone.env("STATE_BENCH_SERVER", dir.join("alone")).env("STATE_BENCH_IFACE", "lan0");
    alone.stdout(Stdio::null()).stderr(Stdio::null());
    let mut alone = r.spawn_process(&mut alone).expect("our DHCPv4 server alone");
    let alone_pid = alone.child().id();
    router_tests::wait_for(Duration::from_secs(10), "our DHCPv4 server on port 67", || {
        router_tests::listening(&r, "udp", "sport = :67")
    });
    let alone_start = rss_kib(alone_pid) as f64 / 1024.0;
    take_leases(&cli);
    let alone_mib = rss_kib(alone_pid) as f64 / 1024.0;
    drop(alone);
    router_tests::wait_for(Duration::from_secs(10), "port 67 free", || {
        !router_tests::listening(&r, "udp", "sport = :67")
    });
    let kea_conf = dir.join("kea.json");
    std::fs::write(
        &kea_conf,
        format!(
            r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["lan0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{0}/leases4.csv", "lfc-interval": 0 }},
  "valid-lifetime": 3600,
  "subnet4": [{{ "id": 1, "subnet": "192.168.64.0/18",
      "pools": [{{ "pool": "192.168.65.0 - 192.168.127.254" }}],
      "option-data": [{{ "name": "routers", "data": "192.168.64.1" }},
                      {{ "name": "domain-name-servers", "data": "192.168.64.1" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "severity": "WARN", "output_options": [{{ "output": "stdout" }}] }}]
}} }}"#,
            dir.path().display()
        ),
    )
    .unwrap();
    let mut kea = r.command("kea-dhcp4");
    kea.arg("-c").arg(&kea_conf).stdout(Stdio::null()).stderr(Stdio::null());
    kea.env("KEA_PIDFILE_DIR", dir.path()).env("KEA_LOCKFILE_DIR", dir.path());
    let mut kea = r.spawn_process(&mut kea).expect("kea-dhcp4 (package kea-dhcp4-server)");
    let kea_pid = kea.child().id();
    router_tests::wait_for(Duration::from_secs(10), "kea-dhcp4 on port 67", || {
        router_tests::listening(&r, "udp", "sport = :67")
    });
    let kea_start = rss_kib(kea_pid) as f64 / 1024.0;
    let kea_acks = take_leases(&cli);
    let kea_leases = std::fs::read_to_string(dir.join("leases4.csv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let kea_mib = rss_kib(kea_pid) as f64 / 1024.0;
    drop(kea);
    let unbound_conf = dir.join("unbound.conf");
    std::fs::write(
        &unbound_conf,
        format!(
            "server:\n  interface: 192.168.64.1\n  port: 53\n  num-threads: 1\n  username: \"\"\n  \
             chroot: \"\"\n  directory: \"{}\"\n  pidfile: \"\"\n  use-syslog: no\n  \
             logfile: \"\"\n  verbosity: 0\n  access-control: 192.168.64.0/18 allow\n  \
             module-config: \"iterator\"\n  msg-cache-size: 256m\n  rrset-cache-size: 512m\n\
             forward-zone:\n  name: \".\"\n  forward-addr: 198.51.100.1\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut unbound = r.command("unbound");
    unbound.args(["-d", "-c"]).arg(&unbound_conf).stdout(Stdio::null()).stderr(Stdio::null());
    let mut unbound = r.spawn_process(&mut unbound).expect("unbound");
    let unbound_pid = unbound.child().id();
    router_tests::wait_for(Duration::from_secs(10), "unbound on 192.168.64.1:53", || {
        router_tests::listening(&r, "udp", "src 192.168.64.1:53")
    });
    let unbound_start = rss_kib(unbound_pid) as f64 / 1024.0;
    let unbound_answered = cache_names(&cli, &names);
    let unbound_mib = rss_kib(unbound_pid) as f64 / 1024.0;
    drop(unbound);
    println!(
        "crates/dhcpv4's server alone: RSS {alone_start:.1} MiB at the start, {alone_mib:.1} after the same perfdhcp run"
    );
    println!(
        "kea-dhcp4: RSS {kea_start:.1} MiB at the start, {kea_mib:.1} with {kea_leases} leases ({kea_acks} ACKs); \
         unbound: {unbound_start:.1} at the start, {unbound_mib:.1} after {unbound_answered} names answered"
    );
    println!(
        "RESULT state RSS with {LEASE_CLIENTS} leases and {CACHED_NAMES} cached names (Kea + unbound) / routerd = {:.2} | {cached_mib:.1} vs {kea_mib:.1} + {unbound_mib:.1} MiB",
        (kea_mib + unbound_mib) / cached_mib
    );
    println!(
        "RESULT state RSS grown by {LEASE_CLIENTS} leases Kea / routerd = {:.2} | {:+.1} vs {:+.1} MiB",
        (kea_mib - kea_start) / (leases_mib - start_mib).max(0.1),
        leases_mib - start_mib,
        kea_mib - kea_start
    );
    println!(
        "RESULT state RSS grown by {LEASE_CLIENTS} leases Kea / our DHCPv4 server alone = {:.2} | {:+.1} vs {:+.1} MiB",
        (kea_mib - kea_start) / (alone_mib - alone_start).max(0.1),
        alone_mib - alone_start,
        kea_mib - kea_start
    );
    println!(
        "RESULT state RSS grown by {CACHED_NAMES} cached names unbound / routerd = {:.2} | {:+.1} vs {:+.1} MiB",
        (unbound_mib - unbound_start) / (cached_mib - leases_mib).max(0.1),
        cached_mib - leases_mib,
        unbound_mib - unbound_start
    );
}

/// perfdhcp as a relay for LEASE_CLIENTS clients, about two exchanges each; the ACKs.
fn take_leases(cli: &Netns) -> u64 {
    let out = cli
        .command("timeout")
        .args(["40", "perfdhcp", "-4", "-r", "2000", "-R", &LEASE_CLIENTS.to_string(), "-p", "12"])
        .args(["-W", "500000", "192.168.64.1"])
        .output()
        .expect("perfdhcp (package kea-admin)");
    router_tests::bench::perfdhcp_stat(
        &String::from_utf8_lossy(&out.stdout),
        "REQUEST-ACK",
        "received packets:",
    )
}

/// One dnsperf pass over `names` against 192.168.64.1; the queries answered.
fn cache_names(cli: &Netns, names: &Path) -> u64 {
    let out = cli
        .command("timeout")
        .args(["120", "dnsperf", "-s", "192.168.64.1", "-n", "1", "-c", "10", "-q", "200", "-d"])
        .arg(names)
        .output()
        .expect("dnsperf");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("Queries completed:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A plain HTTP/1.0 GET from `ns`; the body ("" on failure).
fn http_get(ns: &Netns, addr: &'static str, path: &'static str) -> String {
    ns.run(move |_| async move {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
    })
    .unwrap()
}
