//! The core on a fake clock: queries, upstream replies and zone changes at chosen instants,
//! decoded with hickory (an independent reader).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::local::reverse_name;
use crate::server::{Ask, Core, Next};
use crate::{DnsConfig, LeaseUpdate, LocalZone, StaticHost};

const LAN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 9)), 5353);
const WAN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 5353);

fn config() -> DnsConfig {
    DnsConfig {
        lan_v4: vec!["192.168.1.0/24".parse().unwrap()],
        hosts: vec![StaticHost {
            name: "nas".into(),
            ipv4: vec![Ipv4Addr::new(192, 168, 1, 5)],
            ipv6: vec![],
        }],
        upstreams: vec!["203.0.113.53:53".parse().unwrap()],
        rebind_allow: vec!["corp.example".into()],
        cache_size: 16,
        ..DnsConfig::default()
    }
}

/// A core and the zone it was built from (the driver's copy, for lease and prefix events).
fn setup() -> (Core, LocalZone) {
    let c = config();
    let zone = LocalZone::new(&c.domain, c.ttl, &c.hosts, c.lan_v4.clone(), c.lan_v6.clone());
    let zone = zone.unwrap();
    (Core::new(&c, &zone), zone)
}

fn query(name: &str, rtype: RecordType, id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

/// An RFC 2136 UPDATE of `zone` that adds an A record for `name`.
fn update(zone: &str, name: &str) -> Vec<u8> {
    let mut m = Message::new(0x0b0b, MessageType::Query, OpCode::Update);
    m.add_query(Query::query(Name::from_ascii(zone).unwrap(), RecordType::SOA));
    m.authorities.push(a(name, 300, [192, 168, 1, 50]));
    m.to_vec().unwrap()
}

/// The upstream's response to `q`.
fn response(q: &[u8], rcode: ResponseCode, answers: Vec<Record>, auth: Vec<Record>) -> Vec<u8> {
    let mut m = Message::from_vec(q).unwrap();
    m.metadata.message_type = MessageType::Response;
    m.metadata.response_code = rcode;
    m.answers = answers;
    m.authorities = auth;
    m.to_vec().unwrap()
}

/// The upstream's NOERROR response to `q` with one A record.
fn answer(q: &[u8], name: &str, ttl: u32, ip: [u8; 4]) -> Vec<u8> {
    response(q, ResponseCode::NoError, vec![a(name, ttl, ip)], vec![])
}

fn a(name: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record::from_rdata(Name::from_ascii(name).unwrap(), ttl, RData::A(A(Ipv4Addr::from(ip))))
}

/// Asks the core at `now` over UDP: what it said, and the response it gave at once.
fn ask(core: &Core, now: Instant, src: SocketAddr, msg: &[u8]) -> (Next, Option<Message>) {
    let mut out = Vec::new();
    let next = core.handle_query(now, src, false, msg, &mut out);
    (next, (next == Next::Reply).then(|| Message::from_vec(&out).unwrap()))
}

fn rcode(m: Option<Message>) -> ResponseCode {
    m.expect("a response").metadata.response_code
}

fn decode(bytes: Option<Vec<u8>>) -> Message {
    Message::from_vec(&bytes.expect("a response")).unwrap()
}

fn n(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

const UPSTREAM: Next = Next::Ask(Ask::Upstream);

#[test]
fn cached_answer_ages_with_now_and_expires_at_its_ttl() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("www.example.com.", RecordType::A, 1);
    assert_eq!(ask(&core, t0, LAN, &q).0, UPSTREAM);
    let stored = t0 + Duration::from_millis(20);
    let reply = answer(&q, "www.example.com.", 60, [203, 0, 113, 80]);
    let first = decode(core.handle_upstream_reply(stored, false, &q, Some(&reply)));
    assert_eq!((first.metadata.id, first.answers[0].ttl), (1, 60));
    let again = query("www.example.com.", RecordType::A, 2);
    for (after, ttl) in [(0, 60), (1, 59), (40, 20), (59, 1)] {
        let (next, m) = ask(&core, stored + Duration::from_secs(after), LAN, &again);
        assert_eq!(next, Next::Reply, "{after} s after: still cached");
        let m = m.unwrap();
        assert_eq!((m.metadata.id, m.answers[0].ttl), (2, ttl), "{after} s after");
    }
    let (next, _) = ask(&core, stored + Duration::from_secs(60), LAN, &again);
    assert_eq!(next, UPSTREAM, "expired when now reaches the TTL");
    assert_eq!((n(&core.stats().cached), n(&core.stats().forwarded)), (4, 2));
}

#[test]
fn negative_answer_lives_for_its_soa_ttl() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("nope.example.com.", RecordType::A, 3);
    assert_eq!(ask(&core, t0, LAN, &q).0, UPSTREAM);
    let (mname, rname) =
        (Name::from_ascii("ns.example.com.").unwrap(), Name::from_ascii("h.example.com.").unwrap());
    let soa = SOA::new(mname, rname, 1, 3600, 600, 86400, 30);
    let soa = Record::from_rdata(Name::from_ascii("example.com.").unwrap(), 30, RData::SOA(soa));
    let reply = response(&q, ResponseCode::NXDomain, vec![], vec![soa]);
    let first = decode(core.handle_upstream_reply(t0, false, &q, Some(&reply)));
    assert_eq!(first.metadata.response_code, ResponseCode::NXDomain);
    let (next, m) = ask(&core, t0 + Duration::from_secs(29), LAN, &q);
    assert_eq!(next, Next::Reply);
    let m = m.unwrap();
    assert_eq!((m.metadata.response_code, m.authorities[0].ttl), (ResponseCode::NXDomain, 1));
    assert_eq!(ask(&core, t0 + Duration::from_secs(30), LAN, &q).0, UPSTREAM);
    assert_eq!((core.cache_len(), n(&core.stats().servfail)), (1, 0));
}

