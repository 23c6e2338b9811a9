//! Timeline tests of the client on a fake clock, by RFC 2131 section.

use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::*;
use crate::client::PARAMETER_REQUEST_LIST;
use crate::client::timer::RENEW_MIN_RT;

#[test]
fn dora_4_4_1_discover_offer_request_ack() {
    let mut t = Trace::seeded(1);
    assert_eq!(t.c.phase(), Phase::Init);
    assert_eq!(t.next(), 0.0, "no start delay configured");
    let (dst, d) = t.one(MessageType::Discover);
    assert_eq!(dst, BCAST67);
    assert!(d.flags().broadcast(), "§4.1 BROADCAST flag while unconfigured");
    assert_eq!(d.chaddr(), mac());
    assert_eq!(d.ciaddr(), Ipv4Addr::UNSPECIFIED);
    let id = [&[1u8][..], &mac()[..]].concat();
    assert_eq!(opt(&d, OptionCode::ClientIdentifier), Some(&DhcpOption::ClientIdentifier(id)));
    assert_eq!(opt(&d, OptionCode::MaxMessageSize), Some(&DhcpOption::MaxMessageSize(1500)));
    let prl: Vec<OptionCode> = PARAMETER_REQUEST_LIST.iter().map(|&c| c.into()).collect();
    assert_eq!(
        opt(&d, OptionCode::ParameterRequestList),
        Some(&DhcpOption::ParameterRequestList(prl))
    );
    assert!(opt(&d, OptionCode::RapidCommit).is_none(), "rapid commit is off by default");
    assert!(opt(&d, OptionCode::Hostname).is_none());
    assert_eq!(t.c.phase(), Phase::Selecting);

    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, lease_opts()));
    let (dst, r) = t.one(MessageType::Request);
    assert_eq!(dst, BCAST67, "SELECTING REQUEST is broadcast");
    assert_eq!(r.xid(), d.xid(), "the REQUEST carries the OFFER's xid");
    assert_eq!(r.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        opt(&r, OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ip("198.51.100.100")))
    );
    assert_eq!(
        opt(&r, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER_A))
    );
    assert_eq!(t.c.phase(), Phase::Requesting);

    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.100"), SERVER_A, lease_opts()));
    let [Event::Bound(l)] = &t.events[..] else { panic!("{:?}", t.events) };
    assert_eq!(l.address, ip("198.51.100.100"));
    assert_eq!(l.prefix_len, 24);
    assert_eq!(l.net().to_string(), "198.51.100.100/24");
    assert_eq!(l.gateway, Some(ip("198.51.100.1")));
    assert_eq!(l.dns_servers, vec![ip("198.51.100.53"), ip("198.51.100.54")]);
    assert_eq!(l.domain.as_deref(), Some("isp.example"));
    assert_eq!(l.mtu, Some(1500));
    assert_eq!(l.server, SERVER_A);
    assert_eq!((l.lease_time, l.t1, l.t2), (3600, 1800, 3150), "T1/T2 default to 0.5/0.875");
    assert_eq!(t.c.phase(), Phase::Bound);
    assert_eq!(t.c.poll_timeout(), Some(t.now + secs(1800)), "next: T1");
}

#[test]
fn a_vendor_class_rfc2132_9_13_is_sent_when_configured() {
    let mut cfg = client_cfg(1);
    cfg.vendor_class = Some(b"IPTV_RG".to_vec());
    let mut t = Trace::new(cfg);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    let want = DhcpOption::ClassIdentifier(b"IPTV_RG".to_vec());
    assert_eq!(opt(&d, OptionCode::ClassIdentifier), Some(&want));
    let mut t = Trace::seeded(1);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    assert!(opt(&d, OptionCode::ClassIdentifier).is_none(), "none unless configured");
}

#[test]
fn rfc3442_classless_routes_take_precedence_over_the_router_option() {
    let mut t = Trace::seeded(2);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, vec![]));
    let (_, r) = t.one(MessageType::Request);
    let mut opts = lease_opts();
    opts.push(DhcpOption::ClasslessStaticRoute(vec![
        ("10.0.0.0/8".parse().unwrap(), ip("198.51.100.9")),
        ("0.0.0.0/0".parse().unwrap(), ip("198.51.100.254")),
    ]));
    opts.push(DhcpOption::Renewal(100));
    opts.push(DhcpOption::Rebinding(200));
    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.100"), SERVER_A, opts));
    let l = t.c.lease().unwrap();
    assert_eq!(l.gateway, Some(ip("198.51.100.254")), "option 3 is ignored when 121 is there");
    assert_eq!(l.routes, vec![("10.0.0.0/8".parse().unwrap(), ip("198.51.100.9"))]);
    assert_eq!((l.t1, l.t2), (100, 200), "the server's T1/T2 are used");
}

