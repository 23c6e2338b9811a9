//! What a hostile LAN host sends that the parser must not be lenient about (RFC 6891 §6.1.1)
//! or must not answer at all (junk below a full header: a reflection vector).

#![allow(clippy::expect_used, clippy::indexing_slicing)]

use crate::wire::{self, Error, QueryView};

/// `a.home.arpa A IN` with the given additional records appended (their count set).
fn query(additional: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
    m[11] = additional.len() as u8;
    m.extend_from_slice(b"\x01a\x04home\x04arpa\x00\x00\x01\x00\x01");
    for rr in additional {
        m.extend_from_slice(rr);
    }
    m
}

/// An OPT record owned by `owner` (wire form), UDP size 1232, no options.
fn opt(owner: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&[0x00, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0x00, 0x00]);
    r
}

#[test]
fn one_opt_record_of_the_root_is_edns() {
    let m = query(&[&opt(b"\x00")]);
    assert_eq!(QueryView::parse(&m).map(|q| q.edns.map(|e| e.udp_size)), Ok(Some(1232)));
}

#[test]
fn two_opt_records_are_formerr() {
    let (a, b) = (opt(b"\x00"), opt(b"\x00"));
    let m = query(&[&a, &b]);
    assert!(matches!(QueryView::parse(&m), Err(Error::BadOpt(_))));
    let r = wire::formerr_header(&m).expect("FORMERR");
    assert_eq!((r[0], r[1], r[3] & 0x0f), (0x12, 0x34, 1), "same id, rcode FORMERR");
}

#[test]
fn an_opt_record_not_owned_by_the_root_is_formerr() {
    let m = query(&[&opt(b"\x01x\x00")]);
    assert!(matches!(QueryView::parse(&m), Err(Error::BadOpt(_))));
}

#[test]
fn junk_shorter_than_a_header_gets_no_answer() {
    for n in 0..12 {
        let junk: Vec<u8> = (0..n).map(|i| i as u8).collect();
        assert_eq!(wire::formerr_header(&junk), None, "{n} bytes answered");
    }
    assert!(wire::formerr_header(&[0x12, 0x34, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0]).is_some());
}
