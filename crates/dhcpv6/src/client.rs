//! Requesting router: the DHCPv6 client side of prefix delegation (RFC 8415 §18.2).
//!
//! Call order, as everywhere in this project: `handle_input` / `handle_timeout` /
//! `handle_command`, then drain `poll_transmit`, `poll_event`, and ask `poll_timeout`.

mod api;
pub(crate) mod msg;

pub use api::{ClientConfig, Command, Event, Phase, Stats};

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use dhcproto::v6::{DhcpOption, MessageType, OptionCode};
use tracing::debug;

use crate::lease::Lease;
use crate::rng::{Rng, RngExt};
use crate::timer::{
    INF_MAX_DELAY, INF_MAX_RT, INF_TIMEOUT, IRT_DEFAULT, IRT_MINIMUM, Params, REB_MAX_RT,
    REB_TIMEOUT, REL_MAX_RC, REL_TIMEOUT, REN_MAX_RT, REN_TIMEOUT, REQ_MAX_RC, REQ_MAX_RT,
    REQ_TIMEOUT, Retransmit, SOL_MAX_DELAY, SOL_MAX_RT, SOL_TIMEOUT, after, lifetime_deadline,
};
use crate::wire::Repr;
use crate::{Transmit, server_multicast};
use msg::{Offer, Outgoing, Problem};

/// First wait after a NoPrefixAvail Reply; doubles up to SOL_MAX_RT. Local policy: RFC 8415
/// §18.2.10.1 leaves the retry to the client ("try another server ... or ... later").
pub const NO_PREFIX_BACKOFF: Duration = Duration::from_secs(60);

/// One client-initiated exchange: transaction id plus retransmission state.
#[derive(Debug, Clone)]
struct Exchange {
    xid: [u8; 3],
    rtx: Retransmit,
}

/// A held lease and its absolute deadlines (`None` = infinity).
#[derive(Debug, Clone)]
struct Binding {
    lease: Lease,
    t1_at: Option<Instant>,
    t2_at: Option<Instant>,
    expire_at: Option<Instant>,
}

#[derive(Debug, Clone)]
struct SolicitState {
    ex: Exchange,
    /// Best Advertise collected during the first RT (RFC 8415 §18.2.1).
    best: Option<Offer>,
    /// An Advertise said NoPrefixAvail; reported once per Soliciting episode.
    saw_no_prefix: bool,
    reported: bool,
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Soliciting(SolicitState),
    Requesting(Exchange, Offer),
    Bound(Binding),
    Renewing(Binding, Exchange),
    Rebinding(Binding, Exchange),
    Releasing(Exchange, Lease),
    InformationRequesting(Exchange),
    Informed { refresh_at: Option<Instant>, server_id: Vec<u8> },
    Backoff(Instant),
}

