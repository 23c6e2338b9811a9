//! The proxy as traces: hosts' reports and leaves, upstream queries and kernel upcalls in, on
//! a fake clock; queries, reports and cache entries out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::proxy::{Config, Downstream, Event, Iface, Proxy, Transmit, Want};
use crate::wire::{
    GroupRecord, Message, Query, RecordType, Version, checksum, decode_code, ipv4_datagram,
};

fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const SRC: &str = "10.10.0.1";
const CH1: &str = "239.1.1.1";
const CH2: &str = "239.1.1.2";

fn cfg() -> Config {
    Config {
        downstreams: vec![
            Downstream { name: "lan".into(), subnet: "192.168.1.1/24".parse().unwrap() },
            Downstream { name: "guest".into(), subnet: "192.168.2.1/24".parse().unwrap() },
        ],
        allowed: vec!["239.0.0.0/8".parse().unwrap()],
        ..Config::default()
    }
}

struct Trace {
    p: Proxy,
    now: Instant,
    sent: Vec<(Duration, Transmit)>,
    events: Vec<Event>,
    t0: Instant,
}

impl Trace {
    fn new(cfg: Config) -> Self {
        let t0 = Instant::now();
        let mut t = Trace { p: Proxy::new(t0, cfg), now: t0, sent: vec![], events: vec![], t0 };
        t.run_for(Duration::ZERO);
        t.drain();
        t.sent.clear();
        t
    }

    fn drain(&mut self) {
        while let Some(x) = self.p.poll_transmit() {
            self.sent.push((self.now - self.t0, x));
        }
        while let Some(e) = self.p.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs the timers up to `now + d`.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            match self.p.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.p.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
        self.p.handle_timeout(end);
        self.drain();
    }

    fn host(&mut self, lan: usize, src: &str, dst: Ipv4Addr, m: Message) {
        let d = ipv4_datagram(a(src), dst, &m.to_vec());
        self.p.handle_packet(self.now, Iface::Downstream(lan), &d);
        self.drain();
        // What falls due at once (a group-specific query after a leave), as the driver would.
        self.run_for(Duration::ZERO);
    }

    fn v2_join(&mut self, lan: usize, src: &str, g: &str) {
        self.host(lan, src, a(g), Message::V2Report(a(g)));
    }

    fn v2_leave(&mut self, lan: usize, src: &str, g: &str) {
        self.host(lan, src, a("224.0.0.2"), Message::Leave(a(g)));
    }

    fn v3(&mut self, lan: usize, src: &str, kind: RecordType, g: &str, sources: &[&str]) {
        let r = GroupRecord {
            kind,
            group: a(g),
            sources: sources.iter().map(|s| a(s)).collect(),
            aux: vec![],
        };
        self.host(lan, src, a("224.0.0.22"), Message::V3Report(vec![r]));
    }

    fn upcall(&mut self, s: &str, g: &str) {
        self.p.handle_upcall(self.now, Iface::Upstream, a(s), a(g));
        self.drain();
    }

