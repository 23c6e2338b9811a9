//! The DHCPv4 client machine (RFC 2131 §4.4, Figure 5).
//!
//! Call order, as everywhere in this project: `handle_input` / `handle_timeout` / `release`,
//! then drain `poll_transmit`, `poll_event`, and ask `poll_timeout`.

pub mod lease;
pub mod msg;
pub(crate) mod rng;
pub mod timer;

pub use lease::Lease;
pub use msg::PARAMETER_REQUEST_LIST;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use tracing::debug;

use self::rng::{Rng, RngExt};
use self::timer::{
    Exchange, MAX_RT, NAK_DELAY, REBOOT_MAX_RC, REQUEST_MAX_RC, START_DELAY_MAX, after_secs,
};
use crate::Transmit;
use msg::{Outgoing, broadcast, unicast};

/// How the client identifies itself and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our hardware (MAC) address: `chaddr`, checked in every reply.
    pub chaddr: [u8; 6],
    /// Client Identifier (61); [`ClientConfig::new`] makes type 1 (Ethernet) + the MAC.
    pub client_id: Vec<u8>,
    /// Host Name (12), sent when set.
    pub hostname: Option<String>,
    /// Vendor Class Identifier (60), sent when set: some ISPs answer only a known one (KPN's
    /// IPTV VLAN).
    pub vendor_class: Option<Vec<u8>>,
    /// An address to ask for again (INIT-REBOOT, §3.2): the last one we held.
    pub requested_address: Option<Ipv4Addr>,
    /// Ask for Rapid Commit (RFC 4039) in DISCOVER.
    pub rapid_commit: bool,
    /// Set the BROADCAST flag while we have no address (§4.1), so servers broadcast replies.
    pub broadcast_flag: bool,
    /// Maximum DHCP Message Size (57); at least 576.
    pub max_message_size: u16,
    /// Upper bound of the random wait before the first message (§4.4.1).
    pub start_delay_max: Duration,
    /// Seed of the machine's RNG (xids, jitter).
    pub seed: u64,
}

impl ClientConfig {
    /// Defaults for a MAC: client id `01:<mac>`, no host name, no Rapid Commit, BROADCAST
    /// flag on, 1500-byte messages, up to 1 s before the first DISCOVER.
    pub fn new(chaddr: [u8; 6], seed: u64) -> Self {
        Self {
            chaddr,
            client_id: [&[0x01][..], &chaddr[..]].concat(),
            hostname: None,
            vendor_class: None,
            requested_address: None,
            rapid_commit: false,
            broadcast_flag: true,
            max_message_size: 1500,
            start_delay_max: START_DELAY_MAX,
            seed,
        }
    }
}

/// What happened, with full snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A lease was acquired where none was held.
    Bound(Lease),
    /// The same address was extended (RENEWING, REBINDING); other fields may have changed.
    Renewed(Lease),
    /// A DHCPACK gave a different address than the one held.
    Changed {
        /// What was held before.
        old: Lease,
        /// What is held now.
        new: Lease,
    },
    /// The lease expired, or a DHCPNAK took it away: stop using the address at once.
    Lost,
    /// The lease was given back by [`Client::release`]; stop using the address.
    Released,
}

/// The RFC 2131 state (Figure 5), without its data (see [`Client::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting to send the first DISCOVER.
    Init,
    /// DISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUEST sent for an offer.
    Requesting,
    /// Waiting to send the first REQUEST for a remembered address.
    InitReboot,
    /// REQUEST for a remembered address sent.
    Rebooting,
    /// Holding a lease, waiting for T1.
    Bound,
    /// REQUEST unicast to the server (after T1).
    Renewing,
    /// REQUEST broadcast (after T2).
    Rebinding,
    /// Released; the machine does nothing more.
    Stopped,
}

/// Counters for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to `handle_input`.
    pub received: u64,
    /// Datagrams that failed the checked parse, or lacked what a reply must carry (dropped).
    pub malformed: u64,
    /// Replies for someone else: wrong xid, chaddr or client identifier (dropped).
    pub foreign: u64,
    /// Well-formed replies for us that the current state does not take (dropped).
    pub ignored: u64,
    /// DHCPNAKs acted on.
    pub naks: u64,
    /// Messages queued for transmission.
    pub transmitted: u64,
}

/// The offer taken in SELECTING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offer {
    address: Ipv4Addr,
    server: Ipv4Addr,
}