/// The requesting-router state machine. Owns no socket, clock or task.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: ClientConfig,
    rng: Rng,
    state: State,
    /// The lease the router is using now, to tell Delegated / Renewed / Changed apart.
    held: Option<Lease>,
    sol_max_rt: Duration,
    inf_max_rt: Duration,
    backoff: Duration,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Client {
    /// A client in `Idle`; send `Command::Start` to begin.
    pub fn new(cfg: ClientConfig) -> Self {
        let backoff = cfg.no_prefix_backoff;
        Self {
            rng: Rng::new(cfg.seed),
            cfg,
            state: State::Idle,
            held: None,
            sol_max_rt: SOL_MAX_RT,
            inf_max_rt: INF_MAX_RT,
            backoff,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The current state's name.
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Idle => Phase::Idle,
            State::Soliciting(_) => Phase::Soliciting,
            State::Requesting(..) => Phase::Requesting,
            State::Bound(_) => Phase::Bound,
            State::Renewing(..) => Phase::Renewing,
            State::Rebinding(..) => Phase::Rebinding,
            State::Releasing(..) => Phase::Releasing,
            State::InformationRequesting(_) => Phase::InformationRequesting,
            State::Informed { .. } => Phase::Informed,
            State::Backoff(_) => Phase::Backoff,
        }
    }

    /// The lease in use, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.held.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration (its `last_prefix` follows the latest delegation).
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The next datagram to send to All_DHCP_Relay_Agents_and_Servers.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ex = |e: &Exchange| Some(e.rtx.deadline());
        match &self.state {
            State::Idle => None,
            State::Soliciting(s) => ex(&s.ex),
            State::Requesting(e, _) | State::Releasing(e, _) | State::InformationRequesting(e) => {
                ex(e)
            }
            State::Bound(b) => earliest(&[b.t1_at, b.t2_at, b.expire_at]),
            State::Renewing(b, e) => earliest(&[ex(e), b.t2_at, b.expire_at]),
            State::Rebinding(b, e) => earliest(&[ex(e), b.expire_at]),
            State::Informed { refresh_at, .. } => *refresh_at,
            State::Backoff(at) => Some(*at),
        }
    }

    /// A command from the owner.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        let state = mem::replace(&mut self.state, State::Idle);
        self.state = match (state, cmd) {
            (State::Idle | State::Backoff(_), Command::Start) if self.cfg.information_only => {
                self.start_information(now, true)
            }
            (State::Idle | State::Backoff(_), Command::Start) => self.start_soliciting(now, true),
            (
                State::Bound(b) | State::Renewing(b, _) | State::Rebinding(b, _),
                Command::Release,
            ) => self.start_releasing(now, b.lease),
            // RFC 8415 §18.2.12: on a possible link change "the client MUST initiate a Rebind/
            // Reply message exchange".
            (State::Bound(b) | State::Renewing(b, _), Command::Rebind) => {
                self.start_rebinding(now, b)
            }
            (State::Releasing(e, l), Command::Release) => State::Releasing(e, l),
            (_, Command::Release) => State::Idle,
            (state, _) => state,
        };
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let state = mem::replace(&mut self.state, State::Idle);
        self.state = match state {
            State::Idle => State::Idle,
            State::Soliciting(s) => self.solicit_timeout(now, s),
            State::Requesting(ex, _) if ex.rtx.failed(now) => {
                // REQ_MAX_RC spent: RFC 8415 §18.2.2 leaves it to policy; restart discovery.
                debug!("dhcpv6pd: Request failed after {} transmissions", ex.rtx.count());
                self.lose_if_held();
                self.start_soliciting(now, false)
            }
            State::Requesting(mut ex, offer) => {
                if ex.rtx.due(now) {
                    self.transmit(now, &mut ex, &Outgoing::Request(&offer));
                }
                State::Requesting(ex, offer)
            }
            State::Bound(b) => self.bound_timeout(now, b),
            State::Renewing(b, _) | State::Rebinding(b, _) if reached(now, b.expire_at) => {
                self.lost(now)
            }
            // RFC 8415 §18.2.4: Renew's MRD is "Remaining time until T2".
            State::Renewing(b, ex) if reached(now, b.t2_at) || ex.rtx.failed(now) => {
                self.start_rebinding(now, b)
            }
            State::Renewing(b, mut ex) => {
                if ex.rtx.due(now) {
                    self.transmit(now, &mut ex, &Outgoing::Renew(&b.lease));
                }
                State::Renewing(b, ex)
            }
            State::Rebinding(b, mut ex) => {
                if ex.rtx.due(now) {
                    self.transmit(now, &mut ex, &Outgoing::Rebind(&b.lease));
                }
                State::Rebinding(b, ex)
            }
            State::Releasing(ex, _) if ex.rtx.failed(now) => State::Idle,
            State::Releasing(mut ex, lease) => {
                if ex.rtx.due(now) {
                    self.transmit(now, &mut ex, &Outgoing::Release(&lease));
                }
                State::Releasing(ex, lease)
            }
            State::InformationRequesting(mut ex) => {
                if ex.rtx.due(now) {
                    self.transmit(now, &mut ex, &Outgoing::InformationRequest);
                }
                State::InformationRequesting(ex)
            }
            State::Informed { refresh_at, .. } if reached(now, refresh_at) => {
                self.start_information(now, false)
            }
            State::Backoff(at) if now >= at => self.start_soliciting(now, false),
            state @ (State::Informed { .. } | State::Backoff(_)) => state,
        };
    }

    /// A UDP payload from port 547. Malformed input is counted and dropped.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.received += 1;
        let msg = match Repr::parse(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                self.stats.malformed += 1;
                debug!("dhcpv6pd: dropping malformed message: {e}");
                return;
            }
        };
        if msg.msg_type == MessageType::Reconfigure {
            return self.handle_reconfigure(now, &msg);
        }
        if !self.is_answer(&msg) {
            self.stats.ignored += 1;
            return;
        }
        self.take_max_rt(&msg);
        let state = mem::replace(&mut self.state, State::Idle);
        self.state = match (state, msg.msg_type) {
            (State::Soliciting(s), MessageType::Advertise) => self.on_advertise(now, s, &msg),
            // RFC 8415 §18.2.1: a Reply to Solicit counts only with Rapid Commit in it.
            (State::Soliciting(mut s), MessageType::Reply)
                if self.cfg.rapid_commit && msg.has(OptionCode::RapidCommit) =>
            {
                match msg::parse_lease(&self.cfg, &msg, now) {
                    Ok(lease) => self.bind(now, lease),
                    Err(Problem::NoPrefixAvail) => self.no_prefix(now),
                    Err(Problem::UseMulticast) => {
                        s.ex.rtx.expedite(now);
                        State::Soliciting(s)
                    }
                    Err(_) => State::Soliciting(s),
                }
            }
            (State::Requesting(mut ex, offer), MessageType::Reply) => {
                match msg::parse_lease(&self.cfg, &msg, now) {
                    Ok(lease) => self.bind(now, lease),
                    Err(Problem::NoPrefixAvail) => {
                        self.lose_if_held();
                        self.no_prefix(now)
                    }
                    Err(Problem::UseMulticast) => {
                        ex.rtx.expedite(now);
                        State::Requesting(ex, offer)
                    }
                    // UnspecFail and friends: keep retransmitting within REQ_MAX_RC.
                    Err(_) => State::Requesting(ex, offer),
                }
            }
            (State::Renewing(b, ex), MessageType::Reply) => {
                self.on_refresh_reply(now, b, ex, &msg, false)
            }
            (State::Rebinding(b, ex), MessageType::Reply) => {
                self.on_refresh_reply(now, b, ex, &msg, true)
            }
            // RFC 8415 §18.2.10.2: after Release "the client considers the Release event
            // completed, regardless of the Status Code option(s) returned by the server".
            (State::Releasing(..), MessageType::Reply) => State::Idle,
            (State::InformationRequesting(_), MessageType::Reply) => self.informed(now, &msg),
            (state, _) => {
                self.stats.ignored += 1;
                state
            }
        };
    }

    /// The message answers the exchange in progress (RFC 8415 §16.3, §16.10): same
    /// transaction id, our DUID in the Client Identifier, and a Server Identifier.
    fn is_answer(&self, msg: &Repr) -> bool {
        let xid = match &self.state {
            State::Soliciting(s) => s.ex.xid,
            State::Requesting(e, _)
            | State::Renewing(_, e)
            | State::Rebinding(_, e)
            | State::Releasing(e, _)
            | State::InformationRequesting(e) => e.xid,
            _ => return false,
        };
        let kind_ok = matches!(msg.msg_type, MessageType::Advertise | MessageType::Reply);
        kind_ok
            && msg.xid == xid
            && msg.client_id() == Some(self.cfg.duid.as_slice())
            && msg.server_id().is_some()
    }

    /// RFC 8415 §18.2.9: "the client MUST process an included SOL_MAX_RT option and MUST
    /// process an included INF_MAX_RT option" (§21.24: values 60..=86400 only).
    fn take_max_rt(&mut self, msg: &Repr) {
        let valid = |v: u32| (60..=86_400).contains(&v).then(|| Duration::from_secs(v.into()));
        if let Some(rt) = msg.u32_option(OptionCode::SolMaxRt).and_then(valid) {
            self.sol_max_rt = rt;
        }
        if let Some(rt) = msg.u32_option(OptionCode::InfMaxRt).and_then(valid) {
            self.inf_max_rt = rt;
        }
    }

    fn on_advertise(&mut self, now: Instant, mut s: SolicitState, msg: &Repr) -> State {
        match msg::parse_offer(&self.cfg, msg) {
            // RFC 8415 §18.2.9: "The client MUST ignore any Advertise message that contains no
            // addresses ... and no delegated prefixes"; we keep soliciting and report it.
            Err(Problem::NoPrefixAvail) => {
                s.saw_no_prefix = true;
                State::Soliciting(s)
            }
            Err(_) => {
                self.stats.ignored += 1;
                State::Soliciting(s)
            }
            // RFC 8415 §18.2.1: preference 255 is taken at once, and after the first RT "the
            // client ... acts on the received Advertise message without waiting".
            Ok(offer) if offer.preference == 255 || s.ex.rtx.count() > 1 => {
                self.start_requesting(now, offer)
            }
            Ok(offer) => {
                if s.best.as_ref().is_none_or(|b| offer.preference > b.preference) {
                    s.best = Some(offer);
                }
                State::Soliciting(s)
            }
        }
    }

    fn solicit_timeout(&mut self, now: Instant, mut s: SolicitState) -> State {
        if s.ex.rtx.count() > 0 && now >= s.ex.rtx.deadline() {
            if let Some(best) = s.best.take() {
                return self.start_requesting(now, best);
            }
            if s.saw_no_prefix && !s.reported {
                s.reported = true;
                self.events.push_back(Event::NoPrefixAvail);
            }
        }
        if s.ex.rtx.due(now) {
            self.transmit(now, &mut s.ex, &Outgoing::Solicit);
        }
        State::Soliciting(s)
    }

    fn bound_timeout(&mut self, now: Instant, b: Binding) -> State {
        if reached(now, b.expire_at) {
            self.lost(now)
        } else if reached(now, b.t2_at) {
            self.start_rebinding(now, b)
        } else if reached(now, b.t1_at) {
            self.start_renewing(now, b)
        } else {
            State::Bound(b)
        }
    }

    /// A Reply to Renew or Rebind (RFC 8415 §18.2.10.1).
    fn on_refresh_reply(
        &mut self,
        now: Instant,
        b: Binding,
        mut ex: Exchange,
        msg: &Repr,
        rebinding: bool,
    ) -> State {
        match msg::parse_lease(&self.cfg, msg, now) {
            Ok(lease) => return self.bind(now, lease),
            // "If the client receives a Reply ... NoBinding ... the client sends a Request
            // message". After Rebind, the server that answered is the one to ask.
            Err(Problem::NoBinding) => {
                let server_id = msg.server_id().unwrap_or_default().to_vec();
                return self.request_again(now, &b.lease, server_id);
            }
            Err(Problem::UseMulticast) => ex.rtx.expedite(now),
            // NoPrefixAvail, UnspecFail, nothing usable: keep the binding until its MRD.
            Err(_) => {}
        }
        if rebinding { State::Rebinding(b, ex) } else { State::Renewing(b, ex) }
    }

    fn handle_reconfigure(&mut self, now: Instant, msg: &Repr) {
        // RFC 8415 §18.2.11: the transaction id is ignored; Server and Client Identifier must
        // match; accepted only when Reconfigure Accept was agreed. RKAP authentication
        // (§20.4) is NOT checked: see the crate documentation.
        let kind = match msg.get(OptionCode::ReconfMsg) {
            Some(DhcpOption::ReconfMsg(kind)) => Some(*kind),
            _ => None,
        };
        let ours = msg.client_id() == Some(self.cfg.duid.as_slice());
        let state = mem::replace(&mut self.state, State::Idle);
        self.state = match (state, kind) {
            (State::Bound(b), Some(kind))
                if ours && b.lease.reconfigure && msg.server_id() == Some(&b.lease.server_id) =>
            {
                match kind {
                    MessageType::Renew | MessageType::InformationRequest => {
                        self.start_renewing(now, b)
                    }
                    MessageType::Rebind => self.start_rebinding(now, b),
                    _ => State::Bound(b),
                }
            }
            (State::Informed { server_id, .. }, Some(MessageType::InformationRequest))
                if ours && self.cfg.reconfigure_accept && msg.server_id() == Some(&server_id) =>
            {
                self.start_information(now, false)
            }
            // "While the transaction is in progress, the client silently discards any
            // Reconfigure messages it receives."
            (state, _) => {
                self.stats.ignored += 1;
                state
            }
        };
    }

    fn start_soliciting(&mut self, now: Instant, delay: bool) -> State {
        // RFC 8415 §18.2.1: "The first Solicit message from the client on the interface SHOULD
        // be delayed by a random amount of time between 0 and SOL_MAX_DELAY."
        let first_at = if delay { self.random_delay(now, SOL_MAX_DELAY) } else { now };
        let params =
            Params { irt: SOL_TIMEOUT, mrt: self.sol_max_rt, mrc: 0, first_rand_positive: true };
        let ex = self.exchange(params, first_at, None);
        let s = SolicitState { ex, best: None, saw_no_prefix: false, reported: false };
        self.solicit_timeout(now, s)
    }

    fn start_requesting(&mut self, now: Instant, offer: Offer) -> State {
        let params = Params {
            irt: REQ_TIMEOUT,
            mrt: REQ_MAX_RT,
            mrc: REQ_MAX_RC,
            first_rand_positive: false,
        };
        let mut ex = self.exchange(params, now, None);
        self.transmit(now, &mut ex, &Outgoing::Request(&offer));
        State::Requesting(ex, offer)
    }

    /// Request to reinstate a binding the server forgot (NoBinding).
    fn request_again(&mut self, now: Instant, lease: &Lease, server_id: Vec<u8>) -> State {
        let opts = lease.prefixes.iter().map(|p| msg::prefix_option(p.prefix, p.len, 0, 0));
        let ia_pd = dhcproto::v6::IAPD { id: self.cfg.iaid, t1: 0, t2: 0, opts: opts.collect() };
        let offer = Offer { server_id, preference: 0, ia_pd, ia_na: None };
        self.start_requesting(now, offer)
    }

    fn start_renewing(&mut self, now: Instant, b: Binding) -> State {
        let params =
            Params { irt: REN_TIMEOUT, mrt: REN_MAX_RT, mrc: 0, first_rand_positive: false };
        let mut ex = self.exchange(params, now, b.t2_at.or(b.expire_at));
        self.transmit(now, &mut ex, &Outgoing::Renew(&b.lease));
        State::Renewing(b, ex)
    }

    fn start_rebinding(&mut self, now: Instant, b: Binding) -> State {
        // RFC 8415 §18.2.5: MRD is "Remaining time until valid lifetimes of all leases in all
        // IAs have expired".
        let params =
            Params { irt: REB_TIMEOUT, mrt: REB_MAX_RT, mrc: 0, first_rand_positive: false };
        let mut ex = self.exchange(params, now, b.expire_at);
        self.transmit(now, &mut ex, &Outgoing::Rebind(&b.lease));
        State::Rebinding(b, ex)
    }

    fn start_releasing(&mut self, now: Instant, lease: Lease) -> State {
        self.held = None;
        self.events.push_back(Event::Released);
        let params = Params {
            irt: REL_TIMEOUT,
            mrt: Duration::ZERO,
            mrc: REL_MAX_RC,
            first_rand_positive: false,
        };
        let mut ex = self.exchange(params, now, None);
        self.transmit(now, &mut ex, &Outgoing::Release(&lease));
        State::Releasing(ex, lease)
    }

    fn start_information(&mut self, now: Instant, delay: bool) -> State {
        let first_at = if delay { self.random_delay(now, INF_MAX_DELAY) } else { now };
        let params =
            Params { irt: INF_TIMEOUT, mrt: self.inf_max_rt, mrc: 0, first_rand_positive: false };
        let mut ex = self.exchange(params, first_at, None);
        if ex.rtx.due(now) {
            self.transmit(now, &mut ex, &Outgoing::InformationRequest);
        }
        State::InformationRequesting(ex)
    }

    fn bind(&mut self, now: Instant, lease: Lease) -> State {
        let event = match self.held.take() {
            None => Event::Delegated(lease.clone()),
            Some(old) if old.same_prefixes(&lease) => Event::Renewed(lease.clone()),
            Some(old) => Event::Changed { old, new: lease.clone() },
        };
        self.events.push_back(event);
        if let Some(p) = lease.prefixes.first() {
            self.cfg.last_prefix = Some((p.prefix, p.len));
        }
        self.backoff = self.cfg.no_prefix_backoff;
        self.held = Some(lease.clone());
        let b = Binding {
            t1_at: lifetime_deadline(now, lease.t1),
            t2_at: lifetime_deadline(now, lease.t2),
            expire_at: lifetime_deadline(now, lease.max_valid()),
            lease,
        };
        self.bound_timeout(now, b)
    }

    fn informed(&mut self, now: Instant, msg: &Repr) -> State {
        let info = msg::information(msg);
        // RFC 8415 §21.23: refresh time, IRT_DEFAULT when absent, at least IRT_MINIMUM.
        let refresh = match msg.u32_option(OptionCode::InformationRefreshTime) {
            Some(u32::MAX) => None,
            Some(secs) => Some(Duration::from_secs(secs.into()).max(IRT_MINIMUM)),
            None => Some(IRT_DEFAULT),
        };
        let server_id = info.server_id.clone();
        self.events.push_back(Event::Information(info));
        State::Informed { refresh_at: refresh.and_then(|d| after(now, d)), server_id }
    }

    fn no_prefix(&mut self, now: Instant) -> State {
        self.events.push_back(Event::NoPrefixAvail);
        let wait = self.random_delay(now, self.backoff / 10) + self.backoff;
        self.backoff = self.backoff.saturating_mul(2).min(self.sol_max_rt);
        State::Backoff(wait)
    }

    fn lost(&mut self, now: Instant) -> State {
        self.lose_if_held();
        self.start_soliciting(now, false)
    }

    fn lose_if_held(&mut self) {
        if self.held.take().is_some() {
            self.events.push_back(Event::Lost);
        }
    }

    fn exchange(&mut self, params: Params, first_at: Instant, mrd: Option<Instant>) -> Exchange {
        Exchange { xid: self.rng.xid(), rtx: Retransmit::new(params, first_at, mrd) }
    }

    fn random_delay(&mut self, now: Instant, max: Duration) -> Instant {
        let ms = self.rng.below(u64::try_from(max.as_millis()).unwrap_or(0) + 1);
        after(now, Duration::from_millis(ms)).unwrap_or(now)
    }

    fn transmit(&mut self, now: Instant, ex: &mut Exchange, out: &Outgoing<'_>) {
        let msg = msg::build(&self.cfg, out, ex.xid, ex.rtx.elapsed_centis(now));
        ex.rtx.on_transmit(now, &mut self.rng);
        match msg.to_vec() {
            Ok(payload) => {
                self.stats.transmitted += 1;
                self.transmits.push_back(Transmit { dst: server_multicast(), payload });
            }
            Err(e) => debug!("dhcpv6pd: cannot encode {:?}: {e}", msg.msg_type),
        }
    }
}

/// `now` is at or past `deadline` (`None` is never).
fn reached(now: Instant, deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| now >= d)
}

fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}