    fn query_upstream(&mut self, m: Message) {
        let d = ipv4_datagram(a("10.10.0.254"), a("224.0.0.1"), &m.to_vec());
        self.p.handle_packet(self.now, Iface::Upstream, &d);
        self.drain();
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn take_sent(&mut self) -> Vec<(Duration, Transmit)> {
        std::mem::take(&mut self.sent)
    }

    fn upstream_messages(&mut self) -> Vec<Message> {
        self.take_sent()
            .into_iter()
            .filter(|(_, t)| t.iface == Iface::Upstream)
            .map(|(_, t)| Message::parse(&t.payload).unwrap())
            .collect()
    }
}

fn to_ex(g: &str) -> Message {
    Message::V3Report(vec![GroupRecord {
        kind: RecordType::ToExclude,
        group: a(g),
        sources: vec![],
        aux: vec![],
    }])
}

fn to_in(g: &str, s: &[&str]) -> Message {
    Message::V3Report(vec![GroupRecord {
        kind: RecordType::ToInclude,
        group: a(g),
        sources: s.iter().map(|x| a(x)).collect(),
        aux: vec![],
    }])
}

#[test]
fn startup_queries_then_one_per_query_interval_on_every_lan() {
    let t0 = Instant::now();
    let mut p = Proxy::new(t0, cfg());
    let mut at = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(400) {
        p.handle_timeout(now);
        while let Some(t) = p.poll_transmit() {
            let Message::Query(q) = Message::parse(&t.payload).unwrap() else { panic!() };
            assert_eq!(t.dst, a("224.0.0.1"));
            assert!(q.is_general() && q.version == Version::V3);
            assert_eq!((decode_code(q.max_resp_code), q.qrv, q.qqic), (100, 2, 125));
            at.push(((now - t0).as_secs(), t.iface));
        }
        now = p.poll_timeout().unwrap();
    }
    let lan0: Vec<u64> =
        at.iter().filter(|(_, i)| *i == Iface::Downstream(0)).map(|(s, _)| *s).collect();
    // Startup Query Count 2, Startup Query Interval 125/4 s, then every 125 s.
    assert_eq!(lan0, vec![0, 31, 156, 281]);
    assert_eq!(at.len(), 8, "the same on the second LAN: {at:?}");
}

#[test]
fn a_join_is_reported_upstream_robustly_and_the_stream_forwarded_to_that_lan_only() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    assert_eq!(t.take_events(), vec![Event::Joined { group: a(CH1), want: Want::Any }]);
    // A v3 TO_EX{} now and once more (Robustness 2) one Unsolicited Report Interval later.
    assert_eq!(t.upstream_messages(), vec![to_ex(CH1)]);
    t.run_for(Duration::from_millis(999));
    assert_eq!(t.upstream_messages(), vec![]);
    t.run_for(Duration::from_millis(1));
    assert_eq!(t.upstream_messages(), vec![to_ex(CH1)]);
    t.run_for(Duration::from_secs(5));
    assert_eq!(t.upstream_messages(), vec![]);

    t.upcall(SRC, CH1);
    assert_eq!(
        t.take_events(),
        vec![Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![0] }]
    );
    // The guest LAN joins too: the entry now forwards to both, and nothing more is sent up.
    t.v3(1, "192.168.2.20", RecordType::ToExclude, CH1, &[]);
    assert_eq!(
        t.take_events(),
        vec![Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![0, 1] }]
    );
    assert_eq!(t.upstream_messages(), vec![]);
    // Another channel's traffic that nobody asked for is installed to go nowhere (the
    // kernel drops it quietly) ...
    t.upcall(SRC, CH2);
    assert_eq!(
        t.take_events(),
        vec![Event::MfcAdd { source: a(SRC), group: a(CH2), oifs: vec![] }]
    );
    assert_eq!(t.p.stats().upcalls_unwanted, 1);
    assert_eq!((t.p.routes().len(), t.p.cache_len()), (1, 2));
    // ... so that a join forwards it at once, with no new upcall.
    t.v2_join(0, "192.168.1.10", CH2);
    let ev = t.take_events();
    assert!(ev.contains(&Event::MfcAdd { source: a(SRC), group: a(CH2), oifs: vec![0] }), "{ev:?}");
    // Left alone it is deleted after IDLE_ROUTE_HOLD.
    t.v2_leave(0, "192.168.1.10", CH2);
    t.run_for(Duration::from_secs(3));
    let ev = t.take_events();
    assert!(ev.contains(&Event::MfcAdd { source: a(SRC), group: a(CH2), oifs: vec![] }), "{ev:?}");
    t.run_for(crate::proxy::IDLE_ROUTE_HOLD);
    assert_eq!(t.take_events(), vec![Event::MfcDel { source: a(SRC), group: a(CH2) }]);
}

