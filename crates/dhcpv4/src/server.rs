//! The DHCPv4 server machine (RFC 2131 §4.3). Owns no socket, clock, file or task.
//!
//! Call order: `handle_input` / `handle_timeout`, then drain `poll_commit` (write every
//! record to the lease store and make it durable), call `handle_committed` with the last
//! sequence number made durable, then drain `poll_transmit` and `poll_event`, and ask
//! `poll_timeout`. An ACK that grants a lease (and its [`Event::LeaseGranted`]) is held back
//! until its record was committed: no client ever holds a lease the store does not have.

pub mod config;
pub mod reply;
pub mod store;
pub mod table;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant, SystemTime};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use tracing::{debug, warn};

pub use self::config::{ConfigError, PoolRange, Reservation, ServerConfig};
use self::reply::LeaseOptions;
pub use self::store::{LeaseLog, LeaseRecord};
use self::table::{Binding, State, Table};
pub use self::table::{ClientKey, HwAddr};
use crate::{Transmit, wire};
use leases::RecordState;
use leases::{Clock, Throttle, names};

/// Where a datagram came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Source address and port (a client on 68, or a relay agent on 67).
    pub src: SocketAddrV4,
}

/// A snapshot of one lease, carried by events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// The client's chaddr.
    pub hw: HwAddr,
    /// The client identifier (61); empty if none was sent.
    pub client_id: Vec<u8>,
    /// The sanitised host name.
    pub hostname: Option<String>,
    /// When the lease ends (or ended), wall-clock.
    pub expires: SystemTime,
}

/// What the server tells the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A lease was granted or extended; its record is durable.
    LeaseGranted(Lease),
    /// The client released its lease (RFC 2131 §4.4.6).
    LeaseReleased(Lease),
    /// A lease ran out without being renewed.
    LeaseExpired(Lease),
    /// The client found the address in use (DECLINE): it is out of use for `decline_hold`.
    AddressDeclined(Lease),
}

/// A lease record the caller must make durable, then confirm with
/// [`Server::handle_committed`]`(seq)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Sequence number, increasing by one from 1.
    pub seq: u64,
    /// The record.
    pub record: LeaseRecord,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to `handle_input`.
    pub received: u64,
    /// Datagrams that failed to parse (dropped).
    pub malformed: u64,
    /// Well-formed requests not answered (another server chosen, wrong subnet, unknown type).
    pub dropped: u64,
    /// OFFERs sent.
    pub offers: u64,
    /// ACKs granting or extending a lease.
    pub acks: u64,
    /// NAKs sent.
    pub naks: u64,
    /// INFORMs answered.
    pub informs: u64,
    /// RELEASEs applied.
    pub releases: u64,
    /// DECLINEs applied.
    pub declines: u64,
    /// DISCOVERs left unanswered because the pool was full.
    pub pool_exhausted: u64,
    /// Requests ignored for a missing or other Vendor Class Identifier (`vendor_class`).
    pub wrong_vendor_class: u64,
}

/// Output waiting for a commit.
#[derive(Debug, Clone)]
enum Held {
    Transmit(Transmit),
    Event(Event),
}

/// A client as seen in one request.
struct Peer<'a> {
    msg: &'a Message,
    hw: HwAddr,
    client_id: Vec<u8>,
    key: ClientKey,
}

impl<'a> Peer<'a> {
    fn new(msg: &'a Message) -> Option<Self> {
        let hw = HwAddr::new(u8::from(msg.htype()), msg.chaddr())?;
        let client_id = match msg.opts().get(OptionCode::ClientIdentifier) {
            Some(DhcpOption::ClientIdentifier(id)) => id.clone(),
            _ => Vec::new(),
        };
        let key = ClientKey::of(&client_id, hw);
        Some(Peer { msg, hw, client_id, key })
    }

    fn requested(&self) -> Option<Ipv4Addr> {
        match self.msg.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
            _ => None,
        }
    }

    fn server_id(&self) -> Option<Ipv4Addr> {
        match self.msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
            _ => None,
        }
    }

    /// The name the client asks for: option 81's first label, else option 12.
    fn hostname(&self) -> Option<String> {
        let opts = self.msg.opts();
        if let Some(DhcpOption::ClientFQDN(f)) = opts.get(OptionCode::ClientFQDN) {
            if let Some(n) = f.domain().iter().next().and_then(names::sanitize) {
                return Some(n);
            }
        }
        match opts.get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => names::sanitize(h.as_bytes()),
            _ => None,
        }
    }
}

