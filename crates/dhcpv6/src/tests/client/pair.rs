//! `Pair`: the requesting router against the delegating router in memory, advancing a fake
//! clock to the next deadline, with a loss knob, a deaf-server knob and a bounded `drive`.

use std::time::Instant;

use dhcproto::v6::MessageType;

use super::{CLIENT_DUID, client_cfg, kind, secs, server_cfg};
use crate::fuzzing::{Delegating, client_addr, pd_pool};
use crate::rng::Rng;
use crate::server::{PdPool, Server6Config};
use crate::{Client, ClientConfig, Command, Event, Lease, Phase};

pub(crate) struct Pair {
    pub(crate) client: Client,
    pub(crate) server: Delegating,
    pub(crate) now: Instant,
    /// Percentage of datagrams lost, each direction.
    pub(crate) loss: u64,
    /// The server hears nothing.
    pub(crate) deaf: bool,
    rng: Rng,
    pub(crate) events: Vec<Event>,
    /// Message types the client sent (including lost ones), with when.
    pub(crate) sent: Vec<(Instant, MessageType)>,
}

impl Pair {
    pub(crate) fn new(c: ClientConfig, s: Server6Config) -> Self {
        let now = Instant::now();
        let mut client = Client::new(c);
        client.handle_command(now, Command::Start);
        let mut p = Self {
            client,
            server: Delegating::new(s, now).unwrap(),
            now,
            loss: 0,
            deaf: false,
            rng: Rng::new(99),
            events: Vec::new(),
            sent: Vec::new(),
        };
        p.flush();
        p
    }

    fn lost(&mut self) -> bool {
        self.rng.below(100) < self.loss
    }

    /// Delivers queued datagrams both ways until quiet; collects events.
    pub(crate) fn flush(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            while let Some(tx) = self.client.poll_transmit() {
                moved = true;
                self.sent.push((self.now, kind(&tx.payload)));
                if !self.deaf && !self.lost() {
                    self.server.handle_input(self.now, client_addr(), &tx.payload);
                }
            }
            while let Some(tx) = self.server.poll_transmit() {
                moved = true;
                if !self.lost() {
                    self.client.handle_input(self.now, &tx.payload);
                }
            }
            while let Some(ev) = self.client.poll_event() {
                self.events.push(ev);
            }
            if !moved {
                return;
            }
        }
        panic!("datagrams kept flowing without time passing");
    }

    /// Advances to the next deadline of either machine.
    pub(crate) fn step(&mut self) -> bool {
        self.flush();
        let next =
            [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.flush();
        true
    }

    /// Steps until `done` holds, at most `max` steps.
    pub(crate) fn drive(&mut self, max: usize, done: impl Fn(&Pair) -> bool) -> bool {
        for _ in 0..max {
            if done(self) {
                return true;
            }
            if !self.step() {
                break;
            }
        }
        done(self)
    }

    pub(crate) fn delegated(&self) -> Option<&Lease> {
        self.events.iter().rev().find_map(|e| match e {
            Event::Delegated(l) | Event::Renewed(l) | Event::Changed { new: l, .. } => Some(l),
            _ => None,
        })
    }

    pub(crate) fn has(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }

    fn sent_kinds(&self) -> Vec<MessageType> {
        self.sent.iter().map(|s| s.1).collect()
    }
}

fn bound_pair(c: ClientConfig, s: Server6Config) -> Pair {
    let mut p = Pair::new(c, s);
    assert!(p.drive(50, |p| p.client.phase() == Phase::Bound));
    p
}

#[test]
fn hint_is_honoured_for_48_56_and_60() {
    for len in [48u8, 56, 60] {
        let want = pool(len).nth(5).unwrap();
        let cfg =
            ClientConfig { last_prefix: Some((want, len)), prefix_len_hint: len, ..client_cfg(10) };
        let p = bound_pair(cfg, server_cfg(len));
        let lease = p.delegated().unwrap();
        assert_eq!((lease.prefixes[0].prefix, lease.prefixes[0].len), (want, len));
        assert_eq!(lease.dns_servers, vec![super::addr("2001:db8:ffff::53")]);
        assert_eq!(lease.domains, vec!["isp.example".to_owned(), "example.net".to_owned()]);
        assert_eq!(p.server.prefix_of(&CLIENT_DUID, 1), Some((want, len)));
    }
}

fn pool(len: u8) -> PdPool {
    super::pool(len)
}

#[test]
fn length_hint_alone_gets_a_prefix_of_the_pool() {
    let p = bound_pair(client_cfg(11), server_cfg(56));
    let lease = p.delegated().unwrap();
    let got = (lease.prefixes[0].prefix, lease.prefixes[0].len);
    assert_eq!(got.1, 56);
    assert!(pool(56).index(got.0, 56).is_some(), "{got:?} is not in the pool");
    assert_eq!(p.server.prefix_of(&CLIENT_DUID, 1), Some(got));
    assert_eq!(p.sent_kinds(), vec![MessageType::Solicit, MessageType::Request]);
}

