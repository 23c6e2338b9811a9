//! Timeline tests of the machine on a fake clock, by RFC 2131 section.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::relay::{RelayAgentInformation, RelayInfo};
use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::*;
use crate::server::config::Reservation;
use crate::server::store::RecordState;

const BCAST68: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, 68);

#[test]
fn a_vendor_class_server_answers_only_that_class() {
    let mut c = cfg();
    c.vendor_class = Some(b"IPTV_RG".to_vec());
    let mut sim = Sim::new(c);
    let plain = broadcast(msg(MessageType::Discover, mac(1), 1));
    assert!(sim.send(&plain).is_empty(), "no vendor class: no answer");
    let other = with(plain.clone(), DhcpOption::ClassIdentifier(b"udhcp 1.35.0".to_vec()));
    assert!(sim.send(&other).is_empty(), "another vendor class: no answer");
    assert_eq!(sim.s.stats().wrong_vendor_class, 2);
    let stb = with(plain, DhcpOption::ClassIdentifier(b"IPTV_RG".to_vec()));
    let out = sim.send(&stb);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.opts().msg_type(), Some(MessageType::Offer));
}

#[test]
fn dora_4_3_1_offer_then_ack_with_options() {
    let mut sim = Sim::new(cfg());
    let out = sim.send(&broadcast(msg(MessageType::Discover, mac(1), 1)));
    let (dst, offer) = &out[0];
    assert_eq!(*dst, BCAST68);
    assert_eq!(offer.yiaddr(), ip("192.168.1.100"));
    assert_eq!(offer.xid(), 1);
    assert_eq!(
        opt(offer, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(
        opt(offer, OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(ip("255.255.255.0")))
    );
    assert_eq!(opt(offer, OptionCode::AddressLeaseTime), Some(&DhcpOption::AddressLeaseTime(3600)));
    assert_eq!(opt(offer, OptionCode::Renewal), Some(&DhcpOption::Renewal(1800)));
    assert_eq!(opt(offer, OptionCode::Rebinding), Some(&DhcpOption::Rebinding(3150)));
    assert_eq!(opt(offer, OptionCode::Router), Some(&DhcpOption::Router(vec![SERVER])));
    assert_eq!(
        opt(offer, OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![SERVER]))
    );
    assert!(sim.store.is_empty(), "an OFFER commits nothing");

    let ack = sim.one(&selecting(mac(1), offer.yiaddr()), MessageType::Ack);
    assert_eq!(ack.yiaddr(), ip("192.168.1.100"));
    assert_eq!(sim.store.len(), 1);
    assert_eq!(sim.store[0].state, RecordState::Bound);
    assert_eq!(sim.store[0].expires, UNIX0 + 3600);
    assert!(matches!(&sim.events[..], [Event::LeaseGranted(l)] if l.address == ack.yiaddr()));
}

#[test]
fn ack_is_held_until_the_record_is_durable() {
    let mut sim = Sim::new(cfg());
    let a = sim.one(&msg(MessageType::Discover, mac(1), 1), MessageType::Offer).yiaddr();
    let meta = Meta { src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68) };
    sim.s.handle_input(sim.now, &selecting(mac(1), a).to_vec().unwrap(), &meta);
    let c = sim.s.poll_commit().expect("a commit for the ACK");
    assert!(sim.s.poll_transmit().is_none(), "no ACK before the commit");
    assert!(sim.s.poll_event().is_none(), "no LeaseGranted before the commit");
    sim.s.handle_committed(c.seq - 1);
    assert!(sim.s.poll_transmit().is_none());
    sim.s.handle_committed(c.seq);
    assert!(sim.s.poll_transmit().is_some());
    assert!(matches!(sim.s.poll_event(), Some(Event::LeaseGranted(_))));
}