#[test]
fn offers_from_two_servers_4_4_1_the_first_is_taken() {
    let mut t = Trace::seeded(3);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, lease_opts()));
    let (_, r) = t.one(MessageType::Request);
    assert_eq!(
        opt(&r, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER_A))
    );
    // The second server's OFFER (same xid) arrives late: not taken, nothing sent.
    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.200"), SERVER_B, lease_opts()));
    assert!(t.sent().is_empty());
    // An ACK or NAK from the server not chosen is not ours to take either.
    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.200"), SERVER_B, lease_opts()));
    t.input(&reply(&r, MessageType::Nak, Ipv4Addr::UNSPECIFIED, SERVER_B, vec![]));
    assert_eq!(t.c.stats().ignored, 3);
    assert_eq!(t.c.phase(), Phase::Requesting);
    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.100"), SERVER_A, lease_opts()));
    assert_eq!(t.c.lease().unwrap().server, SERVER_A);
}

#[test]
fn renew_at_t1_4_4_5_unicast_to_the_server() {
    let mut t = Trace::seeded(4);
    let l = t.dora();
    t.events.clear();
    assert_eq!(t.next().round() - l.acquired.duration_since(t.t0).as_secs_f64().round(), 1800.0);
    assert_eq!(t.c.phase(), Phase::Renewing);
    let (dst, r) = t.one(MessageType::Request);
    assert_eq!(dst, SocketAddrV4::new(SERVER_A, 67), "RENEWING is unicast to the server");
    assert_eq!(r.ciaddr(), l.address);
    assert!(!r.flags().broadcast(), "configured: no BROADCAST flag");
    assert!(opt(&r, OptionCode::RequestedIpAddress).is_none(), "Table 5: no 50 in RENEWING");
    assert!(opt(&r, OptionCode::ServerIdentifier).is_none(), "Table 5: no 54 in RENEWING");
    t.input(&reply(&r, MessageType::Ack, l.address, SERVER_A, lease_opts()));
    let [Event::Renewed(n)] = &t.events[..] else { panic!("{:?}", t.events) };
    assert_eq!(n.address, l.address);
    assert_eq!(n.acquired, t.now);
    assert_eq!(t.c.poll_timeout(), Some(t.now + secs(1800)), "T1 counts from the new ACK");
}

#[test]
fn rebind_at_t2_after_the_server_goes_silent() {
    let mut t = Trace::seeded(5);
    let l = t.dora();
    let acq = t.t();
    assert_eq!(t.next(), acq + 1800.0);
    let (dst, _) = t.one(MessageType::Request);
    assert_eq!(*dst.ip(), SERVER_A);
    // §4.4.5: half the remaining time to T2 (1350 s → 675 s), then half again (337.5 s) ...
    assert_eq!(t.next(), acq + 1800.0 + 675.0);
    assert_eq!(t.one(MessageType::Request).0, SocketAddrV4::new(SERVER_A, 67));
    assert_eq!(t.next(), acq + 1800.0 + 675.0 + 337.5);
    t.sent();
    // ... until the minimum of 60 s applies, and T2 cuts the wait short.
    let mut fired = vec![];
    let mut last = vec![];
    while t.c.phase() == Phase::Renewing {
        fired.push(t.next());
        last = t.sent();
    }
    assert_eq!(*fired.last().unwrap(), acq + 3150.0, "REBINDING at T2: {fired:?}");
    let gaps: Vec<f64> = fired.windows(2).map(|w| w[1] - w[0]).collect();
    let (to_t2, rtx) = gaps.split_last().unwrap();
    assert!(rtx.iter().all(|g| *g >= RENEW_MIN_RT.as_secs_f64()), "{gaps:?}");
    assert!(*to_t2 <= RENEW_MIN_RT.as_secs_f64(), "T2 cuts the last wait short: {gaps:?}");
    assert_eq!(t.c.phase(), Phase::Rebinding);
    let [(dst, r)] = &last[..] else { panic!("{last:?}") };
    assert_eq!(*dst, BCAST67, "REBINDING is broadcast");
    assert_eq!(r.ciaddr(), l.address);
    assert!(opt(r, OptionCode::ServerIdentifier).is_none());
    // Another server answers the rebind.
    t.input(&reply(r, MessageType::Ack, l.address, SERVER_B, lease_opts()));
    let Some(Event::Renewed(n)) = t.events.last() else { panic!("{:?}", t.events) };
    assert_eq!(n.server, SERVER_B, "the lease now belongs to the server that answered");
}

