//! The properties the fuzz targets in `fuzz/` check, kept here so that an ordinary stable test
//! (`src/tests/corpus.rs`) runs every seed file through the very same code.
//!
//! These functions panic when a property fails; that is their purpose.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use crate::wire::{
    ChapPacket, CpPacket, DiscoveryPacket, EthernetHeader, IpcpOption, Ipv6cpOption, LcpOption,
    PapPacket,
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
