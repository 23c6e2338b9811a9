//! The RFC 1661 §4 option-negotiation automaton, generic over a protocol's option policy.
//! LCP, IPCP and IPv6CP each run one `Fsm` with their own [`Policy`].
//!
//! The automaton owns no clock and no socket: events come in through `up`/`down`/`open`/
//! `close`/[`Fsm::handle_packet`]/[`Fsm::handle_timeout`], and everything it wants done comes
//! out of [`Fsm::poll_output`] (packets to send and the this-layer-up/down/started/finished
//! signals for the layer above).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::{debug, trace};

use crate::timer::{self, MAX_CONFIGURE, MAX_FAILURE, MAX_TERMINATE, RESTART_TIMER};
use crate::wire::{ConfigOption, CpPacket};

/// RFC 1661 §4.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open, lower layer down.
    Starting,
    /// 2: lower layer up, no Open.
    Closed,
    /// 3: waiting for the peer after termination or failure.
    Stopped,
    /// 4: Terminate-Request sent after Close.
    Closing,
    /// 5: Terminate-Request sent, not closing administratively.
    Stopping,
    /// 6: Configure-Request sent.
    ReqSent,
    /// 7: Configure-Request sent and acknowledged.
    AckRcvd,
    /// 8: Configure-Ack sent.
    AckSent,
    /// 9: both acknowledged.
    Opened,
}

impl State {
    /// RFC 1661 §4.6: the Restart timer runs in these states only.
    fn restart_timer_runs(self) -> bool {
        matches!(
            self,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }

    /// States in which a Configure-Request is a retransmission, not a fresh start.
    fn negotiating(self) -> bool {
        matches!(self, State::ReqSent | State::AckRcvd | State::AckSent)
    }
}

/// RFC 1661 §4.3 events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Lower layer is Up.
    Up,
    /// Lower layer is Down.
    Down,
    /// Administrative Open.
    Open,
    /// Administrative Close.
    Close,
    /// Timeout with counter > 0.
    ToPlus,
    /// Timeout with counter expired.
    ToMinus,
    /// Receive-Configure-Request (Good).
    RcrPlus,
    /// Receive-Configure-Request (Bad).
    RcrMinus,
    /// Receive-Configure-Ack.
    Rca,
    /// Receive-Configure-Nak/Rej.
    Rcn,
    /// Receive-Terminate-Request.
    Rtr,
    /// Receive-Terminate-Ack.
    Rta,
    /// Receive-Unknown-Code.
    Ruc,
    /// Receive-Code-Reject (permitted) or Receive-Protocol-Reject.
    RxjPlus,
    /// Receive-Code-Reject (catastrophic) or Receive-Protocol-Reject.
    RxjMinus,
    /// Receive-Echo-Request, Receive-Echo-Reply or Receive-Discard-Request.
    Rxr,
}

/// RFC 1661 §4.4 actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// This-Layer-Up.
    Tlu,
    /// This-Layer-Down.
    Tld,
    /// This-Layer-Started.
    Tls,
    /// This-Layer-Finished.
    Tlf,
    /// Initialize-Restart-Count.
    Irc,
    /// Zero-Restart-Count.
    Zrc,
    /// Send-Configure-Request.
    Scr,
    /// Send-Configure-Ack.
    Sca,
    /// Send-Configure-Nak/Rej.
    Scn,
    /// Send-Terminate-Request.
    Str,
    /// Send-Terminate-Ack.
    Sta,
    /// Send-Code-Reject.
    Scj,
    /// Send-Echo-Reply.
    Ser,
}