#[test]
fn a_leave_asks_the_lan_then_stops_the_stream_after_the_last_member_query_time() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    t.v2_join(1, "192.168.2.20", CH1);
    t.upcall(SRC, CH1);
    t.run_for(Duration::from_secs(2));
    t.take_events();
    t.take_sent();

    t.v2_leave(0, "192.168.1.10", CH1);
    // Group-specific queries on that LAN: Last Member Query Count (2) of them, 1 s apart.
    let q: Vec<_> = t.take_sent();
    assert_eq!(q.len(), 1, "{q:?}");
    let (_, tx) = &q[0];
    assert_eq!((tx.iface, tx.dst), (Iface::Downstream(0), a(CH1)));
    let Message::Query(query) = Message::parse(&tx.payload).unwrap() else { panic!() };
    assert_eq!((query.group, decode_code(query.max_resp_code)), (a(CH1), 10));
    t.run_for(Duration::from_secs(1));
    assert_eq!(t.take_sent().len(), 1);
    assert_eq!(t.take_events(), vec![]);
    // No one answers: at the Last Member Query Time (2 s) the LAN is dropped, the guest
    // LAN keeps the stream, and the group stays joined upstream.
    t.run_for(Duration::from_secs(1));
    assert_eq!(
        t.take_events(),
        vec![Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![1] }]
    );
    assert_eq!(t.upstream_messages(), vec![]);

    // The last one leaves by a v3 TO_IN{}: after its LMQT the group is left upstream and the
    // entry goes.
    t.v3(1, "192.168.2.20", RecordType::ToInclude, CH1, &[]);
    t.run_for(Duration::from_secs(2));
    assert_eq!(
        t.take_events(),
        vec![
            Event::Left { group: a(CH1) },
            Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![] }
        ]
    );
    assert_eq!(t.upstream_messages(), vec![to_in(CH1, &[])]);
    t.run_for(Duration::from_secs(1));
    assert_eq!(t.upstream_messages(), vec![to_in(CH1, &[])], "robustly: twice");
    assert!(t.p.routes().is_empty() && t.p.upstream().is_empty() && t.p.groups(t.now).is_empty());
}

#[test]
fn a_member_answering_the_last_member_query_keeps_the_stream() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    t.v2_join(0, "192.168.1.11", CH1);
    t.upcall(SRC, CH1);
    t.take_events();
    t.v2_leave(0, "192.168.1.10", CH1);
    t.run_for(Duration::from_millis(500));
    t.v2_join(0, "192.168.1.11", CH1); // its answer
    t.run_for(Duration::from_secs(10));
    assert_eq!(t.take_events(), vec![]);
    let g = t.p.groups(t.now);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].members, vec![a("192.168.1.11")], "the leaver is no longer listed");
}

#[test]
fn fast_leave_drops_a_lan_when_its_last_known_member_leaves_and_not_before() {
    let mut t = Trace::new(Config { fast_leave: true, ..cfg() });
    t.v2_join(0, "192.168.1.10", CH1);
    t.v2_join(0, "192.168.1.11", CH1);
    t.upcall(SRC, CH1);
    t.take_events();
    t.take_sent();
    t.v2_leave(0, "192.168.1.10", CH1);
    assert_eq!(t.take_events(), vec![]);
    assert_eq!(t.take_sent(), vec![], "no query: another member is known");
    t.v2_leave(0, "192.168.1.11", CH1);
    assert_eq!(
        t.take_events(),
        vec![
            Event::Left { group: a(CH1) },
            Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![] }
        ]
    );
}

#[test]
fn zapping_twenty_times_leaves_one_channel_joined() {
    let mut t = Trace::new(Config { fast_leave: true, ..cfg() });
    let host = "192.168.1.10";
    for i in 0..20u8 {
        let from = format!("239.1.1.{}", i % 5 + 1);
        let to = format!("239.1.1.{}", (i + 1) % 5 + 1);
        t.v2_join(0, host, &from);
        t.upcall(SRC, &from);
        t.v2_leave(0, host, &from);
        t.v2_join(0, host, &to);
        t.upcall(SRC, &to);
        t.run_for(Duration::from_millis(300));
        let routes = t.p.routes();
        assert_eq!(routes, vec![(a(SRC), a(&to), vec![0])], "zap {i}");
    }
    assert_eq!(t.p.upstream().len(), 1);
}