/// What the metrics read: SERVFAILs given for no upstream answer or a dropped one, and the
/// upstream latency the driver notes, in its buckets.
#[test]
fn servfails_and_upstream_latency_are_counted() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("gone.example.com.", RecordType::A, 9);
    let m = decode(core.handle_upstream_reply(t0, false, &q, None));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let inside = answer(&q, "gone.example.com.", 300, [192, 168, 5, 5]);
    decode(core.handle_upstream_reply(t0, false, &q, Some(&inside)));
    assert_eq!(n(&core.stats().servfail), 2);
    for ms in [3, 40, 40, 5000] {
        core.note_upstream_latency(Duration::from_millis(ms));
    }
    let l = &core.stats().upstream_latency;
    let buckets: Vec<u64> = l.buckets.iter().map(n).collect();
    assert_eq!(buckets, [0, 1, 0, 0, 2, 0, 0, 0, 0, 0]);
    assert_eq!((n(&l.count), n(&l.sum_us)), (4, 5_083_000));
}

#[test]
fn rebinding_answer_is_servfail_and_never_cached_unless_allowed() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("www.example.com.", RecordType::A, 4);
    let inside = answer(&q, "www.example.com.", 300, [192, 168, 5, 5]);
    let m = decode(core.handle_upstream_reply(t0, false, &q, Some(&inside)));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(n(&core.stats().rebind_dropped), 1);
    assert_eq!(ask(&core, t0 + Duration::from_secs(1), LAN, &q).0, UPSTREAM, "not cached");
    let q = query("git.corp.example.", RecordType::A, 5);
    let corp = answer(&q, "git.corp.example.", 300, [10, 1, 2, 3]);
    let m = decode(core.handle_upstream_reply(t0, false, &q, Some(&corp)));
    assert!(matches!(m.answers[0].data, RData::A(A(ip)) if ip == Ipv4Addr::new(10, 1, 2, 3)));
    assert_eq!(ask(&core, t0 + Duration::from_secs(1), LAN, &q).0, Next::Reply, "allowed: cached");
}

#[test]
fn unusable_upstream_replies_are_servfail_and_not_cached() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("www.example.com.", RecordType::A, 6);
    let good = answer(&q, "www.example.com.", 300, [203, 0, 113, 80]);
    let other_q = query("other.example.com.", RecordType::A, 6);
    let other = answer(&other_q, "other.example.com.", 300, [203, 0, 113, 81]);
    let cut = &good[..good.len() - 3];
    for (what, reply) in [
        ("none", None),
        ("cut", Some(cut)),
        ("other question", Some(&other[..])),
        ("a query", Some(&q[..])),
    ] {
        let m = decode(core.handle_upstream_reply(t0, false, &q, reply));
        assert_eq!(
            (m.metadata.id, m.metadata.response_code),
            (6, ResponseCode::ServFail),
            "{what}"
        );
        assert_eq!(ask(&core, t0, LAN, &q).0, UPSTREAM, "{what}: not cached");
    }
    let failed = response(&q, ResponseCode::ServFail, vec![], vec![]);
    let m = decode(core.handle_upstream_reply(t0, false, &q, Some(&failed)));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "the upstream's SERVFAIL");
    assert_eq!(ask(&core, t0, LAN, &q).0, UPSTREAM, "SERVFAIL is not cached");
}