#[test]
fn selecting_another_server_releases_our_offer() {
    let mut sim = Sim::new(cfg());
    let a = sim.one(&msg(MessageType::Discover, mac(1), 1), MessageType::Offer).yiaddr();
    let mut r = selecting(mac(1), a);
    r.opts_mut().insert(DhcpOption::ServerIdentifier(ip("192.168.1.2")));
    assert!(sim.send(&r).is_empty());
    assert_eq!(sim.s.stats().dropped, 1);
    assert!(sim.store.is_empty());
}

#[test]
fn init_reboot_4_3_2_wrong_address_or_subnet_is_naked() {
    let mut sim = Sim::new(cfg());
    let a = sim.dora(mac(1));
    let nak = sim.send(&init_reboot(mac(1), ip("192.168.1.105")));
    assert_eq!(nak.len(), 1);
    assert_eq!(nak[0].0, BCAST68, "NAKs are broadcast when giaddr is 0");
    assert_eq!(nak[0].1.opts().msg_type(), Some(MessageType::Nak));
    assert_eq!(nak[0].1.yiaddr(), Ipv4Addr::UNSPECIFIED);
    let nak = sim.one(&init_reboot(mac(1), ip("10.9.9.9")), MessageType::Nak);
    assert!(opt(&nak, OptionCode::AddressLeaseTime).is_none());
    // The right address: ACK.
    let ack = sim.one(&init_reboot(mac(1), a), MessageType::Ack);
    assert_eq!(ack.yiaddr(), a);
    assert_eq!(sim.s.stats().naks, 2);
}

#[test]
fn init_reboot_for_an_address_held_by_another_client_is_naked() {
    let mut sim = Sim::new(cfg());
    let a = sim.dora(mac(1));
    sim.one(&init_reboot(mac(2), a), MessageType::Nak);
}

#[test]
fn renewing_and_rebinding_extend_the_lease() {
    let mut sim = Sim::new(cfg());
    let a = sim.dora(mac(1));
    sim.advance(1800);
    let out = sim.send(&renewing(mac(1), a));
    assert_eq!(out[0].0, SocketAddrV4::new(a, 68), "RENEWING: unicast to ciaddr");
    assert_eq!(out[0].1.ciaddr(), a);
    assert_eq!(sim.store.last().unwrap().expires, UNIX0 + 1800 + 3600);
    sim.advance(3200);
    let out = sim.send(&broadcast(renewing(mac(1), a)));
    assert_eq!(out[0].1.opts().msg_type(), Some(MessageType::Ack), "REBINDING");
    assert_eq!(sim.store.last().unwrap().expires, UNIX0 + 5000 + 3600);
    // Nothing expired in between.
    sim.advance(3000);
    assert!(!sim.events.iter().any(|e| matches!(e, Event::LeaseExpired(_))));
}

#[test]
fn renewing_an_address_someone_else_now_holds_is_naked() {
    let mut c = cfg();
    c.pool.last = c.pool.first;
    let mut sim = Sim::new(c);
    let a = sim.dora(mac(1));
    sim.advance(3601);
    assert!(matches!(sim.events.last(), Some(Event::LeaseExpired(l)) if l.address == a));
    // The pool has one address; mac 2 takes it once it is free.
    assert_eq!(sim.dora(mac(2)), a);
    sim.one(&renewing(mac(1), a), MessageType::Nak);
}

#[test]
fn release_4_4_6_then_the_same_address_again() {
    let mut sim = Sim::new(cfg());
    let a = sim.dora(mac(1));
    sim.dora(mac(2));
    let mut rel = msg(MessageType::Release, mac(1), 9);
    rel.set_ciaddr(a);
    rel.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    assert!(sim.send(&rel).is_empty());
    assert_eq!(sim.store.last().unwrap().state, RecordState::Released);
    assert!(matches!(sim.events.last(), Some(Event::LeaseReleased(l)) if l.address == a));
    // A third client gets a fresh address, not the released one; the first gets its own.
    assert_ne!(sim.dora(mac(3)), a);
    assert_eq!(sim.dora(mac(1)), a);
}

