//! Delegating-router checks that need no client machine.

use std::time::Instant;

use dhcproto::v6::{DhcpOption, IAPD, MessageType, ORO, OptionCode, Status};

use super::{CLIENT_DUID, SERVER_DUID, parse, server_cfg};
use crate::fuzzing::client_addr;
use crate::wire::{Repr, status_in};
use crate::{Pool, Server};

fn message(kind: MessageType, iaids: &[u32]) -> Repr {
    let mut m = Repr::new(kind, [1, 2, 3]);
    m.push(DhcpOption::ClientId(CLIENT_DUID.to_vec()));
    m.push(DhcpOption::ORO(ORO { opts: vec![OptionCode::DomainNameServers] }));
    for &id in iaids {
        m.push(DhcpOption::IAPD(IAPD { id, t1: 0, t2: 0, opts: Default::default() }));
    }
    m
}

fn ask(s: &mut Server, now: Instant, m: &Repr) -> Option<Repr> {
    s.handle_input(now, client_addr(), &m.to_vec().unwrap());
    s.poll_transmit().map(|t| {
        assert_eq!(t.dst, client_addr());
        parse(&t.payload)
    })
}

#[test]
fn renew_of_unknown_binding_gets_no_binding() {
    let mut s = Server::new(server_cfg(48));
    let mut m = message(MessageType::Renew, &[7]);
    m.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    let r = ask(&mut s, Instant::now(), &m).unwrap();
    let ia = r.ia_pds().next().unwrap();
    assert_eq!(status_in(&ia.opts), Status::NoBinding);
}

#[test]
fn rfc8415_s16_discards() {
    let mut s = Server::new(server_cfg(48));
    let now = Instant::now();
    // Solicit with a Server Identifier, Request for another server, Confirm.
    let mut solicit = message(MessageType::Solicit, &[1]);
    solicit.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    assert!(ask(&mut s, now, &solicit).is_none());
    let mut req = message(MessageType::Request, &[1]);
    req.push(DhcpOption::ServerId(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]));
    assert!(ask(&mut s, now, &req).is_none());
    assert!(ask(&mut s, now, &message(MessageType::Confirm, &[])).is_none());
    assert_eq!(s.stats().ignored, 3);
}

#[test]
fn two_iaids_get_two_prefixes_and_pool_exhaustion_says_no_prefix_avail() {
    let mut cfg = server_cfg(48);
    cfg.pool = Pool { base: super::addr("2001:db8:1000::"), base_len: 47, delegated_len: 48 };
    let mut s = Server::new(cfg);
    let mut req = message(MessageType::Request, &[1, 2, 3]);
    req.push(DhcpOption::ServerId(SERVER_DUID.to_vec()));
    let r = ask(&mut s, Instant::now(), &req).unwrap();
    let statuses: Vec<Status> = r.ia_pds().map(|ia| status_in(&ia.opts)).collect();
    assert_eq!(statuses, vec![Status::Success, Status::Success, Status::NoPrefixAvail]);
    assert_eq!(s.bindings().bindings.len(), 2);
    assert!(r.has(OptionCode::DomainNameServers));
}

#[test]
fn information_request_is_answered_and_ia_in_it_is_discarded() {
    let mut s = Server::new(server_cfg(48));
    let now = Instant::now();
    let r = ask(&mut s, now, &message(MessageType::InformationRequest, &[])).unwrap();
    assert_eq!(r.msg_type, MessageType::Reply);
    assert!(r.has(OptionCode::DomainNameServers));
    assert!(ask(&mut s, now, &message(MessageType::InformationRequest, &[1])).is_none());
}

#[test]
fn pool_arithmetic() {
    let p = super::pool(48);
    assert_eq!(p.size(), 4096);
    assert_eq!(p.nth(1), Some(super::addr("2001:db8:1001::")));
    assert_eq!(p.nth(4096), None);
    assert!(p.contains(super::addr("2001:db8:1fff::"), 48));
    assert!(!p.contains(super::addr("2001:db8:2000::"), 48));
    assert!(!p.contains(super::addr("2001:db8:1000:1::"), 48), "host bits set");
    assert!(!p.contains(super::addr("2001:db8:1000::"), 56));
    let bad = Pool { base: super::addr("::"), base_len: 64, delegated_len: 48 };
    assert_eq!((bad.size(), bad.nth(0)), (0, None));
    let all = Pool { base: super::addr("::"), base_len: 0, delegated_len: 128 };
    assert_eq!(all.size(), u128::MAX);
}
