//! The properties the fuzz targets in `fuzz/` check, kept here so that an ordinary stable test
//! (`src/tests/corpus.rs`) runs every seed file through the very same code.
//!
//! These functions panic when a property fails; that is their purpose.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::mss;
use crate::wire::ip::{self, PROTOCOL_TCP, ipv4, ipv6, tcp};
use crate::wire::session::{self, Classified, SESSION_HEADER_LEN, SessionKey, classify};
use crate::wire::{
    ChapPacket, CpPacket, DiscoveryPacket, ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, EthernetHeader,
    IpcpOption, Ipv6cpOption, LcpOption, PapPacket, SessionHeader, Vlan, proto,
};
use crate::{
    AcConfig, AccessConcentrator, ClientConfig, Command, Credentials, Event, PppoeClient, Secrets,
};

/// `pppoe_discovery`: Ethernet header and discovery packet parse → emit → parse equality.
pub fn discovery_round_trip(data: &[u8]) {
    if let Ok((eth, payload)) = EthernetHeader::parse(data) {
        let mut buf = vec![0; eth.buffer_len()];
        assert_eq!(eth.emit(&mut buf), Ok(eth.buffer_len()));
        assert_eq!(EthernetHeader::parse(&buf).map(|(h, _)| h), Ok(eth));
        check_discovery(payload);
    }
    check_discovery(data);
}

fn check_discovery(data: &[u8]) {
    if let Ok(packet) = DiscoveryPacket::parse(data) {
        let bytes = packet.to_vec().expect("a parsed packet fits its own fields");
        assert_eq!(DiscoveryPacket::parse(&bytes), Ok(packet));
    }
}

/// `ppp_control`: the first byte picks LCP, IPCP, IPv6CP, PAP or CHAP; the rest must
/// parse → emit → parse to the same value.
pub fn control_round_trip(data: &[u8]) {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => check_cp::<LcpOption>(data),
        1 => check_cp::<IpcpOption>(data),
        2 => check_cp::<Ipv6cpOption>(data),
        3 => {
            if let Ok(p) = PapPacket::parse(data) {
                assert_eq!(PapPacket::parse(&p.to_vec().unwrap()), Ok(p));
            }
        }
        _ => {
            if let Ok(p) = ChapPacket::parse(data) {
                assert_eq!(ChapPacket::parse(&p.to_vec().unwrap()), Ok(p));
            }
        }
    }
}

fn check_cp<O: crate::wire::ConfigOption>(data: &[u8]) {
    if let Ok(p) = CpPacket::<O>::parse(data) {
        let bytes = p.to_vec().expect("a parsed packet fits its own fields");
        assert_eq!(CpPacket::<O>::parse(&bytes), Ok(p));
    }
}

/// `pppoe_client_machine`: a client and an AC connected through a channel the input controls
/// (deliver, drop, corrupt, inject, advance time, close). Nothing may panic, and the
/// machines keep their invariants: a timeout never stays due after `handle_timeout`, and the
/// client's events alternate Up/Down. Returns whether the client ever came Up.
pub fn client_machine(data: &[u8]) -> bool {
    let start = Instant::now();
    let mut now = start;
    let creds = Credentials { username: b"user".to_vec(), password: b"pass".to_vec() };
    let mut client = PppoeClient::new(ClientConfig::new([2, 0, 0, 0, 0, 1], Some(creds), 1), now);
    let mut ac = AccessConcentrator::new(AcConfig::new(
        [2, 0, 0, 0, 0, 2],
        Secrets::table([("user", "pass")]),
        2,
    ));
    let mut to_ac = Vec::new();
    let mut to_client = Vec::new();
    let mut up = false;
    let mut ever_up = false;
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        to_ac.extend(std::iter::from_fn(|| client.poll_transmit()).map(|t| t.bytes));
        to_client.extend(std::iter::from_fn(|| ac.poll_transmit()).map(|t| t.bytes));
        match op % 10 {
            0 if !to_ac.is_empty() => ac.handle_input(now, &to_ac.remove(0)),
            1 if !to_client.is_empty() => client.handle_input(now, &to_client.remove(0)),
            2 if !to_ac.is_empty() => drop(to_ac.remove(0)),
            3 if !to_client.is_empty() => drop(to_client.remove(0)),
            4 => now += Duration::from_millis(50 * u64::from(bytes.next().unwrap_or(1))),
            5 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let frame: Vec<u8> = bytes.by_ref().take(len).collect();
                client.handle_input(now, &frame);
            }
            6 if !to_client.is_empty() => {
                let mut frame = to_client.remove(0);
                let at = usize::from(bytes.next().unwrap_or(0));
                let xor = bytes.next().unwrap_or(0xff);
                let at = at % frame.len().max(1);
                if let Some(b) = frame.get_mut(at) {
                    *b ^= xor;
                }
                client.handle_input(now, &frame);
            }
            7 => client.handle_command(now, Command::Close),
            8 => client.note_received(now),
            9 => {
                let next = [client.poll_timeout(), ac.poll_timeout()].into_iter().flatten().min();
                now = now.max(next.unwrap_or(now));
            }
            _ => {}
        }
        if client.poll_timeout().is_some_and(|d| d <= now) {
            client.handle_timeout(now);
            assert!(client.poll_timeout().is_none_or(|d| d > now), "client timeout stays due");
        }
        if ac.poll_timeout().is_some_and(|d| d <= now) {
            ac.handle_timeout(now);
            assert!(ac.poll_timeout().is_none_or(|d| d > now), "AC timeout stays due");
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Up(_) => {
                    assert!(!up, "Up twice without Down");
                    up = true;
                    ever_up = true;
                }
                Event::Down(_) => up = false,
            }
        }
        while ac.poll_event().is_some() {}
    }
    ever_up
}