#[test]
fn sticky_after_expiry_while_nobody_reused_it() {
    let mut sim = Sim::new(cfg());
    let a = sim.dora(mac(1));
    sim.advance(10_000);
    assert!(matches!(sim.events.last(), Some(Event::LeaseExpired(_))));
    for n in 2..6 {
        assert_ne!(sim.dora(mac(n)), a);
    }
    assert_eq!(sim.dora(mac(1)), a);
}

#[test]
fn sticky_by_client_id_across_mac_change() {
    let mut sim = Sim::new(cfg());
    let cid = DhcpOption::ClientIdentifier(b"\x00client-one".to_vec());
    let off =
        sim.one(&with(msg(MessageType::Discover, mac(1), 1), cid.clone()), MessageType::Offer);
    let a = off.yiaddr();
    sim.one(&with(selecting(mac(1), a), cid.clone()), MessageType::Ack);
    let off = sim.one(&with(msg(MessageType::Discover, mac(7), 1), cid), MessageType::Offer);
    assert_eq!(off.yiaddr(), a);
}

#[test]
fn decline_4_3_3_parks_the_address() {
    let mut c = cfg();
    c.decline_hold = 600;
    let mut sim = Sim::new(c);
    let a = sim.dora(mac(1));
    let d = with(msg(MessageType::Decline, mac(1), 5), DhcpOption::RequestedIpAddress(a));
    assert!(sim.send(&with(d, DhcpOption::ServerIdentifier(SERVER))).is_empty());
    assert_eq!(sim.store.last().unwrap().state, RecordState::Declined);
    assert!(matches!(sim.events.last(), Some(Event::AddressDeclined(_))));
    let b = sim.dora(mac(1));
    assert_ne!(a, b, "a declined address is not offered again");
    sim.one(&init_reboot(mac(3), a), MessageType::Nak);
    sim.advance(601);
    sim.one(&init_reboot(mac(3), a), MessageType::Ack);
}

#[test]
fn reservation_by_mac_with_protected_name() {
    let mut c = cfg();
    c.reservations.push(Reservation::by_mac(mac(9), ip("192.168.1.10"), Some("NAS")));
    c.protected_names.push("router".into());
    let mut sim = Sim::new(c);
    let name = |n: &str| DhcpOption::Hostname(n.into());
    let d = with(msg(MessageType::Discover, mac(9), 1), name("whatever"));
    assert_eq!(sim.one(&d, MessageType::Offer).yiaddr(), ip("192.168.1.10"));
    assert_eq!(sim.dora(mac(9)), ip("192.168.1.10"));
    assert!(
        matches!(sim.events.last(), Some(Event::LeaseGranted(l)) if l.hostname.as_deref() == Some("nas"))
    );
    // Nobody else gets the reserved address or its name, or a protected name.
    sim.one(&init_reboot(mac(1), ip("192.168.1.10")), MessageType::Nak);
    for (n, claimed) in [(2, "nas"), (3, "Router")] {
        let d = with(msg(MessageType::Discover, mac(n), 1), name(claimed));
        let a = sim.one(&d, MessageType::Offer).yiaddr();
        assert_ne!(a, ip("192.168.1.10"));
        sim.one(&with(selecting(mac(n), a), name(claimed)), MessageType::Ack);
        assert!(matches!(sim.events.last(), Some(Event::LeaseGranted(l)) if l.hostname.is_none()));
    }
    // The reserved client asking for another address is told no.
    sim.one(&init_reboot(mac(9), ip("192.168.1.105")), MessageType::Nak);
}

