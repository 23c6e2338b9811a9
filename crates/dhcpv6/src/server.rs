//! The DHCPv6 server machine for one LAN (RFC 8415 §18.3). Owns no socket, clock, file or task.
//!
//! Call order, as for DHCPv4: `handle_input` / `handle_timeout` / `set_prefixes`, then drain
//! `poll_commit` (write every record to the lease store and make it durable), call
//! `handle_committed` with the last sequence number made durable, then drain
//! `poll_transmit` and `poll_event`, and ask `poll_timeout`. A Reply that grants or extends
//! a lease (and its [`Event6::LeaseGranted`]) is held back until its records were committed.

pub mod config;
mod event;
mod ia;
mod reconf;
pub mod store;
pub mod table;

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant, SystemTime};

use crate::wire::{Repr, domain_list_option, status_option};
use dhcproto::v6::{DhcpOption, MessageType, OptionCode, Status};
use ipnet::Ipv6Net;
use tracing::{debug, warn};

use self::config::validate_prefixes;
pub use self::config::{Config6Error, PdPool, Server6Config, duid_ll};
pub use self::event::{Commit6, Event6, Lease6, Meta6, Stats6, Transmit6};
use self::ia::{IaIn, Mode, ias};
pub use self::reconf::{REC_MAX_RC, REC_TIMEOUT};
pub use self::store::{IaKind, LeaseLog6, LeaseRecord6};
use self::table::{Binding, BindingKey, Table, iid_of};
use leases::{Clock, RecordState, names};

/// IAs answered per message; the rest get NoAddrsAvail / NoPrefixAvail, so one datagram
/// cannot take thousands of leases (a home LAN host asks for one or two).
pub const MAX_IAS: usize = 16;

/// Client FQDN (RFC 4704), kept opaque by the wire layer.
const OPTION_CLIENT_FQDN: u16 = 39;

/// Output waiting for a commit.
#[derive(Debug, Clone)]
enum Held {
    Transmit(Transmit6),
    Event(Event6),
}

/// The DHCPv6 server machine for one LAN.
#[derive(Debug, Clone)]
pub struct Server6 {
    cfg: Server6Config,
    clock: Clock,
    table: Table,
    next_seq: u64,
    durable: u64,
    commits: VecDeque<Commit6>,
    held: VecDeque<(u64, Held)>,
    transmits: VecDeque<Transmit6>,
    events: VecDeque<Event6>,
    stats: Stats6,
    /// Where the message being handled came from (for the events of what it is granted).
    peer: Option<std::net::SocketAddrV6>,
    reconf: self::reconf::Reconf,
    /// Rate limit of the per-packet warnings (pool full, declines).
    throttle: leases::Throttle,
}

impl Server6 {
    /// A server with an empty binding table. `unix_now` is the wall-clock time (Unix
    /// seconds) at `now`; lease ends are kept and persisted as wall-clock time.
    pub fn new(cfg: Server6Config, now: Instant, unix_now: u64) -> Result<Self, Config6Error> {
        cfg.validate()?;
        Ok(Server6 {
            cfg,
            clock: Clock { at: now, unix: unix_now },
            table: Table::default(),
            next_seq: 1,
            durable: 0,
            commits: VecDeque::new(),
            held: VecDeque::new(),
            peer: None,
            reconf: self::reconf::Reconf::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats6::default(),
            throttle: leases::Throttle::new(60),
        })
    }

