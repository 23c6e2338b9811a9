//! The RFC 1661 automaton on its own: table cells, and scripted runs with a toy policy.

use std::time::{Duration, Instant};

use crate::fsm::{Action, Event, Fsm, FsmConfig, Judgement, Output, Policy, State, transition};
use crate::wire::{CpPacket, Ipv6cpOption};

/// Requests one interface id; acks everything except 0, which it NAKs.
#[derive(Debug, Default)]
struct Toy {
    acked: bool,
}

impl Policy for Toy {
    type Option = Ipv6cpOption;

    fn request(&mut self) -> Vec<Ipv6cpOption> {
        vec![Ipv6cpOption::InterfaceId(1)]
    }
    fn judge(&mut self, option: &Ipv6cpOption) -> Judgement<Ipv6cpOption> {
        match option {
            Ipv6cpOption::InterfaceId(0) => Judgement::Nak(Ipv6cpOption::InterfaceId(9)),
            Ipv6cpOption::InterfaceId(_) => Judgement::Ack,
            Ipv6cpOption::Unknown { .. } => Judgement::Reject,
        }
    }
    fn peer_acked(&mut self, _: &[Ipv6cpOption]) {}
    fn acked(&mut self, _: &[Ipv6cpOption]) {
        self.acked = true;
    }
    fn naked(&mut self, _: &[Ipv6cpOption]) {}
    fn rejected(&mut self, _: &[Ipv6cpOption]) {}
}

fn drain(fsm: &mut Fsm<Toy>) -> Vec<Output<Ipv6cpOption>> {
    std::iter::from_fn(|| fsm.poll_output()).collect()
}

fn sent_request_id(outputs: &[Output<Ipv6cpOption>]) -> u8 {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Send(CpPacket::ConfigureRequest { id, .. }) => Some(*id),
            _ => None,
        })
        .expect("a Configure-Request")
}

#[test]
fn table_cells_match_rfc_1661_4_1() {
    use Action::*;
    // A sample of cells, read off the RFC's table.
    let cells = [
        (State::Initial, Event::Up, &[][..], State::Closed),
        (State::Starting, Event::Up, &[Irc, Scr][..], State::ReqSent),
        (State::Stopped, Event::Down, &[Tls][..], State::Starting),
        (State::Opened, Event::Close, &[Tld, Irc, Str][..], State::Closing),
        (State::AckSent, Event::ToPlus, &[Scr][..], State::AckSent),
        (State::AckRcvd, Event::ToMinus, &[Tlf][..], State::Stopped),
        (State::Stopped, Event::RcrPlus, &[Irc, Scr, Sca][..], State::AckSent),
        (State::AckRcvd, Event::RcrPlus, &[Sca, Tlu][..], State::Opened),
        (State::Opened, Event::RcrMinus, &[Tld, Scr, Scn][..], State::ReqSent),
        (State::AckSent, Event::Rca, &[Irc, Tlu][..], State::Opened),
        (State::AckRcvd, Event::Rcn, &[Scr][..], State::ReqSent),
        (State::Opened, Event::Rtr, &[Tld, Zrc, Sta][..], State::Stopping),
        (State::Closing, Event::Rta, &[Tlf][..], State::Closed),
        (State::Opened, Event::Rta, &[Tld, Scr][..], State::ReqSent),
        (State::Stopping, Event::Ruc, &[Scj][..], State::Stopping),
        (State::AckRcvd, Event::RxjPlus, &[][..], State::ReqSent),
        (State::Opened, Event::RxjMinus, &[Tld, Irc, Str][..], State::Stopping),
        (State::Opened, Event::Rxr, &[Ser][..], State::Opened),
        (State::Closed, Event::Rca, &[Sta][..], State::Closed),
    ];
    for (state, event, actions, next) in cells {
        assert_eq!(transition(state, event), Some((actions, next)), "{state:?} {event:?}");
    }
    // "-" cells.
    assert_eq!(transition(State::Initial, Event::RcrPlus), None);
    assert_eq!(transition(State::Opened, Event::Up), None);
    assert_eq!(transition(State::Initial, Event::Down), None);
}