#[test]
fn rapid_commit_binds_in_one_round_trip() {
    let cfg = ClientConfig { rapid_commit: true, ..client_cfg(12) };
    let p = bound_pair(cfg, server_cfg(48));
    assert_eq!(p.sent_kinds(), vec![MessageType::Solicit]);
    assert!(matches!(p.events[0], Event::Delegated(_)));
}

#[test]
fn renew_at_t1_extends_the_same_prefix() {
    let mut p = bound_pair(client_cfg(13), server_cfg(48));
    let bound_at = p.now;
    assert!(p.drive(10, |p| p.has(|e| matches!(e, Event::Renewed(_)))));
    assert_eq!(p.now, bound_at + secs(1800));
    assert_eq!(p.sent.last().unwrap().1, MessageType::Renew);
    assert_eq!(p.client.phase(), Phase::Bound);
    // The renewed lifetimes count from the Renew's Reply.
    assert_eq!(p.client.poll_timeout(), Some(p.now + secs(1800)));
}

#[test]
fn silent_server_on_renew_leads_to_rebind_which_succeeds() {
    let mut p = bound_pair(client_cfg(14), server_cfg(48));
    let bound_at = p.now;
    p.deaf = true;
    assert!(p.drive(200, |p| p.client.phase() == Phase::Rebinding));
    assert_eq!(p.now, bound_at + secs(2880));
    p.deaf = false;
    assert!(p.drive(20, |p| p.has(|e| matches!(e, Event::Renewed(_)))));
    assert!(p.sent_kinds().contains(&MessageType::Rebind));
    assert!(!p.has(|e| matches!(e, Event::Lost)));
}

#[test]
fn server_that_forgot_the_binding_gets_a_request_after_no_binding() {
    let mut p = bound_pair(client_cfg(15), server_cfg(48));
    let prefix = p.delegated().unwrap().prefixes[0].prefix;
    p.server = Delegating::new(server_cfg(48), p.now).unwrap();
    assert!(p.drive(10, |p| p.has(|e| matches!(e, Event::Renewed(_)))));
    let kinds = p.sent_kinds();
    assert_eq!(&kinds[kinds.len() - 2..], &[MessageType::Renew, MessageType::Request]);
    assert_eq!(p.delegated().unwrap().prefixes[0].prefix, prefix);
}

#[test]
fn no_prefix_avail_then_success_when_space_frees() {
    // A pool of exactly one /48.
    let mut scfg = server_cfg(48);
    scfg.pd_pool = Some(pd_pool(super::addr("2001:db8:1000::"), 48, 48));
    let mut p = bound_pair(client_cfg(16), scfg);
    let mut first = std::mem::replace(
        &mut p.client,
        Client::new(ClientConfig {
            duid: vec![0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 2],
            ..client_cfg(17)
        }),
    );
    p.client.handle_command(p.now, Command::Start);
    p.events.clear();
    assert!(p.drive(20, |p| p.has(|e| *e == Event::NoPrefixAvail)));
    assert_eq!(p.client.phase(), Phase::Soliciting, "Advertise with NoPrefixAvail is ignored");
    // The first client releases; the second gets the prefix on a later Solicit.
    first.handle_command(p.now, Command::Release);
    let release = first.poll_transmit().unwrap();
    p.server.handle_input(p.now, client_addr(), &release.payload);
    assert!(p.server.is_empty());
    let _ = p.server.poll_transmit();
    assert!(p.drive(50, |p| p.has(|e| matches!(e, Event::Delegated(_)))));
    assert_eq!(p.delegated().unwrap().prefixes[0].prefix, super::addr("2001:db8:1000::"));
}

#[test]
fn no_prefix_avail_in_reply_backs_off() {
    let mut scfg = server_cfg(48);
    scfg.pd_pool = Some(pd_pool(super::addr("2001:db8:1000::"), 48, 48));
    let mut p = bound_pair(client_cfg(18), scfg);
    let cfg = ClientConfig {
        duid: vec![0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 3],
        rapid_commit: true,
        ..client_cfg(19)
    };
    p.client = Client::new(cfg);
    p.client.handle_command(p.now, Command::Start);
    p.events.clear();
    assert!(p.drive(5, |p| p.client.phase() == Phase::Backoff));
    assert_eq!(p.events, vec![Event::NoPrefixAvail]);
    let wait = p.client.poll_timeout().unwrap() - p.now;
    assert!(wait >= secs(60) && wait <= secs(66), "{wait:?}");
}

