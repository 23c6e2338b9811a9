//! The client against the project's own DHCPv4 server (`crate::server::Server`), both sans-IO.

use std::time::Instant;

use super::*;
use crate::fuzzing::{exchange, server};

/// Runs the pair until the client's next deadline `n` times (bounded), exchanging at each.
fn drive(c: &mut Client, s: &mut crate::server::Server, mut now: Instant, n: usize) -> Instant {
    for _ in 0..n {
        let Some(at) = c.poll_timeout() else { break };
        now = now.max(at);
        c.handle_timeout(now);
        s.handle_timeout(now);
        exchange(c, s, now);
    }
    now
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn pair_dora_renew_release_and_init_reboot_against_dhcp_server() {
    let t0 = Instant::now();
    let mut s = server(t0).unwrap();
    let mut c = Client::new(client_cfg(21), t0);
    let now = drive(&mut c, &mut s, t0, 1);
    let ev = events(&mut c);
    let [Event::Bound(l)] = &ev[..] else { panic!("{ev:?}") };
    assert_eq!(l.address, ip("198.51.100.100"));
    assert_eq!((l.prefix_len, l.gateway, l.server), (24, Some(SERVER_A), SERVER_A));
    assert_eq!(l.domain.as_deref(), Some("isp.example"));
    assert_eq!(l.mtu, Some(1500));
    assert_eq!(l.lease_time, 3600);

    // T1: the unicast renewal reaches the server and is ACKed.
    let now = drive(&mut c, &mut s, now, 1);
    assert_eq!(now - t0, secs(1800));
    assert!(matches!(&events(&mut c)[..], [Event::Renewed(n)] if n.address == l.address));
    assert_eq!(c.phase(), Phase::Bound);

    // Release: the server frees the lease.
    c.release(now);
    exchange(&mut c, &mut s, now);
    let freed = std::iter::from_fn(|| s.poll_event())
        .any(|e| matches!(e, crate::server::Event::LeaseReleased(x) if x.address == l.address));
    assert!(freed, "the server saw the RELEASE");

    // A new client remembering the address gets it back by INIT-REBOOT.
    let mut cfg = client_cfg(22);
    cfg.requested_address = Some(l.address);
    let mut c = Client::new(cfg, now);
    drive(&mut c, &mut s, now, 1);
    assert!(matches!(&events(&mut c)[..], [Event::Bound(n)] if n.address == l.address));
    assert_eq!(c.stats().transmitted, 1, "one REQUEST, no DISCOVER");
}

#[test]
fn pair_init_reboot_for_a_foreign_address_is_naked_then_dora() {
    let t0 = Instant::now();
    let mut s = server(t0).unwrap();
    let mut cfg = client_cfg(23);
    cfg.requested_address = Some(ip("10.1.2.3"));
    let mut c = Client::new(cfg, t0);
    let now = drive(&mut c, &mut s, t0, 1);
    assert_eq!(c.phase(), Phase::Init, "authoritative server NAKs");
    assert_eq!(c.stats().naks, 1);
    let now = drive(&mut c, &mut s, now, 1);
    assert!(matches!(&events(&mut c)[..], [Event::Bound(n)] if n.address == ip("198.51.100.100")));
    assert!(now - t0 >= secs(1));
}

#[test]
fn pair_runs_for_days_with_renewals_only() {
    let t0 = Instant::now();
    let mut s = server(t0).unwrap();
    let mut c = Client::new(client_cfg(24), t0);
    let now = drive(&mut c, &mut s, t0, 100);
    assert!(now - t0 >= secs(100 * 1800 - 3600));
    let ev = events(&mut c);
    assert!(matches!(ev.first(), Some(Event::Bound(_))));
    assert!(ev[1..].iter().all(|e| matches!(e, Event::Renewed(_))), "{ev:?}");
    assert_eq!(c.stats().malformed + c.stats().foreign + c.stats().ignored, 0);
}

#[test]
fn pair_with_loss_rebinds_and_keeps_the_address() {
    let t0 = Instant::now();
    let mut s = server(t0).unwrap();
    let mut c = Client::new(client_cfg(25), t0);
    let mut now = drive(&mut c, &mut s, t0, 1);
    let addr = c.lease().unwrap().address;
    // Drop every renewal until T2; the rebind gets through.
    for _ in 0..50 {
        let at = c.poll_timeout().unwrap();
        now = at;
        c.handle_timeout(now);
        if c.phase() == Phase::Rebinding {
            exchange(&mut c, &mut s, now);
            break;
        }
        while c.poll_transmit().is_some() {}
    }
    assert_eq!(c.phase(), Phase::Bound);
    assert_eq!(c.lease().unwrap().address, addr);
    assert_eq!(now - t0, secs(3150));
}

#[test]
fn pair_rapid_commit_rfc4039_two_messages() {
    let t0 = Instant::now();
    let mut cfg = server(t0).unwrap().config().clone();
    cfg.rapid_commit = true;
    let mut s2 = crate::server::Server::new(cfg, t0, 1_700_000_000).unwrap();
    let mut cc = client_cfg(26);
    cc.rapid_commit = true;
    let mut c = Client::new(cc, t0);
    drive(&mut c, &mut s2, t0, 1);
    assert!(matches!(&events(&mut c)[..], [Event::Bound(l)] if l.address == ip("198.51.100.100")));
    assert_eq!(c.stats().transmitted, 1, "DISCOVER answered by an ACK: no REQUEST");
}