/// The RFC 1661 §4.1 state transition table, one arm per cell. `None` is a "-" cell (the
/// event cannot occur in that state) and is ignored. The restart option ("r"), passive
/// option ("p") and crossed-connection ("x") annotations are not implemented: the cells act as
/// their plain form.
pub fn transition(state: State, event: Event) -> Option<(&'static [Action], State)> {
    use Action::*;
    use Event as E;
    use State as S;
    Some(match (state, event) {
        (S::Initial, E::Up) => (&[], S::Closed),
        (S::Starting, E::Up) => (&[Irc, Scr], S::ReqSent),
        (S::Closed, E::Down) => (&[], S::Initial),
        (S::Stopped, E::Down) => (&[Tls], S::Starting),
        (S::Closing, E::Down) => (&[], S::Initial),
        (S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::Down) => (&[], S::Starting),
        (S::Opened, E::Down) => (&[Tld], S::Starting),

        (S::Initial, E::Open) => (&[Tls], S::Starting),
        (S::Closed, E::Open) => (&[Irc, Scr], S::ReqSent),
        (S::Closing, E::Open) => (&[], S::Stopping),
        (s, E::Open) => (&[], s),

        (S::Starting, E::Close) => (&[Tlf], S::Initial),
        (S::Stopped, E::Close) => (&[], S::Closed),
        (S::Stopping, E::Close) => (&[], S::Closing),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Close) => (&[Irc, Str], S::Closing),
        (S::Opened, E::Close) => (&[Tld, Irc, Str], S::Closing),
        (s @ (S::Initial | S::Closed | S::Closing), E::Close) => (&[], s),

        // Every remaining event needs the lower layer up.
        (S::Initial | S::Starting, _) => return None,

        (S::Closing, E::ToPlus) => (&[Str], S::Closing),
        (S::Stopping, E::ToPlus) => (&[Str], S::Stopping),
        (S::ReqSent | S::AckRcvd, E::ToPlus) => (&[Scr], S::ReqSent),
        (S::AckSent, E::ToPlus) => (&[Scr], S::AckSent),
        (S::Closing, E::ToMinus) => (&[Tlf], S::Closed),
        (S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::ToMinus) => (&[Tlf], S::Stopped),
        (_, E::ToPlus | E::ToMinus) => return None,

        // §4.1 Closed: "sta/2" for every configure or terminate packet.
        (S::Closed, E::RcrPlus | E::RcrMinus | E::Rca | E::Rcn | E::Rtr) => (&[Sta], S::Closed),
        (S::Stopped, E::RcrPlus) => (&[Irc, Scr, Sca], S::AckSent),
        (S::Stopped, E::RcrMinus) => (&[Irc, Scr, Scn], S::ReqSent),
        (S::Stopped, E::Rca | E::Rcn | E::Rtr) => (&[Sta], S::Stopped),
        (s @ (S::Closing | S::Stopping), E::RcrPlus | E::RcrMinus | E::Rca | E::Rcn) => (&[], s),
        (s @ (S::Closing | S::Stopping), E::Rtr) => (&[Sta], s),

        (S::ReqSent, E::RcrPlus) => (&[Sca], S::AckSent),
        (S::AckRcvd, E::RcrPlus) => (&[Sca, Tlu], S::Opened),
        (S::AckSent, E::RcrPlus) => (&[Sca], S::AckSent),
        (S::Opened, E::RcrPlus) => (&[Tld, Scr, Sca], S::AckSent),
        (S::ReqSent | S::AckSent, E::RcrMinus) => (&[Scn], S::ReqSent),
        (S::AckRcvd, E::RcrMinus) => (&[Scn], S::AckRcvd),
        (S::Opened, E::RcrMinus) => (&[Tld, Scr, Scn], S::ReqSent),

        (S::ReqSent, E::Rca) => (&[Irc], S::AckRcvd),
        (S::AckRcvd, E::Rca) => (&[Scr], S::ReqSent),
        (S::AckSent, E::Rca) => (&[Irc, Tlu], S::Opened),
        (S::Opened, E::Rca) => (&[Tld, Scr], S::ReqSent),
        (S::ReqSent, E::Rcn) => (&[Irc, Scr], S::ReqSent),
        (S::AckRcvd, E::Rcn) => (&[Scr], S::ReqSent),
        (S::AckSent, E::Rcn) => (&[Irc, Scr], S::AckSent),
        (S::Opened, E::Rcn) => (&[Tld, Scr], S::ReqSent),

        (S::ReqSent, E::Rtr) => (&[Sta], S::ReqSent),
        (S::AckRcvd | S::AckSent, E::Rtr) => (&[Sta], S::ReqSent),
        // §4.1 Opened + RTR: "tld,zrc,sta/5" (wait one restart interval, then Stopped).
        (S::Opened, E::Rtr) => (&[Tld, Zrc, Sta], S::Stopping),

        (S::Closing, E::Rta) => (&[Tlf], S::Closed),
        (S::Stopping, E::Rta) => (&[Tlf], S::Stopped),
        (S::AckRcvd, E::Rta) => (&[], S::ReqSent),
        (S::Opened, E::Rta) => (&[Tld, Scr], S::ReqSent),
        (s, E::Rta) => (&[], s),

        (s, E::Ruc) => (&[Scj], s),

        (S::AckRcvd, E::RxjPlus) => (&[], S::ReqSent),
        (s, E::RxjPlus) => (&[], s),
        (S::Closed | S::Closing, E::RxjMinus) => (&[Tlf], S::Closed),
        (S::Stopped | S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent, E::RxjMinus) => {
            (&[Tlf], S::Stopped)
        }
        (S::Opened, E::RxjMinus) => (&[Tld, Irc, Str], S::Stopping),

        (S::Opened, E::Rxr) => (&[Ser], S::Opened),
        (s, E::Rxr) => (&[], s),

        // Up with the lower layer already up cannot happen.
        (_, E::Up) => return None,
    })
}

