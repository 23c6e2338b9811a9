//! Log floods (root): a LAN host sends 10,000 DHCPv6 Solicits for a prefix the LAN's one-/56
//! delegation pool no longer has, and 10,000 unsigned DNS UPDATEs for a static name. Each is
//! answered as the RFCs say (NoPrefixAvail; REFUSED) and counted in `/metrics`, and routerd's
//! log holds a bounded number of lines about them (the per-packet warnings are rate limited,
//! with a count of what was suppressed), not one per packet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use dhcproto::v6::{self, DhcpOption, IAPD, Message, MessageType};
use dhcproto::{Decodable, Decoder, Encodable};
use netlab::Netns;
use router_tests::routerd::{Routerd, write_config};
use router_tests::wan::{Isp, Line};
use router_tests::{TempDir, wait_for};

const N: usize = 10_000;

fn config(dir: &TempDir) -> String {
    format!(
        r#"state_dir = "{}"
[wan]
interface = "eth0"
vlan = 6
mode = "pppoe"
[wan.pppoe]
username = "internet"
password = "internet"
[wan.ipv6]
pd_length = 48
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
subnet_id = 1
dhcp6 = {{ mode = "stateful", delegate = {{ pool = 1, pool_length = 56, length = 56 }} }}
[dns]
hosts = [{{ name = "printer", ipv4 = "192.168.1.20" }}]
[control]
socket = "{}"
"#,
        dir.join("state").display(),
        dir.join("control.sock").display()
    )
}

