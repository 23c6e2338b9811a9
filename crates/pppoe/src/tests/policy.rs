//! Option policies on their own: RFC answers to awkward peers.

use std::net::Ipv4Addr;

use splitmix::Rng;

use super::pair::{Pair, ac_config, client_config};
use crate::AuthKind;
use crate::fsm::{Judgement, Policy};
use crate::lcp::{LcpPolicy, LcpSettings};
use crate::ncp::{IpcpPolicy, IpcpRole, Ipv6cpPolicy};
use crate::wire::session::session_frame;
use crate::wire::{CpPacket, IpcpOption, Ipv6cpOption, LcpOption, proto};

#[test]
fn ipv6cp_naks_zero_and_our_own_identifier() {
    let mut p = Ipv6cpPolicy::new(Rng::new(5));
    let ours = p.local;
    for bad in [0, ours] {
        match p.judge(&Ipv6cpOption::InterfaceId(bad)) {
            Judgement::Nak(Ipv6cpOption::InterfaceId(s)) => assert!(s != 0 && s != ours),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(p.judge(&Ipv6cpOption::InterfaceId(ours ^ 1)), Judgement::Ack);
    // A NAK suggesting the peer's own identifier is not taken.
    p.peer_acked(&[Ipv6cpOption::InterfaceId(77)]);
    p.naked(&[Ipv6cpOption::InterfaceId(77)]);
    assert!(p.local != 77 && p.local != 0);
}

#[test]
fn lcp_magic_collision_is_naked_and_ours_changes() {
    let settings = LcpSettings { mru: 1492, max_mru: 1492, require: None, accept: vec![] };
    let mut p = LcpPolicy::new(settings, Rng::new(1));
    p.reset();
    let ours = p.magic();
    let judged = p.judge(&LcpOption::MagicNumber(ours));
    assert!(matches!(judged, Judgement::Nak(LcpOption::MagicNumber(m)) if m != ours));
    assert_ne!(p.magic(), ours);
    // MRU above what PPPoE carries is NAKed down to it; unknown options are rejected.
    assert_eq!(p.judge(&LcpOption::Mru(1500)), Judgement::Nak(LcpOption::Mru(1492)));
    assert_eq!(p.judge(&LcpOption::Unknown { kind: 7, data: vec![] }), Judgement::Reject);
    // With no credentials, any authentication request is rejected.
    assert_eq!(p.judge(&LcpOption::AuthProtocol(AuthKind::Pap.to_wire())), Judgement::Reject);
}

#[test]
fn ipcp_host_learns_from_nak_and_drops_rejected_dns() {
    let mut p = IpcpPolicy::new(IpcpRole::Host { hint: Ipv4Addr::UNSPECIFIED, dns: true });
    assert_eq!(p.request().len(), 3);
    p.naked(&[IpcpOption::IpAddress(Ipv4Addr::new(198, 51, 100, 9))]);
    p.rejected(&[IpcpOption::SecondaryDns(Ipv4Addr::UNSPECIFIED)]);
    assert_eq!(
        p.request(),
        vec![
            IpcpOption::IpAddress(Ipv4Addr::new(198, 51, 100, 9)),
            IpcpOption::PrimaryDns(Ipv4Addr::UNSPECIFIED)
        ]
    );
    // The host cannot hand the AC an address.
    assert_eq!(p.judge(&IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED)), Judgement::Reject);
}

#[test]
fn unknown_protocol_is_protocol_rejected_when_opened() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::Pap)));
    pair.bring_up();
    let key = pair.client.session_key().unwrap();
    let from_ac = crate::wire::SessionKey { local: key.peer, peer: key.local, ..key };
    let frame = session_frame(&from_ac, 0x0281, &[1, 2, 3]).unwrap();
    pair.client.handle_input(pair.now, &frame);
    let reject = pair.client.poll_transmit().unwrap();
    let (_, ppp) = crate::wire::SessionHeader::parse(&reject.bytes[14..]).unwrap();
    assert_eq!(
        CpPacket::<LcpOption>::parse(ppp)
            .map(|p| matches!(p, CpPacket::ProtocolReject { protocol: 0x0281, .. })),
        Ok(true)
    );
    assert_eq!(pair.client.stats().protocol_rejects, 1);
    // A malformed LCP frame is counted, not answered.
    let bad = session_frame(&from_ac, proto::LCP, &[1, 1, 0, 2]).unwrap();
    pair.client.handle_input(pair.now, &bad);
    assert_eq!(pair.client.stats().malformed, 1);
    assert!(pair.client.poll_transmit().is_none());
}
