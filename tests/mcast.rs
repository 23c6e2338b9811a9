//! Multicast (IPTV) helpers for the IGMP tests and the IGMP bench: a head-end that sends
//! numbered datagrams to groups, set-top boxes that join through the kernel's IGMP host
//! stack, the namespaces between them (head-end, router, a plain switch, two boxes), our
//! proxy run in the router namespace, and readings of the kernel's multicast routing.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use igmp::driver::{Config as DriverConfig, Status};
use igmp::wire::Message;
use igmp::{Config, Downstream};
use netlab::{Lab, Netns, NsThread};
use tokio::sync::watch;

/// Parses an address.
/// Whether this kernel routes multicast (CONFIG_IP_MROUTE: `/proc/net/ip_mr_vif` exists).
/// Some kernels of these machines are built without it; the IGMP proxy cannot forward there,
/// and the tests that need it say so and stop.
pub fn kernel_routes_multicast() -> bool {
    std::path::Path::new("/proc/net/ip_mr_vif").exists()
}

/// Prints why a multicast test does not run on this kernel; true when it should stop.
pub fn skip_without_multicast_routing(test: &str) -> bool {
    if kernel_routes_multicast() {
        return false;
    }
    println!(
        "{test}: NOT RUN: this kernel has no multicast routing (CONFIG_IP_MROUTE; no /proc/net/ip_mr_vif)"
    );
    true
}

pub fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub const PORT: u16 = 5004;

/// The head-end: sends a numbered datagram to each group every 10 ms until dropped.
pub struct HeadEnd {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeadEnd {
    /// A datagram of 8 octets to each group every 10 ms.
    pub fn start(ns: &Netns, groups: Vec<Ipv4Addr>) -> Self {
        Self::stream(ns, groups, 8, 100)
    }

    /// From 10.10.0.1 out of `eth0`: `pps` datagrams of `len` octets (at least 8: the group and a sequence number) per
    /// second to each group, sent in 1 ms ticks (so that a join's first packet is not
    /// waiting for a burst); for at most five minutes.
    pub fn stream(ns: &Netns, groups: Vec<Ipv4Addr>, len: usize, pps: u32) -> Self {
        let sock = ns
            .run(|nc| async move {
                let s = UdpSocket::bind("10.10.0.1:0").unwrap();
                s.set_multicast_ttl_v4(8).unwrap();
                // Out of eth0 by index: a socket bound to an address on another device (the
                // loopback) would otherwise send its multicast there.
                let index = nc.link_by_name("eth0").await.unwrap().index;
                igmp::driver::set_multicast_if(&s, index).expect("IP_MULTICAST_IF");
                s
            })
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut seq = vec![0u32; groups.len()];
            let mut p = vec![0u8; len.max(8)];
            let mut tick = 0u64;
            while !stop2.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(300) {
                // Datagrams due by the end of this tick, per group.
                let due = ((tick + 1) * u64::from(pps) / 1000) as u32;
                for (g, n) in groups.iter().zip(seq.iter_mut()) {
                    while *n < due {
                        p[..4].copy_from_slice(&g.octets());
                        p[4..8].copy_from_slice(&n.to_be_bytes());
                        let _ = sock.send_to(&p, SocketAddrV4::new(*g, PORT));
                        *n += 1;
                    }
                }
                tick += 1;
                let next = started + Duration::from_millis(tick);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        HeadEnd { stop, thread: Some(thread) }
    }
}

impl Drop for HeadEnd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A set-top box: one UDP socket on the channel port, joined and left through the kernel
/// (which sends the IGMP).
pub struct Stb {
    /// The socket (joined and left through the kernel).
    pub sock: UdpSocket,
    addr: Ipv4Addr,
}

impl Stb {
    pub fn new(ns: &Netns, addr: &str) -> Self {
        let sock = ns
            .run(|_| async move {
                let s = UdpSocket::bind(("0.0.0.0", PORT)).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                s
            })
            .unwrap();
        Stb { sock, addr: a(addr) }
    }