/// The DHCPv4 server machine for one LAN.
#[derive(Debug, Clone)]
pub struct Server {
    cfg: ServerConfig,
    options: LeaseOptions,
    clock: Clock,
    table: Table,
    reservations: HashMap<ClientKey, usize>,
    protected: HashSet<String>,
    next_seq: u64,
    durable: u64,
    commits: VecDeque<Commit>,
    held: VecDeque<(u64, Held)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Rate limit of the per-packet warnings (pool full, declines).
    throttle: Throttle,
}

impl Server {
    /// A server with an empty lease table. `unix_now` is the wall-clock time (Unix seconds)
    /// at `now`; lease expiries are kept and persisted as wall-clock time.
    pub fn new(cfg: ServerConfig, now: Instant, unix_now: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let reservations =
            cfg.reservations.iter().enumerate().map(|(i, r)| (r.client.clone(), i)).collect();
        let reserved_names = cfg.reservations.iter().filter_map(|r| r.hostname.as_deref());
        let protected = cfg
            .protected_names
            .iter()
            .map(String::as_str)
            .chain(reserved_names)
            .filter_map(|n| names::sanitize(n.as_bytes()))
            .collect();
        Ok(Server {
            options: LeaseOptions::new(&cfg),
            clock: Clock { at: now, unix: unix_now },
            table: Table::new(cfg.pool, cfg.reservations.iter().map(|r| r.address)),
            reservations,
            protected,
            cfg,
            next_seq: 1,
            durable: 0,
            commits: VecDeque::new(),
            held: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            throttle: Throttle::new(60),
        })
    }