#[test]
fn expiry_4_4_5_loses_the_lease_and_discovers_at_once() {
    let mut t = Trace::seeded(6);
    let l = t.dora();
    let acq = t.t();
    for _ in 0..100 {
        if t.c.phase() == Phase::Selecting || t.c.phase() == Phase::Init {
            break;
        }
        t.next();
        t.sent();
    }
    assert_eq!(t.t(), acq + 3600.0);
    assert_eq!(t.events.last(), Some(&Event::Lost));
    assert!(t.c.lease().is_none());
    // The DISCOVER goes out at the expiry itself.
    assert_eq!(t.c.phase(), Phase::Selecting);
    let _ = l;
}

#[test]
fn nak_in_renewing_loses_the_lease_then_init_after_a_short_wait() {
    let mut t = Trace::seeded(7);
    let l = t.dora();
    t.next();
    let (_, r) = t.one(MessageType::Request);
    t.input(&reply(&r, MessageType::Nak, Ipv4Addr::UNSPECIFIED, SERVER_A, vec![]));
    assert_eq!(t.events.last(), Some(&Event::Lost));
    assert_eq!(t.c.phase(), Phase::Init);
    let nak_at = t.t();
    assert_eq!(t.next(), nak_at + 1.0, "NAK_DELAY");
    let (_, d) = t.one(MessageType::Discover);
    assert_ne!(d.xid(), r.xid(), "a new transaction");
    assert_eq!(t.c.stats().naks, 1);
    let _ = l;
}

#[test]
fn init_reboot_3_2_same_address_acked() {
    let mut cfg = client_cfg(8);
    cfg.requested_address = Some(ip("198.51.100.150"));
    let mut t = Trace::new(cfg);
    assert_eq!(t.c.phase(), Phase::InitReboot);
    t.next();
    let (dst, r) = t.one(MessageType::Request);
    assert_eq!(t.c.phase(), Phase::Rebooting);
    assert_eq!(dst, BCAST67);
    assert_eq!(r.ciaddr(), Ipv4Addr::UNSPECIFIED, "Table 5: ciaddr 0 in INIT-REBOOT");
    assert_eq!(
        opt(&r, OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ip("198.51.100.150")))
    );
    assert!(opt(&r, OptionCode::ServerIdentifier).is_none(), "Table 5: no 54 in INIT-REBOOT");
    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.150"), SERVER_A, lease_opts()));
    let [Event::Bound(l)] = &t.events[..] else { panic!("{:?}", t.events) };
    assert_eq!(l.address, ip("198.51.100.150"));
}

#[test]
fn init_reboot_3_2_nak_goes_to_init() {
    let mut cfg = client_cfg(9);
    cfg.requested_address = Some(ip("10.9.9.9"));
    let mut t = Trace::new(cfg);
    t.next();
    let (_, r) = t.one(MessageType::Request);
    t.input(&reply(&r, MessageType::Nak, Ipv4Addr::UNSPECIFIED, SERVER_A, vec![]));
    assert!(t.events.is_empty(), "nothing was held, so nothing is lost");
    assert_eq!(t.c.phase(), Phase::Init);
    assert_eq!(t.next(), 1.0);
    let (_, d) = t.one(MessageType::Discover);
    assert!(opt(&d, OptionCode::RequestedIpAddress).is_none());
}

#[test]
fn init_reboot_without_answer_falls_back_to_discover() {
    let mut cfg = client_cfg(10);
    cfg.requested_address = Some(ip("198.51.100.150"));
    let mut t = Trace::new(cfg);
    let mut kinds = vec![];
    for _ in 0..5 {
        t.next();
        kinds.extend(t.sent().into_iter().map(|(_, m)| m.opts().msg_type().unwrap()));
    }
    use MessageType::{Discover, Request};
    assert_eq!(kinds, [Request, Request, Request, Request, Discover]);
}

#[test]
fn retransmission_4_1_doubles_from_4_to_64_s_within_one_second() {
    for seed in 0..50 {
        let mut t = Trace::seeded(seed);
        let mut times = vec![t.next()];
        t.sent();
        for _ in 0..8 {
            times.push(t.next());
            assert_eq!(
                t.one(MessageType::Discover).1.opts().msg_type(),
                Some(MessageType::Discover)
            );
        }
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        for (gap, want) in gaps.iter().zip([4.0, 8.0, 16.0, 32.0, 64.0, 64.0, 64.0, 64.0]) {
            assert!((gap - want).abs() <= 1.0, "seed {seed}: gap {gap} for {want}: {gaps:?}");
        }
    }
}