/// `pppoe_session`: a received Ethernet frame through the data path's receive side. The
/// session header parses → emits → parses the same; [`classify`], run against the session the
/// frame is addressed to, sorts it as its ethertype and header say; a `Data` payload framed
/// again is the frame itself (without the Ethernet padding) and goes through [`ip_packet`].
pub fn session_frame(data: &[u8]) {
    const KEY: SessionKey = SessionKey {
        local: [2, 0, 0, 0, 0, 1],
        peer: [2, 0, 0, 0, 0, 2],
        vlan: Some(Vlan { pcp: 0, dei: false, id: 7 }),
        session_id: 1,
    };
    let _ = classify(data, &KEY);
    let Ok((eth, rest)) = EthernetHeader::parse(data) else {
        assert_eq!(classify(data, &KEY), Classified::NotOurs);
        return;
    };
    let header = SessionHeader::parse(rest);
    if let Ok((h, payload)) = header {
        let mut buf = vec![0; SESSION_HEADER_LEN];
        assert_eq!(h.emit(&mut buf, payload.len()), Ok(SESSION_HEADER_LEN));
        buf.extend_from_slice(payload);
        assert_eq!(SessionHeader::parse(&buf), Ok((h, payload)));
    }
    let session_id = header.map_or(0, |(h, _)| h.session_id);
    let key = SessionKey { local: eth.dst, peer: eth.src, vlan: eth.vlan, session_id };
    let class = classify(data, &key);
    match eth.ethertype {
        ETHERTYPE_DISCOVERY => assert_eq!(class, Classified::Discovery),
        ETHERTYPE_SESSION => {
            assert_eq!(matches!(class, Classified::Malformed(_)), header.is_err(), "{class:?}");
        }
        _ => assert_eq!(class, Classified::NotOurs),
    }
    match class {
        Classified::Data { protocol, payload } => {
            assert!(protocol == proto::IPV4 || protocol == proto::IPV6);
            let theirs = SessionKey { local: key.peer, peer: key.local, ..key };
            let frame = session::session_frame(&theirs, protocol, payload).unwrap();
            assert_eq!(data.get(..frame.len()), Some(frame.as_slice()), "framed again");
            assert_eq!(classify(&frame, &key), Classified::Data { protocol, payload });
            let other = SessionKey { session_id: session_id ^ 1, ..key };
            assert_eq!(classify(data, &other), Classified::NotOurs);
            ip_packet(payload);
        }
        Classified::Control => {
            let (h, _) = header.unwrap();
            assert!(h.protocol != proto::IPV4 && h.protocol != proto::IPV6);
        }
        _ => {}
    }
}

/// `pppoe_ip`: an IP packet through the data path (from the TUN device, or the payload of a
/// session frame). The destination address is the one at RFC 791's or RFC 8200's offset. The
/// MSS clamp, at several MTUs and with the packet read as IPv4 and as IPv6, changes a packet
/// only if it is a SYN with an MSS option larger than the MTU allows, and then only the MSS
/// (lowered to what the MTU allows, never raised) and the checksum (still right); clamping
/// again changes nothing.
pub fn ip_packet(data: &[u8]) {
    let expected = match data.first().map(|b| b >> 4) {
        Some(4) if data.len() >= 20 => {
            Some(IpAddr::from(<[u8; 4]>::try_from(&data[16..20]).unwrap()))
        }
        Some(6) if data.len() >= 40 => {
            Some(IpAddr::from(<[u8; 16]>::try_from(&data[24..40]).unwrap()))
        }
        _ => None,
    };
    assert_eq!(ip::dst_addr(data), expected);
    for v6 in [false, true] {
        // The checksum made right first, so that keeping it right means something.
        let mut pkt = data.to_vec();
        set_tcp_checksum(&mut pkt, v6);
        for mtu in [0, 576, 1280, 1452, 1492, 1500, u16::MAX] {
            check_clamp(&pkt, v6, mtu);
        }
    }
}

