//! Wire vectors and malformed input.

use dhcproto::v6::{DhcpOption, MessageType, OptionCode, Status};

use super::{CLIENT_DUID, SERVER_DUID, addr};
use crate::wire::{Error, Repr, domain_list_option, status_in};

/// Hand-built per RFC 8415 §21.21 (IA_PD) and §21.22 (IA Prefix), not captured: an
/// ADVERTISE for IAID 1 with 2001:db8:1000::/48 (preferred 3600 s, valid 7200 s, T1 1800 s,
/// T2 2880 s), Preference 255 and one DNS server. Options in ascending code order, as
/// `dhcproto` emits them, so the vector round-trips byte for byte.
#[rustfmt::skip]
pub(crate) const ADVERTISE_IA_PD: [u8; 102] = [
    0x02, 0x12, 0x34, 0x56,                         // ADVERTISE, transaction-id 0x123456
    0x00, 0x01, 0x00, 0x0a,                         // OPTION_CLIENTID, 10
    0x00, 0x03, 0x00, 0x01, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01, // DUID-LL 52:54:00:00:00:01
    0x00, 0x02, 0x00, 0x0a,                         // OPTION_SERVERID, 10
    0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // DUID-LL 02:00:00:00:00:01
    0x00, 0x07, 0x00, 0x01, 0xff,                   // OPTION_PREFERENCE, 1, 255
    0x00, 0x17, 0x00, 0x10,                         // OPTION_DNS_SERVERS, 16
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53,
    0x00, 0x19, 0x00, 0x29,                         // OPTION_IA_PD, 41
    0x00, 0x00, 0x00, 0x01,                         // IAID 1
    0x00, 0x00, 0x07, 0x08,                         // T1 1800
    0x00, 0x00, 0x0b, 0x40,                         // T2 2880
    0x00, 0x1a, 0x00, 0x19,                         // OPTION_IAPREFIX, 25
    0x00, 0x00, 0x0e, 0x10,                         // preferred-lifetime 3600
    0x00, 0x00, 0x1c, 0x20,                         // valid-lifetime 7200
    0x30,                                           // prefix-length 48
    0x20, 0x01, 0x0d, 0xb8, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Hand-built per RFC 8415 §18.3.2 / §21.13: a REPLY whose IA_PD carries NoPrefixAvail.
#[rustfmt::skip]
pub(crate) const REPLY_NO_PREFIX: [u8; 58] = [
    0x07, 0x12, 0x34, 0x56,                         // REPLY
    0x00, 0x01, 0x00, 0x0a, 0x00, 0x03, 0x00, 0x01, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x02, 0x00, 0x0a, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x19, 0x00, 0x16,                         // OPTION_IA_PD, 22
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x0d, 0x00, 0x06, 0x00, 0x06,             // OPTION_STATUS_CODE, 6, NoPrefixAvail
    b'n', b'o', b'n', b'e',
];

#[test]
fn advertise_vector_parses_and_round_trips() {
    let m = Repr::parse(&ADVERTISE_IA_PD).unwrap();
    assert_eq!((m.msg_type, m.xid), (MessageType::Advertise, [0x12, 0x34, 0x56]));
    assert_eq!(m.client_id(), Some(&CLIENT_DUID[..]));
    assert_eq!(m.server_id(), Some(&SERVER_DUID[..]));
    assert_eq!(m.get(OptionCode::Preference), Some(&DhcpOption::Preference(255)));
    let ia = m.ia_pds().next().unwrap();
    assert_eq!((ia.id, ia.t1, ia.t2), (1, 1800, 2880));
    let Some(DhcpOption::IAPrefix(p)) = ia.opts.get(OptionCode::IAPrefix) else { panic!() };
    assert_eq!((p.prefix_ip, p.prefix_len), (addr("2001:db8:1000::"), 48));
    assert_eq!((p.preferred_lifetime, p.valid_lifetime), (3600, 7200));
    assert_eq!(m.to_vec().unwrap(), ADVERTISE_IA_PD);
}

#[test]
fn reply_vector_with_no_prefix_avail() {
    let m = Repr::parse(&REPLY_NO_PREFIX).unwrap();
    let ia = m.ia_pds().next().unwrap();
    assert_eq!(status_in(&ia.opts), Status::NoPrefixAvail);
    assert_eq!(m.status(), Status::Success);
    assert_eq!(m.to_vec().unwrap(), REPLY_NO_PREFIX);
}

#[test]
fn every_truncation_of_the_vectors_is_rejected_or_parsed_without_panic() {
    for v in [&ADVERTISE_IA_PD[..], &REPLY_NO_PREFIX[..]] {
        for n in 0..v.len() {
            let _ = Repr::parse(&v[..n]);
        }
    }
    assert_eq!(Repr::parse(&ADVERTISE_IA_PD[..3]), Err(Error::Truncated(3)));
    assert_eq!(Repr::parse(&ADVERTISE_IA_PD[..6]), Err(Error::OptionOverrun { offset: 0 }));
}

fn msg(opts: &[u8]) -> Vec<u8> {
    let mut v = vec![0x07, 0, 0, 1];
    v.extend_from_slice(opts);
    v
}

#[test]
fn lengths_dhcproto_trusts_are_checked_first() {
    let cases: [(&[u8], Error); 8] = [
        // Status Code of length 0: dhcproto computes `len - 2`.
        (&[0x00, 0x0d, 0x00, 0x00], Error::BadOptionLength { code: 13, len: 0 }),
        // Preference of length 0 would read the next option's first byte.
        (
            &[0x00, 0x07, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00],
            Error::BadOptionLength { code: 7, len: 0 },
        ),
        // Authentication shorter than 11: dhcproto computes `len - 11`.
        (&[0x00, 0x0b, 0x00, 0x03, 1, 2, 3], Error::BadOptionLength { code: 11, len: 3 }),
        // Elapsed Time of length 3.
        (&[0x00, 0x08, 0x00, 0x03, 0, 0, 0], Error::BadOptionLength { code: 8, len: 3 }),
        // IA_PD shorter than its 12 fixed bytes.
        (&[0x00, 0x19, 0x00, 0x04, 0, 0, 0, 1], Error::BadOptionLength { code: 25, len: 4 }),
        // IA_PD holding a Status Code of length 1.
        (
            &[
                0x00, 0x19, 0x00, 0x11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0d, 0x00, 0x01,
                0,
            ],
            Error::BadOptionLength { code: 13, len: 1 },
        ),
        // Status Code whose message is not UTF-8.
        (&[0x00, 0x0d, 0x00, 0x03, 0, 0, 0xff], Error::BadOptionValue { code: 13 }),
        // Rapid Commit with data.
        (&[0x00, 0x0e, 0x00, 0x01, 0], Error::BadOptionLength { code: 14, len: 1 }),
    ];
    for (opts, want) in cases {
        assert_eq!(Repr::parse(&msg(opts)), Err(want), "{opts:02x?}");
    }
    assert_eq!(Repr::parse(&[0x0c, 0, 0, 0]), Err(Error::Relay));
}

#[test]
#[cfg(debug_assertions)]
fn dhcproto_alone_panics_on_a_short_status_code() {
    // The trap the checks above exist for: `DhcpOption::decode` subtracts 2 from a zero length.
    use dhcproto::{Decodable, Decoder};
    let r = std::panic::catch_unwind(|| {
        let _ = DhcpOption::decode(&mut Decoder::new(&[0x00, 0x0d, 0x00, 0x00, 0, 0]));
    });
    assert!(r.is_err());
}

#[test]
fn nesting_is_bounded() {
    // IA_PD inside IA_PD inside ... six deep.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..6 {
        let mut ia = vec![0x00, 0x19];
        ia.extend_from_slice(&(12 + inner.len() as u16).to_be_bytes());
        ia.extend_from_slice(&[0; 12]);
        ia.extend_from_slice(&inner);
        inner = ia;
    }
    assert_eq!(Repr::parse(&msg(&inner)), Err(Error::TooDeep));
}