#[test]
fn memberships_expire_without_reports_and_stay_while_hosts_answer_queries() {
    let mut t = Trace::new(Config { query_interval: Duration::from_secs(2), ..cfg() });
    let gmi = t.p.config().gmi();
    assert_eq!(gmi, Duration::from_secs(14));
    t.v2_join(0, "192.168.1.10", CH1);
    t.upcall(SRC, CH1);
    t.take_events();
    // Thirty minutes of queries every 2 s, each answered: the stream never stops.
    for _ in 0..900 {
        t.run_for(Duration::from_secs(2));
        let queried = t.take_sent().iter().any(|(_, x)| x.iface == Iface::Downstream(0));
        if queried {
            t.v2_join(0, "192.168.1.10", CH1);
        }
        assert_eq!(t.take_events(), vec![]);
    }
    // The host goes silent (unplugged): gone after the Group Membership Interval.
    t.run_for(gmi - Duration::from_millis(10));
    assert_eq!(t.take_events(), vec![]);
    t.run_for(Duration::from_secs(2));
    assert_eq!(
        t.take_events(),
        vec![
            Event::Left { group: a(CH1) },
            Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![] }
        ]
    );
}

#[test]
fn source_specific_joins_forward_only_their_sources() {
    let mut t = Trace::new(cfg());
    t.v3(0, "192.168.1.10", RecordType::Allow, CH1, &[SRC]);
    let want = Want::Sources([a(SRC)].into());
    assert_eq!(t.take_events(), vec![Event::Joined { group: a(CH1), want }]);
    assert_eq!(t.upstream_messages(), vec![to_in(CH1, &[SRC])]);
    t.upcall("10.10.0.2", CH1);
    assert_eq!(
        t.take_events(),
        vec![Event::MfcAdd { source: a("10.10.0.2"), group: a(CH1), oifs: vec![] }],
        "another source is not forwarded"
    );
    t.upcall(SRC, CH1);
    assert_eq!(
        t.take_events(),
        vec![Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![0] }]
    );
    // BLOCK(S): a group-specific query, and the source is gone after the LMQT.
    t.v3(0, "192.168.1.10", RecordType::Block, CH1, &[SRC]);
    t.run_for(Duration::from_secs(3));
    assert_eq!(
        t.take_events(),
        vec![
            Event::Left { group: a(CH1) },
            Event::MfcAdd { source: a(SRC), group: a(CH1), oifs: vec![] }
        ]
    );
}

#[test]
fn an_older_querier_upstream_gets_reports_of_its_version() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    t.run_for(Duration::from_secs(2));
    t.take_sent();
    let v2 = Message::Query(Query::general(Version::V2, 100, 0, 0));
    t.query_upstream(v2);
    assert_eq!(t.p.upstream_version(t.now), Version::V2);
    t.run_for(Duration::from_secs(10));
    let answers: Vec<_> =
        t.take_sent().into_iter().filter(|(_, x)| x.iface == Iface::Upstream).collect();
    assert_eq!(answers.len(), 1, "one answer within Max Resp Time: {answers:?}");
    assert_eq!(answers[0].1.dst, a(CH1), "a v2 report goes to its group");
    assert_eq!(Message::parse(&answers[0].1.payload), Ok(Message::V2Report(a(CH1))));
    // The last member leaves: a v2 Leave to all routers.
    t.v2_leave(0, "192.168.1.10", CH1);
    t.run_for(Duration::from_secs(3));
    let leave: Vec<_> =
        t.take_sent().into_iter().filter(|(_, x)| x.iface == Iface::Upstream).collect();
    assert_eq!(leave[0].1.dst, a("224.0.0.2"));
    assert_eq!(Message::parse(&leave[0].1.payload), Ok(Message::Leave(a(CH1))));
}

#[test]
fn a_v3_general_query_upstream_is_answered_with_the_current_state() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    t.v3(1, "192.168.2.20", RecordType::IsInclude, CH2, &[SRC]);
    t.run_for(Duration::from_secs(2));
    t.take_sent();
    let q = Message::Query(Query::general(Version::V3, 50, 2, 125));
    t.query_upstream(q);
    t.run_for(Duration::from_secs(5));
    let up = t.upstream_messages();
    let Message::V3Report(records) = &up[0] else { panic!("{up:?}") };
    assert_eq!(up.len(), 1);
    let kinds: Vec<_> = records.iter().map(|r| (r.kind, r.group, r.sources.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (RecordType::IsExclude, a(CH1), vec![]),
            (RecordType::IsInclude, a(CH2), vec![a(SRC)])
        ]
    );
}