#[test]
fn opens_on_ack_then_peer_request() {
    let now = Instant::now();
    let mut fsm = Fsm::new(FsmConfig::default(), Toy::default(), 1);
    fsm.open(now);
    assert_eq!(drain(&mut fsm), vec![Output::Started]);
    fsm.up(now);
    let out = drain(&mut fsm);
    assert_eq!(fsm.state(), State::ReqSent);
    let id = sent_request_id(&out);
    fsm.handle_packet(
        now,
        CpPacket::ConfigureAck { id, options: vec![Ipv6cpOption::InterfaceId(1)] },
    );
    assert_eq!(fsm.state(), State::AckRcvd);
    assert!(fsm.policy.acked);
    // A stale Ack (wrong identifier) is discarded.
    fsm.handle_packet(now, CpPacket::ConfigureAck { id: id.wrapping_add(7), options: vec![] });
    assert_eq!(fsm.state(), State::AckRcvd);
    fsm.handle_packet(
        now,
        CpPacket::ConfigureRequest { id: 40, options: vec![Ipv6cpOption::InterfaceId(5)] },
    );
    assert_eq!(fsm.state(), State::Opened);
    let out = drain(&mut fsm);
    assert_eq!(out.last(), Some(&Output::Up));
    assert_eq!(fsm.poll_timeout(), None, "no restart timer in Opened");
}

#[test]
fn max_configure_then_finished() {
    let start = Instant::now();
    let mut fsm = Fsm::new(FsmConfig::default(), Toy::default(), 1);
    fsm.open(start);
    fsm.up(start);
    let mut requests = 0;
    let mut now = start;
    loop {
        let out = drain(&mut fsm);
        requests += out
            .iter()
            .filter(|o| matches!(o, Output::Send(CpPacket::ConfigureRequest { .. })))
            .count();
        if out.contains(&Output::Finished) {
            break;
        }
        now = fsm.poll_timeout().expect("restart timer running");
        fsm.handle_timeout(now);
    }
    // RFC 1661 §4.6: Max-Configure (10) requests, 3 s apart, then TO- → tlf/Stopped.
    assert_eq!(requests, 10);
    assert_eq!(now - start, Duration::from_secs(30));
    assert_eq!(fsm.state(), State::Stopped);
}

#[test]
fn max_failure_turns_naks_into_rejects() {
    let now = Instant::now();
    let mut fsm = Fsm::new(FsmConfig::default(), Toy::default(), 1);
    fsm.open(now);
    fsm.up(now);
    drain(&mut fsm);
    let bad = || CpPacket::ConfigureRequest { id: 3, options: vec![Ipv6cpOption::InterfaceId(0)] };
    for _ in 0..5 {
        fsm.handle_packet(now, bad());
        assert!(
            drain(&mut fsm)
                .iter()
                .any(|o| matches!(o, Output::Send(CpPacket::ConfigureNak { .. })))
        );
    }
    fsm.handle_packet(now, bad());
    let out = drain(&mut fsm);
    let want = CpPacket::ConfigureReject { id: 3, options: vec![Ipv6cpOption::InterfaceId(0)] };
    assert!(out.contains(&Output::Send(want)), "{out:?}");
}

#[test]
fn terminate_from_peer_then_stopped() {
    let now = Instant::now();
    let mut fsm = Fsm::new(FsmConfig::default(), Toy::default(), 1);
    fsm.open(now);
    fsm.up(now);
    let id = sent_request_id(&drain(&mut fsm));
    fsm.handle_packet(now, CpPacket::ConfigureRequest { id: 1, options: vec![] });
    fsm.handle_packet(
        now,
        CpPacket::ConfigureAck { id, options: vec![Ipv6cpOption::InterfaceId(1)] },
    );
    assert_eq!(fsm.state(), State::Opened);
    drain(&mut fsm);
    fsm.handle_packet(now, CpPacket::TerminateRequest { id: 9, data: vec![] });
    let out = drain(&mut fsm);
    assert_eq!(
        out,
        vec![Output::Down, Output::Send(CpPacket::TerminateAck { id: 9, data: vec![] })]
    );
    assert_eq!(fsm.state(), State::Stopping);
    // zrc: one restart interval later, TO- → tlf/Stopped.
    let t = fsm.poll_timeout().unwrap();
    assert_eq!(t - now, Duration::from_secs(3));
    fsm.handle_timeout(t);
    assert_eq!(drain(&mut fsm), vec![Output::Finished]);
    assert_eq!(fsm.state(), State::Stopped);
}

#[test]
fn unknown_code_is_code_rejected_verbatim() {
    let now = Instant::now();
    let mut fsm = Fsm::new(FsmConfig::default(), Toy::default(), 1);
    fsm.open(now);
    fsm.up(now);
    drain(&mut fsm);
    fsm.handle_packet(now, CpPacket::Unknown { code: 0x42, id: 5, data: vec![1, 2] });
    let out = drain(&mut fsm);
    match out.as_slice() {
        [Output::Send(CpPacket::CodeReject { rejected, .. })] => {
            assert_eq!(rejected, &[0x42, 5, 0, 6, 1, 2]);
        }
        other => panic!("{other:?}"),
    }
}