#[test]
fn new_upstreams_keep_the_cache() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("www.example.com.", RecordType::A, 7);
    let reply = answer(&q, "www.example.com.", 300, [203, 0, 113, 80]);
    core.handle_upstream_reply(t0, false, &q, Some(&reply)).unwrap();
    let new: SocketAddr = "198.51.100.53:53".parse().unwrap();
    core.set_upstreams(vec![new]);
    assert_eq!(core.view().upstreams, [new]);
    let (next, m) = ask(&core, t0 + Duration::from_secs(10), LAN, &q);
    assert_eq!((next, m.unwrap().answers[0].ttl), (Next::Reply, 290));
}

#[test]
fn long_upstream_answer_is_truncated_for_udp_and_whole_over_tcp() {
    let (core, _) = setup();
    let t0 = Instant::now();
    let q = query("many.example.com.", RecordType::A, 8);
    let answers = (0..40).map(|i| a("many.example.com.", 300, [203, 0, 113, i])).collect();
    let reply = response(&q, ResponseCode::NoError, answers, vec![]);
    assert!(reply.len() > 512);
    let udp = decode(core.handle_upstream_reply(t0, false, &q, Some(&reply)));
    assert!(udp.metadata.truncation && udp.answers.is_empty() && udp.queries.len() == 1);
    let mut out = Vec::new();
    assert_eq!(
        core.handle_query(t0 + Duration::from_secs(1), LAN, true, &q, &mut out),
        Next::Reply
    );
    let tcp = Message::from_vec(&out).unwrap();
    assert_eq!((tcp.metadata.truncation, tcp.answers.len()), (false, 40), "from the cache, whole");
    let mut m = Message::from_vec(&q).unwrap();
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    m.edns = Some(edns);
    let (next, m) = ask(&core, t0 + Duration::from_secs(1), LAN, &m.to_vec().unwrap());
    assert_eq!((next, m.unwrap().answers.len()), (Next::Reply, 40), "EDNS 1232 bytes: fits");
}