#[test]
fn forged_and_malformed_igmp_is_counted_and_changes_nothing() {
    let mut t = Trace::new(cfg());
    let report = Message::V2Report(a(CH1)).to_vec();
    // A wrong checksum, a truncated message, TTL 2, not IGMP at all.
    let mut bad = ipv4_datagram(a("192.168.1.10"), a(CH1), &report);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    t.p.handle_packet(t.now, Iface::Downstream(0), &bad);
    let short = ipv4_datagram(a("192.168.1.10"), a(CH1), &report[..6]);
    t.p.handle_packet(t.now, Iface::Downstream(0), &short);
    let mut ttl = ipv4_datagram(a("192.168.1.10"), a(CH1), &report);
    ttl[8] = 2;
    t.p.handle_packet(t.now, Iface::Downstream(0), &ttl);
    let mut udp = ipv4_datagram(a("192.168.1.10"), a(CH1), &report);
    udp[9] = 17;
    t.p.handle_packet(t.now, Iface::Downstream(0), &udp);
    // A query from a LAN host, a report from the upstream side, a report from outside the
    // LAN's prefix, a group outside the allowed ranges.
    let q = Message::Query(Query::general(Version::V2, 100, 0, 0));
    t.host(0, "192.168.1.66", a("224.0.0.1"), q);
    let d = ipv4_datagram(a("10.10.0.77"), a(CH1), &report);
    t.p.handle_packet(t.now, Iface::Upstream, &d);
    t.v2_join(0, "10.1.2.3", CH1);
    t.v2_join(0, "192.168.1.10", "233.252.0.1");
    t.drain();
    let s = t.p.stats();
    assert_eq!((s.malformed, s.bad_ttl), (3, 1), "{s:?}");
    assert_eq!(
        (s.downstream_queries, s.upstream_reports, s.outside_subnet, s.outside_range),
        (1, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!(s.received, 1, "only the out-of-range report was taken in (and dropped)");
    assert_eq!(t.take_events(), vec![]);
    assert!(t.take_sent().is_empty());
    assert!(t.p.groups(t.now).is_empty());
}

#[test]
fn a_lan_host_cannot_grow_the_proxy_past_its_limits() {
    let mut t = Trace::new(cfg());
    for i in 0..1_000u32 {
        let g = Ipv4Addr::from(u32::from(a("239.2.0.0")) + i);
        t.host(0, "192.168.1.10", g, Message::V2Report(g));
    }
    assert_eq!(t.p.groups(t.now).len(), crate::proxy::MAX_GROUPS);
    assert_eq!(t.p.stats().over_limit, 1_000 - crate::proxy::MAX_GROUPS as u64);
    for i in 0..200u8 {
        t.v2_join(0, &format!("192.168.1.{i}"), CH1);
    }
    let g = t.p.groups(t.now);
    let ch1 = g.iter().find(|x| x.group == a(CH1));
    assert!(ch1.is_none(), "the limit holds for a new group too");
}

#[test]
fn shutdown_leaves_every_group_and_deletes_every_entry() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    t.v2_join(0, "192.168.1.10", CH2);
    t.upcall(SRC, CH1);
    t.run_for(Duration::from_secs(2));
    t.take_sent();
    t.take_events();
    t.p.shutdown(t.now);
    t.drain();
    let up = t.upstream_messages();
    let Message::V3Report(r) = &up[0] else { panic!() };
    assert_eq!(
        r.iter().map(|r| (r.kind, r.sources.len())).collect::<Vec<_>>(),
        vec![(RecordType::ToInclude, 0); 2]
    );
    assert_eq!(t.take_events(), vec![Event::MfcDel { source: a(SRC), group: a(CH1) }]);
}

#[test]
fn every_message_sent_has_a_good_checksum() {
    let mut t = Trace::new(cfg());
    t.v2_join(0, "192.168.1.10", CH1);
    t.v2_leave(0, "192.168.1.10", CH1);
    t.run_for(Duration::from_secs(300));
    for (_, x) in t.take_sent() {
        assert_eq!(checksum(&x.payload), 0);
    }
}

/// Every file of the fuzz seed corpus through the fuzz properties, on stable.
#[test]
fn fuzz_corpus_does_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/igmp_input");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        crate::fuzzing::run(&data);
        n += 1;
    }
    assert!(n >= 8, "seed corpus has only {n} files");
}

