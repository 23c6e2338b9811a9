//! Timeline tests of the DHCPv6 machine on a fake clock, by RFC 8415 section.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use crate::wire::{Repr, status_in};
use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, IANA, IAPD, MessageType, ORO, OptionCode, Status,
    UnknownOption,
};
use ipnet::Ipv6Net;

use super::UNIX0;
use crate::server::store::{IaKind, LeaseRecord6};
use crate::server::{Event6, Meta6, PdPool, Server6, Server6Config};
use leases::RecordState;

pub(crate) const SERVER_DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 1];

pub(crate) fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub(crate) fn net(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

pub(crate) fn duid(n: u8) -> Vec<u8> {
    vec![0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, n]
}

/// A GUA /64 and a ULA /64, a /56 pool of /60s, 1 h valid.
pub(crate) fn cfg6() -> Server6Config {
    let mut c = Server6Config::new(
        SERVER_DUID.to_vec(),
        vec![net("2001:db8:1:1::/64"), net("fd12:3456:789a:1::/64")],
    );
    c.pd_pool = Some(PdPool { prefix: net("2001:db8:1:100::/56"), delegated_len: 60 });
    c.preferred = 1800;
    c.valid = 3600;
    c.t1 = 900;
    c.t2 = 1440;
    c.dns_servers = vec![v6("2001:db8:1:1::1")];
    c.domains = vec!["home.arpa".into()];
    c.info_refresh = Some(86400);
    c
}

/// A client message of `kind` from client `n`, with an IA_NA (IAID 1) and/or IA_PD (IAID 2).
pub(crate) fn msg6(kind: MessageType, n: u8, na: bool, pd: bool) -> Repr {
    let mut m = Repr::new(kind, [n, 0, 1]);
    m.push(DhcpOption::ClientId(duid(n)));
    m.push(DhcpOption::ORO(ORO {
        opts: vec![OptionCode::DomainNameServers, OptionCode::DomainSearchList],
    }));
    if na {
        m.push(DhcpOption::IANA(IANA { id: 1, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    }
    if pd {
        m.push(DhcpOption::IAPD(IAPD { id: 2, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    }
    m
}

/// `m` addressed to our server (Request, Renew, Release, Decline).
pub(crate) fn to_us(mut m: Repr) -> Repr {
    m.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    m
}

/// A message of `kind` from client `n` carrying what a Reply gave it (its IAs).
fn holding(kind: MessageType, n: u8, reply: &Repr) -> Repr {
    let mut m = Repr::new(kind, [n, 0, 2]);
    m.push(DhcpOption::ClientId(duid(n)));
    // What a client keeps: the leases with a valid lifetime above 0.
    let alive = |opts: &DhcpOptions| -> DhcpOptions {
        opts.iter()
            .filter(|l| match l {
                DhcpOption::IAAddr(a) => a.valid_life > 0,
                DhcpOption::IAPrefix(p) => p.valid_lifetime > 0,
                _ => false,
            })
            .cloned()
            .collect()
    };
    for o in reply.opts.iter() {
        match o {
            DhcpOption::IANA(ia) => m.push(DhcpOption::IANA(IANA { opts: alive(&ia.opts), ..*ia })),
            DhcpOption::IAPD(ia) => m.push(DhcpOption::IAPD(IAPD { opts: alive(&ia.opts), ..*ia })),
            _ => &mut m,
        };
    }
    if matches!(kind, MessageType::Request | MessageType::Renew | MessageType::Release) {
        m.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    }
    if kind == MessageType::Decline {
        m.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    }
    m
}

fn na_with(addrs: &[Ipv6Addr]) -> DhcpOption {
    let opts = addrs
        .iter()
        .map(|&a| {
            DhcpOption::IAAddr(IAAddr {
                addr: a,
                preferred_life: 0,
                valid_life: 0,
                opts: DhcpOptions::new(),
            })
        })
        .collect();
    DhcpOption::IANA(IANA { id: 1, t1: 0, t2: 0, opts })
}

/// (address or prefix, length, preferred, valid) of every lease in IA `kind` of `m`.
pub(crate) fn leases(m: &Repr, kind: IaKind) -> Vec<(Ipv6Addr, u8, u32, u32)> {
    let mut out = Vec::new();
    for o in m.opts.iter() {
        let opts = match (o, kind) {
            (DhcpOption::IANA(ia), IaKind::Na) => &ia.opts,
            (DhcpOption::IAPD(ia), IaKind::Pd) => &ia.opts,
            _ => continue,
        };
        for l in opts.iter() {
            match l {
                DhcpOption::IAAddr(a) => out.push((a.addr, 128, a.preferred_life, a.valid_life)),
                DhcpOption::IAPrefix(p) => {
                    out.push((p.prefix_ip, p.prefix_len, p.preferred_lifetime, p.valid_lifetime))
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// The live (valid > 0) leases of IA `kind`.
fn live(m: &Repr, kind: IaKind) -> Vec<Ipv6Addr> {
    leases(m, kind).into_iter().filter(|l| l.3 > 0).map(|l| l.0).collect()
}

/// The status inside the IA of `kind`.
pub(crate) fn ia_status(m: &Repr, kind: IaKind) -> Status {
    for o in m.opts.iter() {
        match (o, kind) {
            (DhcpOption::IANA(ia), IaKind::Na) => return status_in(&ia.opts),
            (DhcpOption::IAPD(ia), IaKind::Pd) => return status_in(&ia.opts),
            _ => {}
        }
    }
    panic!("no {kind:?} in {m:?}")
}

/// A DHCPv6 server with an in-memory store on a fake clock.
pub(crate) struct Sim6 {
    pub s: Server6,
    pub now: Instant,
    pub store: Vec<LeaseRecord6>,
    pub events: Vec<Event6>,
}

impl Sim6 {
    pub fn new(c: Server6Config) -> Self {
        let t0 = Instant::now();
        Sim6 { s: Server6::new(c, t0, UNIX0).unwrap(), now: t0, store: vec![], events: vec![] }
    }

    /// Feeds one message, commits everything, returns the replies.
    pub fn send(&mut self, m: &Repr) -> Vec<Repr> {
        self.raw(&m.to_vec().unwrap())
    }

    pub fn raw(&mut self, bytes: &[u8]) -> Vec<Repr> {
        let src = SocketAddrV6::new(v6("fe80::5054:ff:fe00:1"), 546, 0, 2);
        self.s.handle_input(self.now, bytes, &Meta6 { src });
        while let Some(c) = self.s.poll_commit() {
            self.store.push(c.record);
            self.s.handle_committed(c.seq);
        }
        self.drain()
            .into_iter()
            .map(|(dst, p)| {
                assert_eq!(dst, src, "answered to the source");
                Repr::parse(&p).unwrap()
            })
            .collect()
    }

    pub fn drain(&mut self) -> Vec<(SocketAddrV6, Vec<u8>)> {
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
        std::iter::from_fn(|| self.s.poll_transmit()).map(|t| (t.dst, t.payload)).collect()
    }

    /// Sends `m`, expects exactly one answer of `kind`.
    pub fn one(&mut self, m: &Repr, kind: MessageType) -> Repr {
        let mut out = self.send(m);
        assert_eq!(out.len(), 1, "one answer to {:?}", m.msg_type);
        let r = out.pop().unwrap();
        assert_eq!(r.msg_type, kind);
        assert_eq!(r.xid, m.xid);
        assert_eq!(r.server_id(), Some(&SERVER_DUID[..]));
        r
    }

    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.s.handle_timeout(self.now);
        self.drain();
    }

    /// Solicit → Advertise → Request → Reply with an IA_NA and an IA_PD; returns the Reply.
    pub fn sarr(&mut self, n: u8) -> Repr {
        let adv = self.one(&msg6(MessageType::Solicit, n, true, true), MessageType::Advertise);
        let req = holding(MessageType::Request, n, &adv);
        self.one(&req, MessageType::Reply)
    }
}

#[test]
fn solicit_18_3_1_advertise_then_request_18_3_2_reply() {
    let mut sim = Sim6::new(cfg6());
    let adv = sim.one(&msg6(MessageType::Solicit, 1, true, true), MessageType::Advertise);
    let na = leases(&adv, IaKind::Na);
    assert_eq!(na.len(), 2, "one address in each on-link prefix: {na:?}");
    let (a, b) = (na[0].0, na[1].0);
    assert!(net("2001:db8:1:1::/64").contains(&a) && net("fd12:3456:789a:1::/64").contains(&b));
    assert_eq!(u128::from(a) as u64, u128::from(b) as u64, "the same interface id in both");
    assert_eq!((na[0].2, na[0].3), (1800, 3600));
    let pd = leases(&adv, IaKind::Pd);
    assert_eq!(pd.len(), 1);
    assert_eq!(pd[0].1, 60);
    assert!(net("2001:db8:1:100::/56").contains(&pd[0].0));
    assert_eq!(adv.client_id(), Some(&duid(1)[..]));
    assert!(matches!(adv.get(OptionCode::DomainNameServers),
        Some(DhcpOption::DomainNameServers(d)) if d == &vec![v6("2001:db8:1:1::1")]));
    assert!(adv.has(OptionCode::DomainSearchList));
    assert_eq!(adv.get(OptionCode::Preference), Some(&DhcpOption::Preference(255)));
    assert!(sim.store.is_empty(), "an Advertise commits nothing");

    let reply = sim.one(&holding(MessageType::Request, 1, &adv), MessageType::Reply);
    assert_eq!(leases(&reply, IaKind::Na), na);
    assert_eq!(leases(&reply, IaKind::Pd), pd);
    for o in reply.opts.iter() {
        if let DhcpOption::IANA(ia) = o {
            assert_eq!((ia.t1, ia.t2), (900, 1440));
        }
    }
    assert_eq!(sim.store.len(), 3);
    assert!(sim.store.iter().all(|r| r.state == RecordState::Bound && r.expires == UNIX0 + 3600));
    let granted: Vec<_> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event6::LeaseGranted(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(granted.len(), 2);
    assert_eq!(sim.s.stats().granted, 2);
}

#[test]
fn the_reply_is_held_until_the_records_are_durable() {
    let mut sim = Sim6::new(cfg6());
    let adv = sim.one(&msg6(MessageType::Solicit, 1, true, false), MessageType::Advertise);
    let src = SocketAddrV6::new(v6("fe80::1"), 546, 0, 2);
    let req = holding(MessageType::Request, 1, &adv).to_vec().unwrap();
    sim.s.handle_input(sim.now, &req, &Meta6 { src });
    let c1 = sim.s.poll_commit().unwrap();
    let c2 = sim.s.poll_commit().unwrap();
    assert!(sim.s.poll_commit().is_none());
    assert!(sim.s.poll_transmit().is_none(), "no Reply before the commit");
    sim.s.handle_committed(c1.seq);
    assert!(sim.s.poll_transmit().is_none(), "nor after half of it");
    assert!(sim.s.poll_event().is_none());
    sim.s.handle_committed(c2.seq);
    assert_eq!(sim.s.poll_transmit().unwrap().dst, src);
    assert!(
        matches!(sim.s.poll_event(), Some(Event6::LeaseGranted(l)) if l.peer == Some(src)),
        "the event names the client's address, where a delegated prefix is routed"
    );
}

#[test]
fn rapid_commit_18_3_1_only_when_both_want_it() {
    let mut sim = Sim6::new(cfg6());
    let mut sol = msg6(MessageType::Solicit, 1, true, true);
    sol.push(DhcpOption::RapidCommit);
    let r = sim.one(&sol, MessageType::Reply);
    assert!(r.has(OptionCode::RapidCommit));
    assert_eq!(live(&r, IaKind::Na).len(), 2);
    assert_eq!(sim.store.len(), 3);

    let mut c = cfg6();
    c.rapid_commit = false;
    let mut sim = Sim6::new(c);
    let a = sim.one(&sol, MessageType::Advertise);
    assert!(!a.has(OptionCode::RapidCommit));
    assert!(sim.store.is_empty());
}

#[test]
fn renew_18_3_4_extends_and_unknown_binding_is_nobinding() {
    let mut sim = Sim6::new(cfg6());
    let reply = sim.sarr(1);
    sim.advance(1000);
    let renewed = sim.one(&holding(MessageType::Renew, 1, &reply), MessageType::Reply);
    assert_eq!(leases(&renewed, IaKind::Na), leases(&reply, IaKind::Na));
    assert_eq!(leases(&renewed, IaKind::Pd), leases(&reply, IaKind::Pd));
    assert!(sim.store.iter().rev().take(3).all(|r| r.expires == UNIX0 + 1000 + 3600));
    // Past the first lease's end: still bound, because it was renewed.
    sim.advance(3000);
    assert!(!sim.events.iter().any(|e| matches!(e, Event6::LeaseExpired(_))));

    let stranger = sim.one(&holding(MessageType::Renew, 9, &reply), MessageType::Reply);
    assert_eq!(ia_status(&stranger, IaKind::Na), Status::NoBinding);
    assert_eq!(ia_status(&stranger, IaKind::Pd), Status::NoBinding);
    assert!(live(&stranger, IaKind::Na).is_empty());
    assert_eq!(sim.s.stats().no_binding, 2);
}

#[test]
fn rebind_18_3_5_extends_adopts_on_link_and_zeroes_off_link() {
    let mut sim = Sim6::new(cfg6());
    let reply = sim.sarr(1);
    let rebound = sim.one(&holding(MessageType::Rebind, 1, &reply), MessageType::Reply);
    assert_eq!(leases(&rebound, IaKind::Na), leases(&reply, IaKind::Na));

    // A server that lost its table takes a client's on-link address back...
    let mut fresh = Sim6::new(cfg6());
    let back = fresh.one(&holding(MessageType::Rebind, 1, &reply), MessageType::Reply);
    assert_eq!(live(&back, IaKind::Na), live(&reply, IaKind::Na));
    assert_eq!(live(&back, IaKind::Pd), live(&reply, IaKind::Pd));
    assert_eq!(fresh.store.len(), 3);
    // ... but answers an address from elsewhere with lifetimes 0.
    let mut m = Repr::new(MessageType::Rebind, [7, 7, 7]);
    m.push(DhcpOption::ClientId(duid(2)));
    m.push(na_with(&[v6("2001:db8:99::5")]));
    let r = fresh.one(&m, MessageType::Reply);
    assert_eq!(leases(&r, IaKind::Na), vec![(v6("2001:db8:99::5"), 128, 0, 0)]);
}

#[test]
fn request_with_an_address_not_on_link_gets_it_at_lifetime_0_and_a_new_one() {
    let mut sim = Sim6::new(cfg6());
    let mut m = to_us(Repr::new(MessageType::Request, [1, 1, 1]));
    m.push(DhcpOption::ClientId(duid(1)));
    m.push(na_with(&[v6("2001:db8:99::5")]));
    let r = sim.one(&m, MessageType::Reply);
    let l = leases(&r, IaKind::Na);
    assert!(l.contains(&(v6("2001:db8:99::5"), 128, 0, 0)), "{l:?}");
    assert_eq!(live(&r, IaKind::Na).len(), 2);
}

#[test]
fn release_18_3_7_then_the_same_address_again() {
    let mut sim = Sim6::new(cfg6());
    let first = sim.sarr(1);
    let rel = sim.one(&holding(MessageType::Release, 1, &first), MessageType::Reply);
    assert_eq!(rel.status(), Status::Success);
    assert!(sim.s.table().is_empty());
    assert_eq!(sim.s.stats().releases, 2);
    assert!(sim.store.iter().rev().take(3).all(|r| r.state == RecordState::Released));
    assert!(sim.events.iter().any(|e| matches!(e, Event6::LeaseReleased(_))));
    // Someone else comes and goes meanwhile.
    sim.sarr(2);
    let again = sim.sarr(1);
    assert_eq!(live(&again, IaKind::Na), live(&first, IaKind::Na));
    assert_eq!(live(&again, IaKind::Pd), live(&first, IaKind::Pd));
    // Releasing what is not bound: NoBinding in the IA, Success overall.
    let mut r2 = holding(MessageType::Release, 1, &first);
    r2.xid = [9, 9, 9];
    sim.one(&r2, MessageType::Reply);
    let r3 = sim.one(&r2, MessageType::Reply);
    assert_eq!(ia_status(&r3, IaKind::Na), Status::NoBinding);
}

#[test]
fn decline_18_3_8_parks_the_interface_id() {
    let mut c = cfg6();
    c.decline_hold = 600;
    let mut sim = Sim6::new(c);
    let first = sim.sarr(1);
    let d = sim.one(&holding(MessageType::Decline, 1, &first), MessageType::Reply);
    assert_eq!(d.status(), Status::Success);
    assert!(sim.events.iter().any(|e| matches!(e, Event6::AddressDeclined(_))));
    assert!(sim.store.iter().any(|r| r.state == RecordState::Declined));
    let second = sim.sarr(1);
    let (a, b) = (live(&first, IaKind::Na), live(&second, IaKind::Na));
    assert_eq!(b.len(), 2);
    assert!(a.iter().all(|x| !b.contains(x)), "a declined address is not given again");
    // The hold ends: the id is usable again (client 1 keeps its new one, it is bound).
    sim.advance(601);
    assert_eq!(sim.s.stats().declines, 1);
}

#[test]
fn confirm_18_3_3_on_link_off_link_and_without_addresses() {
    let mut sim = Sim6::new(cfg6());
    let mut on = Repr::new(MessageType::Confirm, [3, 3, 3]);
    on.push(DhcpOption::ClientId(duid(1)));
    on.push(na_with(&[v6("2001:db8:1:1::1234"), v6("fd12:3456:789a:1::1234")]));
    assert_eq!(sim.one(&on, MessageType::Reply).status(), Status::Success);
    let mut off = Repr::new(MessageType::Confirm, [3, 3, 4]);
    off.push(DhcpOption::ClientId(duid(1)));
    off.push(na_with(&[v6("2001:db8:1:1::1234"), v6("2001:db8:2:1::1234")]));
    assert_eq!(sim.one(&off, MessageType::Reply).status(), Status::NotOnLink);
    let empty = msg6(MessageType::Confirm, 1, true, false);
    assert!(sim.send(&empty).is_empty(), "§18.3.3: no reply without addresses");
    assert_eq!(sim.s.stats().not_on_link, 1);
}

#[test]
fn information_request_18_3_6_dns_domains_refresh_time() {
    let mut sim = Sim6::new(cfg6());
    let r = sim.one(&msg6(MessageType::InformationRequest, 1, false, false), MessageType::Reply);
    assert!(r.has(OptionCode::DomainNameServers));
    assert!(matches!(r.get(OptionCode::DomainSearchList),
        Some(DhcpOption::DomainSearchList(d)) if d.len() == 1));
    let raw = sim.s.config().domains.clone();
    assert_eq!(raw, vec!["home.arpa".to_owned()]);
    assert_eq!(r.u32_option(OptionCode::InformationRefreshTime), Some(86400));
    assert!(sim.store.is_empty());
    // §16.12: with an IA, or someone else's Server Identifier: discarded.
    assert!(sim.send(&msg6(MessageType::InformationRequest, 1, true, false)).is_empty());
    let mut other = msg6(MessageType::InformationRequest, 1, false, false);
    other.push(DhcpOption::ServerId(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]));
    assert!(sim.send(&other).is_empty());
    assert_eq!(sim.s.stats().info_requests, 1);
}

#[test]
fn server_identifier_checks_16() {
    let mut sim = Sim6::new(cfg6());
    let reply = sim.sarr(1);
    let mut req = holding(MessageType::Renew, 1, &reply);
    req.opts = req.opts.iter().filter(|o| !matches!(o, DhcpOption::ServerId(_))).cloned().collect();
    req.push(DhcpOption::ServerId(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]));
    assert!(sim.send(&req).is_empty(), "a Renew for another server is dropped");
    let mut sol = msg6(MessageType::Solicit, 2, true, false);
    sol.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    assert!(sim.send(&sol).is_empty(), "a Solicit with a Server Identifier is dropped");
    let no_client = Repr::new(MessageType::Solicit, [1, 2, 3]);
    assert!(sim.send(&no_client).is_empty());
    assert_eq!(sim.s.stats().dropped, 3);
}

#[test]
fn pool_exhaustion_18_3_9_is_a_status_not_a_crash() {
    let mut c = cfg6();
    c.iid_range = (0x1000, 0x1001);
    c.pd_pool = Some(PdPool { prefix: net("2001:db8:1:100::/63"), delegated_len: 64 });
    let mut sim = Sim6::new(c);
    let a = sim.sarr(1);
    let b = sim.sarr(2);
    assert_ne!(live(&a, IaKind::Na), live(&b, IaKind::Na));
    assert_ne!(live(&a, IaKind::Pd), live(&b, IaKind::Pd));
    let adv = sim.one(&msg6(MessageType::Solicit, 3, true, true), MessageType::Advertise);
    assert_eq!(ia_status(&adv, IaKind::Na), Status::NoAddrsAvail);
    assert_eq!(ia_status(&adv, IaKind::Pd), Status::NoPrefixAvail);
    let mut rc = msg6(MessageType::Solicit, 3, true, true);
    rc.push(DhcpOption::RapidCommit);
    let r = sim.one(&rc, MessageType::Reply);
    assert_eq!(ia_status(&r, IaKind::Na), Status::NoAddrsAvail);
    assert_eq!(sim.s.stats().no_addrs, 2);
    assert_eq!(sim.s.stats().no_prefixes, 2);
    // A lease ends: the third client gets its address.
    sim.advance(3601);
    assert_eq!(sim.events.iter().filter(|e| matches!(e, Event6::LeaseExpired(_))).count(), 4);
    assert!(sim.s.table().is_empty());
    assert_eq!(live(&sim.sarr(3), IaKind::Na).len(), 2);
}

#[test]
fn renumbering_18_3_4_old_prefix_at_lifetime_0_new_one_same_interface_id() {
    let mut sim = Sim6::new(cfg6());
    let reply = sim.sarr(1);
    let old_na = live(&reply, IaKind::Na);
    let old_pd = live(&reply, IaKind::Pd);
    let iid = u128::from(old_na[0]) as u64;
    // The ISP hands out 2001:db8:2::/48: the LAN /64 and the PD pool move, the ULA stays.
    let new_lan = net("2001:db8:2:1::/64");
    let ula = net("fd12:3456:789a:1::/64");
    let pool = PdPool { prefix: net("2001:db8:2:100::/56"), delegated_len: 60 };
    sim.s.set_prefixes(sim.now, vec![new_lan, ula], Some(pool)).unwrap();
    assert!(sim.store.len() == 3 && sim.s.poll_commit().is_none(), "nothing committed yet");

    sim.advance(900);
    let renewed = sim.one(&holding(MessageType::Renew, 1, &reply), MessageType::Reply);
    let na = leases(&renewed, IaKind::Na);
    let gua_old = *old_na.iter().find(|a| net("2001:db8:1:1::/64").contains(*a)).unwrap();
    assert!(na.contains(&(gua_old, 128, 0, 0)), "old address at lifetime 0: {na:?}");
    let new_gua = Ipv6Addr::from(u128::from(new_lan.network()) | u128::from(iid));
    assert!(na.contains(&(new_gua, 128, 1800, 3600)), "same interface id, new prefix");
    let ula_addr = *old_na.iter().find(|a| ula.contains(*a)).unwrap();
    assert!(na.contains(&(ula_addr, 128, 1800, 3600)), "the ULA address stays");
    assert_eq!(na.len(), 3);
    let pd = leases(&renewed, IaKind::Pd);
    assert!(pd.contains(&(old_pd[0], 60, 0, 0)));
    let new_pd: Vec<_> = pd.iter().filter(|p| p.3 > 0).collect();
    assert_eq!(new_pd.len(), 1);
    assert!(pool.prefix.contains(&new_pd[0].0));
    let old_idx = (u128::from(old_pd[0]) >> 68) & 0xf;
    assert_eq!((u128::from(new_pd[0].0) >> 68) & 0xf, old_idx, "the same pool index");
    // The store now says: old ones released, new ones bound.
    let released: Vec<_> =
        sim.store.iter().filter(|r| r.state == RecordState::Released).map(|r| r.address).collect();
    assert!(released.contains(&gua_old) && released.contains(&old_pd[0]));
    assert!(sim.store.iter().any(|r| r.address == new_gua && r.state == RecordState::Bound));
    assert!(matches!(sim.events.last(),
        Some(Event6::LeaseGranted(l)) if l.kind == IaKind::Pd && l.addresses[0].0 == new_pd[0].0));
    // Said once: the next Renew has only the new leases.
    let again = sim.one(&holding(MessageType::Renew, 1, &renewed), MessageType::Reply);
    assert!(leases(&again, IaKind::Na).iter().all(|l| l.3 > 0));
    assert_eq!(leases(&again, IaKind::Na).len(), 2);
    // Bad prefixes are refused, and nothing changes.
    assert!(sim.s.set_prefixes(sim.now, vec![net("2001:db8:3::/48")], None).is_err());
    assert_eq!(sim.s.config().prefixes, vec![new_lan, ula]);
}

#[test]
fn renumbering_a_rebind_and_a_request_also_carry_the_old_leases_at_0() {
    for kind in [MessageType::Rebind, MessageType::Request] {
        let mut sim = Sim6::new(cfg6());
        let reply = sim.sarr(1);
        sim.s.set_prefixes(sim.now, vec![net("2001:db8:2:1::/64")], None).unwrap();
        let r = sim.one(&holding(kind, 1, &reply), MessageType::Reply);
        let na = leases(&r, IaKind::Na);
        assert_eq!(na.iter().filter(|l| l.3 == 0).count(), 2, "{kind:?}: {na:?}");
        assert_eq!(live(&r, IaKind::Na).len(), 1);
        assert!(net("2001:db8:2:1::/64").contains(&live(&r, IaKind::Na)[0]));
        assert_eq!(ia_status(&r, IaKind::Pd), Status::NoPrefixAvail, "no PD pool any more");
        assert!(leases(&r, IaKind::Pd).iter().all(|l| l.3 == 0));
    }
}

#[test]
fn restore_from_the_store_keeps_bindings_and_declines() {
    let mut sim = Sim6::new(cfg6());
    let reply = sim.sarr(1);
    let gone = sim.sarr(2);
    sim.one(&holding(MessageType::Release, 2, &gone), MessageType::Reply);
    let mut after = Sim6::new(cfg6());
    after.now = sim.now + Duration::from_secs(100);
    after.s = Server6::new(cfg6(), after.now, UNIX0 + 100).unwrap();
    after.s.restore(after.now, &sim.store);
    assert_eq!(after.s.table().len(), 2, "client 1's IA_NA and IA_PD");
    let renewed = after.one(&holding(MessageType::Renew, 1, &reply), MessageType::Reply);
    assert_eq!(live(&renewed, IaKind::Na), live(&reply, IaKind::Na));
    assert_eq!(live(&renewed, IaKind::Pd), live(&reply, IaKind::Pd));
    // A restore into new prefixes renumbers at once.
    let mut c = cfg6();
    c.prefixes = vec![net("2001:db8:5:1::/64")];
    let mut moved = Sim6::new(c);
    moved.s.restore(moved.now, &sim.store);
    let r = moved.one(&holding(MessageType::Renew, 1, &reply), MessageType::Reply);
    assert_eq!(leases(&r, IaKind::Na).iter().filter(|l| l.3 == 0).count(), 2);
    assert!(net("2001:db8:5:1::/64").contains(&live(&r, IaKind::Na)[0]));
    // Expired records are not restored.
    let mut late = Sim6::new(cfg6());
    late.s = Server6::new(cfg6(), late.now, UNIX0 + 4000).unwrap();
    late.s.restore(late.now, &sim.store);
    assert!(late.s.table().is_empty());
}

#[test]
fn client_fqdn_39_names_the_lease() {
    let mut sim = Sim6::new(cfg6());
    let mut sol = msg6(MessageType::Solicit, 1, true, false);
    sol.push(DhcpOption::RapidCommit);
    let fqdn = b"\x01\x0bKitchen_Pad\x04home\x04arpa\x00".to_vec();
    sol.push(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(39), fqdn)));
    sim.one(&sol, MessageType::Reply);
    assert!(matches!(&sim.events[..],
        [Event6::LeaseGranted(l)] if l.hostname.as_deref() == Some("kitchen-pad")));
    assert_eq!(sim.store[0].hostname.as_deref(), Some("kitchen-pad"));
}

#[test]
fn malformed_and_relayed_input_is_counted_and_dropped() {
    let mut sim = Sim6::new(cfg6());
    assert!(sim.raw(&[1, 2]).is_empty());
    assert!(sim.raw(&[1, 0, 0, 1, 0, 1, 0, 200, 1]).is_empty(), "option runs past the end");
    assert!(sim.raw(&[12, 0, 0, 0, 0, 9, 0, 0]).is_empty(), "Relay-forw");
    let mut bad_status = msg6(MessageType::Solicit, 1, true, false).to_vec().unwrap();
    bad_status.extend_from_slice(&[0, 13, 0, 1, 0]);
    assert!(sim.raw(&bad_status).is_empty());
    assert_eq!(sim.s.stats().malformed, 4);
    assert_eq!(sim.s.stats().received, 4);
    assert_eq!(sim.s.stats().replies + sim.s.stats().advertises, 0);
}

#[test]
fn several_ias_per_message_are_answered_each() {
    let mut sim = Sim6::new(cfg6());
    let mut sol = msg6(MessageType::Solicit, 1, true, true);
    sol.push(DhcpOption::IANA(IANA { id: 5, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    sol.push(DhcpOption::IAPD(IAPD { id: 6, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    sol.push(DhcpOption::RapidCommit);
    let r = sim.one(&sol, MessageType::Reply);
    assert_eq!(live(&r, IaKind::Na).len(), 4);
    assert_eq!(live(&r, IaKind::Pd).len(), 2);
    let pd: Vec<_> = live(&r, IaKind::Pd);
    assert_ne!(pd[0], pd[1]);
    assert_eq!(sim.s.table().len(), 4);
}

#[test]
fn lease_log6_round_trip_on_disk_with_a_torn_tail() {
    use crate::server::store::{LeaseLog6, Record, next_frame_of};
    let dir = std::env::temp_dir().join(format!("dhcp6-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut sim = Sim6::new(cfg6());
    sim.sarr(1);
    sim.sarr(2);
    for r in &sim.store {
        let mut b = Vec::new();
        r.encode_frame(&mut b);
        let (back, rest) = next_frame_of::<LeaseRecord6>(&b).unwrap().unwrap();
        assert_eq!(&back, r);
        assert!(rest.is_empty());
    }
    let end = {
        let (mut log, _) = LeaseLog6::open(&dir).unwrap();
        log.commit(&sim.store).unwrap();
        log.used_bytes()
    };
    let path = dir.join(LeaseLog6::FILE);
    assert_eq!(&std::fs::read(&path).unwrap()[..8], b"RDHCP6L1");
    // A torn write after the last record (over the log's zero fill).
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[9, 0, 0, 0, 1, 2], end).unwrap();
    drop(f);
    let (log, report) = LeaseLog6::open(&dir).unwrap();
    assert_eq!((report.records, report.live, report.torn_bytes), (6, 6, 6));
    let mut restored = Sim6::new(cfg6());
    restored.s.restore(restored.now, log.leases());
    assert_eq!(restored.s.table().len(), 4);
    // A v4 log is not a v6 log.
    std::fs::write(&path, b"RDHCP4L1").unwrap();
    assert!(LeaseLog6::open(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Our requesting router (`crate::Client`, the gateway's side of the split deployment)
/// against `Server6`, on one fake clock: delegation with an address, Renew at T1, and
/// renumbering seen as `Changed`.
#[test]
fn pair_dhcpv6pd_client_gets_a_prefix_and_follows_renumbering() {
    use crate::{Client, ClientConfig, Command, Event};
    let mut c = cfg6();
    c.rapid_commit = false;
    let mut sim = Sim6::new(c);
    let mut cc = ClientConfig::new(duid(7), 1, 42);
    cc.prefix_len_hint = 60;
    cc.want_address = true;
    let mut client = Client::new(cc);
    let src = SocketAddrV6::new(v6("fe80::7"), 546, 0, 2);
    let mut events = Vec::new();
    let pump = |sim: &mut Sim6, client: &mut Client, events: &mut Vec<Event>| {
        for _ in 0..16 {
            let mut moved = false;
            while let Some(tx) = client.poll_transmit() {
                sim.s.handle_input(sim.now, &tx.payload, &Meta6 { src });
                while let Some(c) = sim.s.poll_commit() {
                    sim.store.push(c.record);
                    sim.s.handle_committed(c.seq);
                }
                moved = true;
            }
            for (_, p) in sim.drain() {
                client.handle_input(sim.now, &p);
                moved = true;
            }
            events.extend(std::iter::from_fn(|| client.poll_event()));
            if !moved {
                return;
            }
        }
    };
    client.handle_command(sim.now, Command::Start);
    // Drive until the Solicit collection time ends and the Request is answered (bounded).
    for _ in 0..20 {
        if events.iter().any(|e| matches!(e, Event::Delegated(_))) {
            break;
        }
        if let Some(t) = client.poll_timeout() {
            sim.now = sim.now.max(t);
            client.handle_timeout(sim.now);
        }
        pump(&mut sim, &mut client, &mut events);
    }
    let lease = match events.iter().find(|e| matches!(e, Event::Delegated(_))) {
        Some(Event::Delegated(l)) => l.clone(),
        other => panic!("no delegation: {other:?} {events:?}"),
    };
    assert_eq!(lease.prefixes.len(), 1);
    assert_eq!(lease.prefixes[0].len, 60);
    assert!(net("2001:db8:1:100::/56").contains(&lease.prefixes[0].prefix));
    assert_eq!(lease.addresses.len(), 2, "one address per on-link /64: {lease:?}");
    assert_eq!(lease.dns_servers, vec![v6("2001:db8:1:1::1")]);
    assert_eq!(lease.domains, vec!["home.arpa".to_owned()]);
    assert_eq!((lease.t1, lease.t2), (900, 1440));

    // The upstream prefix changes; the client learns it at its Renew (T1).
    let pool = PdPool { prefix: net("2001:db8:9:100::/56"), delegated_len: 60 };
    sim.s.set_prefixes(sim.now, vec![net("2001:db8:9:1::/64")], Some(pool)).unwrap();
    let before = events.len();
    for _ in 0..20 {
        if events[before..].iter().any(|e| matches!(e, Event::Changed { .. })) {
            break;
        }
        let t = client.poll_timeout().unwrap();
        sim.now = sim.now.max(t);
        sim.s.handle_timeout(sim.now);
        client.handle_timeout(sim.now);
        pump(&mut sim, &mut client, &mut events);
    }
    let new = match events[before..].iter().find(|e| matches!(e, Event::Changed { .. })) {
        Some(Event::Changed { new, .. }) => new.clone(),
        other => panic!("no Changed after renumbering: {other:?} {:?}", &events[before..]),
    };
    let live: Vec<_> = new.prefixes.iter().filter(|p| p.valid > 0).collect();
    assert_eq!(live.len(), 1, "{new:?}");
    assert!(pool.prefix.contains(&live[0].prefix));
    assert!(
        new.addresses.iter().any(|a| a.valid > 0 && net("2001:db8:9:1::/64").contains(&a.addr))
    );
}

#[test]
fn renumbering_into_a_smaller_pd_pool_moves_prefixes_that_do_not_fit() {
    let mut sim = Sim6::new(cfg6());
    // Sixteen /60s in the /56: bind clients until one sits above the fourth.
    let mut far = None;
    for n in 1..40 {
        let r = sim.sarr(n);
        let p = live(&r, IaKind::Pd)[0];
        let idx = (u128::from(p) >> 68) & 0xf;
        if idx >= 4 {
            far = Some((n, r, p));
            break;
        }
    }
    let (n, reply, old) = far.expect("a client above slot 3");
    let small = PdPool { prefix: net("2001:db8:7:100::/62"), delegated_len: 64 };
    sim.s.set_prefixes(sim.now, vec![net("2001:db8:7:1::/64")], Some(small)).unwrap();
    let r = sim.one(&holding(MessageType::Renew, n, &reply), MessageType::Reply);
    let pd = leases(&r, IaKind::Pd);
    assert!(pd.contains(&(old, 60, 0, 0)), "{pd:?}");
    let new: Vec<_> = pd.iter().filter(|l| l.3 > 0).collect();
    assert_eq!(new.len(), 1, "{pd:?}");
    assert!(small.prefix.contains(&new[0].0) && new[0].1 == 64);
    // No prefix is leased twice after everyone renews.
    let mut seen = std::collections::HashSet::new();
    for (_, b) in sim.s.table().iter() {
        for l in &b.leases {
            assert!(seen.insert(*l));
        }
    }
}

#[test]
fn at_most_max_ias_per_message_are_leased() {
    let mut sim = Sim6::new(cfg6());
    let mut sol = msg6(MessageType::Solicit, 1, false, false);
    for id in 0..40 {
        sol.push(DhcpOption::IANA(IANA { id, t1: 0, t2: 0, opts: DhcpOptions::new() }));
    }
    sol.push(DhcpOption::RapidCommit);
    let r = sim.one(&sol, MessageType::Reply);
    assert_eq!(live(&r, IaKind::Na).len(), 2 * crate::server::MAX_IAS);
    assert_eq!(sim.s.table().len(), crate::server::MAX_IAS);
    assert_eq!(sim.s.stats().no_addrs, 40 - crate::server::MAX_IAS as u64);
}

/// Moves datagrams between `client` and the server until both are quiet (bounded).
fn pump6(sim: &mut Sim6, client: &mut crate::Client, events: &mut Vec<crate::Event>) {
    let src = SocketAddrV6::new(v6("fe80::7"), 546, 0, 2);
    for _ in 0..16 {
        let mut moved = false;
        while let Some(tx) = client.poll_transmit() {
            sim.s.handle_input(sim.now, &tx.payload, &Meta6 { src });
            while let Some(c) = sim.s.poll_commit() {
                sim.store.push(c.record);
                sim.s.handle_committed(c.seq);
            }
            moved = true;
        }
        for (dst, p) in sim.drain() {
            assert_eq!(*dst.ip(), *src.ip());
            client.handle_input(sim.now, &p);
            moved = true;
        }
        events.extend(std::iter::from_fn(|| client.poll_event()));
        if !moved {
            return;
        }
    }
}

/// Advances both machines to their next deadlines until `done` holds (bounded).
fn drive6(
    sim: &mut Sim6,
    client: &mut crate::Client,
    events: &mut Vec<crate::Event>,
    done: impl Fn(&[crate::Event]) -> bool,
) {
    for _ in 0..40 {
        pump6(sim, client, events);
        if done(events) {
            return;
        }
        let next = [client.poll_timeout(), sim.s.poll_timeout()].into_iter().flatten().min();
        let Some(t) = next else { return };
        sim.now = sim.now.max(t);
        sim.s.handle_timeout(sim.now);
        client.handle_timeout(sim.now);
    }
}

#[test]
fn reconfigure_18_3_11_makes_our_requesting_router_renumber_at_once() {
    use crate::{Client, ClientConfig, Command, Event};
    let mut c = cfg6();
    c.reconfigure = true;
    let mut sim = Sim6::new(c);
    let mut cc = ClientConfig::new(duid(8), 1, 9);
    cc.prefix_len_hint = 60;
    let mut client = Client::new(cc);
    let mut events = Vec::new();
    client.handle_command(sim.now, Command::Start);
    drive6(&mut sim, &mut client, &mut events, |e| {
        e.iter().any(|e| matches!(e, Event::Delegated(_)))
    });
    assert!(events.iter().any(|e| matches!(e, Event::Delegated(l) if l.reconfigure)));
    let t_renumber = sim.now;
    let pool = PdPool { prefix: net("2001:db8:9:100::/56"), delegated_len: 60 };
    sim.s.set_prefixes(sim.now, vec![net("2001:db8:9:1::/64")], Some(pool)).unwrap();
    assert_eq!(sim.s.stats().reconfigures, 1, "sent at once");
    let before = events.len();
    drive6(&mut sim, &mut client, &mut events, |e| {
        e[before..].iter().any(|e| matches!(e, Event::Changed { .. }))
    });
    let Some(Event::Changed { new, .. }) =
        events[before..].iter().find(|e| matches!(e, Event::Changed { .. }))
    else {
        panic!("no Changed: {:?}", &events[before..]);
    };
    assert!(new.prefixes.iter().any(|p| p.valid > 0 && pool.prefix.contains(&p.prefix)));
    assert!(sim.now.duration_since(t_renumber) < Duration::from_secs(60), "well before T1");
    assert_eq!(sim.s.stats().reconfigures, 1, "the Renew stopped the retransmissions");
}

#[test]
fn reconfigure_only_to_clients_that_accept_it_and_at_most_rec_max_rc_times() {
    let mut c = cfg6();
    c.reconfigure = true;
    let mut sim = Sim6::new(c);
    // Client 1 accepts Reconfigure, client 2 does not.
    let mut sol = msg6(MessageType::Solicit, 1, true, false);
    sol.push(DhcpOption::RapidCommit);
    sol.push(DhcpOption::ReconfAccept);
    let r1 = sim.one(&sol, MessageType::Reply);
    assert!(r1.has(OptionCode::ReconfAccept), "the server agrees");
    let mut sol2 = msg6(MessageType::Solicit, 2, true, false);
    sol2.push(DhcpOption::RapidCommit);
    let r2 = sim.one(&sol2, MessageType::Reply);
    assert!(!r2.has(OptionCode::ReconfAccept));
    sim.s.set_prefixes(sim.now, vec![net("2001:db8:9:1::/64")], None).unwrap();
    let sent: Vec<_> = sim.drain();
    assert_eq!(sent.len(), 1);
    let m = Repr::parse(&sent[0].1).unwrap();
    assert_eq!(m.msg_type, MessageType::Reconfigure);
    assert_eq!(m.xid, [0, 0, 0]);
    assert_eq!(m.client_id(), Some(&duid(1)[..]));
    assert_eq!(m.get(OptionCode::ReconfMsg), Some(&DhcpOption::ReconfMsg(MessageType::Renew)));
    assert_eq!(sent[0].0.port(), 546);
    // Never answered: retransmitted with doubling intervals, REC_MAX_RC times in all.
    for _ in 0..20 {
        let Some(t) = sim.s.poll_timeout() else { break };
        if t > sim.now + Duration::from_secs(1000) {
            break;
        }
        sim.now = t;
        sim.s.handle_timeout(sim.now);
        sim.drain();
    }
    assert_eq!(sim.s.stats().reconfigures, u64::from(crate::server::REC_MAX_RC));
    // Off by default.
    let mut plain = Sim6::new(cfg6());
    let r = plain.one(&sol, MessageType::Reply);
    assert!(!r.has(OptionCode::ReconfAccept));
    plain.s.set_prefixes(plain.now, vec![net("2001:db8:9:1::/64")], None).unwrap();
    assert!(plain.drain().is_empty());
}
