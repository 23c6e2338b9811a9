//! Captured vectors (`testdata/*.hex`, each with its provenance line): queries of dig 9.18
//! (EDNS with a COOKIE, plain, TCP) and kdig 3.2 (plain, EDNS with a COOKIE, TCP), an RFC 2136
//! UPDATE of nsupdate 9.18 signed with TSIG (hmac-sha256), and unbound 1.17's responses to
//! three of the queries, taken with tcpdump on a veth between two network namespaces. The
//! fast path's readers against hickory's on every one; then the queries through the core,
//! answered as unbound answered them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsCode;
use hickory_proto::rr::{RData, RecordType};

use crate::server::{Ask, Core, Next};
use crate::wire::{self, FLAG_RD, Layout, QueryView};
use crate::{DnsConfig, LocalZone, StaticHost};

/// The client the queries came from, on the capture's LAN 192.168.78.0/24.
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 78, 9)), 45432);
const WAN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 45432);
const NAS: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 5);
/// AD (RFC 6840 §5.7), which dig and kdig set on queries.
const FLAG_AD: u16 = 0x0020;

/// A captured query: file, id, qname, qtype, over TCP, EDNS UDP size, client COOKIE.
type Query = (&'static str, u16, &'static str, RecordType, bool, Option<u16>, bool);

/// Every captured query.
const QUERIES: [Query; 7] = [
    ("dig_query_a_edns_cookie", 0xf6bc, "nas.home.arpa.", RecordType::A, false, Some(1232), true),
    ("dig_query_a_plain", 0xe4a2, "nas.home.arpa.", RecordType::A, false, None, false),
    ("dig_query_a_tcp", 0x4075, "nas.home.arpa.", RecordType::A, true, Some(1232), true),
    (
        "dig_query_www_example_com",
        0xe318,
        "www.example.com.",
        RecordType::A,
        false,
        Some(1232),
        true,
    ),
    ("kdig_query_a", 0xf1bf, "nas.home.arpa.", RecordType::A, false, None, false),
    ("kdig_query_aaaa_cookie", 0x67d5, "nas.home.arpa.", RecordType::AAAA, false, Some(4096), true),
    ("kdig_query_a_tcp", 0x0a23, "nas.home.arpa.", RecordType::A, true, None, false),
];

/// unbound's responses: file, the query it answers.
const RESPONSES: [(&str, &str); 3] = [
    ("unbound_response_a_edns_cookie", "dig_query_a_edns_cookie"),
    ("unbound_response_a_plain", "dig_query_a_plain"),
    ("unbound_response_www_example_com", "dig_query_www_example_com"),
];

/// The captured vector `testdata/<name>.hex`: hex bytes, `#` lines (the provenance) skipped.
fn testdata(name: &str) -> Vec<u8> {
    ::testdata::read(env!("CARGO_MANIFEST_DIR"), name)
}

/// The LAN of the capture: home.arpa with nas at 192.168.78.5 (as unbound's local-data had
/// it), 192.168.78.0/24 as the client network, one upstream.
fn core() -> Core {
    let config = DnsConfig {
        lan_v4: vec!["192.168.78.0/24".parse().unwrap()],
        hosts: vec![StaticHost { name: "nas".into(), ipv4: vec![NAS], ipv6: vec![] }],
        upstreams: vec!["203.0.113.53:53".parse().unwrap()],
        ..DnsConfig::default()
    };
    let c = &config;
    let zone = LocalZone::new(&c.domain, c.ttl, &c.hosts, c.lan_v4.clone(), c.lan_v6.clone());
    Core::new(c, &zone.unwrap())
}

/// The fast path's reader and hickory agree on each query: id, flags, the question, EDNS and
/// its COOKIE. Hickory re-encodes each query byte-exactly (the crate has no query encoder of
/// its own; its responses are checked below).
#[test]
fn captured_queries_read_alike_by_queryview_and_hickory() {
    for (name, id, qname, qtype, _, udp, cookie) in QUERIES {
        let bytes = testdata(name);
        let q = QueryView::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!((q.id, m.metadata.id), (id, id), "{name}");
        assert!(!q.is_response() && q.opcode() == 0 && q.flags & FLAG_RD != 0, "{name}");
        assert_eq!(q.flags & FLAG_AD != 0, name != "dig_query_a_plain", "{name}: AD");
        assert_eq!(q.qname, wire::encode_name(qname).unwrap(), "{name}");
        assert_eq!((q.qtype, q.qclass), (u16::from(qtype), 1), "{name}");
        assert_eq!(m.queries[0].name().to_ascii(), qname, "{name}");
        assert_eq!(q.edns.map(|e| e.udp_size), udp, "{name}");
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), udp, "{name}");
        let has_cookie = m.edns.as_ref().is_some_and(|e| e.option(EdnsCode::Cookie).is_some());
        assert_eq!(has_cookie, cookie, "{name}: COOKIE");
        assert_eq!(m.to_vec().unwrap(), bytes, "{name}: hickory re-encodes it byte-exactly");
    }
}