    pub fn join(&self, g: &str) {
        self.sock.join_multicast_v4(&a(g), &self.addr).unwrap();
    }

    pub fn leave(&self, g: &str) {
        self.sock.leave_multicast_v4(&a(g), &self.addr).unwrap();
    }

    /// What arrives within `d`: (group, sequence number), in order.
    pub fn receive(&self, d: Duration) -> Vec<(Ipv4Addr, u32)> {
        let end = Instant::now() + d;
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf)
                && n >= 8
            {
                let g = Ipv4Addr::new(buf[0], buf[1], buf[2], buf[3]);
                got.push((g, u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])));
            }
        }
        got
    }

    /// Waits up to `limit` for the first packet of `g`: how long it took.
    pub fn first_packet(&self, g: &str, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 2048];
        while started.elapsed() < limit {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf)
                && n >= 8
                && buf[..4] == a(g).octets()
            {
                return Some(started.elapsed());
            }
        }
        None
    }

    pub fn drain(&self) {
        let _ = self.receive(Duration::from_millis(60));
    }
}

/// The sequence numbers of `g` in `got` have no gap.
pub fn no_gap(got: &[(Ipv4Addr, u32)], g: &str) -> (usize, bool) {
    let seqs: Vec<u32> = got.iter().filter(|(x, _)| *x == a(g)).map(|(_, s)| *s).collect();
    (seqs.len(), seqs.windows(2).all(|w| w[1] == w[0] + 1))
}

pub struct Net {
    pub lab: Lab,
    pub head: Netns,
    pub router: Netns,
    pub sw: Netns,
    pub stb1: Netns,
    pub stb2: Netns,
}

pub fn net(tag: &str) -> Net {
    let lab = Lab::new(tag).unwrap();
    let head = lab.netns("head").unwrap();
    let router = lab.netns("r").unwrap();
    let sw = lab.netns("sw").unwrap();
    let stb1 = lab.netns("stb1").unwrap();
    let stb2 = lab.netns("stb2").unwrap();
    lab.connect(&head, "eth0", &router, "iptv0").unwrap();
    lab.connect(&router, "lan0", &sw, "p0").unwrap();
    lab.connect(&stb1, "eth0", &sw, "p1").unwrap();
    lab.connect(&stb2, "eth0", &sw, "p2").unwrap();
    // A plain switch: the bridge floods multicast (no snooping), so what reaches a box is
    // what the router forwards onto the LAN.
    let sh = |ns: &Netns, cmd: &str| {
        let st = ns.command("sh").arg("-c").arg(cmd).status().unwrap();
        assert!(st.success(), "{cmd}");
    };
    sh(
        &sw,
        "ip link add br0 type bridge mcast_snooping 0 && for p in p0 p1 p2; do ip link set $p master br0; done && ip link set br0 up",
    );
    head.add_addr("eth0", "10.10.0.1/24").unwrap();
    router.add_addr("iptv0", "10.10.0.2/24").unwrap();
    router.add_addr("lan0", "192.168.1.1/24").unwrap();
    stb1.add_addr("eth0", "192.168.1.10/24").unwrap();
    stb2.add_addr("eth0", "192.168.1.11/24").unwrap();
    // The boxes' multicast leaves by eth0.
    for ns in [&stb1, &stb2] {
        sh(ns, "ip route add 224.0.0.0/4 dev eth0");
    }
    Net { lab, head, router, sw, stb1, stb2 }
}

pub fn proxy_config(allowed: &[&str], query_interval: Duration, fast_leave: bool) -> Config {
    Config {
        downstreams: vec![Downstream {
            name: "lan".into(),
            subnet: "192.168.1.1/24".parse().unwrap(),
        }],
        allowed: allowed.iter().map(|s| s.parse().unwrap()).collect(),
        query_interval,
        query_response_interval: Duration::from_secs(1).min(query_interval / 2),
        fast_leave,
        seed: u64::from(std::process::id()),
        ..Config::default()
    }
}