#[test]
fn hostnames_are_sanitised_and_unique() {
    let mut sim = Sim::new(cfg());
    let h = DhcpOption::Hostname("My Laptop_2.local".into());
    let d = with(msg(MessageType::Discover, mac(1), 1), h.clone());
    let a = sim.one(&d, MessageType::Offer).yiaddr();
    sim.one(&with(selecting(mac(1), a), h.clone()), MessageType::Ack);
    let name = |sim: &Sim| match sim.events.last() {
        Some(Event::LeaseGranted(l)) => l.hostname.clone(),
        e => panic!("{e:?}"),
    };
    assert_eq!(name(&sim).as_deref(), Some("my-laptop-2"));
    assert_eq!(sim.store.last().unwrap().hostname.as_deref(), Some("my-laptop-2"));
    // A second client with the same name gets none.
    let d = with(msg(MessageType::Discover, mac(2), 1), h.clone());
    let b = sim.one(&d, MessageType::Offer).yiaddr();
    sim.one(&with(selecting(mac(2), b), h), MessageType::Ack);
    assert_eq!(name(&sim), None);
}

#[test]
fn sanitize_cases() {
    use leases::names::sanitize;
    assert_eq!(sanitize(b"My Laptop_2.local").as_deref(), Some("my-laptop-2"));
    assert_eq!(sanitize(b"--x--").as_deref(), Some("x"));
    assert_eq!(sanitize(&[b'a'; 80]).unwrap().len(), 63);
    assert_eq!(sanitize("ünï".as_bytes()).as_deref(), Some("n"));
    assert_eq!(sanitize(b"").as_deref(), None);
    assert_eq!(sanitize(b"..").as_deref(), None);
    assert_eq!(sanitize(b"a;rm -rf /").as_deref(), Some("arm--rf"));
}

#[test]
fn pool_exhaustion_no_offer_and_no_reuse() {
    let mut sim = Sim::new(cfg());
    let mut seen = std::collections::HashSet::new();
    for n in 0..10 {
        assert!(seen.insert(sim.dora(mac(n))));
    }
    assert!(sim.send(&msg(MessageType::Discover, mac(50), 1)).is_empty());
    assert_eq!(sim.s.stats().pool_exhausted, 1);
    // Outstanding offers also hold addresses: a full pool of offers answers no one.
    let mut sim = Sim::new(cfg());
    for n in 0..10 {
        sim.one(&msg(MessageType::Discover, mac(n), 1), MessageType::Offer);
    }
    assert!(sim.send(&msg(MessageType::Discover, mac(50), 1)).is_empty());
    sim.advance(31);
    sim.one(&msg(MessageType::Discover, mac(50), 1), MessageType::Offer);
}

#[test]
fn relayed_request_answered_to_the_relay_with_option_82() {
    let mut sim = Sim::new(cfg());
    let mut rai = RelayAgentInformation::default();
    rai.insert(RelayInfo::AgentCircuitId(b"port7".to_vec()));
    let mut d =
        with(msg(MessageType::Discover, mac(1), 1), DhcpOption::RelayAgentInformation(rai.clone()));
    d.set_giaddr(ip("192.168.1.254"));
    let out = sim.send(&d);
    assert_eq!(out[0].0, SocketAddrV4::new(ip("192.168.1.254"), 67));
    assert_eq!(out[0].1.giaddr(), ip("192.168.1.254"));
    assert_eq!(
        opt(&out[0].1, OptionCode::RelayAgentInformation),
        Some(&DhcpOption::RelayAgentInformation(rai))
    );
    // NAK through a relay: to the relay, broadcast bit set.
    let mut r = init_reboot(mac(1), ip("10.0.0.1"));
    r.set_giaddr(ip("192.168.1.254"));
    let out = sim.send(&r);
    assert_eq!(out[0].0, SocketAddrV4::new(ip("192.168.1.254"), 67));
    assert!(out[0].1.flags().broadcast());
    // A relay outside our subnet: dropped.
    d.set_giaddr(ip("192.168.2.254"));
    assert!(sim.send(&d).is_empty());
    assert_eq!(sim.s.stats().dropped, 1);
}