#[test]
fn local_names_refused_outside_notimp_and_malformed() {
    let (core, mut zone) = setup();
    let t0 = Instant::now();
    let nas = query("nas.home.arpa.", RecordType::A, 9);
    let (next, m) = ask(&core, t0, LAN, &nas);
    let m = m.unwrap();
    assert_eq!(next, Next::Reply);
    assert!(m.metadata.authoritative);
    assert!(matches!(m.answers[0].data, RData::A(A(ip)) if ip == Ipv4Addr::new(192, 168, 1, 5)));
    assert_eq!(rcode(ask(&core, t0, WAN, &nas).1), ResponseCode::Refused);
    let laptop = query("laptop.home.arpa.", RecordType::A, 10);
    assert_eq!(ask(&core, t0, LAN, &laptop).0, Next::Ask(Ask::Dynamic { max: 512 }));
    let mut out = Vec::new();
    let tcp = core.handle_query(t0, LAN, true, &laptop, &mut out);
    assert_eq!(tcp, Next::Ask(Ask::Dynamic { max: u16::MAX }));
    let lease = LeaseUpdate::Granted {
        hostname: "laptop".into(),
        v4: Some(Ipv4Addr::new(192, 168, 1, 100)),
        v6: vec![],
        client_id: vec![1],
    };
    assert_eq!(zone.handle_lease(lease), Ok(true));
    core.publish(&zone);
    let (next, m) = ask(&core, t0, LAN, &laptop);
    assert_eq!((next, m.unwrap().answers.len()), (Next::Reply, 1), "published");
    let mut notify = Message::from_vec(&nas).unwrap();
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(rcode(ask(&core, t0, LAN, &notify.to_vec().unwrap()).1), ResponseCode::NotImp);
    let answer = response(&nas, ResponseCode::NoError, vec![], vec![]);
    assert_eq!(ask(&core, t0, LAN, &answer).0, Next::Drop, "a response is never answered");
    assert_eq!(ask(&core, t0, LAN, &[1, 2, 3]).0, Next::Drop, "no header");
    let two_questions = [0, 9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
    assert_eq!(rcode(ask(&core, t0, LAN, &two_questions).1), ResponseCode::FormErr);
    let s = core.stats();
    assert_eq!((n(&s.local), n(&s.refused), n(&s.malformed), n(&s.dynamic)), (2, 1, 2, 2));
}

#[test]
fn delegated_prefix_becomes_a_client_network_and_a_reverse_zone() {
    let (core, mut zone) = setup();
    let t0 = Instant::now();
    let host: SocketAddr = "[2001:db8:1200::9]:5353".parse().unwrap();
    let nas = query("nas.home.arpa.", RecordType::A, 11);
    assert_eq!(rcode(ask(&core, t0, host, &nas).1), ResponseCode::Refused);
    assert!(zone.set_prefix(Some("2001:db8:1200::/56".parse().unwrap())));
    core.publish(&zone);
    assert_eq!(rcode(ask(&core, t0, host, &nas).1), ResponseCode::NoError);
    let ptr = format!("{}.", reverse_name("2001:db8:1200::77".parse().unwrap()));
    let (next, m) = ask(&core, t0, host, &query(&ptr, RecordType::PTR, 12));
    let m = m.unwrap();
    assert_eq!((next, m.metadata.response_code), (Next::Reply, ResponseCode::NXDomain));
    assert_eq!(m.authorities[0].name.to_ascii(), "0.0.0.0.2.1.8.b.d.0.1.0.0.2.ip6.arpa.");
    assert!(zone.set_prefix(None));
    core.publish(&zone);
    assert_eq!(rcode(ask(&core, t0, host, &nas).1), ResponseCode::Refused, "prefix lost");
}

#[test]
fn update_is_checked_against_the_local_zone_before_hickory() {
    let (core, mut zone) = setup();
    let t0 = Instant::now();
    let lease = LeaseUpdate::Granted {
        hostname: "laptop".into(),
        v4: Some(Ipv4Addr::new(192, 168, 1, 100)),
        v6: vec![],
        client_id: vec![1],
    };
    zone.handle_lease(lease).unwrap();
    core.publish(&zone);
    for taken in ["nas.home.arpa.", "LAPTOP.home.arpa."] {
        let m = ask(&core, t0, LAN, &update("home.arpa.", taken)).1;
        assert_eq!(rcode(m), ResponseCode::Refused, "{taken}: static or leased");
    }
    let other = update("example.com.", "x.example.com.");
    assert_eq!(rcode(ask(&core, t0, LAN, &other).1), ResponseCode::NotAuth, "not our zone");
    let free = update("home.arpa.", "printer.home.arpa.");
    assert_eq!(rcode(ask(&core, t0, WAN, &free).1), ResponseCode::Refused, "access list first");
    assert_eq!(ask(&core, t0, LAN, &free).0, Next::Ask(Ask::Dynamic { max: 512 }));
    assert_eq!(n(&core.stats().dynamic), 1, "only the UPDATE handed to hickory");
}

#[test]
fn dynamic_zone_replies_pass_through_and_silence_is_servfail_for_a_query() {
    let (core, _) = setup();
    let q = query("printer.home.arpa.", RecordType::A, 13);
    let m = decode(core.handle_dynamic_reply(LAN, &q, None));
    assert_eq!((m.metadata.id, m.metadata.response_code), (13, ResponseCode::ServFail));
    let hickory = response(&q, ResponseCode::NXDomain, vec![], vec![]);
    assert_eq!(core.handle_dynamic_reply(LAN, &q, Some(hickory.clone())), Some(hickory));
    let up = update("home.arpa.", "printer.home.arpa.");
    assert_eq!(core.handle_dynamic_reply(LAN, &up, None), None, "unreadable UPDATE: silence");
    let done = response(&up, ResponseCode::NoError, vec![], vec![]);
    assert_eq!(core.handle_dynamic_reply(LAN, &up, Some(done.clone())), Some(done));
}