#[test]
fn request_retransmission_gives_up_and_discovers_again() {
    let mut t = Trace::seeded(11);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, lease_opts()));
    let mut kinds = vec![t.one(MessageType::Request).1.opts().msg_type().unwrap()];
    for _ in 0..4 {
        t.next();
        kinds.extend(t.sent().into_iter().map(|(_, m)| m.opts().msg_type().unwrap()));
    }
    use MessageType::{Discover, Request};
    assert_eq!(kinds, [Request, Request, Request, Request, Discover]);
    assert!(t.t() >= 4.0 - 1.0 + 8.0 - 1.0 + 16.0 - 1.0 + 32.0 - 1.0);
}

#[test]
fn secs_counts_from_the_first_discover() {
    let mut t = Trace::seeded(12);
    t.next();
    t.sent();
    t.next();
    t.sent();
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    assert_eq!(u64::from(d.secs()), t.t() as u64);
    assert!(d.secs() >= 11);
}

#[test]
fn release_4_4_6_unicast_to_the_server_then_stopped() {
    let mut t = Trace::seeded(13);
    let l = t.dora();
    t.events.clear();
    t.c.release(t.now);
    let (dst, m) = t.one(MessageType::Release);
    assert_eq!(dst, SocketAddrV4::new(SERVER_A, 67));
    assert_eq!(m.ciaddr(), l.address);
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER_A))
    );
    assert!(opt(&m, OptionCode::ClientIdentifier).is_some());
    t.drain_events();
    assert_eq!(t.events, [Event::Released]);
    assert_eq!(t.c.phase(), Phase::Stopped);
    assert_eq!(t.c.poll_timeout(), None);
    // Releasing again, or without a lease, sends nothing.
    t.c.release(t.now);
    assert!(t.sent().is_empty());
    let mut idle = Trace::seeded(14);
    idle.c.release(idle.now);
    assert!(idle.sent().is_empty());
    assert_eq!(idle.c.phase(), Phase::Stopped);
}

#[test]
fn rapid_commit_rfc4039_ack_to_discover_binds() {
    let mut cfg = client_cfg(15);
    cfg.rapid_commit = true;
    cfg.hostname = Some("router".into());
    let mut t = Trace::new(cfg);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    assert_eq!(opt(&d, OptionCode::RapidCommit), Some(&DhcpOption::RapidCommit));
    assert_eq!(opt(&d, OptionCode::Hostname), Some(&DhcpOption::Hostname("router".into())));
    // An ACK without Rapid Commit is not an answer to a DISCOVER.
    t.input(&reply(&d, MessageType::Ack, ip("198.51.100.100"), SERVER_A, lease_opts()));
    assert_eq!(t.c.phase(), Phase::Selecting);
    let mut opts = lease_opts();
    opts.push(DhcpOption::RapidCommit);
    t.input(&reply(&d, MessageType::Ack, ip("198.51.100.100"), SERVER_A, opts));
    assert_eq!(t.c.phase(), Phase::Bound);
    assert!(matches!(&t.events[..], [Event::Bound(_)]));
}

#[test]
fn changed_address_in_an_ack_reports_old_and_new() {
    let mut t = Trace::seeded(16);
    let l = t.dora();
    t.events.clear();
    t.next();
    let (_, r) = t.one(MessageType::Request);
    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.101"), SERVER_A, lease_opts()));
    let [Event::Changed { old, new }] = &t.events[..] else { panic!("{:?}", t.events) };
    assert_eq!((old.address, new.address), (l.address, ip("198.51.100.101")));
}

#[test]
fn malformed_and_foreign_replies_are_counted_and_dropped() {
    let mut t = Trace::seeded(17);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    let good = reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, lease_opts());
    let mut wrong_xid = good.clone();
    wrong_xid[4] ^= 0xff;
    let mut wrong_chaddr = good.clone();
    wrong_chaddr[28] ^= 0xff;
    let mut request = good.clone();
    request[0] = 1;
    let mut bad_hlen = good.clone();
    bad_hlen[2] = 17;
    let mut no_type = good.clone();
    no_type.truncate(240);
    no_type.push(0xff);
    for bytes in [&wrong_xid, &wrong_chaddr] {
        t.input(bytes);
    }
    t.input(&echoed_with_id(&d, vec![1, 2, 3]));
    for n in [0, 1, 100, 235, 236, 239] {
        t.input(&good[..n]);
    }
    t.input(&request);
    t.input(&bad_hlen);
    t.input(&no_type);
    let s = t.c.stats();
    assert_eq!((s.received, s.foreign, s.malformed), (12, 3, 9), "{s:?}");
    assert!(t.sent().is_empty());
    assert_eq!(t.c.phase(), Phase::Selecting);
    t.input(&good);
    assert_eq!(t.c.phase(), Phase::Requesting);
}

