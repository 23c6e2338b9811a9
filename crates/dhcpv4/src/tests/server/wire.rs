//! The checked parse in front of dhcproto: each of its panics, reached through a crafted
//! message, must be a counted drop.

use dhcproto::v4::MessageType;

use super::*;
use crate::wire::{Error, parse};

fn discover_bytes() -> Vec<u8> {
    msg(MessageType::Discover, mac(1), 1).to_vec().unwrap()
}

/// Inserts a raw option right after the magic cookie.
fn with_raw_option(code: u8, data: &[u8]) -> Vec<u8> {
    let mut b = discover_bytes();
    let mut o = vec![code, data.len() as u8];
    o.extend_from_slice(data);
    b.splice(240..240, o);
    b
}

#[test]
fn a_discover_parses() {
    let r = parse(&discover_bytes()).unwrap();
    assert_eq!(r.kind, MessageType::Discover);
}

#[test]
fn short_header_bad_op_magic_and_hlen() {
    let b = discover_bytes();
    assert_eq!(parse(&b[..239]), Err(Error::Truncated(239)));
    let mut x = b.clone();
    x[0] = 2;
    assert_eq!(parse(&x), Err(Error::NotRequest(2)));
    let mut x = b.clone();
    x[236] = 0;
    assert_eq!(parse(&x), Err(Error::BadMagic));
    let mut x = b.clone();
    x[2] = 17; // dhcproto's chaddr() would slice [..17] of 16
    assert_eq!(parse(&x), Err(Error::BadHlen(17)));
}

#[test]
fn option_lengths_that_panic_dhcproto_are_refused() {
    for (code, data) in [
        (80u8, &[1u8][..]),    // Rapid Commit: debug_assert!(len == 0)
        (81, &[0, 0][..]),     // Client FQDN: len - 3
        (94, &[1, 2][..]),     // Client Network Interface: debug_assert!(len == 3)
        (151, &[][..]),        // BLQ status: len - 1
        (152, &[1, 2, 3][..]), // BLQ base time: debug_assert!(len == 4)
    ] {
        let b = with_raw_option(code, data);
        assert!(matches!(parse(&b), Err(Error::BadOption { code: c, .. }) if c == code), "{code}");
        let mut sim = Sim::new(cfg());
        assert!(sim.raw(&b).is_empty());
        assert_eq!(sim.s.stats().malformed, 1);
    }
    // Two adjacent FQDN options of one byte each are concatenated to 2 bytes: refused too.
    let mut b = with_raw_option(81, &[0]);
    b.splice(240..240, [81, 1, 0]);
    assert!(parse(&b).is_err());
    // An option running past the end.
    let mut b = discover_bytes();
    b.truncate(240);
    b.extend_from_slice(&[12, 200, b'x']);
    assert!(matches!(parse(&b), Err(Error::BadOption { code: 12, .. })));
}

#[test]
fn bootp_without_message_type_is_dropped() {
    let mut b = discover_bytes();
    b.truncate(240);
    b.push(255);
    assert_eq!(parse(&b), Err(Error::NoMessageType));
}

#[test]
fn every_truncation_of_a_request_is_safe() {
    let mut sim = Sim::new(cfg());
    let b = with(
        selecting(mac(1), ip("192.168.1.100")),
        dhcproto::v4::DhcpOption::Hostname("x".into()),
    )
    .to_vec()
    .unwrap();
    for n in 0..b.len() {
        sim.raw(&b[..n]);
    }
}

/// RFC 2132 §9.14: a client identifier of length 0 or 1 is malformed (minimum 2); no client
/// seen sends one, so it is refused like the other bad lengths. Length 2 is fine.
#[test]
fn a_client_identifier_shorter_than_two_is_refused() {
    for id in [&[][..], &[1][..]] {
        let b = with_raw_option(61, id);
        assert!(matches!(parse(&b), Err(Error::BadOption { code: 61, .. })), "{id:?}");
    }
    assert!(parse(&with_raw_option(61, &[1, 2])).is_ok());
}

/// Two DHCP Message Types (53), adjacent or apart: ambiguous, refused (before, the first won).
#[test]
fn two_message_types_are_refused() {
    // The message already carries 53 = DISCOVER; a REQUEST in front of it.
    let b = with_raw_option(53, &[3]);
    assert!(matches!(parse(&b), Err(Error::BadOption { code: 53, .. })));
    // And apart: another option between them.
    let mut b = with_raw_option(53, &[3]);
    b.splice(243..243, [12, 2, b'p', b'c']);
    assert!(matches!(parse(&b), Err(Error::BadOption { code: 53, .. })));
}