fn check_clamp(before: &[u8], v6: bool, mtu: u16) {
    let mut after = before.to_vec();
    let changed = mss::clamp(&mut after, v6, mtu);
    assert_eq!(changed, after != before, "clamp reports whether it changed the packet");
    if !changed {
        return;
    }
    let (value_at, checksum_at, old) = syn_mss(before, v6).expect("only a SYN with an MSS changes");
    let (_, _, new) = syn_mss(&after, v6).unwrap();
    let overhead = if v6 { 60 } else { 40 };
    assert!(new < old, "the MSS never grows: {old} -> {new}");
    assert_eq!(new, mtu.saturating_sub(overhead));
    assert_eq!(tcp_checksum_ok(&after, v6), Some(true), "the checksum stays right");
    let allowed = [value_at, value_at + 1, checksum_at, checksum_at + 1];
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        assert!(a == b || allowed.contains(&i), "byte {i} changed");
    }
    assert!(!mss::clamp(&mut after, v6, mtu), "clamped twice");
}

/// Where in `pkt` a SYN's MSS value and TCP checksum are, and the MSS.
fn syn_mss(pkt: &[u8], v6: bool) -> Option<(usize, usize, u16)> {
    let ip_len = if v6 { ipv6::HEADER_LEN } else { usize::from(pkt.first()? & 0x0f) * 4 };
    let mut pkt = pkt.to_vec();
    let (_, seg) = tcp_segment(&mut pkt, v6)?;
    let (h, options) = tcp::split_mut(seg)?;
    if h[tcp::field::FLAGS] & tcp::FLAG_SYN == 0 {
        return None;
    }
    let at = tcp::mss_at(options)?;
    let mss = u16::from_be_bytes([options[at], options[at + 1]]);
    Some((ip_len + tcp::HEADER_LEN + at, ip_len + tcp::field::CHECKSUM.start, mss))
}

/// Whether the TCP segment in `pkt` (IPv4, or IPv6 with TCP first, as [`crate::mss::clamp`]
/// reads them) carries the right checksum; `None` when there is no TCP segment.
pub(crate) fn tcp_checksum_ok(pkt: &[u8], v6: bool) -> Option<bool> {
    let mut pkt = pkt.to_vec();
    let (pseudo, seg) = tcp_segment(&mut pkt, v6)?;
    Some(seg.len() >= tcp::field::CHECKSUM.end && fold(sum16(seg, pseudo)) == 0xffff)
}

/// Writes the right checksum into the TCP segment in `pkt`; false when there is none.
pub(crate) fn set_tcp_checksum(pkt: &mut [u8], v6: bool) -> bool {
    let Some((pseudo, seg)) = tcp_segment(pkt, v6) else { return false };
    if seg.len() < tcp::field::CHECKSUM.end {
        return false;
    }
    seg[tcp::field::CHECKSUM].fill(0);
    let c = !fold(sum16(seg, pseudo));
    seg[tcp::field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    true
}

/// The TCP segment in `pkt` and the sum of its pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1).
fn tcp_segment(pkt: &mut [u8], v6: bool) -> Option<(u64, &mut [u8])> {
    let (pseudo, seg) = if v6 {
        let (h, seg) = ipv6::split_mut(pkt)?;
        if h[ipv6::field::NEXT_HEADER] != PROTOCOL_TCP {
            return None;
        }
        let addrs = [ipv6::src_addr(h).octets(), ipv6::dst_addr(h).octets()].concat();
        (sum16(&addrs, 0), seg)
    } else {
        let (h, seg) = ipv4::split_mut(pkt)?;
        if h[ipv4::field::PROTOCOL] != PROTOCOL_TCP {
            return None;
        }
        let addrs = [ipv4::src_addr(h).octets(), ipv4::dst_addr(h).octets()].concat();
        (sum16(&addrs, 0), seg)
    };
    Some((pseudo + u64::from(PROTOCOL_TCP) + seg.len() as u64, seg))
}

fn sum16(data: &[u8], acc: u64) -> u64 {
    data.chunks(2)
        .fold(acc, |a, w| a + u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}
