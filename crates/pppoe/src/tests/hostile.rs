//! Forged frames from the AC's MAC and session id on an established session (what a hostile
//! host on the PPPoE segment can send): none may drop the line, and CHAP is never answered
//! when it is not ours to answer.

use std::time::Duration;

use super::pair::{Pair, ac_config, client_config};
use crate::wire::session::session_frame;
use crate::wire::{ChapPacket, SessionKey, proto};
use crate::{AuthKind, Event};

/// A session frame as the AC would send it to the client.
fn forged(pair: &Pair, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let k = pair.client.session_key().expect("session up");
    let from_ac = SessionKey { local: k.peer, peer: k.local, ..k };
    session_frame(&from_ac, protocol, payload).expect("frame")
}

/// Injects `frame`, lets both sides exchange for a minute, and checks the session survived.
fn survives(pair: &mut Pair, frame: &[u8]) {
    let session = pair.client.session_key().unwrap().session_id;
    let events = pair.client_events.len();
    pair.client.handle_input(pair.now, frame);
    let until = pair.now + Duration::from_secs(60);
    assert!(pair.drive(200, |p| p.now >= until));
    let later = &pair.client_events[events..];
    assert!(!later.iter().any(|e| matches!(e, Event::Down(_))), "line dropped: {later:?}");
    assert_eq!(pair.client.session_key().unwrap().session_id, session, "redialed");
    assert_eq!(pair.client_down(), None);
}

fn up(auth: AuthKind) -> Pair {
    let mut pair = Pair::new(client_config(), ac_config(Some(auth)));
    pair.bring_up();
    assert!(pair.client_up().is_some());
    pair
}

/// CHAP frames the client sent from `from` on.
fn chap_sent(pair: &Pair, from: usize) -> usize {
    pair.client_sent[from..]
        .iter()
        .filter(|t| t.bytes.windows(2).any(|w| w == proto::CHAP.to_be_bytes()))
        .filter(|t| {
            t.bytes.get(12..14) == Some(&[0x88, 0x64]) || t.bytes.get(16..18) == Some(&[0x88, 0x64])
        })
        .count()
}

#[test]
fn a_code_reject_without_a_rejected_packet_is_dropped_not_fatal() {
    let mut pair = up(AuthKind::Pap);
    let frame = forged(&pair, proto::LCP, &[0x07, 0x42, 0x00, 0x04]);
    survives(&mut pair, &frame);
    assert_eq!(pair.client.stats().ignored_rejects, 1);
}

#[test]
fn a_code_reject_of_a_configure_request_we_never_sent_is_dropped() {
    let mut pair = up(AuthKind::Pap);
    // A Configure-Request with an identifier the client did not use last.
    let frame = forged(&pair, proto::LCP, &[0x07, 0x43, 0x00, 0x08, 0x01, 0x99, 0x00, 0x04]);
    survives(&mut pair, &frame);
    assert_eq!(pair.client.stats().ignored_rejects, 1);
}

#[test]
fn a_protocol_reject_of_an_opened_ipcp_is_dropped_and_ipv4_stays() {
    let mut pair = up(AuthKind::Pap);
    let frame =
        forged(&pair, proto::LCP, &[0x08, 0x44, 0x00, 0x0a, 0x80, 0x21, 0x01, 0x01, 0x00, 0x04]);
    let events = pair.client_events.len();
    survives(&mut pair, &frame);
    assert!(
        !pair.client_events[events..].iter().any(|e| !matches!(e, Event::Up(_))),
        "{:?}",
        &pair.client_events[events..]
    );
    assert_eq!(pair.client.stats().ignored_rejects, 1);
    assert!(pair.client_up().unwrap().ipv4.is_some());
}

#[test]
fn a_chap_challenge_after_pap_is_not_answered() {
    let mut pair = up(AuthKind::Pap);
    let from = pair.client_sent.len();
    let challenge = ChapPacket::Challenge { id: 9, value: vec![0x5a; 16], name: b"ac".to_vec() };
    let frame = forged(&pair, proto::CHAP, &challenge.to_vec().unwrap());
    survives(&mut pair, &frame);
    assert_eq!(chap_sent(&pair, from), 0, "an MD5 of the password went out");
    assert_eq!(pair.client.stats().ignored_challenges, 1);
}

#[test]
fn a_rechallenge_after_chap_is_still_answered() {
    let mut pair = up(AuthKind::ChapMd5);
    let from = pair.client_sent.len();
    let challenge = ChapPacket::Challenge { id: 9, value: vec![0x5a; 16], name: b"ac".to_vec() };
    let frame = forged(&pair, proto::CHAP, &challenge.to_vec().unwrap());
    pair.client.handle_input(pair.now, &frame);
    pair.exchange();
    assert_eq!(chap_sent(&pair, from), 1, "RFC 1994 §2.3 rechallenge");
    assert_eq!(pair.client.stats().ignored_challenges, 0);
}