/// unbound's responses through the readers the forwarding path uses.
#[test]
fn captured_unbound_responses_read_alike_by_layout_and_hickory() {
    for (name, query) in RESPONSES {
        let bytes = testdata(name);
        let m = Message::from_vec(&bytes).unwrap();
        let q = QueryView::parse(&bytes).unwrap();
        assert!(q.is_response(), "{name}");
        assert_eq!(q.question, QueryView::parse(&testdata(query)).unwrap().question, "{name}");
        let layout = Layout::parse(&bytes).unwrap();
        assert_eq!(layout.min_ttl, 300, "{name}");
        assert_eq!(layout.ttls.len(), m.answers.len(), "{name}");
        assert_eq!(layout.opt.is_some(), m.edns.is_some(), "{name}");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative, "{name}: local-data answers are AA");
    }
}

/// The A records of a response, as (owner, TTL, address).
fn a_records(m: &Message) -> Vec<(String, u32, Ipv4Addr)> {
    let a = |r: &hickory_proto::rr::Record| match &r.data {
        RData::A(a) => Some((r.name.to_ascii(), r.ttl, a.0)),
        _ => None,
    };
    m.answers.iter().filter_map(a).collect()
}

/// Every nas.home.arpa query, UDP and TCP, is answered from the local table with the query's
/// id and question, as unbound answered the two it was asked: the same A record, same TTL.
/// The AAAA query gets NOERROR without answers (nas has no IPv6 address).
#[test]
fn the_core_answers_the_captured_queries_as_unbound_did() {
    let core = core();
    let theirs = Message::from_vec(&testdata("unbound_response_a_plain")).unwrap();
    assert_eq!(a_records(&theirs), [("nas.home.arpa.".into(), 300, NAS)]);
    for (name, id, qname, qtype, tcp, udp, _) in QUERIES {
        if qname != "nas.home.arpa." {
            continue;
        }
        let bytes = testdata(name);
        let mut out = Vec::new();
        assert_eq!(core.handle_query(Instant::now(), CLIENT, tcp, &bytes, &mut out), Next::Reply);
        let q = QueryView::parse(&bytes).unwrap();
        assert_eq!(out[wire::HEADER_LEN..][..q.question.len()], *q.question, "{name}");
        let m = Message::from_vec(&out).unwrap();
        assert_eq!((m.metadata.id, m.metadata.message_type), (id, MessageType::Response));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.metadata.authoritative && m.metadata.recursion_desired, "{name}");
        assert_eq!(m.edns.is_some(), udp.is_some(), "{name}: EDNS answered with EDNS");
        match qtype {
            RecordType::A => assert_eq!(a_records(&m), a_records(&theirs), "{name}"),
            _ => assert!(m.answers.is_empty(), "{name}: {m:?}"),
        }
        // From outside the client networks: REFUSED, same id.
        let mut out = Vec::new();
        assert_eq!(core.handle_query(Instant::now(), WAN, tcp, &bytes, &mut out), Next::Reply);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!((m.metadata.id, m.metadata.response_code), (id, ResponseCode::Refused));
    }
}

/// dig's www.example.com query goes upstream; unbound's captured response to it, handed back
/// as the upstream's reply, reaches the client with the query's id and is cached.
#[test]
fn the_captured_upstream_response_is_served_and_cached() {
    let core = core();
    let query = testdata("dig_query_www_example_com");
    let now = Instant::now();
    let mut out = Vec::new();
    assert_eq!(core.handle_query(now, CLIENT, false, &query, &mut out), Next::Ask(Ask::Upstream));
    let reply = testdata("unbound_response_www_example_com");
    let served = core.handle_upstream_reply(now, false, &query, Some(&reply)).unwrap();
    let m = Message::from_vec(&served).unwrap();
    let want = [("www.example.com.".into(), 300, Ipv4Addr::new(203, 0, 113, 80))];
    assert_eq!((m.metadata.id, a_records(&m)), (0xe318, want.to_vec()));
    // The same query again, from the cache.
    let mut out = Vec::new();
    assert_eq!(core.handle_query(now, CLIENT, false, &query, &mut out), Next::Reply);
    assert_eq!(a_records(&Message::from_vec(&out).unwrap()), want);
    // A response is never answered.
    let mut out = Vec::new();
    assert_eq!(core.handle_query(now, CLIENT, false, &reply, &mut out), Next::Drop);
}

