//! The IGMP proxy in network namespaces, with the kernel forwarding and the kernel's own IGMP
//! host stack as the set-top boxes (root):
//!
//! ```text
//!  head-end ns (10.10.0.1)  --iptv0--  router ns  --lan0--  switch ns (bridge) --  stb1, stb2
//!  numbered UDP to 239.1.1.x          igmp proxy                (192.168.1.0/24)
//!  + a raw IGMP listener             (mroute socket)
//! ```
//!
//! A host joins a channel and receives it with no gap after its first packet; a second host
//! joins the same group, the first leaves and the second still receives; the last leaves
//! and the kernel stops forwarding within the Last Member Query Time; the head-end side sees
//! the proxy's join and leave; zapping 20 times; an IGMPv2 host; a source-specific (IGMPv3)
//! join; a group outside the allowed range is not forwarded; forged and malformed IGMP from
//! a LAN host and from the upstream side is counted and dropped; and a run with short query
//! intervals (fifteen query rounds, a 30-minute run at the default interval) never freezes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use igmp::driver::{Config as DriverConfig, Status};
use igmp::wire::{Message, ipv4_datagram};
use igmp::{Config, Downstream};
use netlab::{Lab, Netns, NsThread};
use tokio::sync::watch;

const PORT: u16 = 5004;

fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The head-end: sends a numbered datagram to each group every 10 ms until dropped.
struct HeadEnd {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeadEnd {
    fn start(ns: &Netns, groups: Vec<Ipv4Addr>) -> Self {
        let sock = ns
            .run(|_| async move {
                let s = UdpSocket::bind("10.10.0.1:0").unwrap();
                s.set_multicast_ttl_v4(8).unwrap();
                s
            })
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut seq = 0u32;
            // Bounded: at most five minutes.
            while !stop2.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(300) {
                for g in &groups {
                    let mut p = g.octets().to_vec();
                    p.extend_from_slice(&seq.to_be_bytes());
                    let _ = sock.send_to(&p, SocketAddrV4::new(*g, PORT));
                }
                seq += 1;
                std::thread::sleep(Duration::from_millis(10));
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
struct Stb {
    sock: UdpSocket,
    addr: Ipv4Addr,
}

impl Stb {
    fn new(ns: &Netns, addr: &str) -> Self {
        let sock = ns
            .run(|_| async move {
                let s = UdpSocket::bind(("0.0.0.0", PORT)).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                s
            })
            .unwrap();
        Stb { sock, addr: a(addr) }
    }

    fn join(&self, g: &str) {
        self.sock.join_multicast_v4(&a(g), &self.addr).unwrap();
    }

    fn leave(&self, g: &str) {
        self.sock.leave_multicast_v4(&a(g), &self.addr).unwrap();
    }

    /// What arrives within `d`: (group, sequence number), in order.
    fn receive(&self, d: Duration) -> Vec<(Ipv4Addr, u32)> {
        let end = Instant::now() + d;
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while Instant::now() < end {
            if let Ok((8, _)) = self.sock.recv_from(&mut buf) {
                let g = Ipv4Addr::new(buf[0], buf[1], buf[2], buf[3]);
                got.push((g, u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])));
            }
        }
        got
    }

    /// Waits up to `limit` for the first packet of `g`: how long it took.
    fn first_packet(&self, g: &str, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 64];
        while started.elapsed() < limit {
            if let Ok((8, _)) = self.sock.recv_from(&mut buf)
                && buf[..4] == a(g).octets()
            {
                return Some(started.elapsed());
            }
        }
        None
    }