#[test]
fn unknown_and_vendor_options_are_kept_byte_exactly() {
    // Vendor-specific Information whose sub-options would trip dhcproto's decoder, and an
    // unassigned option code.
    let opts = [
        0x00, 0x11, 0x00, 0x08, 0, 0, 0, 9, 0x00, 0x0d, 0x00, 0x00, 0x00, 0xff, 0x00, 0x02, 0xab,
        0xcd,
    ];
    let m = Repr::parse(&msg(&opts)).unwrap();
    assert_eq!(m.opts.iter().count(), 2);
    assert_eq!(m.to_vec().unwrap(), msg(&opts));
}

#[test]
fn domain_search_list_is_emitted_uncompressed() {
    let opt = domain_list_option(&["isp.example".into(), "lan.isp.example.".into(), "".into()]);
    let mut m = Repr::new(MessageType::Reply, [0, 0, 1]);
    m.push(opt);
    let bytes = m.to_vec().unwrap();
    assert!(!bytes.iter().any(|b| b & 0xc0 == 0xc0), "no compression pointer");
    let back = Repr::parse(&bytes).unwrap();
    let Some(DhcpOption::DomainSearchList(names)) = back.get(OptionCode::DomainSearchList) else {
        panic!()
    };
    let names: Vec<String> = names.iter().map(|n| n.to_ascii()).collect();
    assert_eq!(names, vec!["isp.example.", "lan.isp.example."]);
}