/// A held lease and its absolute deadlines (`None` = never).
#[derive(Debug, Clone)]
struct Binding {
    lease: Lease,
    t1_at: Option<Instant>,
    t2_at: Option<Instant>,
    expire_at: Option<Instant>,
}

impl Binding {
    fn new(lease: Lease) -> Self {
        let at = lease.acquired;
        Self {
            t1_at: after_secs(at, lease.t1),
            t2_at: after_secs(at, lease.t2),
            expire_at: after_secs(at, lease.lease_time),
            lease,
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    /// INIT (nothing sent yet) and SELECTING.
    Selecting(Exchange),
    Requesting(Exchange, Offer),
    /// INIT-REBOOT (nothing sent yet) and REBOOTING, for an address remembered across a
    /// restart (no binding) or held when the link came back (its binding kept meanwhile).
    Rebooting(Exchange, Ipv4Addr, Option<Binding>),
    Bound(Binding),
    Renewing(Binding, Exchange),
    Rebinding(Binding, Exchange),
    Stopped,
}

/// The DHCPv4 client state machine. Owns no socket, clock or task.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: ClientConfig,
    rng: Rng,
    state: State,
    /// The lease in use, to tell Bound / Renewed / Changed apart.
    held: Option<Lease>,
    nak_delay: Duration,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

/// Upper bound of cascading transitions in one `handle_timeout` (Bound → Renewing →
/// Rebinding → Init → Selecting when time jumped past all of them).
const MAX_STEPS: usize = 6;

impl Client {
    /// A client starting at `now`: in INIT-REBOOT when `cfg.requested_address` is set, else
    /// in INIT. The first message is due after a random wait up to `cfg.start_delay_max`.
    pub fn new(cfg: ClientConfig, now: Instant) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let max_ms = u64::try_from(cfg.start_delay_max.as_millis()).unwrap_or(u64::MAX);
        let first = now + Duration::from_millis(rng.below(max_ms.saturating_add(1)));
        let ex = Exchange::new(rng.xid(), first);
        let state = match cfg.requested_address {
            Some(a) => State::Rebooting(ex, a, None),
            None => State::Selecting(ex),
        };
        Self {
            cfg,
            rng,
            state,
            held: None,
            nak_delay: NAK_DELAY,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The current state's name.
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Selecting(ex) if ex.count == 0 => Phase::Init,
            State::Selecting(_) => Phase::Selecting,
            State::Requesting(..) => Phase::Requesting,
            State::Rebooting(ex, ..) if ex.count == 0 => Phase::InitReboot,
            State::Rebooting(..) => Phase::Rebooting,
            State::Bound(_) => Phase::Bound,
            State::Renewing(..) => Phase::Renewing,
            State::Rebinding(..) => Phase::Rebinding,
            State::Stopped => Phase::Stopped,
        }
    }

    /// The lease in use, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.held.as_ref()
    }