/// What the peer's Configure-Request gets, option by option (RFC 1661 §5.1–§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement<O> {
    /// Acceptable as is.
    Ack,
    /// Recognizable but unacceptable value; suggest this one instead.
    Nak(O),
    /// Not recognizable or not negotiable: reject it verbatim.
    Reject,
}

/// A protocol's option policy: what we request and how we judge the peer.
pub trait Policy {
    /// The protocol's option type.
    type Option: ConfigOption;

    /// Forget what was learnt by negotiation; called before a fresh (non-retransmitted)
    /// Configure-Request, as pppd's `resetci`.
    fn reset(&mut self) {}
    /// The options for our next Configure-Request.
    fn request(&mut self) -> Vec<Self::Option>;
    /// Judges one option of the peer's Configure-Request.
    fn judge(&mut self, option: &Self::Option) -> Judgement<Self::Option>;
    /// We are about to Configure-Ack these options of the peer: they are now in force.
    fn peer_acked(&mut self, options: &[Self::Option]);
    /// The peer acknowledged our request.
    fn acked(&mut self, options: &[Self::Option]);
    /// The peer sent a Configure-Nak with these suggestions.
    fn naked(&mut self, options: &[Self::Option]);
    /// The peer rejected these options of our request.
    fn rejected(&mut self, options: &[Self::Option]);
    /// Our Magic-Number, for Echo-Reply (LCP only).
    fn magic(&self) -> u32 {
        0
    }
}

/// What the automaton wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<O> {
    /// Send this packet on the protocol.
    Send(CpPacket<O>),
    /// This-Layer-Up: the protocol is Opened.
    Up,
    /// This-Layer-Down: it left Opened.
    Down,
    /// This-Layer-Started: it needs the lower layer.
    Started,
    /// This-Layer-Finished: it no longer needs the lower layer.
    Finished,
}

/// RFC 1661 §4.6 counters and timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsmConfig {
    /// Restart timer.
    pub restart: Duration,
    /// Max-Configure.
    pub max_configure: u32,
    /// Max-Terminate.
    pub max_terminate: u32,
    /// Max-Failure.
    pub max_failure: u32,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            restart: RESTART_TIMER,
            max_configure: MAX_CONFIGURE,
            max_terminate: MAX_TERMINATE,
            max_failure: MAX_FAILURE,
        }
    }
}

/// The received packet an event came from, for the actions that answer it.
struct Received<O> {
    id: u8,
    reply: Option<CpPacket<O>>,
}

impl<O> Received<O> {
    fn none() -> Self {
        Received { id: 0, reply: None }
    }
}

/// One RFC 1661 automaton.
#[derive(Debug)]
pub struct Fsm<P: Policy> {
    /// The protocol's option policy and negotiated values.
    pub policy: P,
    config: FsmConfig,
    state: State,
    restart_count: u32,
    failure_count: u32,
    next_id: u8,
    request_id: u8,
    last_request: Vec<P::Option>,
    deadline: Option<Instant>,
    out: VecDeque<Output<P::Option>>,
    /// The identifier of the last packet sent with each code (index = code), so a
    /// Code-Reject can be checked against what we really sent.
    sent: [Option<u8>; 16],
    /// Code-Rejects that were malformed or named no packet we sent: dropped.
    ignored_rejects: u64,
}