/// `/metrics` from the LAN, one sample (`name{labels}`), 0 when absent.
fn metric(lan: &Netns, key: &str) -> f64 {
    let out = lan
        .command("curl")
        .args(["-s", "--max-time", "5", "http://192.168.1.1:8080/metrics"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn solicit(duid: &[u8], xid: [u8; 3], rapid_commit: bool) -> Vec<u8> {
    let mut m = Message::new_with_id(MessageType::Solicit, xid);
    let o = m.opts_mut();
    o.insert(DhcpOption::ClientId(duid.to_vec()));
    o.insert(DhcpOption::ElapsedTime(0));
    if rapid_commit {
        o.insert(DhcpOption::RapidCommit);
    }
    o.insert(DhcpOption::IAPD(IAPD { id: 1, t1: 0, t2: 0, opts: v6::DhcpOptions::new() }));
    m.to_vec().unwrap()
}

/// An UPDATE of the zone `home.arpa` adding `printer.home.arpa A 192.168.1.99` (RFC 2136
/// §2), unsigned.
fn update(id: u16) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&[0x28, 0x00, 0, 1, 0, 0, 0, 1, 0, 0]);
    v.extend_from_slice(b"\x04home\x04arpa\x00\x00\x06\x00\x01");
    v.extend_from_slice(b"\x07printer\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04");
    v.extend_from_slice(&[192, 168, 1, 99]);
    v
}

#[test]
fn root_routerd_floods_of_bad_requests_are_answered_counted_and_logged_a_few_times() {
    let line = Line::new("floods");
    let (lan, router, isp_ns) = (&line.lan, &line.router, &line.isp);
    let dir = TempDir::new("routerd-floods");
    let _isp = Isp::start(isp_ns, dir.path(), "vlan = 6\n");
    write_config(dir.path(), &config(&dir));
    let routerd = Routerd::start(router, dir.path());
    routerd.wait_for(Duration::from_secs(20), "the LAN numbered from the delegated prefix", || {
        routerd.logs().contains("lan numbered from the delegated prefix")
    });
    lan.add_addr("eth0", "192.168.1.10/24").unwrap();
    let index = lan
        .netcfg(|nc| async move {
            let (l, _) = nc.wait_link_local("eth0", Duration::from_secs(10)).await.unwrap();
            Ok(l.index)
        })
        .unwrap();

    // One router takes the pool's only /56 (Rapid Commit).
    let sock = lan
        .run(move |_| async move {
            let s =
                UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 546, 0, index)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            s
        })
        .unwrap();
    let servers = SocketAddrV6::new("ff02::1:2".parse().unwrap(), 547, 0, index);
    let mut buf = [0u8; 1500];
    let first = wait_for(Duration::from_secs(15), "a Reply with the /56", || {
        sock.send_to(
            &solicit(b"\x00\x03\x00\x01\x02\x00\x00\x00\x00\x01", [0, 0, 1], true),
            servers,
        )
        .unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else { return None };
        let m = Message::decode(&mut Decoder::new(&buf[..n])).ok()?;
        (m.msg_type() == MessageType::Reply).then_some(m)
    });
    let Some(DhcpOption::IAPD(ia)) = first.opts().get(v6::OptionCode::IAPD) else {
        panic!("{first:?}")
    };
    assert!(ia.opts.get(v6::OptionCode::IAPrefix).is_some(), "the /56: {ia:?}");
    sock.set_nonblocking(true).unwrap();

    let no_prefix = "routerd_dhcp6_ias_total{lan=\"lan\",outcome=\"no_prefixes\"}";
    let refused = "routerd_dns_updates_refused_total";
    let before = (metric(lan, no_prefix), metric(lan, refused));
    let lines_before = routerd.logs().lines().count();

    // 10,000 Solicits (no Rapid Commit: Advertise) from another router: the pool is full. Paced (100 per 10 ms) so that
    // no socket buffer overflows: every one must be answered.
    let started = Instant::now();
    let (mut answered, mut no_prefix_answers) = (0, 0);
    for i in 0..N {
        let xid = [(i >> 16) as u8, (i >> 8) as u8, i as u8];
        sock.send_to(&solicit(b"\x00\x03\x00\x01\x02\x00\x00\x00\x00\x02", xid, false), servers)
            .unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(10));
        }
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            answered += 1;
            let text = format!("{:?}", Message::decode(&mut Decoder::new(&buf[..n])).ok());
            if text.contains("NoPrefixAvail") {
                no_prefix_answers += 1;
            }
        }
    }
    sock.set_nonblocking(false).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        answered += 1;
        let text = format!("{:?}", Message::decode(&mut Decoder::new(&buf[..n])).ok());
        if text.contains("NoPrefixAvail") {
            no_prefix_answers += 1;
        }
    }
    println!(
        "floods: {N} Solicits in {:?}, {answered} answered, {no_prefix_answers} NoPrefixAvail",
        started.elapsed()
    );
    assert_eq!(
        (answered, no_prefix_answers),
        (N, N),
        "each answered NoPrefixAvail (RFC 8415 §18.3.9)"
    );

    // 10,000 unsigned UPDATEs of a static name.
    let dns = lan
        .run(|_| async move {
            let s = std::net::UdpSocket::bind("192.168.1.10:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .unwrap();
    let (mut replies, mut refusals) = (0, 0);
    let count = |b: &[u8], replies: &mut usize, refusals: &mut usize| {
        *replies += 1;
        if b.get(3).is_some_and(|f| f & 0x0f == 5) {
            *refusals += 1;
        }
    };
    for i in 0..N {
        dns.send_to(&update(i as u16), "192.168.1.1:53").unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(10));
        }
        while let Ok((n, _)) = dns.recv_from(&mut buf) {
            count(&buf[..n], &mut replies, &mut refusals);
        }
    }
    let _ = started;
    dns.set_nonblocking(false).unwrap();
    dns.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    while let Ok((n, _)) = dns.recv_from(&mut buf) {
        count(&buf[..n], &mut replies, &mut refusals);
    }
    println!(
        "floods: {N} UPDATEs, {replies} replies, {refusals} REFUSED ({:?} in all)",
        started.elapsed()
    );
    assert_eq!((replies, refusals), (N, N), "each UPDATE refused");

    // Counted, every one; logged a few times.
    let after = (metric(lan, no_prefix), metric(lan, refused));
    assert_eq!(after.0 - before.0, N as f64, "{no_prefix}");
    assert_eq!(after.1 - before.1, N as f64, "{refused}");
    let logs = routerd.logs();
    let new: Vec<&str> = logs.lines().skip(lines_before).collect();
    let pool = new.iter().filter(|l| l.contains("pool full")).count();
    let upd = new.iter().filter(|l| l.contains("UPDATE refused")).count();
    println!(
        "floods: log lines: {pool} about the full pool, {upd} about refused UPDATEs, {} in all",
        new.len()
    );
    assert!((1..=5).contains(&pool), "{pool} lines about the pool:\n{}", new.join("\n"));
    assert!((1..=5).contains(&upd), "{upd} lines about UPDATEs:\n{}", new.join("\n"));
    assert!(new.len() < 50, "{} new log lines:\n{}", new.len(), new.join("\n"));
    routerd.stop();
}