    /// The transaction id replies must carry now, if an exchange is under way.
    pub fn xid(&self) -> Option<u32> {
        match &self.state {
            State::Selecting(ex)
            | State::Requesting(ex, _)
            | State::Rebooting(ex, ..)
            | State::Renewing(_, ex)
            | State::Rebinding(_, ex) => Some(ex.xid),
            State::Bound(_) | State::Stopped => None,
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next; `None` when nothing is scheduled (stopped,
    /// or bound with an infinite lease).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Selecting(ex) | State::Requesting(ex, _) => Some(ex.next),
            State::Rebooting(ex, _, b) => {
                [Some(ex.next), b.as_ref().and_then(|b| b.expire_at)].into_iter().flatten().min()
            }
            State::Bound(b) => b.t1_at.or(b.t2_at).or(b.expire_at),
            State::Renewing(b, ex) => {
                [Some(ex.next), b.t2_at, b.expire_at].into_iter().flatten().min()
            }
            State::Rebinding(b, ex) => [Some(ex.next), b.expire_at].into_iter().flatten().min(),
            State::Stopped => None,
        }
    }

    /// Gives the lease back (RFC 2131 §4.4.6: DHCPRELEASE unicast to the server) and stops.
    /// Without a lease the client just stops.
    pub fn release(&mut self, _now: Instant) {
        let state = std::mem::replace(&mut self.state, State::Stopped);
        let binding = match state {
            State::Bound(b)
            | State::Renewing(b, _)
            | State::Rebinding(b, _)
            | State::Rebooting(_, _, Some(b)) => Some(b),
            _ => None,
        };
        if let Some(b) = binding {
            let out = Outgoing {
                kind: MessageType::Release,
                xid: self.rng.xid(),
                secs: 0,
                ciaddr: b.lease.address,
                requested: None,
                server_id: Some(b.lease.server),
                dst: unicast(b.lease.server),
            };
            self.transmit(&out);
            debug!(address = %b.lease.address, server = %b.lease.server, "dhcp4: released");
        }
        if self.held.take().is_some() {
            self.events.push_back(Event::Released);
        }
    }

    /// The link came back (carrier up): the client may have been moved to another network.
    /// A held lease is verified by INIT-REBOOT (RFC 2131 §3.2: a client "that has moved"
    /// ... "SHOULD" re-verify; dhcpcd and systemd-networkd do this on carrier up), keeping it
    /// in use meanwhile; without one, DISCOVER (or INIT-REBOOT) starts again at once.
    pub fn handle_link_up(&mut self, now: Instant) {
        let xid = self.rng.xid();
        let state = std::mem::replace(&mut self.state, State::Stopped);
        self.state = match state {
            State::Bound(b)
            | State::Renewing(b, _)
            | State::Rebinding(b, _)
            | State::Rebooting(_, _, Some(b)) => {
                let a = b.lease.address;
                State::Rebooting(Exchange::new(xid, now), a, Some(b))
            }
            State::Rebooting(_, a, None) => State::Rebooting(Exchange::new(xid, now), a, None),
            State::Selecting(_) | State::Requesting(..) => {
                State::Selecting(Exchange::new(xid, now))
            }
            State::Stopped => State::Stopped,
        };
        self.handle_timeout(now);
    }

    /// Time passed: retransmit, renew, rebind, expire.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..MAX_STEPS {
            if !self.step(now) {
                return;
            }
        }
    }

    /// One transition due at `now`; false when nothing was due.
    fn step(&mut self, now: Instant) -> bool {
        let state = std::mem::replace(&mut self.state, State::Stopped);
        let (state, changed) = match state {
            State::Selecting(mut ex) if ex.due(now) => {
                self.send(MessageType::Discover, &ex, now, None, None, broadcast());
                ex.on_transmit(now, &mut self.rng);
                (State::Selecting(ex), false)
            }
            // §4.4.1: no ACK or NAK after the retransmissions: back to INIT.
            State::Requesting(ex, _) if ex.due(now) && ex.count >= REQUEST_MAX_RC => {
                debug!("dhcp4: no answer to REQUEST, back to INIT");
                (self.init(now), true)
            }
            State::Requesting(mut ex, offer) if ex.due(now) => {
                let (a, s) = (Some(offer.address), Some(offer.server));
                self.send(MessageType::Request, &ex, now, a, s, broadcast());
                ex.on_transmit(now, &mut self.rng);
                (State::Requesting(ex, offer), false)
            }
            State::Rebooting(_, _, Some(b)) if b.expire_at.is_some_and(|e| now >= e) => {
                debug!(address = %b.lease.address, "dhcp4: lease expired in INIT-REBOOT");
                self.lose();
                (self.init(now), true)
            }
            // §3.2: no answer to INIT-REBOOT. With a lease held (link came back) the client
            // "MAY choose to use the previously allocated network address and configuration
            // parameters for the remainder of the unexpired lease": back to BOUND (T1/T2
            // unchanged). After a restart it cannot know the lease: DISCOVER.
            State::Rebooting(ex, _, b) if ex.due(now) && ex.count >= REBOOT_MAX_RC => {
                debug!("dhcp4: no answer in INIT-REBOOT");
                match b {
                    Some(b) => (State::Bound(b), true),
                    None => (self.init(now), true),
                }
            }
            State::Rebooting(mut ex, a, b) if ex.due(now) => {
                self.send(MessageType::Request, &ex, now, Some(a), None, broadcast());
                ex.on_transmit(now, &mut self.rng);
                (State::Rebooting(ex, a, b), false)
            }
            // §4.4.5: lease expired: "the client MUST immediately stop any other network
            // processing and requests network initialization parameters as if the client
            // were uninitialized".
            State::Bound(b) | State::Renewing(b, _) | State::Rebinding(b, _)
                if b.expire_at.is_some_and(|e| now >= e) =>
            {
                debug!(address = %b.lease.address, "dhcp4: lease expired");
                self.lose();
                (self.init(now), true)
            }
            State::Bound(b) | State::Renewing(b, _) if b.t2_at.is_some_and(|t| now >= t) => {
                let ex = Exchange::new(self.rng.xid(), now);
                (State::Rebinding(b, ex), true)
            }
            State::Bound(b) if b.t1_at.is_some_and(|t| now >= t) => {
                let ex = Exchange::new(self.rng.xid(), now);
                (State::Renewing(b, ex), true)
            }
            State::Renewing(b, mut ex) if ex.due(now) => {
                let (addr, server) = (b.lease.address, b.lease.server);
                self.send_renew(&ex, now, addr, unicast(server));
                ex.on_transmit_until(now, b.t2_at);
                (State::Renewing(b, ex), false)
            }
            State::Rebinding(b, mut ex) if ex.due(now) => {
                self.send_renew(&ex, now, b.lease.address, broadcast());
                ex.on_transmit_until(now, b.expire_at);
                (State::Rebinding(b, ex), false)
            }
            other => (other, false),
        };
        self.state = state;
        changed
    }

    /// A datagram arrived on the client port.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.received += 1;
        let m = match crate::wire::decode_checked(bytes, crate::wire::BOOTREPLY) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                debug!(error = %e, "dhcp4: malformed reply dropped");
                return;
            }
        };
        let Some(kind) = m.opts().msg_type() else {
            self.stats.malformed += 1;
            debug!("dhcp4: reply without a message type (BOOTP) dropped");
            return;
        };
        if !self.is_ours(&m) {
            self.stats.foreign += 1;
            debug!(xid = m.xid(), ?kind, "dhcp4: reply for someone else dropped");
            return;
        }
        let server_id = match m.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(s)) => Some(*s),
            _ => None,
        };
        let state = std::mem::replace(&mut self.state, State::Stopped);
        self.state = match (state, kind) {
            (State::Selecting(ex), MessageType::Offer) => self.on_offer(now, ex, &m, server_id),
            // RFC 4039 §3: an ACK with Rapid Commit answers the DISCOVER.
            (State::Selecting(ex), MessageType::Ack)
                if self.cfg.rapid_commit
                    && m.opts().get(OptionCode::RapidCommit).is_some()
                    && ex.count > 0 =>
            {
                self.on_ack(now, State::Selecting(ex), &m, server_id, None)
            }
            // §4.4.1: an ACK from the server whose offer we took (a NAK below, likewise).
            (State::Requesting(ex, o), MessageType::Ack)
                if server_id.is_none_or(|s| s == o.server) =>
            {
                self.on_ack(now, State::Requesting(ex, o), &m, server_id, Some(o.server))
            }
            (State::Rebooting(ex, a, b), MessageType::Ack) => {
                let server = b.as_ref().map(|b| b.lease.server);
                self.on_ack(now, State::Rebooting(ex, a, b), &m, server_id, server)
            }
            (State::Renewing(b, ex), MessageType::Ack) => {
                let server = Some(b.lease.server);
                self.on_ack(now, State::Renewing(b, ex), &m, server_id, server)
            }
            (State::Rebinding(b, ex), MessageType::Ack) => {
                let server = Some(b.lease.server);
                self.on_ack(now, State::Rebinding(b, ex), &m, server_id, server)
            }
            (State::Requesting(_, o), MessageType::Nak)
                if server_id.is_none_or(|s| s == o.server) =>
            {
                self.on_nak(now)
            }
            // §3.2, §4.4.5: a DHCPNAK in INIT-REBOOT, RENEWING or REBINDING: the address is
            // gone; restart in INIT.
            (
                State::Rebooting(..) | State::Renewing(..) | State::Rebinding(..),
                MessageType::Nak,
            ) => self.on_nak(now),
            (state, kind) => {
                self.stats.ignored += 1;
                debug!(?kind, phase = ?phase_of(&state), "dhcp4: reply not taken in this state");
                state
            }
        };
    }

    /// The reply answers our current exchange: xid, chaddr and (when echoed, RFC 6842) the
    /// client identifier match.
    fn is_ours(&self, m: &Message) -> bool {
        let xid_ok = self.xid() == Some(m.xid());
        let chaddr_ok = m.chaddr() == self.cfg.chaddr;
        let id_ok = match m.opts().get(OptionCode::ClientIdentifier) {
            Some(DhcpOption::ClientIdentifier(id)) => *id == self.cfg.client_id,
            _ => true,
        };
        xid_ok && chaddr_ok && id_ok
    }

    /// §4.4.1: the first acceptable OFFER is taken at once (we do not wait to compare).
    fn on_offer(
        &mut self,
        now: Instant,
        ex: Exchange,
        m: &Message,
        server: Option<Ipv4Addr>,
    ) -> State {
        let address = m.yiaddr();
        let Some(server) = server.filter(|_| !address.is_unspecified()) else {
            self.stats.malformed += 1;
            debug!("dhcp4: OFFER without yiaddr or server id dropped");
            return State::Selecting(ex);
        };
        debug!(%address, %server, "dhcp4: offer taken");
        let offer = Offer { address, server };
        let mut req = ex.follow(now);
        self.send(MessageType::Request, &req, now, Some(address), Some(server), broadcast());
        req.on_transmit(now, &mut self.rng);
        State::Requesting(req, offer)
    }

    /// A DHCPACK: bind, or keep `state` when the ACK is unusable.
    fn on_ack(
        &mut self,
        now: Instant,
        state: State,
        m: &Message,
        server_id: Option<Ipv4Addr>,
        server: Option<Ipv4Addr>,
    ) -> State {
        let Some(lease) = Lease::from_ack(m, server_id.or(server), now) else {
            self.stats.malformed += 1;
            debug!("dhcp4: ACK without address, lease time or server id dropped");
            return state;
        };
        let event = match self.held.take() {
            None => Event::Bound(lease.clone()),
            Some(old) if old.address == lease.address => Event::Renewed(lease.clone()),
            Some(old) => Event::Changed { old, new: lease.clone() },
        };
        let (address, server) = (lease.address, lease.server);
        debug!(%address, %server, time = lease.lease_time, "dhcp4: bound");
        self.events.push_back(event);
        self.held = Some(lease.clone());
        self.nak_delay = NAK_DELAY;
        State::Bound(Binding::new(lease))
    }

    /// A DHCPNAK: stop using the address and DISCOVER after a short, growing wait.
    fn on_nak(&mut self, now: Instant) -> State {
        self.stats.naks += 1;
        debug!(wait = ?self.nak_delay, "dhcp4: NAK, back to INIT");
        self.lose();
        let at = now + self.nak_delay;
        self.nak_delay = self.nak_delay.saturating_mul(2).min(MAX_RT);
        State::Selecting(Exchange::new(self.rng.xid(), at))
    }

    /// INIT with the DISCOVER due at once.
    fn init(&mut self, now: Instant) -> State {
        State::Selecting(Exchange::new(self.rng.xid(), now))
    }

    fn lose(&mut self) {
        if self.held.take().is_some() {
            self.events.push_back(Event::Lost);
        }
    }

    fn send(
        &mut self,
        kind: MessageType,
        ex: &Exchange,
        now: Instant,
        requested: Option<Ipv4Addr>,
        server_id: Option<Ipv4Addr>,
        dst: std::net::SocketAddrV4,
    ) {
        let secs = ex.secs(now);
        let ciaddr = Ipv4Addr::UNSPECIFIED;
        let out = Outgoing { kind, xid: ex.xid, secs, ciaddr, requested, server_id, dst };
        self.transmit(&out);
    }

    /// RENEWING / REBINDING REQUEST: `ciaddr` set, no 50 or 54 (§4.3.2, Table 5).
    fn send_renew(
        &mut self,
        ex: &Exchange,
        now: Instant,
        addr: Ipv4Addr,
        dst: std::net::SocketAddrV4,
    ) {
        let secs = ex.secs(now);
        let out = Outgoing {
            kind: MessageType::Request,
            xid: ex.xid,
            secs,
            ciaddr: addr,
            requested: None,
            server_id: None,
            dst,
        };
        self.transmit(&out);
    }

    fn transmit(&mut self, out: &Outgoing) {
        match out.build(&self.cfg, self.cfg.rapid_commit) {
            Some(t) => {
                self.stats.transmitted += 1;
                self.transmits.push_back(t);
            }
            None => debug!(kind = ?out.kind, "dhcp4: message could not be encoded"),
        }
    }
}

fn phase_of(s: &State) -> &'static str {
    match s {
        State::Selecting(_) => "SELECTING",
        State::Requesting(..) => "REQUESTING",
        State::Rebooting(..) => "REBOOTING",
        State::Bound(_) => "BOUND",
        State::Renewing(..) => "RENEWING",
        State::Rebinding(..) => "REBINDING",
        State::Stopped => "STOPPED",
    }
}
