//! Timeline tests on a fake clock: RFC 8415 §15 retransmission and the §18.2 timers.

use std::time::{Duration, Instant};

use dhcproto::v6::{DhcpOption, MessageType};

use super::{client_cfg, elapsed, kind, ms, parse, secs, server_cfg};
use crate::fuzzing::Delegating as Server;
use crate::fuzzing::client_addr;
use crate::server::Server6Config as ServerConfig;
use crate::timer::{REB_TIMEOUT, REN_TIMEOUT, REQ_MAX_RC, REQ_MAX_RT, SOL_MAX_RT};
use crate::{Client, ClientConfig, Command, Event, Phase};

fn started(cfg: ClientConfig, t0: Instant) -> (Client, Instant, Vec<u8>) {
    let mut c = Client::new(cfg);
    c.handle_command(t0, Command::Start);
    let first = c.poll_timeout().unwrap();
    // RFC 8415 §18.2.1: first Solicit delayed by 0..SOL_MAX_DELAY.
    assert!(first >= t0 && first <= t0 + secs(1));
    assert!(c.poll_transmit().is_none());
    c.handle_timeout(first);
    let tx = c.poll_transmit().unwrap();
    (c, first, tx.payload)
}

fn within(d: Duration, lo: Duration, hi: Duration) -> bool {
    d >= lo && d <= hi
}

#[test]
fn solicit_retransmission_doubles_and_caps_at_sol_max_rt() {
    let t0 = Instant::now();
    let (mut c, first, solicit) = started(client_cfg(1), t0);
    let m = parse(&solicit);
    assert_eq!(m.msg_type, MessageType::Solicit);
    assert_eq!(elapsed(&m), 0);
    let xid = m.xid;
    let (mut sent, mut prev): (Instant, Option<Duration>) = (first, None);
    for _ in 0..25 {
        let next = c.poll_timeout().unwrap();
        let rt = next - sent;
        match prev {
            // "the first RT MUST be selected to be strictly greater than IRT".
            None => assert!(rt > secs(1) && rt <= ms(1100), "first RT {rt:?}"),
            Some(p) => {
                let doubled = within(rt, p.mul_f64(1.9) - ms(1), p.mul_f64(2.1) + ms(1));
                let capped = within(rt, SOL_MAX_RT.mul_f64(0.9), SOL_MAX_RT.mul_f64(1.1));
                assert!(doubled || capped, "RT {rt:?} after {p:?}");
            }
        }
        c.handle_timeout(next);
        let m = parse(&c.poll_transmit().unwrap().payload);
        assert_eq!((m.msg_type, m.xid), (MessageType::Solicit, xid));
        let centis = ((next - first).as_millis() / 10).min(0xffff) as u16;
        assert_eq!(elapsed(&m), centis);
        assert!(c.poll_transmit().is_none());
        (sent, prev) = (next, Some(rt));
    }
    assert!(prev.unwrap() >= SOL_MAX_RT.mul_f64(0.9));
}

/// The server's answer with the IA_PD's T1/T2 and its prefixes' lifetimes replaced by
/// `[t1, t2, preferred, valid]`: a server that lies (ours refuses to be configured so).
fn lie(payload: &[u8], [t1, t2, preferred, valid]: [u32; 4]) -> Vec<u8> {
    let mut m = parse(payload);
    m.opts = m
        .opts
        .iter()
        .cloned()
        .map(|o| match o {
            DhcpOption::IAPD(mut pd) => {
                (pd.t1, pd.t2) = (t1, t2);
                pd.opts = pd
                    .opts
                    .iter()
                    .cloned()
                    .map(|o| match o {
                        DhcpOption::IAPrefix(mut p) => {
                            (p.preferred_lifetime, p.valid_lifetime) = (preferred, valid);
                            DhcpOption::IAPrefix(p)
                        }
                        o => o,
                    })
                    .collect();
                DhcpOption::IAPD(pd)
            }
            o => o,
        })
        .collect();
    m.to_vec().unwrap()
}

/// Brings a client to Requesting with a server's Advertise; returns the server too.
fn requesting(t0: Instant, cfg: ServerConfig) -> (Client, Server, Instant) {
    requesting_lied_to(t0, cfg, None)
}

/// [`requesting`], with the server's timers replaced as [`lie`] does.
fn requesting_lied_to(
    t0: Instant,
    cfg: ServerConfig,
    timers: Option<[u32; 4]>,
) -> (Client, Server, Instant) {
    let (mut c, now, solicit) = started(client_cfg(2), t0);
    let mut s = Server::new(cfg, t0).unwrap();
    s.handle_input(now, client_addr(), &solicit);
    let adv = s.poll_transmit().unwrap();
    assert_eq!(kind(&adv.payload), MessageType::Advertise);
    let adv = timers.map_or(adv.payload.clone(), |t| lie(&adv.payload, t));
    c.handle_input(now + ms(10), &adv);
    assert_eq!(c.phase(), Phase::Soliciting, "collects Advertise for the first RT");
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    assert_eq!(c.phase(), Phase::Requesting);
    (c, s, at)
}