#[test]
fn pool_change_gives_changed_with_a_prefix_from_the_new_pool() {
    let mut p = bound_pair(client_cfg(20), server_cfg(48));
    let old = p.delegated().unwrap().clone();
    let new_pool = pd_pool(super::addr("2001:db8:2000::"), 36, 48);
    p.server.set_pool(p.now, new_pool).unwrap();
    assert!(p.drive(10, |p| p.has(|e| matches!(e, Event::Changed { .. }))));
    let changed = p.events.iter().rev().find(|e| matches!(e, Event::Changed { .. }));
    let Some(Event::Changed { old: o, new }) = changed.cloned() else { panic!() };
    assert_eq!(o, old);
    assert_eq!(new.prefixes.len(), 1, "the old prefix came back with lifetime 0 and was dropped");
    assert!(new_pool.index(new.prefixes[0].prefix, 48).is_some());
    assert!(p.server.binding(&CLIENT_DUID, 1).unwrap().retired.is_empty());
}

#[test]
fn release_frees_the_binding_and_the_prefix_comes_back_next_time() {
    let mut p = bound_pair(client_cfg(21), server_cfg(48));
    let prefix = p.delegated().unwrap().prefixes[0].prefix;
    p.client.handle_command(p.now, Command::Release);
    p.flush();
    assert!(p.has(|e| *e == Event::Released));
    assert_eq!(p.client.phase(), Phase::Idle);
    assert_eq!(p.sent.last().unwrap().1, MessageType::Release);
    assert!(p.server.is_empty());
    // A fresh client with the same DUID and no hint gets the same prefix (history).
    let cfg = ClientConfig { prefix_len_hint: 0, ..client_cfg(22) };
    p.client = Client::new(cfg);
    p.client.handle_command(p.now, Command::Start);
    assert!(p.drive(20, |p| p.client.phase() == Phase::Bound));
    assert_eq!(p.client.lease().unwrap().prefixes[0].prefix, prefix);
}

#[test]
fn reconfigure_makes_the_client_renew_now() {
    let mut p = bound_pair(client_cfg(23), server_cfg(48));
    assert!(p.client.lease().unwrap().reconfigure);
    let t = p.now + secs(100);
    p.now = t;
    assert_eq!(p.server.reconfigure_all(t), 1);
    p.flush();
    assert!(p.has(|e| matches!(e, Event::Renewed(_))));
    assert_eq!(p.sent.last().unwrap(), &(t, MessageType::Renew));
    // The Renew ended the Reconfigure: it is not sent again.
    let before = p.server.server.stats().reconfigures;
    p.now += secs(60);
    p.server.handle_timeout(p.now);
    assert_eq!(p.server.server.stats().reconfigures, before, "Reconfigure retransmitted");
}

#[test]
fn reconfigure_after_pool_change_delivers_the_new_prefix_at_once() {
    let mut p = bound_pair(client_cfg(24), server_cfg(48));
    // With Reconfigure agreed, the server sends it as soon as it is renumbered.
    p.server.set_pool(p.now, pd_pool(super::addr("2001:db8:3000::"), 36, 48)).unwrap();
    assert_eq!(p.server.server.stats().reconfigures, 1);
    p.flush();
    let Some(Event::Changed { new, .. }) = p.events.last() else { panic!("{:?}", p.events) };
    let new_pool = pd_pool(super::addr("2001:db8:3000::"), 36, 48);
    assert!(new_pool.index(new.prefixes[0].prefix, 48).is_some(), "{:?}", new.prefixes);
}

#[test]
fn reconfigure_is_refused_without_reconfigure_accept() {
    let cfg = ClientConfig { reconfigure_accept: false, ..client_cfg(25) };
    let mut p = bound_pair(cfg, server_cfg(48));
    assert_eq!(p.server.reconfigure_all(p.now), 0);
}

#[test]
fn rebind_command_on_link_change() {
    let mut p = bound_pair(client_cfg(26), server_cfg(48));
    p.client.handle_command(p.now, Command::Rebind);
    p.flush();
    assert_eq!(p.sent.last().unwrap().1, MessageType::Rebind);
    assert!(p.has(|e| matches!(e, Event::Renewed(_))));
}

#[test]
fn twenty_percent_loss_still_binds() {
    for seed in 0..20 {
        let mut p = Pair::new(client_cfg(100 + seed), server_cfg(48));
        p.loss = 20;
        p.rng = Rng::new(seed);
        assert!(p.drive(200, |p| p.client.phase() == Phase::Bound), "seed {seed}");
        // And it stays bound through several renewals.
        assert!(p.drive(400, |p| {
            p.events.iter().filter(|e| matches!(e, Event::Renewed(_))).count() >= 3
        }));
        assert!(!p.has(|e| matches!(e, Event::Lost)), "seed {seed}");
    }
}

#[test]
fn lost_at_expiry_when_the_server_vanishes_then_rebinds_from_scratch() {
    let mut p = bound_pair(client_cfg(27), server_cfg(48));
    let bound_at = p.now;
    p.deaf = true;
    assert!(p.drive(400, |p| p.has(|e| *e == Event::Lost)));
    assert_eq!(p.now, bound_at + secs(7200));
    assert!(p.server.is_empty(), "the server expired its binding too");
    p.deaf = false;
    assert!(p.drive(50, |p| p.client.phase() == Phase::Bound));
    assert!(matches!(p.events.last(), Some(Event::Delegated(_))));
}
