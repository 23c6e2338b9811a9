//! Timeline tests on a fake clock: PADI back-off, PADR retries, echo keepalive.

use std::time::{Duration, Instant};

use super::pair::{Pair, ac_config, client_config, discovery_code};
use crate::wire::DiscoveryCode;
use crate::{AuthKind, DownReason, Event, PppoeClient};

/// Runs `client` alone (nobody answers) and returns the seconds at which it sent frames of
/// `code`, and when it gave up.
fn alone(client: &mut PppoeClient, start: Instant, code: DiscoveryCode) -> (Vec<u64>, Option<u64>) {
    let mut sent = Vec::new();
    let mut now = start;
    for _ in 0..50 {
        while let Some(t) = client.poll_transmit() {
            if discovery_code(&t) == Some(code) {
                sent.push((now - start).as_secs());
            }
        }
        if let Some(Event::Down(DownReason::DiscoveryTimeout)) = client.poll_event() {
            return (sent, Some((now - start).as_secs()));
        }
        let Some(next) = client.poll_timeout() else {
            break;
        };
        now = next;
        client.handle_timeout(now);
    }
    (sent, None)
}

#[test]
fn padi_backoff_doubles_and_is_bounded() {
    let start = Instant::now();
    let mut client = PppoeClient::new(client_config(), start);
    let (sent, gave_up) = alone(&mut client, start, DiscoveryCode::Padi);
    // RFC 2516 §5.1 "double the waiting period": 2, 4, 8, 16, then capped at 16 s.
    assert_eq!(sent, vec![0, 2, 6, 14, 30]);
    assert_eq!(gave_up, Some(46));
    assert_eq!(client.stats().discovery_retransmits, 4);
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn padr_retries_then_discovery_timeout() {
    let mut pair = Pair::new(client_config(), ac_config(None));
    pair.drop_to_ac = Box::new(|t| discovery_code(t) == Some(DiscoveryCode::Padr));
    assert!(pair.drive(50, |p| p.client_down().is_some()));
    assert_eq!(pair.client_down(), Some(DownReason::DiscoveryTimeout));
    let padrs = pair.client_sent.iter().filter(|t| discovery_code(t) == Some(DiscoveryCode::Padr));
    assert_eq!(padrs.count(), 3);
    // Sent at 0, 2 and 6 s; given up 8 s after the last.
    assert_eq!(pair.elapsed_ms(), 14_000);
}

/// A pair brought up with the AC's own keepalive off, so only the client probes.
fn up_pair() -> Pair {
    let mut ac = ac_config(Some(AuthKind::Pap));
    ac.echo_interval = None;
    let mut pair = Pair::new(client_config(), ac);
    pair.bring_up();
    pair
}

#[test]
fn silent_link_dies_after_interval_times_failures_plus_one() {
    let mut pair = up_pair();
    let up_at = pair.now;
    // The AC vanishes: nothing reaches the client any more.
    pair.drop_to_client = Box::new(|_| true);
    assert!(pair.drive(20, |p| p.client_down().is_some()));
    assert_eq!(pair.client_down(), Some(DownReason::EchoTimeout));
    // Echo-Requests at +10, +20, +30 s unanswered; declared dead at +40 s (pppd's rule: the
    // 4th interval finds 3 outstanding).
    assert_eq!(pair.client.stats().echo_requests, 3);
    assert_eq!((pair.now - up_at).as_secs(), 40);
}

#[test]
fn busy_link_is_never_declared_dead() {
    let mut pair = up_pair();
    pair.drop_to_client = Box::new(|_| true);
    // Data keeps arriving every 5 s (the driver reports it), but no LCP at all.
    for _ in 0..60 {
        pair.now += Duration::from_secs(5);
        pair.client.note_received(pair.now);
        if pair.client.poll_timeout().is_some_and(|d| d <= pair.now) {
            pair.client.handle_timeout(pair.now);
        }
        pair.exchange();
    }
    assert_eq!(pair.client_down(), None);
    assert_eq!(pair.client.stats().echo_requests, 0);
}

#[test]
fn answered_echo_keeps_link_up() {
    let mut pair = up_pair();
    let until = pair.now + Duration::from_secs(300);
    assert!(pair.drive(100, |p| p.now >= until));
    assert_eq!(pair.client_down(), None);
    // One probe per quiet interval, each answered at once: every round trip is counted,
    // in the first bucket (the pair's clock does not move during an exchange).
    let stats = pair.client.stats();
    assert!(stats.echo_requests >= 29);
    assert_eq!(stats.echo_rtt.count, stats.echo_requests);
    assert_eq!((stats.echo_rtt.buckets[0], stats.echo_rtt.sum_us), (stats.echo_requests, 0));
}

/// The round trip is the time from the Echo-Request to its own Echo-Reply; a reply to an
/// older request, or a second copy, measures nothing.
#[test]
fn echo_round_trip_is_measured_from_request_to_its_reply() {
    let t0 = Instant::now();
    let mut echo = crate::lcp::Echo::new(Some(Duration::from_secs(10)), 3);
    echo.start(t0);
    let t1 = t0 + Duration::from_secs(10);
    assert_eq!(echo.handle_timeout(t1), Some(crate::lcp::EchoAction::Send(1)));
    assert_eq!(echo.handle_reply(0, t1 + Duration::from_millis(3)), None);
    assert_eq!(echo.handle_reply(1, t1 + Duration::from_millis(7)), Some(Duration::from_millis(7)));
    assert_eq!(echo.handle_reply(1, t1 + Duration::from_millis(9)), None);

    let mut h = crate::RttHistogram::default();
    for ms in [0, 7, 7, 300] {
        h.observe(Duration::from_millis(ms));
    }
    // 0 ms in the first bucket, 7 ms in the 10 ms one, 300 ms above the last bound.
    assert_eq!(h.buckets, [1, 0, 0, 2, 0, 0, 0, 0]);
    assert_eq!((h.count, h.sum_us), (4, 314_000));
}