pub struct Running {
    tid: i32,
    status: watch::Receiver<Status>,
    stop: watch::Sender<bool>,
    thread: Option<NsThread<Result<(), igmp::driver::Error>>>,
}

impl Running {
    pub fn start(router: &Netns, proxy: Config) -> Self {
        let (status_tx, status) = watch::channel(Status::default());
        let (stop, stop_rx) = watch::channel(false);
        let cfg =
            DriverConfig { upstream: "iptv0".into(), downstreams: vec!["lan0".into()], proxy };
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = router
            .spawn(move |_| async move {
                // SAFETY: gettid has no preconditions.
                let _ = tid_tx.send(unsafe { libc::gettid() });
                igmp::driver::run(cfg, Some(status_tx), stop_rx).await
            })
            .unwrap();
        let tid = tid_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Running { tid, status, stop, thread: Some(thread) }
    }

    /// CPU seconds (user + system) the proxy's thread has used.
    pub fn cpu_seconds(&self) -> f64 {
        task_cpu_seconds(&format!("/proc/self/task/{}/stat", self.tid))
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits up to `limit` for `f` of the status to hold.
    pub fn until(&self, limit: Duration, what: &str, f: impl Fn(&Status) -> bool) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if f(&self.status()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what}: not within {limit:?}: {:?}", self.status());
    }

    pub fn stop(mut self) -> Result<(), igmp::driver::Error> {
        let _ = self.stop.send(true);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The kernel's packets out of the LAN vif (vif 1), from /proc/net/ip_mr_vif.
pub fn lan_vif_packets_out(router: &Netns) -> u64 {
    let out = router.command("cat").arg("/proc/net/ip_mr_vif").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Interface BytesIn PktsIn BytesOut PktsOut Flags Local Remote
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some("lan0"))
        .and_then(|l| l.split_whitespace().nth(5).map(|v| v.parse().unwrap()))
        .unwrap_or(0)
}

/// What the router's kernel and the proxy say, for a failure message.
pub fn diag(router: &Netns, proxy: &Running) -> String {
    let sh = |c: &str| {
        let o = router.command("sh").arg("-c").arg(c).output().unwrap();
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    format!(
        "proxy {:?}\nip mroute:\n{}\nvifs:\n{}\nlinks:\n{}",
        proxy.status(),
        sh("ip mroute show"),
        sh("cat /proc/net/ip_mr_vif"),
        sh("ip -br addr")
    )
}

/// The IGMP the head-end side hears from the router: a raw socket joined to 224.0.0.22 and
/// 224.0.0.2 (where v3 reports and v2 leaves go).
pub fn upstream_listener(head: &Netns) -> UdpSocket {
    head.run(|_| async move {
        use socket2::{Domain, Protocol, Socket, Type};
        let s =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_IGMP))).unwrap();
        for g in ["224.0.0.22", "224.0.0.2"] {
            s.join_multicast_v4(&a(g), &a("10.10.0.1")).unwrap();
        }
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        UdpSocket::from(std::os::fd::OwnedFd::from(s))
    })
    .unwrap()
}

pub fn heard(l: &UdpSocket, d: Duration) -> Vec<Message> {
    let end = Instant::now() + d;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, _)) = l.recv_from(&mut buf)
            && let Ok(ip) = igmp::wire::Ipv4::parse(&buf[..n])
            && ip.src == a("10.10.0.2")
            && let Ok(m) = Message::parse(ip.payload)
        {
            out.push(m);
        }
    }
    out
}

/// CPU seconds (utime + stime) from a `/proc/.../stat` file, 0 when it is gone.
pub fn task_cpu_seconds(path: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(path) else { return 0.0 };
    // The fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let after = text.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}