#[test]
fn request_gives_up_after_req_max_rc_and_solicits_again() {
    let t0 = Instant::now();
    let (mut c, _s, mut now) = requesting(t0, server_cfg(48));
    let mut requests = 0;
    let mut last_sent = now;
    loop {
        while let Some(tx) = c.poll_transmit() {
            match kind(&tx.payload) {
                MessageType::Request => {
                    requests += 1;
                    last_sent = now;
                }
                MessageType::Solicit => {
                    assert_eq!(requests, REQ_MAX_RC);
                    assert_eq!(c.phase(), Phase::Soliciting);
                    return;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let next = c.poll_timeout().unwrap();
        assert!(next - last_sent <= REQ_MAX_RT.mul_f64(1.1) + ms(1));
        now = next;
        c.handle_timeout(now);
    }
}

/// A client bound by `cfg`'s server at the returned instant; the server then stays silent.
fn bound(t0: Instant, cfg: ServerConfig) -> (Client, Instant) {
    bound_lied_to(t0, cfg, None)
}

/// [`bound`], with the server's timers replaced as [`lie`] does.
fn bound_lied_to(t0: Instant, cfg: ServerConfig, timers: Option<[u32; 4]>) -> (Client, Instant) {
    let (mut c, mut s, now) = requesting_lied_to(t0, cfg, timers);
    let req = c.poll_transmit().unwrap();
    s.handle_input(now, client_addr(), &req.payload);
    let reply = s.poll_transmit().unwrap().payload;
    c.handle_input(now, &timers.map_or(reply.clone(), |t| lie(&reply, t)));
    assert!(matches!(c.poll_event(), Some(Event::Delegated(_))));
    assert_eq!(c.phase(), Phase::Bound);
    (c, now)
}

#[test]
fn renew_at_t1_rebind_at_t2_lost_at_valid_lifetime() {
    let t0 = Instant::now();
    let (mut c, b) = bound(t0, server_cfg(48)); // T1 1800, T2 2880, valid 7200
    let p = &c.lease().unwrap().prefixes[0];
    let held = (p.prefix, p.len);
    assert_eq!(c.poll_timeout(), Some(b + secs(1800)));
    c.handle_timeout(b + secs(1800));
    assert_eq!(c.phase(), Phase::Renewing);
    assert_eq!(kind(&c.poll_transmit().unwrap().payload), MessageType::Renew);
    // First Renew RT is REN_TIMEOUT ± 10 %.
    let rt = c.poll_timeout().unwrap() - (b + secs(1800));
    assert!(within(rt, REN_TIMEOUT.mul_f64(0.9), REN_TIMEOUT.mul_f64(1.1)));
    let mut renews = 1;
    let mut now = b + secs(1800);
    while c.phase() == Phase::Renewing {
        now = c.poll_timeout().unwrap();
        assert!(now <= b + secs(2880), "Renew's MRD ends at T2");
        c.handle_timeout(now);
        while let Some(tx) = c.poll_transmit() {
            match kind(&tx.payload) {
                MessageType::Renew => renews += 1,
                MessageType::Rebind => assert_eq!(now, b + secs(2880)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(renews > 3);
    assert_eq!(c.phase(), Phase::Rebinding);
    let rt = c.poll_timeout().unwrap() - now;
    assert!(within(rt, REB_TIMEOUT.mul_f64(0.9), REB_TIMEOUT.mul_f64(1.1)));
    while c.phase() == Phase::Rebinding {
        now = c.poll_timeout().unwrap();
        assert!(now <= b + secs(7200), "Rebind's MRD ends at the valid lifetime");
        c.handle_timeout(now);
    }
    assert_eq!(now, b + secs(7200));
    assert_eq!(c.poll_event(), Some(Event::Lost));
    assert_eq!(c.phase(), Phase::Soliciting);
    let mut kinds = Vec::new();
    while let Some(tx) = c.poll_transmit() {
        kinds.push(kind(&tx.payload));
    }
    assert_eq!(kinds.pop(), Some(MessageType::Solicit));
    assert!(kinds.len() > 3 && kinds.iter().all(|k| *k == MessageType::Rebind));
    // The new Solicit asks for the prefix held last.
    assert_eq!(c.config().last_prefix, Some(held));
}

#[test]
fn t1_t2_zero_lets_the_client_choose_half_and_four_fifths_of_preferred() {
    let t0 = Instant::now();
    let mut cfg = server_cfg(56);
    (cfg.t1, cfg.t2, cfg.preferred, cfg.valid) = (0, 0, 1000, 2000);
    let (c, b) = bound(t0, cfg);
    let lease = c.lease().unwrap();
    assert_eq!((lease.t1, lease.t2), (500, 800));
    assert_eq!(c.poll_timeout(), Some(b + secs(500)));
}

#[test]
fn t1_above_t2_discards_the_ia_pd() {
    // RFC 8415 §21.21: such an IA_PD is discarded, so the Advertise carries nothing usable.
    let t0 = Instant::now();
    let (mut c, now, solicit) = started(client_cfg(2), t0);
    let mut s = Server::new(server_cfg(48), t0).unwrap();
    s.handle_input(now, client_addr(), &solicit);
    c.handle_input(now, &lie(&s.poll_transmit().unwrap().payload, [2000, 1000, 3600, 7200]));
    c.handle_timeout(c.poll_timeout().unwrap());
    assert_eq!(c.phase(), Phase::Soliciting);
    assert_eq!(kind(&c.poll_transmit().unwrap().payload), MessageType::Solicit);
    assert_eq!(c.poll_event(), None);
}

#[test]
fn t2_beyond_valid_is_clamped_and_infinite_lifetimes_never_renew() {
    let t0 = Instant::now();
    let (c, _) = bound_lied_to(t0, server_cfg(48), Some([100, 9000, 300, 600]));
    assert_eq!((c.lease().unwrap().t1, c.lease().unwrap().t2), (100, 600));
    let mut cfg = server_cfg(48);
    (cfg.t1, cfg.t2, cfg.preferred, cfg.valid) = (0, 0, u32::MAX, u32::MAX);
    let (c, _) = bound(t0, cfg);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn advertise_with_highest_preference_wins_and_255_is_taken_at_once() {
    let t0 = Instant::now();
    let (mut c, now, solicit) = started(client_cfg(3), t0);
    let mut servers: Vec<Server> = [(10u8, 1u8), (200, 2)]
        .into_iter()
        .map(|(pref, id)| {
            let mut cfg = server_cfg(48);
            cfg.preference = pref;
            cfg.duid = vec![0, 3, 0, 1, 2, 0, 0, 0, 0, id];
            Server::new(cfg, t0).unwrap()
        })
        .collect();
    for s in &mut servers {
        s.handle_input(now, client_addr(), &solicit);
        c.handle_input(now + ms(5), &s.poll_transmit().unwrap().payload);
    }
    c.handle_timeout(c.poll_timeout().unwrap());
    let req = parse(&c.poll_transmit().unwrap().payload);
    assert_eq!(req.msg_type, MessageType::Request);
    assert_eq!(req.server_id(), Some(&[0, 3, 0, 1, 2, 0, 0, 0, 0, 2][..]));

    let (mut c, now, solicit) = started(client_cfg(4), t0);
    let mut cfg = server_cfg(48);
    cfg.preference = 255;
    let mut s = Server::new(cfg, t0).unwrap();
    s.handle_input(now, client_addr(), &solicit);
    c.handle_input(now + ms(5), &s.poll_transmit().unwrap().payload);
    assert_eq!(c.phase(), Phase::Requesting);
    assert_eq!(kind(&c.poll_transmit().unwrap().payload), MessageType::Request);
}

#[test]
fn replies_with_wrong_xid_or_client_id_are_ignored() {
    let t0 = Instant::now();
    let (mut c, now, solicit) = started(client_cfg(5), t0);
    let mut s = Server::new(server_cfg(48), t0).unwrap();
    let mut other = parse(&solicit);
    other.xid[0] ^= 0xff;
    s.handle_input(now, client_addr(), &other.to_vec().unwrap());
    c.handle_input(now, &s.poll_transmit().unwrap().payload);
    let mut stranger = parse(&solicit);
    stranger.opts.remove(dhcproto::v6::OptionCode::ClientId);
    stranger.push(dhcproto::v6::DhcpOption::ClientId(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]));
    s.handle_input(now, client_addr(), &stranger.to_vec().unwrap());
    c.handle_input(now, &s.poll_transmit().unwrap().payload);
    c.handle_input(now, &[0x02, 0x00]);
    assert_eq!(c.stats().ignored, 2);
    assert_eq!(c.stats().malformed, 1);
    c.handle_timeout(c.poll_timeout().unwrap());
    assert_eq!(c.phase(), Phase::Soliciting, "nothing usable was collected");
}

#[test]
fn information_only_mode_sends_information_request_and_refreshes() {
    let t0 = Instant::now();
    let cfg = ClientConfig { information_only: true, ..client_cfg(6) };
    let mut c = Client::new(cfg);
    c.handle_command(t0, Command::Start);
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    let ir = c.poll_transmit().unwrap();
    assert_eq!(kind(&ir.payload), MessageType::InformationRequest);
    let mut s = Server::new(server_cfg(48), t0).unwrap();
    s.handle_input(at, client_addr(), &ir.payload);
    c.handle_input(at, &s.poll_transmit().unwrap().payload);
    match c.poll_event() {
        Some(Event::Information(info)) => {
            assert_eq!(info.dns_servers, vec![super::addr("2001:db8:ffff::53")]);
            assert_eq!(info.domains, vec!["isp.example".to_owned(), "example.net".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    // RFC 8415 §21.23: IRT_DEFAULT when the server sends no refresh time.
    assert_eq!(c.poll_timeout(), Some(at + secs(86_400)));
}