/// A bounded, seeded mutation run over the corpus (cargo-fuzz needs nightly): flips, cuts
/// and splices, 20,000 inputs.
#[test]
fn seeded_mutations_of_the_corpus_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/igmp_input");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut rng = splitmix::Rng::new(7);
    for i in 0..20_000u64 {
        let mut d = seeds[(i % seeds.len() as u64) as usize].clone();
        for _ in 0..=rng.below(4) {
            if d.is_empty() {
                break;
            }
            let at = rng.below(d.len() as u64) as usize;
            match rng.below(3) {
                0 => d[at] ^= 1 << rng.below(8),
                1 => d.truncate(at),
                _ => d[at] = rng.next_u32() as u8,
            }
        }
        crate::fuzzing::run_wire(&d);
        if i % 20 == 0 {
            crate::fuzzing::run_proxy(&d);
        }
    }
}

fn captured(name: &str) -> Vec<u8> {
    ::testdata::read_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name),
    )
}

#[test]
fn captured_kernel_messages_parse_as_what_they_are() {
    use crate::wire::Ipv4;
    let m = |n: &str| {
        let d = captured(n);
        let ip = Ipv4::parse(&d).unwrap();
        assert!(ip.router_alert && ip.ttl == 1, "{n}");
        Message::parse(ip.payload).unwrap()
    };
    assert_eq!(m("kernel_v3_join.hex"), to_ex(CH1));
    assert_eq!(m("kernel_v3_leave.hex"), to_in(CH1, &[]));
    assert_eq!(m("kernel_v2_report.hex"), Message::V2Report(a(CH2)));
    assert_eq!(m("kernel_v2_leave.hex"), Message::Leave(a(CH2)));
    let Message::V3Report(r) = m("kernel_v3_allow.hex") else { panic!() };
    assert_eq!(
        (r[0].kind, r[0].group, r[0].sources.clone()),
        (RecordType::Allow, a("232.1.1.1"), vec![a(SRC)])
    );
    let Message::V3Report(r) = m("kernel_v3_block.hex") else { panic!() };
    assert_eq!(r[0].kind, RecordType::Block);
    let Message::Query(q) = m("bridge_v2_query.hex") else { panic!() };
    assert_eq!(
        (q.version, q.is_general(), q.max_response()),
        (Version::V2, true, Duration::from_secs(10))
    );
    let Message::Query(q) = m("bridge_v3_query.hex") else { panic!() };
    assert_eq!((q.version, q.is_general()), (Version::V3, true));
    // Re-emitted byte for byte.
    for n in
        ["kernel_v3_join.hex", "kernel_v2_leave.hex", "kernel_v3_allow.hex", "bridge_v3_query.hex"]
    {
        let d = captured(n);
        let ip = Ipv4::parse(&d).unwrap();
        assert_eq!(Message::parse(ip.payload).unwrap().to_vec(), ip.payload, "{n}");
    }
}

#[test]
fn the_kernels_own_join_and_leave_drive_the_proxy() {
    let mut t = Trace::new(cfg());
    t.p.handle_packet(t.now, Iface::Downstream(0), &captured("kernel_v3_join.hex"));
    t.drain();
    assert_eq!(t.take_events(), vec![Event::Joined { group: a(CH1), want: Want::Any }]);
    t.p.handle_packet(t.now, Iface::Downstream(0), &captured("kernel_v3_leave.hex"));
    t.drain();
    t.run_for(Duration::from_secs(3));
    assert_eq!(t.take_events(), vec![Event::Left { group: a(CH1) }]);
    // A bridge querier on the LAN is another querier: counted, dropped.
    t.p.handle_packet(t.now, Iface::Downstream(0), &captured("bridge_v2_query.hex"));
    assert_eq!(t.p.stats().downstream_queries, 1);
}