/// An OFFER that echoes client identifier `id` (RFC 6842).
fn echoed_with_id(req: &dhcproto::v4::Message, id: Vec<u8>) -> Vec<u8> {
    let mut opts = lease_opts();
    opts.push(DhcpOption::ClientIdentifier(id));
    reply(req, MessageType::Offer, ip("198.51.100.100"), SERVER_A, opts)
}

#[test]
fn every_truncation_of_an_ack_is_safe() {
    let mut t = Trace::seeded(18);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, lease_opts()));
    let (_, r) = t.one(MessageType::Request);
    let ack = reply(&r, MessageType::Ack, ip("198.51.100.100"), SERVER_A, lease_opts());
    for n in 0..ack.len() {
        let mut c = t.c.clone();
        c.handle_input(t.now, &ack[..n]);
        assert!(c.poll_transmit().is_none());
    }
}

#[test]
fn an_ack_without_lease_time_is_dropped() {
    let mut t = Trace::seeded(19);
    t.next();
    let (_, d) = t.one(MessageType::Discover);
    t.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, vec![]));
    let (_, r) = t.one(MessageType::Request);
    t.input(&reply(&r, MessageType::Ack, ip("198.51.100.100"), SERVER_A, vec![]));
    assert_eq!(t.c.phase(), Phase::Requesting);
    assert_eq!(t.c.stats().malformed, 1);
}

#[test]
fn link_up_3_2_verifies_the_lease_by_init_reboot_and_an_ack_renews_it() {
    let mut t = Trace::seeded(30);
    let l = t.dora();
    t.events.clear();
    t.now += secs(100);
    t.c.handle_link_up(t.now);
    assert_eq!(t.c.phase(), Phase::Rebooting);
    let (dst, r) = t.one(MessageType::Request);
    assert_eq!(dst, BCAST67);
    assert_eq!(r.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(r.flags().broadcast());
    assert_eq!(
        opt(&r, OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(l.address))
    );
    assert!(opt(&r, OptionCode::ServerIdentifier).is_none());
    assert_eq!(t.c.lease(), Some(&l), "the lease stays in use meanwhile");
    t.input(&reply(&r, MessageType::Ack, l.address, SERVER_A, lease_opts()));
    assert!(matches!(&t.events[..], [Event::Renewed(n)] if n.address == l.address));
    assert_eq!(t.c.phase(), Phase::Bound);
    assert_eq!(t.c.poll_timeout(), Some(t.now + secs(1800)));
}

#[test]
fn link_up_nak_means_another_network_lost() {
    let mut t = Trace::seeded(31);
    t.dora();
    t.events.clear();
    t.c.handle_link_up(t.now);
    let (_, r) = t.one(MessageType::Request);
    t.input(&reply(&r, MessageType::Nak, Ipv4Addr::UNSPECIFIED, SERVER_B, vec![]));
    assert_eq!(t.events, [Event::Lost]);
    assert_eq!(t.c.phase(), Phase::Init);
}

#[test]
fn link_up_without_answer_keeps_the_lease_and_its_timers() {
    let mut t = Trace::seeded(32);
    let l = t.dora();
    t.events.clear();
    let t1 = t.c.poll_timeout().unwrap();
    t.c.handle_link_up(t.now);
    let mut n = t.sent().len();
    while t.c.phase() == Phase::Rebooting {
        t.next();
        n += t.sent().len();
    }
    assert_eq!(n, 4, "REBOOT_MAX_RC REQUESTs");
    assert_eq!(t.c.phase(), Phase::Bound);
    assert_eq!(t.c.lease(), Some(&l));
    assert!(t.events.is_empty(), "{:?}", t.events);
    assert_eq!(t.c.poll_timeout(), Some(t1));
}

#[test]
fn link_up_while_selecting_discovers_at_once_and_release_in_init_reboot_releases() {
    let mut t = Trace::seeded(33);
    t.next();
    t.sent();
    t.now += secs(2);
    t.c.handle_link_up(t.now);
    t.one(MessageType::Discover);
    let mut t = Trace::seeded(34);
    let l = t.dora();
    t.c.handle_link_up(t.now);
    t.sent();
    t.c.release(t.now);
    let (dst, m) = t.one(MessageType::Release);
    assert_eq!((dst, m.ciaddr()), (SocketAddrV4::new(SERVER_A, 67), l.address));
}