    /// Loads the records of a lease store (in log order, or last-wins already, as
    /// [`crate::LeaseLog6::leases`] gives them). Bound leases still valid at `now`
    /// become bindings again, moved to the configured prefixes as [`Self::set_prefixes`]
    /// would; declined interface ids stay out of use until their hold ends.
    pub fn restore<'a>(
        &mut self,
        now: Instant,
        records: impl IntoIterator<Item = &'a LeaseRecord6>,
    ) {
        let t = self.clock.unix(now);
        // The last record per address or prefix wins, as in the log.
        let mut last = std::collections::HashMap::new();
        for r in records {
            last.insert((r.address, r.prefix_len), r);
        }
        let mut live: Vec<&LeaseRecord6> = last.into_values().filter(|r| r.expires > t).collect();
        live.sort_by_key(|r| (r.kind, r.duid.clone(), r.iaid, r.address));
        for r in live {
            match r.state {
                RecordState::Declined if r.kind == IaKind::Na => {
                    self.table.decline(iid_of(r.address), r.expires);
                }
                RecordState::Bound => self.restore_one(r),
                _ => {}
            }
        }
        self.table.renumber(&self.cfg.prefixes, self.cfg.pd_pool);
    }

    fn restore_one(&mut self, r: &LeaseRecord6) {
        let key = BindingKey { kind: r.kind, duid: r.duid.clone(), iaid: r.iaid };
        if let Some(b) = self.table.get(&key) {
            // A second address of the same IA (another on-link prefix).
            let mut b = b.clone();
            if !b.leases.contains(&(r.address, r.prefix_len)) {
                b.leases.push((r.address, r.prefix_len));
            }
            b.until = b.until.max(r.expires);
            self.table.set(key, b);
            return;
        }
        let slot = match r.kind {
            IaKind::Na => {
                match Some(iid_of(r.address)).filter(|&i| self.table.iid_free_for(i, &key)) {
                    Some(iid) => iid,
                    // Two clients with one interface id (a log from another configuration):
                    // the first keeps it, the other asks again.
                    None => return,
                }
            }
            IaKind::Pd => {
                let idx = self.cfg.pd_pool.and_then(|p| p.index(r.address, r.prefix_len));
                idx.filter(|&i| self.table.slot_for(&key, i, 1) == Some(i))
                    .unwrap_or(self::table::NO_SLOT)
            }
        };
        let b = Binding {
            slot,
            leases: vec![(r.address, r.prefix_len)],
            retired: Vec::new(),
            hostname: r.hostname.clone(),
            until: r.expires,
        };
        self.table.set(key, b);
    }

    /// The configuration in force.
    pub fn config(&self) -> &Server6Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> Stats6 {
        self.stats
    }

    /// The binding table, for inspection.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Renumbering: the on-link prefixes and the PD pool change (a new delegated prefix).
    /// Every binding moves to the new prefixes, keeping its interface id (or pool index); the
    /// old addresses and prefixes go out in the client's next Reply to Renew, Rebind or
    /// Request with lifetimes 0, beside the new ones (RFC 8415 §18.3.4: "the server ...
    /// includes the addresses ... with lifetimes of 0"). Nothing is committed until then.
    /// With `reconfigure` on, clients that agreed to it are sent Reconfigure now.
    pub fn set_prefixes(
        &mut self,
        now: Instant,
        prefixes: Vec<Ipv6Net>,
        pd_pool: Option<PdPool>,
    ) -> Result<(), Config6Error> {
        validate_prefixes(&prefixes, pd_pool)?;
        self.table.renumber(&prefixes, pd_pool);
        self.cfg.prefixes = prefixes;
        self.cfg.pd_pool = pd_pool;
        if self.cfg.reconfigure {
            self.reconfigure_all(now);
        }
        Ok(())
    }

    /// The next record to make durable.
    pub fn poll_commit(&mut self) -> Option<Commit6> {
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
    pub fn poll_transmit(&mut self) -> Option<Transmit6> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event6> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next: the earliest lease or decline end, or
    /// Reconfigure retransmission.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lease = self.table.next_deadline().map(|t| self.clock.instant(t));
        lease.into_iter().chain(self.reconfigure_deadline()).min()
    }

    /// Time passed: bindings past their valid lifetime are reclaimed
    /// ([`Event6::LeaseExpired`]); declined interface ids come back. Expiry is not logged:
    /// loading derives it from the lease end.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.clock.unix(now);
        while let Some((key, b)) = self.table.pop_expired(t) {
            debug!("dhcp6: {:?} IAID {} of {:02x?} expired", key.kind, key.iaid, key.duid);
            self.events.push_back(Event6::LeaseExpired(snapshot(&key, &b)));
        }
        self.table.release_declined(t);
        self.send_reconfigures(now);
    }

    /// A datagram that arrived on port 547 (multicast or unicast).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8], meta: &Meta6) {
        self.stats.received += 1;
        let msg = match Repr::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                debug!("dhcp6: dropping malformed message from {}: {e}", meta.src);
                return;
            }
        };
        if !self.acceptable(&msg) {
            self.stats.dropped += 1;
            debug!("dhcp6: discarding {:?} from {} (§16)", msg.msg_type, meta.src);
            return;
        }
        let t = self.clock.unix(now);
        self.peer = Some(meta.src);
        if matches!(
            msg.msg_type,
            MessageType::Renew | MessageType::Rebind | MessageType::InformationRequest
        ) {
            self.reconfigure_answered(msg.client_id().unwrap_or_default());
        }
        let first = self.next_seq;
        let reply = match msg.msg_type {
            MessageType::Solicit => self.solicit(t, &msg),
            MessageType::Request => Some(self.leases(t, &msg, Mode::Commit, MessageType::Reply)),
            MessageType::Renew => Some(self.leases(t, &msg, Mode::Renew, MessageType::Reply)),
            MessageType::Rebind => Some(self.leases(t, &msg, Mode::Rebind, MessageType::Reply)),
            MessageType::Release => Some(self.release(t, &msg)),
            MessageType::Decline => Some(self.decline(t, &msg)),
            MessageType::Confirm => self.confirm(&msg),
            MessageType::InformationRequest => Some(self.information(&msg)),
            _ => None,
        };
        let after = (self.next_seq > first).then(|| self.next_seq - 1);
        match reply {
            Some(m) => self.send(meta.src, &m, after),
            None => self.stats.dropped += 1,
        }
    }

    /// RFC 8415 §16: Client and Server Identifier checks per message type.
    fn acceptable(&self, msg: &Repr) -> bool {
        let ours = msg.server_id() == Some(self.cfg.duid.as_slice());
        let client = msg.client_id().is_some();
        match msg.msg_type {
            // §16.2, §16.5, §16.7: "MUST discard any ... that ... includes a Server
            // Identifier option" / "does not include a Client Identifier option".
            MessageType::Solicit | MessageType::Rebind | MessageType::Confirm => {
                client && msg.server_id().is_none()
            }
            // §16.4, §16.6, §16.8, §16.9: "the contents of the Server Identifier option do
            // not match the server's identifier".
            MessageType::Request
            | MessageType::Renew
            | MessageType::Release
            | MessageType::Decline => client && ours,
            // §16.12: no IA options, and no one else's Server Identifier.
            MessageType::InformationRequest => {
                (ours || msg.server_id().is_none())
                    && !msg.has(OptionCode::IANA)
                    && !msg.has(OptionCode::IAPD)
                    && !msg.has(OptionCode::IATA)
            }
            _ => false,
        }
    }

    /// §18.3.1: Advertise, or a committed Reply with Rapid Commit when both sides want it.
    fn solicit(&mut self, t: u64, msg: &Repr) -> Option<Repr> {
        if self.cfg.rapid_commit && msg.has(OptionCode::RapidCommit) {
            let mut m = self.leases(t, msg, Mode::Commit, MessageType::Reply);
            m.push(DhcpOption::RapidCommit);
            return Some(m);
        }
        let mut m = self.leases(t, msg, Mode::Offer, MessageType::Advertise);
        if self.cfg.preference != 0 {
            m.push(DhcpOption::Preference(self.cfg.preference));
        }
        Some(m)
    }

    /// Answers every IA_NA and IA_PD of `msg`, in order.
    fn leases(&mut self, t: u64, msg: &Repr, mode: Mode, kind: MessageType) -> Repr {
        let duid = msg.client_id().unwrap_or_default().to_vec();
        let hostname = client_fqdn(msg);
        let mut m = self.base(kind, msg);
        if let Some(src) = self.peer {
            if self.note_reconfigure_accept(msg, src) {
                m.push(DhcpOption::ReconfAccept);
            }
        }
        for (i, ia) in ias(msg).into_iter().enumerate() {
            let key = BindingKey { kind: ia.kind, duid: duid.clone(), iaid: ia.iaid };
            let opt = if i < MAX_IAS {
                self.answer_ia(t, &key, &ia, mode, hostname.as_ref())
            } else {
                self.refuse_ia(&ia)
            };
            m.push(opt);
        }
        m
    }

    /// §18.3.7: frees each IA's binding; NoBinding for IAs without one; Success.
    fn release(&mut self, t: u64, msg: &Repr) -> Repr {
        let duid = msg.client_id().unwrap_or_default().to_vec();
        let mut m = self.base(MessageType::Reply, msg);
        for ia in ias(msg) {
            let key = BindingKey { kind: ia.kind, duid: duid.clone(), iaid: ia.iaid };
            let Some(b) = self.table.remove(&key) else {
                m.push(self.no_binding(&ia));
                continue;
            };
            for &(a, l) in &b.leases {
                self.commit(&key, a, l, RecordState::Released, t, None);
            }
            self.stats.releases += 1;
            let mut lease = snapshot(&key, &b);
            lease.expires = SystemTime::UNIX_EPOCH + Duration::from_secs(t);
            self.events.push_back(Event6::LeaseReleased(lease));
        }
        m.push(status_option(Status::Success, "released"));
        m
    }

    /// §18.3.8: the client found the addresses in use: their interface id is parked for
    /// `decline_hold`, the binding ends. NoBinding for IAs without one; Success.
    fn decline(&mut self, t: u64, msg: &Repr) -> Repr {
        let duid = msg.client_id().unwrap_or_default().to_vec();
        let mut m = self.base(MessageType::Reply, msg);
        for ia in ias(msg).into_iter().filter(|ia| ia.kind == IaKind::Na) {
            let key = BindingKey { kind: ia.kind, duid: duid.clone(), iaid: ia.iaid };
            let declined = ia.presented();
            let mine =
                self.table.get(&key).filter(|b| declined.iter().any(|d| b.leases.contains(d)));
            let Some(b) = mine.cloned() else {
                m.push(self.no_binding(&ia));
                continue;
            };
            self.table.remove(&key);
            let until = t + u64::from(self.cfg.decline_hold);
            self.table.decline(b.slot, until);
            for &(a, l) in &b.leases {
                self.commit(&key, a, l, RecordState::Declined, until, None);
            }
            if let Some(more) = self.throttle.check(t) {
                warn!(duid = ?duid, leases = ?b.leases, suppressed = more, "dhcp6: declined: in use by an unknown host");
            }
            self.stats.declines += 1;
            self.events.push_back(Event6::AddressDeclined(snapshot(&key, &b)));
        }
        m.push(status_option(Status::Success, "declined"));
        m
    }

    /// §18.3.3: Success if every address is on link, NotOnLink otherwise; no answer to a
    /// Confirm without addresses ("the server MUST NOT send a reply").
    fn confirm(&mut self, msg: &Repr) -> Option<Repr> {
        let addrs: Vec<Ipv6Addr> = ias(msg)
            .iter()
            .filter(|ia| ia.kind == IaKind::Na)
            .flat_map(IaIn::presented)
            .map(|(a, _)| a)
            .collect();
        if addrs.is_empty() {
            return None;
        }
        let mut m = self.base(MessageType::Reply, msg);
        if addrs.iter().all(|&a| self.on_link(a)) {
            m.push(status_option(Status::Success, "all addresses on link"));
        } else {
            self.stats.not_on_link += 1;
            m.push(status_option(Status::NotOnLink, "not on link"));
        }
        Some(m)
    }

    /// §18.3.6: configuration only, with the Information Refresh Time (§21.23).
    fn information(&mut self, msg: &Repr) -> Repr {
        self.stats.info_requests += 1;
        let mut m = self.base(MessageType::Reply, msg);
        if let Some(irt) = self.cfg.info_refresh {
            m.push(DhcpOption::InformationRefreshTime(irt));
        }
        m
    }

    /// Server and Client Identifier, DNS servers and domain search list.
    fn base(&self, kind: MessageType, req: &Repr) -> Repr {
        let mut m = Repr::new(kind, req.xid);
        m.push(DhcpOption::ServerId(self.cfg.duid.clone()));
        if let Some(cid) = req.client_id() {
            m.push(DhcpOption::ClientId(cid.to_vec()));
        }
        if !self.cfg.dns_servers.is_empty() {
            m.push(DhcpOption::DomainNameServers(self.cfg.dns_servers.clone()));
        }
        if !self.cfg.domains.is_empty() {
            m.push(domain_list_option(&self.cfg.domains));
        }
        m
    }

    /// Queues a record for the store; returns its sequence number.
    fn commit(
        &mut self,
        key: &BindingKey,
        address: Ipv6Addr,
        prefix_len: u8,
        state: RecordState,
        expires: u64,
        hostname: Option<String>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let record = LeaseRecord6 {
            state,
            kind: key.kind,
            address,
            prefix_len,
            iaid: key.iaid,
            expires,
            duid: key.duid.clone(),
            hostname,
        };
        self.commits.push_back(Commit6 { seq, record });
        seq
    }

    /// Encodes `m` to `dst`, held behind commit `after` (the last one the message queued).
    fn send(&mut self, dst: SocketAddrV6, m: &Repr, after: Option<u64>) {
        let payload = match m.to_vec() {
            Ok(p) => p,
            Err(e) => {
                warn!("dhcp6: cannot encode a {:?}: {e}", m.msg_type);
                return;
            }
        };
        match m.msg_type {
            MessageType::Advertise => self.stats.advertises += 1,
            _ => self.stats.replies += 1,
        }
        let tx = Transmit6 { dst, payload };
        match after {
            Some(seq) if seq > self.durable => self.held.push_back((seq, Held::Transmit(tx))),
            _ => self.transmits.push_back(tx),
        }
    }
}

/// The first label of the Client FQDN (RFC 4704 §4: flags, then the name in DNS wire format).
fn client_fqdn(msg: &Repr) -> Option<String> {
    let data = msg.opaque(OptionCode::from(OPTION_CLIENT_FQDN))?;
    let (&len, rest) = data.get(1..)?.split_first()?;
    let label = rest.get(..usize::from(len))?;
    names::sanitize(label)
}

fn snapshot(key: &BindingKey, b: &Binding) -> Lease6 {
    Lease6 {
        kind: key.kind,
        duid: key.duid.clone(),
        iaid: key.iaid,
        addresses: b.leases.clone(),
        hostname: b.hostname.clone(),
        expires: SystemTime::UNIX_EPOCH + Duration::from_secs(b.until),
        peer: None,
    }
}