/// nsupdate's UPDATE: zone home.arpa., one A record added in the update section, a TSIG
/// record with key ddns. and hmac-sha256. The core hands it to the dynamic zone (TSIG is
/// checked there); with pc a static host, the core's conflict check refuses it first.
#[test]
fn the_captured_update_goes_to_the_dynamic_zone_or_is_refused() {
    let bytes = testdata("nsupdate_update_tsig");
    let q = QueryView::parse(&bytes).unwrap();
    assert_eq!((q.id, q.opcode(), q.qtype), (0xd0c2, 5, u16::from(RecordType::SOA)));
    assert_eq!(q.qname, wire::encode_name("home.arpa").unwrap());
    let m = Message::from_vec(&bytes).unwrap();
    assert_eq!(m.metadata.op_code, OpCode::Update);
    let added = m.authorities.iter().map(|r| (r.name.to_ascii(), r.ttl, r.data.clone()));
    let want = ("pc.home.arpa.".to_owned(), 300, RData::A(Ipv4Addr::new(192, 168, 78, 50).into()));
    assert_eq!(added.collect::<Vec<_>>(), [want]);
    // Hickory reads the TSIG record into `signature` when its DNSSEC code is built (the
    // `driver` feature brings it), else into the additional section.
    let (owner, ttl, sig) = match (&m.signature, &m.additionals[..]) {
        (Some(r), []) => (r.name.to_ascii(), r.ttl, r.data.clone()),
        (None, [r]) => match &r.data {
            RData::TSIG(t) => (r.name.to_ascii(), r.ttl, t.clone()),
            other => panic!("not a TSIG record: {other:?}"),
        },
        other => panic!("one TSIG record: {other:?}"),
    };
    assert_eq!((owner.as_str(), ttl), ("ddns.", 0));
    let alg = sig.algorithm.to_string();
    assert_eq!((alg.as_str(), sig.mac.len(), sig.fudge), ("hmac-sha256", 32, 300));
    assert_eq!(sig.oid, 0xd0c2, "original id");
    let mut out = Vec::new();
    let next = core().handle_query(Instant::now(), CLIENT, false, &bytes, &mut out);
    assert_eq!(next, Next::Ask(Ask::Dynamic { max: 512 }));
    // With pc taken by a static host.
    let config = DnsConfig {
        lan_v4: vec!["192.168.78.0/24".parse().unwrap()],
        hosts: vec![StaticHost { name: "pc".into(), ipv4: vec![NAS], ipv6: vec![] }],
        ..DnsConfig::default()
    };
    let c = &config;
    let zone = LocalZone::new(&c.domain, c.ttl, &c.hosts, c.lan_v4.clone(), vec![]).unwrap();
    let mut out = Vec::new();
    let next = Core::new(c, &zone).handle_query(Instant::now(), CLIENT, false, &bytes, &mut out);
    assert_eq!(next, Next::Reply);
    let m = Message::from_vec(&out).unwrap();
    assert_eq!((m.metadata.id, m.metadata.response_code), (0xd0c2, ResponseCode::Refused));
}

/// The captured signature verifies with the key nsupdate was given (hickory's TSIG code, as
/// the driver's dynamic zone uses it), and not with another. Only the MAC: the time it was
/// signed is long past by the time this runs.
#[cfg(feature = "driver")]
#[test]
fn the_captured_tsig_verifies_with_the_capture_key() {
    use hickory_proto::rr::TSigner;
    use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
    let bytes = testdata("nsupdate_update_tsig");
    let name = hickory_proto::rr::Name::from_ascii("ddns.").unwrap();
    let signer = |key: &[u8]| {
        TSigner::new(key.to_vec(), TsigAlgorithm::HmacSha256, name.clone(), 300).unwrap()
    };
    let key = b"secret-key-for-captured-vectors!";
    let (_, signed_at, _) = signer(key).verify_message_byte(&bytes, None, true).unwrap();
    assert!(signed_at > 1_700_000_000, "signed at {signed_at}");
    assert!(signer(b"another-key").verify_message_byte(&bytes, None, true).is_err());
}

/// The fuzz seeds `fuzz/corpus/dns_query/captured_*` are these vectors, byte for byte.
#[test]
fn the_captured_fuzz_seeds_are_the_testdata() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dns_query");
    let names = QUERIES.iter().map(|q| q.0).chain(RESPONSES.iter().map(|r| r.0));
    for name in names.chain(["nsupdate_update_tsig"]) {
        let seed = std::fs::read(dir.join(format!("captured_{name}")));
        assert_eq!(seed.ok(), Some(testdata(name)), "dns_query/captured_{name}");
    }
}