impl<P: Policy> Fsm<P> {
    /// A new automaton in the Initial state.
    pub fn new(config: FsmConfig, policy: P, first_id: u8) -> Self {
        Fsm {
            policy,
            config,
            state: State::Initial,
            restart_count: 0,
            failure_count: 0,
            next_id: first_id,
            request_id: 0,
            last_request: Vec::new(),
            deadline: None,
            sent: [None; 16],
            ignored_rejects: 0,
            out: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Lower layer Up.
    pub fn up(&mut self, now: Instant) {
        self.step(now, Event::Up, Received::none());
    }

    /// Lower layer Down.
    pub fn down(&mut self, now: Instant) {
        self.step(now, Event::Down, Received::none());
    }

    /// Administrative Open.
    pub fn open(&mut self, now: Instant) {
        self.step(now, Event::Open, Received::none());
    }

    /// Administrative Close.
    pub fn close(&mut self, now: Instant) {
        self.step(now, Event::Close, Received::none());
    }

    /// The peer Protocol-Rejected this protocol (RFC 1661 §5.7): RXJ-.
    pub fn protocol_rejected(&mut self, now: Instant) {
        self.step(now, Event::RxjMinus, Received::none());
    }

    /// When [`Fsm::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output<P::Option>> {
        let out = self.out.pop_front();
        if let Some(Output::Send(p)) = &out {
            if let Some(slot) = self.sent.get_mut(usize::from(p.code())) {
                *slot = Some(p.id());
            }
        }
        out
    }

    /// Whether a packet with this code and identifier is one we sent (the last of its code).
    pub fn sent(&self, code: u8, id: u8) -> bool {
        self.sent.get(usize::from(code)).is_some_and(|s| *s == Some(id))
    }

    /// Whether this automaton has sent anything in this session.
    pub fn has_sent(&self) -> bool {
        self.sent.iter().any(Option::is_some)
    }

    /// Code-Rejects dropped as malformed or not credible.
    pub fn ignored_rejects(&self) -> u64 {
        self.ignored_rejects
    }

    /// Time passed: fires the restart timer if it expired (TO+ or TO-).
    pub fn handle_timeout(&mut self, now: Instant) {
        if timer::expired(self.deadline, now) {
            self.deadline = None;
            let event = if self.restart_count > 0 { Event::ToPlus } else { Event::ToMinus };
            self.step(now, event, Received::none());
        }
    }

    /// A packet of this protocol arrived.
    pub fn handle_packet(&mut self, now: Instant, packet: CpPacket<P::Option>) {
        let id = packet.id();
        let (event, reply) = match packet {
            CpPacket::ConfigureRequest { id, options } => {
                let (event, reply) = self.judge(id, options);
                (event, Some(reply))
            }
            CpPacket::ConfigureAck { id, options } => {
                if id != self.request_id || options != self.last_request {
                    debug!(
                        proto = P::Option::PROTOCOL,
                        id, "Configure-Ack does not match, discarded"
                    );
                    return;
                }
                if self.state.negotiating() {
                    self.policy.acked(&options);
                }
                (Event::Rca, None)
            }
            CpPacket::ConfigureNak { id, options } | CpPacket::ConfigureReject { id, options }
                if id != self.request_id =>
            {
                debug!(
                    proto = P::Option::PROTOCOL,
                    id,
                    n = options.len(),
                    "stale Nak/Rej discarded"
                );
                return;
            }
            CpPacket::ConfigureNak { options, .. } => {
                if self.state.negotiating() {
                    self.policy.naked(&options);
                }
                (Event::Rcn, None)
            }
            CpPacket::ConfigureReject { options, .. } => {
                if self.state.negotiating() {
                    self.policy.rejected(&options);
                }
                (Event::Rcn, None)
            }
            CpPacket::TerminateRequest { .. } => (Event::Rtr, None),
            CpPacket::TerminateAck { .. } => (Event::Rta, None),
            // §5.6: rejecting one of codes 1..=7 is catastrophic; the LCP extensions are not.
            // Only a Code-Reject that carries a packet we sent (its code and identifier) may
            // change anything: one without a rejected packet is malformed, one of a packet we
            // never sent is not credible (a forged frame on the segment; pppd ignores both
            // too). Either is counted and dropped.
            CpPacket::CodeReject { rejected, .. } => match (rejected.first(), rejected.get(1)) {
                (Some(&code), Some(&rid)) if self.sent(code, rid) => match code {
                    1..=7 => (Event::RxjMinus, None),
                    _ => (Event::RxjPlus, None),
                },
                _ => {
                    self.ignored_rejects += 1;
                    debug!(?rejected, "Code-Reject of nothing we sent: dropped");
                    return;
                }
            },
            // §5.7: a Protocol-Reject of the protocol itself cannot be lived with; of another
            // protocol it is the owner's business (it stops that protocol).
            CpPacket::ProtocolReject { protocol, .. } if protocol == P::Option::PROTOCOL => {
                (Event::RxjMinus, None)
            }
            CpPacket::ProtocolReject { .. } => (Event::RxjPlus, None),
            CpPacket::EchoRequest { id, data, .. } => {
                let magic = self.policy.magic();
                (Event::Rxr, Some(CpPacket::EchoReply { id, magic, data }))
            }
            CpPacket::EchoReply { .. } | CpPacket::DiscardRequest { .. } => (Event::Rxr, None),
            unknown @ CpPacket::Unknown { .. } => {
                let rejected = unknown.to_vec().unwrap_or_default();
                let id = self.take_id();
                (Event::Ruc, Some(CpPacket::CodeReject { id, rejected }))
            }
        };
        self.step(now, event, Received { id, reply });
    }

    /// Judges a Configure-Request into RCR+ (with its Ack) or RCR- (with its Nak or Reject).
    fn judge(&mut self, id: u8, options: Vec<P::Option>) -> (Event, CpPacket<P::Option>) {
        let mut naks = Vec::new();
        let mut rejects = Vec::new();
        // RFC 1661 §4.6 Max-Failure: once exceeded, "Any further Configure-Nak packets for peer
        // requested options are converted to Configure-Reject packets".
        let give_up = self.failure_count >= self.config.max_failure;
        for option in &options {
            match self.policy.judge(option) {
                Judgement::Ack => {}
                Judgement::Nak(_) if give_up => rejects.push(option.clone()),
                Judgement::Nak(suggestion) => naks.push(suggestion),
                Judgement::Reject => rejects.push(option.clone()),
            }
        }
        // §5.4 Reject takes precedence over Nak.
        if !rejects.is_empty() {
            (Event::RcrMinus, CpPacket::ConfigureReject { id, options: rejects })
        } else if !naks.is_empty() {
            (Event::RcrMinus, CpPacket::ConfigureNak { id, options: naks })
        } else {
            (Event::RcrPlus, CpPacket::ConfigureAck { id, options })
        }
    }

    fn take_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn step(&mut self, now: Instant, event: Event, mut rx: Received<P::Option>) {
        let Some((actions, next)) = transition(self.state, event) else {
            trace!(proto = P::Option::PROTOCOL, state = ?self.state, ?event, "event ignored");
            return;
        };
        let from = self.state;
        trace!(proto = P::Option::PROTOCOL, ?from, ?event, ?next, ?actions, "transition");
        self.state = next;
        for &action in actions {
            self.act(now, action, from, &mut rx);
        }
        if !next.restart_timer_runs() {
            self.deadline = None;
        }
    }

    fn act(&mut self, now: Instant, action: Action, from: State, rx: &mut Received<P::Option>) {
        match action {
            Action::Tlu => self.out.push_back(Output::Up),
            Action::Tld => self.out.push_back(Output::Down),
            Action::Tls => self.out.push_back(Output::Started),
            Action::Tlf => self.out.push_back(Output::Finished),
            Action::Irc => {
                let closing = matches!(self.state, State::Closing | State::Stopping);
                self.restart_count =
                    if closing { self.config.max_terminate } else { self.config.max_configure };
            }
            Action::Zrc => {
                self.restart_count = 0;
                self.deadline = now.checked_add(self.config.restart);
            }
            Action::Scr => {
                if !from.negotiating() {
                    self.policy.reset();
                }
                let options = self.policy.request();
                self.request_id = self.take_id();
                self.last_request = options.clone();
                self.send_restartable(
                    now,
                    CpPacket::ConfigureRequest { id: self.request_id, options },
                );
            }
            Action::Str => {
                let id = self.take_id();
                self.send_restartable(now, CpPacket::TerminateRequest { id, data: Vec::new() });
            }
            Action::Sta => self
                .out
                .push_back(Output::Send(CpPacket::TerminateAck { id: rx.id, data: Vec::new() })),
            Action::Sca | Action::Scn | Action::Scj | Action::Ser => match rx.reply.take() {
                Some(CpPacket::ConfigureAck { id, options }) => {
                    self.failure_count = 0;
                    self.policy.peer_acked(&options);
                    self.out.push_back(Output::Send(CpPacket::ConfigureAck { id, options }));
                }
                Some(nak @ CpPacket::ConfigureNak { .. }) => {
                    self.failure_count = self.failure_count.saturating_add(1);
                    self.out.push_back(Output::Send(nak));
                }
                Some(reply) => self.out.push_back(Output::Send(reply)),
                None => {}
            },
        }
    }

    fn send_restartable(&mut self, now: Instant, packet: CpPacket<P::Option>) {
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = now.checked_add(self.config.restart);
        self.out.push_back(Output::Send(packet));
    }
}