    /// Loads the records of a lease store (any order; see [`crate::LeaseLog::leases`]).
    /// Bound leases past their end become free, remembered for their client.
    pub fn restore<'a>(&mut self, records: impl IntoIterator<Item = &'a LeaseRecord>) {
        let t = self.clock.unix;
        let mut records: Vec<&LeaseRecord> = records.into_iter().collect();
        // The binding a client is indexed by is the last one set: bound ones, latest last.
        records.sort_by_key(|r| (r.state == RecordState::Bound, r.expires));
        self.table.reserve(records.len());
        for r in records {
            let state = match r.state {
                RecordState::Bound if r.expires > t => State::Bound,
                RecordState::Declined if r.expires > t => State::Declined,
                _ => State::Free,
            };
            let b = Binding {
                key: ClientKey::of(&r.client_id, r.hw),
                hw: r.hw,
                client_id: r.client_id.clone(),
                hostname: r.hostname.clone(),
                state,
                until: r.expires,
            };
            self.table.set(r.address, b);
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The lease table, for inspection.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The next record to make durable.
    pub fn poll_commit(&mut self) -> Option<Commit> {
        self.commits.pop_front()
    }

    /// Every commit up to and including `seq` is durable: release what waited for them.
    pub fn handle_committed(&mut self, seq: u64) {
        self.durable = self.durable.max(seq);
        while let Some((s, _)) = self.held.front() {
            if *s > self.durable {
                break;
            }
            match self.held.pop_front() {
                Some((_, Held::Transmit(t))) => self.transmits.push_back(t),
                Some((_, Held::Event(e))) => self.events.push_back(e),
                None => break,
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next: the earliest offer, lease or decline end.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_deadline().map(|t| self.clock.instant(t))
    }

    /// Time passed: offers lapse, leases expire ([`Event::LeaseExpired`]), declined
    /// addresses come back. Expiry is not logged: loading derives it from the lease end.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.clock.unix(now);
        while let Some(a) = self.table.due(t) {
            let expired = self.table.get(a).filter(|b| b.state == State::Bound).cloned();
            self.table.set_state(a, State::Free, t);
            if let Some(b) = expired {
                debug!("dhcp4: lease of {a} to {:?} expired", b.hw);
                self.events.push_back(Event::LeaseExpired(self.snapshot(a, &b)));
            }
        }
    }

    /// A datagram that arrived on port 67.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8], meta: &Meta) {
        self.stats.received += 1;
        let req = match wire::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.stats.malformed += 1;
                debug!("dhcp4: dropping malformed datagram from {}: {e}", meta.src);
                return;
            }
        };
        let giaddr = req.msg.giaddr();
        let Some(peer) = Peer::new(&req.msg) else {
            self.stats.malformed += 1;
            return;
        };
        if !giaddr.is_unspecified() && !self.cfg.subnet.contains(&giaddr) {
            // A relay on a link we do not serve (one subnet per server).
            self.stats.dropped += 1;
            debug!("dhcp4: dropping request relayed by {giaddr}: not our subnet");
            return;
        }
        if let Some(want) = &self.cfg.vendor_class {
            let sent = match req.msg.opts().get(OptionCode::ClassIdentifier) {
                Some(DhcpOption::ClassIdentifier(v)) => Some(v),
                _ => None,
            };
            if sent != Some(want) {
                self.stats.wrong_vendor_class += 1;
                debug!(hw = ?peer.hw, ?sent, "dhcp4: ignoring a client of another vendor class");
                return;
            }
        }
        let t = self.clock.unix(now);
        match req.kind {
            MessageType::Discover => self.discover(t, &peer),
            MessageType::Request => self.request(t, &peer),
            MessageType::Decline => self.decline(t, &peer),
            MessageType::Release => self.release(t, &peer),
            MessageType::Inform => self.inform(&peer),
            _ => self.stats.dropped += 1,
        }
    }

    /// RFC 2131 §4.3.1.
    fn discover(&mut self, t: u64, p: &Peer) {
        let Some(a) = self.choose(p) else {
            self.stats.pool_exhausted += 1;
            if let Some(more) = self.throttle.check(t) {
                warn!(
                    hw = ?p.hw, pool = ?self.cfg.pool, suppressed = more,
                    "dhcp4: no address: the pool is full"
                );
            }
            return;
        };
        // RFC 4039 §4: "the server ... responds with a DHCPACK ... [with] the Rapid Commit".
        if self.cfg.rapid_commit && p.msg.opts().get(OptionCode::RapidCommit).is_some() {
            self.ack(t, p, a, true);
            return;
        }
        let held_by_client =
            self.table.get(a).filter(|b| b.key == p.key && b.state == State::Bound);
        if held_by_client.is_none() {
            self.table
                .set(a, self.binding(p, None, State::Offered, t + u64::from(self.cfg.offer_hold)));
        }
        let mut m = reply::base(self.cfg.server_id, p.msg, MessageType::Offer, a);
        self.options.add_to(&mut m, p.msg, true);
        self.stats.offers += 1;
        self.send(p.msg, MessageType::Offer, &m, None);
    }

    /// The address to offer: the reservation, the client's last address, the one it asks
    /// for if nobody ever had it, else a fresh or long-free one.
    fn choose(&mut self, p: &Peer) -> Option<Ipv4Addr> {
        if let Some(r) = self.reservation(p) {
            let a = r.address;
            return self.usable_by(p, a).then_some(a);
        }
        if let Some((a, b)) = self.table.of_client(&p.key) {
            if b.state != State::Declined && self.cfg.pool.contains(a) && !self.table.is_reserved(a)
            {
                return Some(a);
            }
        }
        if let Some(a) = p.requested() {
            if self.cfg.pool.contains(a)
                && !self.table.is_reserved(a)
                && self.table.get(a).is_none()
            {
                return Some(a);
            }
        }
        self.table.allocate()
    }

    /// Whether `p` may have `a` now.
    fn usable_by(&self, p: &Peer, a: Ipv4Addr) -> bool {
        let net = self.cfg.subnet.trunc();
        if !net.contains(&a)
            || a == net.network()
            || a == net.broadcast()
            || a == self.cfg.server_id
        {
            return false;
        }
        let reserved = self.table.is_reserved(a);
        match self.reservation(p) {
            Some(r) if r.address != a => return false,
            None if reserved => return false,
            _ => {}
        }
        match self.table.get(a) {
            None => reserved || self.cfg.pool.contains(a),
            Some(b) if b.key == p.key => b.state != State::Declined,
            Some(b) => b.state == State::Free && (reserved || self.cfg.pool.contains(a)),
        }
    }

    /// RFC 2131 §4.3.2: the client's state is told by server id, requested address, ciaddr.
    fn request(&mut self, t: u64, p: &Peer) {
        let ciaddr = p.msg.ciaddr();
        match (p.server_id(), p.requested()) {
            // SELECTING: "'server identifier' MUST be filled in, 'requested IP address' ...
            // MUST be filled in".
            (Some(sid), Some(a)) if sid == self.cfg.server_id => self.confirm(t, p, a, true),
            (Some(_), Some(_)) => {
                // The client chose another server: our offer lapses now.
                if let Some((a, b)) = self.table.of_client(&p.key) {
                    if b.state == State::Offered {
                        self.table.set_state(a, State::Free, t);
                    }
                }
                self.stats.dropped += 1;
            }
            // INIT-REBOOT: no server id, requested address, ciaddr zero.
            (None, Some(a)) if ciaddr.is_unspecified() => self.confirm(t, p, a, false),
            // RENEWING (unicast) / REBINDING (broadcast): ciaddr filled in, nothing else.
            (None, _) if !ciaddr.is_unspecified() => self.confirm(t, p, ciaddr, false),
            _ => self.stats.dropped += 1,
        }
    }

    /// ACK `a` if `p` may have it, else NAK (or stay silent, see `authoritative`).
    fn confirm(&mut self, t: u64, p: &Peer, a: Ipv4Addr, selecting: bool) {
        let known = self.table.of_client(&p.key);
        // INIT-REBOOT: "If the client's 'requested IP address' ... is incorrect, or is on the
        // wrong network, [the server] SHOULD send a DHCPNAK".
        let other_held = known.is_some_and(|(b, lease)| {
            b != a && matches!(lease.state, State::Bound | State::Offered)
        });
        if !self.cfg.subnet.contains(&a) || (!selecting && other_held) {
            self.nak(p, "wrong address");
        } else if self.usable_by(p, a) {
            self.ack(t, p, a, false);
        } else if selecting || self.cfg.authoritative || known.is_some() {
            self.nak(p, "address not available");
        } else {
            // "If the DHCP server has no record of this client, then it MUST remain silent".
            self.stats.dropped += 1;
        }
    }

    /// Binds `a` to `p`, commits the record, and holds the ACK until it is durable.
    fn ack(&mut self, t: u64, p: &Peer, a: Ipv4Addr, rapid: bool) {
        // One address per client: a different one it held goes back to the pool.
        if let Some((old, b)) = self.table.of_client(&p.key) {
            if old != a && b.state != State::Free {
                self.table.set_state(old, State::Free, t);
            }
        }
        let name = self.hostname_for(p);
        let until = t + u64::from(self.cfg.lease_time);
        let b = self.binding(p, name, State::Bound, until);
        let seq = self.commit(a, RecordState::Bound, &b);
        let lease = self.snapshot(a, &b);
        self.table.set(a, b);
        let mut m = reply::base(self.cfg.server_id, p.msg, MessageType::Ack, a);
        self.options.add_to(&mut m, p.msg, true);
        if rapid {
            m.opts_mut().insert(DhcpOption::RapidCommit);
        }
        self.stats.acks += 1;
        self.send(p.msg, MessageType::Ack, &m, Some(seq));
        self.held.push_back((seq, Held::Event(Event::LeaseGranted(lease))));
    }

    fn nak(&mut self, p: &Peer, why: &str) {
        let mut m = reply::base(self.cfg.server_id, p.msg, MessageType::Nak, Ipv4Addr::UNSPECIFIED);
        m.opts_mut().insert(DhcpOption::Message(why.to_owned()));
        self.stats.naks += 1;
        debug!("dhcp4: NAK to {:?}: {why}", p.hw);
        self.send(p.msg, MessageType::Nak, &m, None);
    }

    /// RFC 2131 §4.3.3: the address is in use by someone else; park it.
    fn decline(&mut self, t: u64, p: &Peer) {
        let a = p.requested();
        let ours = p.server_id().is_none_or(|s| s == self.cfg.server_id);
        let Some((a, b)) = a.zip(a.and_then(|a| self.table.get(a))).filter(|(_, b)| b.key == p.key)
        else {
            self.stats.dropped += 1;
            return;
        };
        if !ours {
            self.stats.dropped += 1;
            return;
        }
        let mut b = b.clone();
        b.state = State::Declined;
        b.until = t + u64::from(self.cfg.decline_hold);
        b.hostname = None;
        if let Some(more) = self.throttle.check(t) {
            warn!(hw = ?p.hw, address = %a, suppressed = more, "dhcp4: declined: in use by an unknown host");
        }
        self.commit(a, RecordState::Declined, &b);
        self.events.push_back(Event::AddressDeclined(self.snapshot(a, &b)));
        self.table.set(a, b);
        self.stats.declines += 1;
    }

    /// RFC 2131 §4.3.4: the client gives its address back.
    fn release(&mut self, t: u64, p: &Peer) {
        let a = p.msg.ciaddr();
        let mine = self.table.get(a).filter(|b| b.key == p.key && b.state == State::Bound).cloned();
        let Some(mut b) = mine.filter(|_| p.server_id().is_none_or(|s| s == self.cfg.server_id))
        else {
            self.stats.dropped += 1;
            return;
        };
        b.state = State::Free;
        b.until = t;
        self.commit(a, RecordState::Released, &b);
        self.events.push_back(Event::LeaseReleased(self.snapshot(a, &b)));
        self.table.set(a, b);
        self.stats.releases += 1;
    }

    /// RFC 2131 §4.3.5: configuration only, "MUST NOT send a lease expiration time".
    fn inform(&mut self, p: &Peer) {
        let mut m = reply::base(self.cfg.server_id, p.msg, MessageType::Ack, Ipv4Addr::UNSPECIFIED);
        self.options.add_to(&mut m, p.msg, false);
        self.stats.informs += 1;
        self.send(p.msg, MessageType::Ack, &m, None);
    }

    fn reservation(&self, p: &Peer) -> Option<&Reservation> {
        let i = self
            .reservations
            .get(&p.key)
            .or_else(|| self.reservations.get(&ClientKey::Hw(p.hw)))?;
        self.cfg.reservations.get(*i)
    }

    /// The reservation's name, else the client's own if it is not protected or taken.
    fn hostname_for(&self, p: &Peer) -> Option<String> {
        if let Some(n) = self.reservation(p).and_then(|r| r.hostname.as_deref()) {
            return names::sanitize(n.as_bytes());
        }
        let name = p.hostname()?;
        if self.protected.contains(&name) {
            debug!("dhcp4: {:?} may not use the protected name {name}", p.hw);
            return None;
        }
        match self.table.name_holder(&name) {
            Some(holder) if holder != &p.key => None,
            _ => Some(name),
        }
    }

    fn binding(&self, p: &Peer, hostname: Option<String>, state: State, until: u64) -> Binding {
        Binding {
            key: p.key.clone(),
            hw: p.hw,
            client_id: p.client_id.clone(),
            hostname,
            state,
            until,
        }
    }

    fn snapshot(&self, a: Ipv4Addr, b: &Binding) -> Lease {
        Lease {
            address: a,
            hw: b.hw,
            client_id: b.client_id.clone(),
            hostname: b.hostname.clone(),
            expires: SystemTime::UNIX_EPOCH + Duration::from_secs(b.until),
        }
    }

    /// Queues a record for the store; returns its sequence number.
    fn commit(&mut self, a: Ipv4Addr, state: RecordState, b: &Binding) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let record = LeaseRecord {
            address: a,
            state,
            expires: b.until,
            hw: b.hw,
            client_id: b.client_id.clone(),
            hostname: b.hostname.clone(),
        };
        self.commits.push_back(Commit { seq, record });
        seq
    }

    /// Encodes `m` and queues it, behind commit `after` if given.
    fn send(&mut self, req: &Message, kind: MessageType, m: &Message, after: Option<u64>) {
        let Some(payload) = wire::emit(m) else {
            warn!("dhcp4: cannot encode a {kind:?}");
            return;
        };
        let tx = Transmit { dst: reply::destination(req, kind), payload };
        match after {
            Some(seq) if seq > self.durable => self.held.push_back((seq, Held::Transmit(tx))),
            _ => self.transmits.push_back(tx),
        }
    }
}