    fn drain(&self) {
        let _ = self.receive(Duration::from_millis(60));
    }
}

/// The sequence numbers of `g` in `got` have no gap.
fn no_gap(got: &[(Ipv4Addr, u32)], g: &str) -> (usize, bool) {
    let seqs: Vec<u32> = got.iter().filter(|(x, _)| *x == a(g)).map(|(_, s)| *s).collect();
    (seqs.len(), seqs.windows(2).all(|w| w[1] == w[0] + 1))
}

struct Net {
    lab: Lab,
    head: Netns,
    router: Netns,
    sw: Netns,
    stb1: Netns,
    stb2: Netns,
}

fn net(tag: &str) -> Net {
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

fn proxy_config(allowed: &[&str], query_interval: Duration, fast_leave: bool) -> Config {
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

struct Running {
    status: watch::Receiver<Status>,
    stop: watch::Sender<bool>,
    thread: Option<NsThread<Result<(), igmp::driver::Error>>>,
}

impl Running {
    fn start(router: &Netns, proxy: Config) -> Self {
        let (status_tx, status) = watch::channel(Status::default());
        let (stop, stop_rx) = watch::channel(false);
        let cfg =
            DriverConfig { upstream: "iptv0".into(), downstreams: vec!["lan0".into()], proxy };
        let thread = router
            .spawn(move |_| async move { igmp::driver::run(cfg, Some(status_tx), stop_rx).await })
            .unwrap();
        Running { status, stop, thread: Some(thread) }
    }

    fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits up to `limit` for `f` of the status to hold.
    fn until(&self, limit: Duration, what: &str, f: impl Fn(&Status) -> bool) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if f(&self.status()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what}: not within {limit:?}: {:?}", self.status());
    }

    fn stop(mut self) -> Result<(), igmp::driver::Error> {
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
fn lan_vif_packets_out(router: &Netns) -> u64 {
    let out = router.command("cat").arg("/proc/net/ip_mr_vif").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Interface BytesIn PktsIn BytesOut PktsOut Flags Local Remote
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some("lan0"))
        .and_then(|l| l.split_whitespace().nth(5).map(|v| v.parse().unwrap()))
        .unwrap_or(0)
}

/// What the router's kernel and the proxy say, for a failure message.
fn diag(router: &Netns, proxy: &Running) -> String {
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
fn upstream_listener(head: &Netns) -> UdpSocket {
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

fn heard(l: &UdpSocket, d: Duration) -> Vec<Message> {
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

#[test]
fn root_igmp_proxy_forwards_channels_by_the_kernel_to_the_boxes_that_joined() {
    let n = net("igmp");
    let _head = HeadEnd::start(
        &n.head,
        vec![a("239.1.1.1"), a("239.1.1.2"), a("239.1.1.3"), a("233.252.0.1")],
    );
    let listener = upstream_listener(&n.head);
    let proxy =
        Running::start(&n.router, proxy_config(&["239.1.1.0/24"], Duration::from_secs(125), false));
    let (stb1, stb2) = (Stb::new(&n.stb1, "192.168.1.10"), Stb::new(&n.stb2, "192.168.1.11"));
    proxy.until(Duration::from_secs(5), "proxy up", |s| s.stats.queries_sent > 0);

    // Nothing is forwarded before anyone asks.
    assert!(stb1.receive(Duration::from_millis(300)).is_empty());

    // stb1 joins channel 1: it arrives, with no gap after the first packet.
    stb1.join("239.1.1.1");
    let join = stb1
        .first_packet("239.1.1.1", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("channel 1 arrives: {}", diag(&n.router, &proxy)));
    let got = stb1.receive(Duration::from_secs(2));
    let (count, gapless) = no_gap(&got, "239.1.1.1");
    assert!(count >= 150 && gapless, "{count} packets, gapless {gapless}");
    assert!(got.iter().all(|(g, _)| *g == a("239.1.1.1")), "only what was joined");
    println!("igmp: join to first packet {join:?}");
    // The head-end side heard the proxy join (the listener's buffer holds it since start).
    let up = heard(&listener, Duration::from_millis(100));
    assert!(
        up.iter().any(|m| matches!(m, Message::V3Report(r)
            if r.iter().any(|r| r.group == a("239.1.1.1") && r.kind == igmp::wire::RecordType::ToExclude))),
        "the proxy's join upstream: {up:?}"
    );

    // stb2 joins the same channel; stb1 leaves; stb2 still receives, gapless.
    stb2.join("239.1.1.1");
    assert!(stb2.first_packet("239.1.1.1", Duration::from_secs(5)).is_some());
    stb1.leave("239.1.1.1");
    let got = stb2.receive(Duration::from_secs(4));
    let (count, gapless) = no_gap(&got, "239.1.1.1");
    assert!(count >= 300 && gapless, "stb2 across stb1's leave: {count}, gapless {gapless}");
    proxy.until(Duration::from_secs(3), "stb1 no longer listed", |s| {
        s.groups.iter().any(|g| g.members == vec![a("192.168.1.11")])
    });

    // The last one leaves: the kernel stops forwarding within the Last Member Query Time
    // (2 s) and a little, and the head-end side hears the proxy leave.
    let before = lan_vif_packets_out(&n.router);
    assert!(before > 0, "the kernel forwarded on the LAN vif");
    let left = Instant::now();
    stb2.leave("239.1.1.1");
    proxy.until(Duration::from_secs(4), "entry removed", |s| s.routes.is_empty());
    let leave = left.elapsed();
    let stopped = lan_vif_packets_out(&n.router);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lan_vif_packets_out(&n.router), stopped, "nothing forwarded after the leave");
    println!("igmp: leave to stop {leave:?}");
    assert!(leave < Duration::from_millis(3_500), "{leave:?}");
    let up = heard(&listener, Duration::from_secs(2));
    assert!(
        up.iter().any(|m| matches!(m, Message::V3Report(r)
            if r.iter().any(|r| r.group == a("239.1.1.1") && r.kind == igmp::wire::RecordType::ToInclude && r.sources.is_empty()))),
        "the proxy's leave upstream: {up:?}"
    );

    // Zapping: twenty changes of channel in a row, each arriving.
    let channels = ["239.1.1.1", "239.1.1.2", "239.1.1.3"];
    let mut zaps = Vec::new();
    for i in 0..20 {
        let (from, to) = (channels[i % 3], channels[(i + 1) % 3]);
        if i == 0 {
            stb1.join(from);
        }
        stb1.leave(from);
        stb1.join(to);
        let t = stb1.first_packet(to, Duration::from_secs(5));
        zaps.push(t.unwrap_or_else(|| panic!("zap {i} to {to}")));
    }
    zaps.sort();
    println!("igmp: 20 zaps, median {:?}, worst {:?}", zaps[10], zaps[19]);
    // The channels zapped away from stop (after their LMQT); the last one stays.
    proxy.until(Duration::from_secs(5), "only the last channel forwarded", |s| {
        s.routes.len() == 1 && s.routes[0].1 == a(channels[20 % 3])
    });
    stb1.leave(channels[20 % 3]);
    stb1.drain();

    // A group outside the allowed range: joined by the box, not forwarded, counted.
    stb2.join("233.252.0.1");
    assert!(stb2.first_packet("233.252.0.1", Duration::from_secs(2)).is_none());
    assert!(proxy.status().stats.outside_range > 0);
    stb2.leave("233.252.0.1");

    // An IGMPv2 box.
    let v2 = n
        .stb2
        .command("sysctl")
        .args(["-qw", "net.ipv4.conf.eth0.force_igmp_version=2"])
        .status()
        .unwrap();
    assert!(v2.success());
    stb2.join("239.1.1.2");
    assert!(stb2.first_packet("239.1.1.2", Duration::from_secs(5)).is_some(), "v2 join");
    stb2.leave("239.1.1.2");
    proxy.until(Duration::from_secs(4), "v2 leave", |s| s.routes.is_empty());

    drop(n.sw);
    proxy.stop().unwrap();
    drop(n.lab);
}

#[test]
fn root_igmp_source_specific_joins_and_forged_igmp() {
    let n = net("igmpssm");
    let _head = HeadEnd::start(&n.head, vec![a("232.1.1.1")]);
    let proxy =
        Running::start(&n.router, proxy_config(&["232.0.0.0/8"], Duration::from_secs(125), false));
    let stb1 = Stb::new(&n.stb1, "192.168.1.10");
    proxy.until(Duration::from_secs(5), "proxy up", |s| s.stats.queries_sent > 0);

    // IGMPv3 source-specific: from the wrong source nothing, from the head-end the channel.
    let ssm = |src: &str, join: bool| {
        let mreq = libc::ip_mreq_source {
            imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(a("232.1.1.1").octets()) },
            imr_interface: libc::in_addr { s_addr: u32::from_ne_bytes(a("192.168.1.10").octets()) },
            imr_sourceaddr: libc::in_addr { s_addr: u32::from_ne_bytes(a(src).octets()) },
        };
        let opt =
            if join { libc::IP_ADD_SOURCE_MEMBERSHIP } else { libc::IP_DROP_SOURCE_MEMBERSHIP };
        // SAFETY: a live ip_mreq_source of the size given.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&stb1.sock),
                libc::IPPROTO_IP,
                opt,
                (&mreq as *const libc::ip_mreq_source).cast(),
                std::mem::size_of::<libc::ip_mreq_source>() as u32,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    };
    ssm("10.10.0.99", true);
    assert!(stb1.first_packet("232.1.1.1", Duration::from_secs(2)).is_none(), "other source");
    ssm("10.10.0.1", true);
    assert!(stb1.first_packet("232.1.1.1", Duration::from_secs(5)).is_some(), "SSM join");
    let st = proxy.status();
    assert_eq!(
        st.routes.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(a("10.10.0.1"), a("232.1.1.1"))]
    );
    ssm("10.10.0.1", false);
    ssm("10.10.0.99", false);
    proxy.until(Duration::from_secs(5), "SSM leave", |s| s.routes.is_empty());

    // Forged and malformed IGMP, from a LAN host (raw, so the kernel does not fix it) and
    // from the upstream side: counted, dropped, nothing joined.
    let before = proxy.status().stats;
    let raw = |ns: &Netns, src: &'static str, iface_addr: &'static str, dgrams: Vec<Vec<u8>>| {
        ns.run(move |_| async move {
            use socket2::{Domain, Protocol, Socket, Type};
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
                .unwrap();
            s.set_header_included_v4(true).unwrap();
            s.set_multicast_if_v4(&a(iface_addr)).unwrap();
            let _ = src;
            for d in dgrams {
                let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
                s.send_to(&d, &SocketAddrV4::new(dst, 0).into()).unwrap();
            }
        })
        .unwrap()
    };
    let report = Message::V2Report(a("232.1.1.1")).to_vec();
    let mut bad_sum = ipv4_datagram(a("192.168.1.10"), a("232.1.1.1"), &report);
    let l = bad_sum.len() - 1;
    bad_sum[l] ^= 0x55;
    let short = ipv4_datagram(a("192.168.1.10"), a("232.1.1.1"), &report[..5]);
    let query = ipv4_datagram(
        a("192.168.1.10"),
        a("224.0.0.1"),
        &Message::Query(igmp::wire::Query {
            version: igmp::wire::Version::V2,
            max_resp_code: 100,
            group: Ipv4Addr::UNSPECIFIED,
            suppress: false,
            qrv: 0,
            qqic: 0,
            sources: vec![],
        })
        .to_vec(),
    );
    raw(&n.stb1, "192.168.1.10", "192.168.1.10", vec![bad_sum, short, query]);
    let upstream_report = ipv4_datagram(a("10.10.0.1"), a("232.1.1.1"), &report);
    raw(&n.head, "10.10.0.1", "10.10.0.1", vec![upstream_report]);
    proxy.until(Duration::from_secs(3), "all four counted", |s| {
        let x = s.stats;
        x.malformed >= before.malformed + 2
            && x.downstream_queries > before.downstream_queries
            && x.upstream_reports > before.upstream_reports
    });
    let st = proxy.status();
    assert!(st.groups.is_empty() && st.upstream.is_empty() && st.routes.is_empty(), "{st:?}");
    proxy.stop().unwrap();
    drop(n.lab);
}

#[test]
fn root_igmp_short_query_intervals_for_fifteen_rounds_never_freeze_the_stream() {
    let n = net("igmplong");
    let _head = HeadEnd::start(&n.head, vec![a("239.2.2.2")]);
    // Query Interval 2 s, Query Response Interval 1 s: the Group Membership Interval is 5 s,
    // so a box that did not answer a query would lose its channel within the run.
    let proxy =
        Running::start(&n.router, proxy_config(&["239.0.0.0/8"], Duration::from_secs(2), false));
    let stb1 = Stb::new(&n.stb1, "192.168.1.10");
    // The kernel host answers queries within the Max Resp Time; its unsolicited reports
    // repeat at the interval of this sysctl (default 1 s for v3).
    stb1.join("239.2.2.2");
    assert!(stb1.first_packet("239.2.2.2", Duration::from_secs(5)).is_some());
    let got = stb1.receive(Duration::from_secs(30));
    let (count, gapless) = no_gap(&got, "239.2.2.2");
    let st = proxy.status();
    println!(
        "igmp: 30 s, {} queries sent, {count} packets, gapless {gapless}",
        st.stats.queries_sent
    );
    assert!(st.stats.queries_sent >= 15, "{:?}", st.stats);
    assert!(count >= 2_500 && gapless, "{count} packets, gapless {gapless}");
    proxy.stop().unwrap();
    drop(n.lab);
}