#[test]
fn inform_4_3_5_no_lease_time_unicast_to_ciaddr() {
    let mut sim = Sim::new(cfg());
    let mut inf = msg(MessageType::Inform, mac(1), 1);
    inf.set_ciaddr(ip("192.168.1.50"));
    let out = sim.send(&inf);
    assert_eq!(out[0].0, SocketAddrV4::new(ip("192.168.1.50"), 68));
    assert_eq!(out[0].1.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(opt(&out[0].1, OptionCode::AddressLeaseTime).is_none());
    assert!(opt(&out[0].1, OptionCode::DomainName).is_some());
    assert!(sim.store.is_empty());
}

#[test]
fn rapid_commit_rfc4039_acks_a_discover() {
    let mut sim = Sim::new(cfg());
    let d = with(msg(MessageType::Discover, mac(1), 1), DhcpOption::RapidCommit);
    let ack = sim.one(&d, MessageType::Ack);
    assert_eq!(opt(&ack, OptionCode::RapidCommit), Some(&DhcpOption::RapidCommit));
    assert_eq!(sim.store.len(), 1);
}

#[test]
fn requested_options_121_26_42_119_and_extra() {
    let mut c = cfg();
    c.routes = vec![("10.0.0.0/8".parse().unwrap(), ip("192.168.1.2"))];
    c.mtu = Some(1492);
    c.ntp_servers = vec![ip("192.168.1.1")];
    c.domain_search = vec!["home.arpa".into()];
    c.extra_options = vec![(0xe0, vec![1, 2, 3])];
    let mut sim = Sim::new(c);
    let prl = DhcpOption::ParameterRequestList(vec![
        OptionCode::ClasslessStaticRoute,
        OptionCode::InterfaceMtu,
        OptionCode::DomainSearch,
    ]);
    let offer = sim.one(&with(msg(MessageType::Discover, mac(1), 1), prl), MessageType::Offer);
    let routes = match opt(&offer, OptionCode::ClasslessStaticRoute) {
        Some(DhcpOption::ClasslessStaticRoute(r)) => r.clone(),
        o => panic!("{o:?}"),
    };
    assert_eq!(routes[0], ("10.0.0.0/8".parse().unwrap(), ip("192.168.1.2")));
    assert_eq!(routes[1], ("0.0.0.0/0".parse().unwrap(), SERVER), "default route added");
    assert_eq!(opt(&offer, OptionCode::InterfaceMtu), Some(&DhcpOption::InterfaceMtu(1492)));
    assert!(opt(&offer, OptionCode::DomainSearch).is_some());
    assert!(opt(&offer, OptionCode::NtpServers).is_none(), "not asked for");
    // Without option 55 everything configured is sent, the extra option too.
    let offer = sim.one(&msg(MessageType::Discover, mac(2), 1), MessageType::Offer);
    assert!(opt(&offer, OptionCode::NtpServers).is_some());
    assert!(offer.opts().iter().any(|(c, _)| u8::from(*c) == 0xe0));
}

#[test]
fn restart_restores_bindings_from_the_store() {
    let mut sim = Sim::new(cfg());
    let a = sim.dora(mac(1));
    let b = sim.dora(mac(2));
    let store = sim.store.clone();
    // Restart 100 s later.
    let mut sim = Sim::new(cfg());
    sim.s = Server::new(cfg(), sim.now, UNIX0 + 100).unwrap();
    sim.s.restore(&store);
    sim.one(&renewing(mac(1), a), MessageType::Ack);
    sim.one(&init_reboot(mac(3), b), MessageType::Nak);
    let c = sim.dora(mac(3));
    assert!(c != a && c != b);
    // An hour later mac 2's lease has ended but its address stays remembered.
    let mut sim2 = Sim::new(cfg());
    sim2.s = Server::new(cfg(), sim2.now, UNIX0 + 7200).unwrap();
    sim2.s.restore(&store);
    assert_eq!(sim2.dora(mac(2)), b);
}
