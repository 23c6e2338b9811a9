//! The IGMP proxy (RFC 4605) as a sans-IO machine: the querier on each downstream LAN, the
//! membership database of each, the host side on the upstream (IPTV) link, and the kernel's
//! multicast forwarding cache as entries to add and delete.
//!
//! ```text
//! handle_packet(now, iface, ipv4)  a datagram the IGMP socket received on an interface
//! handle_upcall(now, iface, s, g)  the kernel saw (S,G) on an interface with no cache entry
//! handle_timeout(now)              queries, report retransmissions, membership expiry
//! poll_transmit()                  IGMP messages to send, per interface
//! poll_event()                     cache entries to add/delete, upstream joins and leaves
//! poll_timeout()                   when to call handle_timeout next
//! ```
//!
//! Simplifications, each on the side of forwarding what was asked for:
//!
//! - Sources in EXCLUDE mode (IS_EX/TO_EX with a list) are not filtered: the group is
//!   forwarded from any source, as for an IGMPv2 join (the set-top boxes this serves join
//!   any-source).
//! - Group-and-source-specific queries are not sent: a TO_IN or BLOCK that may remove a
//!   source lowers that source's timer to the Last Member Query Time and sends a
//!   group-specific query instead, which hosts answer with their whole state (RFC 3376 §5.2).
//! - Multicast a LAN host sends is not forwarded to the upstream (RFC 4605 §4.2 would):
//!   a home LAN has no business sending into the ISP's television network.
//! - Queries seen on a downstream are counted and dropped, not used for querier election:
//!   on a LAN behind this router, another querier is a misconfiguration or a forgery.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use splitmix::Rng;

use crate::wire::{
    ALL_ROUTERS, ALL_SYSTEMS, ALL_V3_ROUTERS, GroupRecord, Ipv4, Message, PROTO_IGMP, Query,
    RecordType, Version, encode_code,
};

/// Most groups tracked per downstream; reports for more are counted and dropped.
pub const MAX_GROUPS: usize = 256;
/// Most members tracked per group (the group stays joined for more; they are not listed).
pub const MAX_MEMBERS: usize = 64;
/// Most forwarding cache entries (forwarding or not) the proxy keeps in the kernel.
pub const MAX_ROUTES: usize = 1024;
/// How long an entry that forwards nowhere stays, so that the kernel drops that traffic
/// quietly instead of queuing it and asking again (and so that a later join forwards at once).
pub const IDLE_ROUTE_HOLD: Duration = Duration::from_secs(60);
/// Group records per v3 report the proxy sends (64 × 8 octets, well inside any MTU).
const RECORDS_PER_REPORT: usize = 64;

/// One downstream (LAN) interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downstream {
    /// Its name, for logs and status (`lan`, `eth1`).
    pub name: String,
    /// The router's address and prefix on it: reports from outside the prefix are dropped
    /// (RFC 3376 §9.1), queries from the router's own address are its own.
    pub subnet: Ipv4Net,
}

/// The proxy's configuration. Timers default to RFC 3376 §8 (and RFC 2236 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The downstream interfaces, in the order [`Iface::Downstream`] numbers them.
    pub downstreams: Vec<Downstream>,
    /// Groups that may be proxied; reports for others are counted and dropped. Link-local
    /// groups (224.0.0.0/24) never are.
    pub allowed: Vec<Ipv4Net>,
    /// Robustness Variable (§8.1).
    pub robustness: u8,
    /// Query Interval (§8.2).
    pub query_interval: Duration,
    /// Query Response Interval (§8.3).
    pub query_response_interval: Duration,
    /// Last Member Query Interval (§8.8).
    pub last_member_query_interval: Duration,
    /// Unsolicited Report Interval of the upstream host side (§8.11).
    pub unsolicited_report_interval: Duration,
    /// Drop a group on a downstream as soon as its last known member leaves, without the
    /// last member queries (for LANs where every member's reports reach the router).
    pub fast_leave: bool,
    /// The version of the queries sent downstream (V2 or V3; V3 queries are understood as
    /// V2 by V2 hosts, RFC 3376 §7.2.1).
    pub query_version: Version,
    /// The upstream version; `None` follows the upstream querier (V3 until a V1 or V2 query
    /// is heard, then that version for the Older Version Querier Present Timeout, §7.2.1).
    pub upstream_version: Option<Version>,
    /// Seed of the random response delays.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            downstreams: Vec::new(),
            allowed: vec![Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).unwrap_or_default()],
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            last_member_query_interval: Duration::from_secs(1),
            unsolicited_report_interval: Duration::from_secs(1),
            fast_leave: false,
            query_version: Version::V3,
            upstream_version: None,
            seed: 1,
        }
    }
}

impl Config {
    /// Group Membership Interval (§8.4).
    pub fn gmi(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval
    }

    /// Last Member Query Time (§8.14).
    pub fn lmqt(&self) -> Duration {
        self.last_member_query_interval * u32::from(self.robustness)
    }

    /// Whether `group` may be proxied.
    pub fn allows(&self, group: Ipv4Addr) -> bool {
        group.is_multicast()
            && !link_local(group)
            && self.allowed.iter().any(|n| n.contains(&group))
    }
}

/// 224.0.0.0/24: never forwarded (RFC 5771 §4, "Local Network Control Block").
fn link_local(g: Ipv4Addr) -> bool {
    let [a, b, c, _] = g.octets();
    (a, b, c) == (224, 0, 0)
}

/// An interface of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Iface {
    /// The upstream (towards the ISP's multicast).
    Upstream,
    /// A downstream LAN, by its index in [`Config::downstreams`].
    Downstream(usize),
}

/// An IGMP message to send: the driver adds the IPv4 header (TTL 1, Router Alert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Out of which interface.
    pub iface: Iface,
    /// To which address.
    pub dst: Ipv4Addr,
    /// The IGMP message.
    pub payload: Vec<u8>,
}

/// What the proxy wants from a group upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Any source (ASM, or an EXCLUDE-mode member downstream).
    Any,
    /// Only these sources (SSM: INCLUDE-mode members only).
    Sources(BTreeSet<Ipv4Addr>),
}

impl Want {
    fn admits(&self, s: Ipv4Addr) -> bool {
        match self {
            Want::Any => true,
            Want::Sources(set) => set.contains(&s),
        }
    }
}

/// What happened that the driver or the router acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Install or replace the forwarding cache entry for (source, group): in on the upstream,
    /// out on these downstreams.
    MfcAdd {
        /// The source.
        source: Ipv4Addr,
        /// The group.
        group: Ipv4Addr,
        /// Downstream indices.
        oifs: Vec<usize>,
    },
    /// Delete the entry for (source, group).
    MfcDel {
        /// The source.
        source: Ipv4Addr,
        /// The group.
        group: Ipv4Addr,
    },
    /// The proxy joined a group upstream (or changed what it asks of it).
    Joined {
        /// The group.
        group: Ipv4Addr,
        /// What it asks for.
        want: Want,
    },
    /// The proxy left a group upstream: no downstream wants it any more.
    Left {
        /// The group.
        group: Ipv4Addr,
    },
}

/// Counters, all since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// IGMP messages taken in (well formed, from the right side).
    pub received: u64,
    /// Datagrams that did not parse (short, lying lengths, wrong checksum, not IGMP).
    pub malformed: u64,
    /// Messages with an IP TTL other than 1 (RFC 3376 §9.1).
    pub bad_ttl: u64,
    /// Message types the proxy does not handle (DVMRP, mtrace, ...): ignored.
    pub ignored: u64,
    /// Queries heard on a downstream (another querier, or a forgery): dropped.
    pub downstream_queries: u64,
    /// Reports and leaves heard on the upstream (another host's): dropped.
    pub upstream_reports: u64,
    /// Group records or reports for groups outside the allowed ranges: dropped.
    pub outside_range: u64,
    /// Reports from an address outside the downstream's prefix: dropped.
    pub outside_subnet: u64,
    /// Reports for more than [`MAX_GROUPS`] groups on a downstream: dropped.
    pub over_limit: u64,
    /// Queries sent downstream (general and group-specific).
    pub queries_sent: u64,
    /// Reports sent upstream (leaves included).
    pub reports_sent: u64,
    /// Upcalls from the kernel for (S,G) with no cache entry.
    pub upcalls: u64,
    /// Upcalls for traffic no downstream wants (installed to forward nowhere), or from a
    /// downstream (nothing installed: LAN multicast is not proxied).
    pub upcalls_unwanted: u64,
    /// Forwarding cache entries installed or changed.
    pub mfc_adds: u64,
    /// Forwarding cache entries deleted.
    pub mfc_dels: u64,
}

/// One group on one downstream.
#[derive(Debug, Clone, Default)]
struct Group {
    /// EXCLUDE mode (any source) until then: the group timer.
    exclude_until: Option<Instant>,
    /// INCLUDE-mode sources and their timers.
    sources: BTreeMap<Ipv4Addr, Instant>,
    /// The hosts that reported it, until when.
    members: BTreeMap<Ipv4Addr, Instant>,
    /// Group-specific queries still to send: next one at, how many.
    query: Option<(Instant, u8)>,
}

impl Group {
    fn want(&self) -> Option<Want> {
        if self.exclude_until.is_some() {
            Some(Want::Any)
        } else if self.sources.is_empty() {
            None
        } else {
            Some(Want::Sources(self.sources.keys().copied().collect()))
        }
    }
}

#[derive(Debug, Clone)]
struct Down {
    groups: BTreeMap<Ipv4Addr, Group>,
    startup_left: u8,
    next_general: Instant,
}

/// The upstream host side.
#[derive(Debug, Clone, Default)]
struct Up {
    /// What was last reported for each group.
    state: BTreeMap<Ipv4Addr, Want>,
    /// State-change reports still to send: next at, how many left.
    changes: BTreeMap<Ipv4Addr, (Instant, u8)>,
    /// A pending answer to a general query.
    general: Option<Instant>,
    /// Pending answers to group-specific queries.
    specific: BTreeMap<Ipv4Addr, Instant>,
    v1_until: Option<Instant>,
    v2_until: Option<Instant>,
}

/// A group on a downstream as status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    /// The downstream's index.
    pub downstream: usize,
    /// The group.
    pub group: Ipv4Addr,
    /// Whether it is joined for any source; otherwise for [`Self::sources`].
    pub any_source: bool,
    /// INCLUDE-mode sources.
    pub sources: Vec<Ipv4Addr>,
    /// The hosts that reported it (at most [`MAX_MEMBERS`]).
    pub members: Vec<Ipv4Addr>,
    /// Until it expires unless reported again.
    pub expires_in: Duration,
}

/// The proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    cfg: Config,
    downs: Vec<Down>,
    up: Up,
    /// Installed forwarding cache entries: (group, source) -> downstreams, and since when
    /// an entry with no downstream has had none.
    routes: BTreeMap<(Ipv4Addr, Ipv4Addr), (Vec<usize>, Option<Instant>)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rng: Rng,
    stats: Stats,
}

impl Proxy {
    /// A proxy that starts querying its downstreams at `now` (Startup Query Count queries,
    /// Startup Query Interval apart, §8.6/§8.7).
    pub fn new(now: Instant, cfg: Config) -> Self {
        let downs = cfg
            .downstreams
            .iter()
            .map(|_| Down {
                groups: BTreeMap::new(),
                startup_left: cfg.robustness.max(1),
                next_general: now,
            })
            .collect();
        let rng = Rng::new(cfg.seed);
        Proxy {
            cfg,
            downs,
            up: Up::default(),
            routes: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The next IGMP message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The version the upstream side speaks now.
    pub fn upstream_version(&self, now: Instant) -> Version {
        if let Some(v) = self.cfg.upstream_version {
            return v;
        }
        if self.up.v1_until.is_some_and(|t| t > now) {
            Version::V1
        } else if self.up.v2_until.is_some_and(|t| t > now) {
            Version::V2
        } else {
            Version::V3
        }
    }

    /// What is joined upstream.
    pub fn upstream(&self) -> &BTreeMap<Ipv4Addr, Want> {
        &self.up.state
    }

    /// The forwarding cache entries that forward: (source, group, downstreams).
    pub fn routes(&self) -> Vec<(Ipv4Addr, Ipv4Addr, Vec<usize>)> {
        let forwarding = self.routes.iter().filter(|(_, (o, _))| !o.is_empty());
        forwarding.map(|((g, s), (o, _))| (*s, *g, o.clone())).collect()
    }

    /// How many cache entries are installed, those that forward nowhere included.
    pub fn cache_len(&self) -> usize {
        self.routes.len()
    }

    /// Every group joined on every downstream.
    pub fn groups(&self, now: Instant) -> Vec<GroupStatus> {
        let mut out = Vec::new();
        for (i, d) in self.downs.iter().enumerate() {
            for (g, grp) in &d.groups {
                let until = grp
                    .exclude_until
                    .into_iter()
                    .chain(grp.sources.values().copied())
                    .max()
                    .unwrap_or(now);
                out.push(GroupStatus {
                    downstream: i,
                    group: *g,
                    any_source: grp.exclude_until.is_some(),
                    sources: grp.sources.keys().copied().collect(),
                    members: grp.members.keys().copied().collect(),
                    expires_in: until.saturating_duration_since(now),
                });
            }
        }
        out
    }

    /// When [`Self::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for d in &self.downs {
            at(d.next_general);
            for g in d.groups.values() {
                g.exclude_until.into_iter().for_each(&mut at);
                g.sources.values().copied().for_each(&mut at);
                g.members.values().copied().for_each(&mut at);
                g.query.into_iter().for_each(|(t, _)| at(t));
            }
        }
        self.up.changes.values().for_each(|(t, _)| at(*t));
        self.up.general.into_iter().for_each(&mut at);
        self.up.specific.values().copied().for_each(&mut at);
        self.routes.values().filter_map(|(_, idle)| *idle).for_each(|t| at(t + IDLE_ROUTE_HOLD));
        next
    }

    /// A datagram the IGMP socket received on `iface` (IPv4 header included).
    pub fn handle_packet(&mut self, now: Instant, iface: Iface, datagram: &[u8]) {
        let Ok(ip) = Ipv4::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        if ip.protocol != PROTO_IGMP {
            self.stats.malformed += 1;
            return;
        }
        let msg = match Message::parse(ip.payload) {
            Ok(m) => m,
            Err(crate::wire::Error::Type(_)) => {
                self.stats.ignored += 1;
                return;
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if ip.ttl != 1 {
            self.stats.bad_ttl += 1;
            return;
        }
        match iface {
            Iface::Upstream => self.upstream_message(now, msg),
            Iface::Downstream(d) => self.downstream_message(now, d, ip.src, msg),
        }
        self.reconcile(now);
    }

    fn upstream_message(&mut self, now: Instant, msg: Message) {
        let Message::Query(q) = msg else {
            self.stats.upstream_reports += 1;
            return;
        };
        self.stats.received += 1;
        // §7.2.1: an older querier puts the host side in its version's compatibility mode.
        let older = self.cfg.gmi();
        match q.version {
            Version::V1 => self.up.v1_until = Some(now + older),
            Version::V2 => self.up.v2_until = Some(now + older),
            Version::V3 => {}
        }
        let max = q.max_response().max(Duration::from_millis(100));
        let delay = Duration::from_millis(self.rng.below(max.as_millis() as u64));
        let at = now + delay;
        if q.is_general() {
            // §5.2: a pending general response sooner than this one stands.
            self.up.general = Some(self.up.general.map_or(at, |t| t.min(at)));
        } else if self.up.state.contains_key(&q.group) {
            let t = self.up.specific.entry(q.group).or_insert(at);
            *t = (*t).min(at);
        }
    }

    fn downstream_message(&mut self, now: Instant, d: usize, src: Ipv4Addr, msg: Message) {
        let Some(down) = self.cfg.downstreams.get(d) else { return };
        if let Message::Query(_) = msg {
            if src != down.subnet.addr() {
                self.stats.downstream_queries += 1;
            }
            return;
        }
        // RFC 3376 §4.2.13 allows a report from 0.0.0.0 (a host still without an address).
        if !src.is_unspecified() && !down.subnet.contains(&src) {
            self.stats.outside_subnet += 1;
            return;
        }
        self.stats.received += 1;
        match msg {
            Message::V1Report(g) | Message::V2Report(g) => {
                if self.admit(d, g) {
                    self.join_any(now, d, g, src);
                }
            }
            Message::Leave(g) => {
                if self.cfg.allows(g) {
                    self.leave(now, d, g, src, &[]);
                }
            }
            Message::V3Report(records) => {
                for r in records {
                    self.record(now, d, src, r);
                }
            }
            Message::Query(_) => {}
        }
    }

    /// Whether a report for `g` on `d` may create or refresh state (counted when not).
    fn admit(&mut self, d: usize, g: Ipv4Addr) -> bool {
        if !self.cfg.allows(g) {
            // Link-local groups are reported by every host (mDNS, ...): not worth a count.
            if !link_local(g) {
                self.stats.outside_range += 1;
            }
            return false;
        }
        let Some(down) = self.downs.get(d) else { return false };
        if !down.groups.contains_key(&g) && down.groups.len() >= MAX_GROUPS {
            self.stats.over_limit += 1;
            return false;
        }
        true
    }

    fn group(&mut self, d: usize, g: Ipv4Addr) -> Option<&mut Group> {
        Some(self.downs.get_mut(d)?.groups.entry(g).or_default())
    }

    fn note_member(grp: &mut Group, src: Ipv4Addr, until: Instant) {
        if grp.members.len() < MAX_MEMBERS || grp.members.contains_key(&src) {
            grp.members.insert(src, until);
        }
    }

    fn join_any(&mut self, now: Instant, d: usize, g: Ipv4Addr, src: Ipv4Addr) {
        let until = now + self.cfg.gmi();
        if let Some(grp) = self.group(d, g) {
            grp.exclude_until = Some(until);
            grp.query = None;
            Self::note_member(grp, src, until);
        }
    }

    fn include(&mut self, now: Instant, d: usize, g: Ipv4Addr, src: Ipv4Addr, srcs: &[Ipv4Addr]) {
        if srcs.is_empty() {
            return;
        }
        let until = now + self.cfg.gmi();
        if let Some(grp) = self.group(d, g) {
            for s in srcs {
                grp.sources.insert(*s, until);
            }
            Self::note_member(grp, src, until);
        }
    }

    /// A host leaves `g` (v2 Leave, TO_IN{}), or may have dropped the sources not in `keep`
    /// (TO_IN(keep)), or `block`ed some: lower the timers to the Last Member Query Time and
    /// ask, or with fast leave drop the group when its last member is gone.
    fn leave(&mut self, now: Instant, d: usize, g: Ipv4Addr, src: Ipv4Addr, keep: &[Ipv4Addr]) {
        let (lmqt, lmqc, fast) =
            (now + self.cfg.lmqt(), self.cfg.robustness.max(1), self.cfg.fast_leave);
        let Some(down) = self.downs.get_mut(d) else { return };
        let Some(grp) = down.groups.get_mut(&g) else { return };
        if keep.is_empty() {
            grp.members.remove(&src);
        }
        if fast && keep.is_empty() {
            // Fast leave: the members still listed keep it (their reports refresh it); the
            // last one gone takes it at once.
            if grp.members.is_empty() {
                down.groups.remove(&g);
            }
            return;
        }
        if let Some(t) = grp.exclude_until.as_mut() {
            *t = (*t).min(lmqt);
        }
        for (s, t) in grp.sources.iter_mut() {
            if !keep.contains(s) {
                *t = (*t).min(lmqt);
            }
        }
        if grp.query.is_none() {
            grp.query = Some((now, lmqc));
        }
    }

    fn block(&mut self, now: Instant, d: usize, g: Ipv4Addr, blocked: &[Ipv4Addr]) {
        let (lmqt, lmqc) = (now + self.cfg.lmqt(), self.cfg.robustness.max(1));
        let Some(grp) = self.downs.get_mut(d).and_then(|x| x.groups.get_mut(&g)) else { return };
        let mut any = false;
        for s in blocked {
            if let Some(t) = grp.sources.get_mut(s) {
                *t = (*t).min(lmqt);
                any = true;
            }
        }
        if any && grp.query.is_none() {
            grp.query = Some((now, lmqc));
        }
    }

    fn record(&mut self, now: Instant, d: usize, src: Ipv4Addr, r: GroupRecord) {
        let g = r.group;
        match r.kind {
            RecordType::IsExclude | RecordType::ToExclude => {
                if self.admit(d, g) {
                    self.join_any(now, d, g, src);
                }
            }
            RecordType::IsInclude | RecordType::Allow => {
                if !r.sources.is_empty() && self.admit(d, g) {
                    self.include(now, d, g, src, &r.sources);
                }
            }
            RecordType::ToInclude => {
                if self.cfg.allows(g) {
                    if !r.sources.is_empty() && self.admit(d, g) {
                        self.include(now, d, g, src, &r.sources);
                    }
                    self.leave(now, d, g, src, &r.sources);
                } else {
                    self.stats.outside_range += 1;
                }
            }
            RecordType::Block => {
                if self.cfg.allows(g) {
                    self.block(now, d, g, &r.sources);
                }
            }
            RecordType::Unknown(_) => self.stats.ignored += 1,
        }
    }

    /// The kernel saw a packet of (source, group) arrive on `iface` with no cache entry.
    ///
    /// From the upstream, the entry is installed even when no LAN wants it yet (it then
    /// forwards nowhere): the kernel drops that traffic without queuing it, and a join
    /// forwards the next packet instead of waiting for the kernel's unresolved entry to
    /// expire (10 s) and ask again. Such an entry is dropped after [`IDLE_ROUTE_HOLD`].
    pub fn handle_upcall(&mut self, now: Instant, iface: Iface, source: Ipv4Addr, group: Ipv4Addr) {
        self.stats.upcalls += 1;
        let oifs = if self.cfg.allows(group) { self.oifs(group, source) } else { Vec::new() };
        if oifs.is_empty() || iface != Iface::Upstream {
            self.stats.upcalls_unwanted += 1;
        }
        let known = self.routes.contains_key(&(group, source));
        if iface != Iface::Upstream || (!known && self.routes.len() >= MAX_ROUTES) {
            return;
        }
        if !known || self.routes.get(&(group, source)).is_some_and(|(o, _)| *o != oifs) {
            let idle = oifs.is_empty().then_some(now);
            self.routes.insert((group, source), (oifs.clone(), idle));
            self.stats.mfc_adds += 1;
            self.events.push_back(Event::MfcAdd { source, group, oifs });
        }
        self.reconcile(now);
    }

    /// The downstreams that want (source, group).
    fn oifs(&self, group: Ipv4Addr, source: Ipv4Addr) -> Vec<usize> {
        self.downs
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.groups.get(&group).and_then(Group::want).is_some_and(|w| w.admits(source))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Time passed: send due queries and reports, expire memberships.
    pub fn handle_timeout(&mut self, now: Instant) {
        let cfg = self.cfg.clone();
        for (i, d) in self.downs.iter_mut().enumerate() {
            if d.next_general <= now {
                self.transmits.push_back(Transmit {
                    iface: Iface::Downstream(i),
                    dst: ALL_SYSTEMS,
                    payload: general_query(&cfg).to_vec(),
                });
                self.stats.queries_sent += 1;
                d.next_general = if d.startup_left > 1 {
                    d.startup_left -= 1;
                    now + cfg.query_interval / 4
                } else {
                    d.startup_left = 0;
                    now + cfg.query_interval
                };
            }
            d.groups.retain(|g, grp| {
                if let Some((at, left)) = grp.query
                    && at <= now
                {
                    self.transmits.push_back(Transmit {
                        iface: Iface::Downstream(i),
                        dst: *g,
                        payload: specific_query(&cfg, *g).to_vec(),
                    });
                    self.stats.queries_sent += 1;
                    grp.query =
                        (left > 1).then(|| (now + cfg.last_member_query_interval, left - 1));
                }
                if grp.exclude_until.is_some_and(|t| t <= now) {
                    grp.exclude_until = None;
                }
                grp.sources.retain(|_, t| *t > now);
                grp.members.retain(|_, t| *t > now);
                grp.want().is_some()
            });
        }
        self.upstream_timers(now);
        self.reconcile(now);
    }

    fn upstream_timers(&mut self, now: Instant) {
        let version = self.upstream_version(now);
        // Current-state answers to queries.
        if self.up.general.is_some_and(|t| t <= now) {
            self.up.general = None;
            self.up.specific.clear();
            let all: Vec<_> = self.up.state.iter().map(|(g, w)| (*g, Some(w.clone()))).collect();
            self.report(version, &all, false);
        }
        let due: Vec<Ipv4Addr> =
            self.up.specific.iter().filter(|(_, t)| **t <= now).map(|(g, _)| *g).collect();
        for g in due {
            self.up.specific.remove(&g);
            if let Some(w) = self.up.state.get(&g).cloned() {
                self.report(version, &[(g, Some(w))], false);
            }
        }
        // State-change retransmissions (§5.1): each carries the group's state as it is now.
        let due: Vec<Ipv4Addr> =
            self.up.changes.iter().filter(|(_, (t, _))| *t <= now).map(|(g, _)| *g).collect();
        let mut changes = Vec::new();
        for g in due {
            let Some((_, left)) = self.up.changes.remove(&g) else { continue };
            changes.push((g, self.up.state.get(&g).cloned()));
            if left > 1 {
                self.up.changes.insert(g, (now + self.cfg.unsolicited_report_interval, left - 1));
            }
        }
        if !changes.is_empty() {
            self.report(version, &changes, true);
        }
    }

    /// Reports upstream for `groups` (`None`: left). `change`: state-change records
    /// (TO_EX/TO_IN) rather than current-state ones (IS_EX/IS_IN).
    fn report(&mut self, version: Version, groups: &[(Ipv4Addr, Option<Want>)], change: bool) {
        match version {
            Version::V1 | Version::V2 => {
                for (g, w) in groups {
                    let (dst, msg) = match (w, version) {
                        (Some(_), Version::V1) => (*g, Message::V1Report(*g)),
                        (Some(_), _) => (*g, Message::V2Report(*g)),
                        (None, Version::V1) => continue, // v1 has no leave
                        (None, _) => (ALL_ROUTERS, Message::Leave(*g)),
                    };
                    self.transmits.push_back(Transmit {
                        iface: Iface::Upstream,
                        dst,
                        payload: msg.to_vec(),
                    });
                    self.stats.reports_sent += 1;
                }
            }
            Version::V3 => {
                let records: Vec<GroupRecord> = groups
                    .iter()
                    .map(|(g, w)| {
                        let (kind, sources) = match (w, change) {
                            (Some(Want::Any), false) => (RecordType::IsExclude, vec![]),
                            (Some(Want::Any), true) => (RecordType::ToExclude, vec![]),
                            (Some(Want::Sources(s)), false) => {
                                (RecordType::IsInclude, s.iter().copied().collect())
                            }
                            (Some(Want::Sources(s)), true) => {
                                (RecordType::ToInclude, s.iter().copied().collect())
                            }
                            (None, _) => (RecordType::ToInclude, vec![]),
                        };
                        GroupRecord { kind, group: *g, sources, aux: vec![] }
                    })
                    .collect();
                for chunk in records.chunks(RECORDS_PER_REPORT) {
                    self.transmits.push_back(Transmit {
                        iface: Iface::Upstream,
                        dst: ALL_V3_ROUTERS,
                        payload: Message::V3Report(chunk.to_vec()).to_vec(),
                    });
                    self.stats.reports_sent += 1;
                }
            }
        }
    }

    /// Brings the upstream membership and the forwarding cache in line with the downstreams.
    fn reconcile(&mut self, now: Instant) {
        let mut wanted: BTreeMap<Ipv4Addr, Want> = BTreeMap::new();
        for d in &self.downs {
            for (g, grp) in &d.groups {
                let Some(w) = grp.want() else { continue };
                let merged = match (wanted.remove(g), w) {
                    (None, w) => w,
                    (Some(Want::Any), _) | (_, Want::Any) => Want::Any,
                    (Some(Want::Sources(mut a)), Want::Sources(b)) => {
                        a.extend(b);
                        Want::Sources(a)
                    }
                };
                wanted.insert(*g, merged);
            }
        }
        let groups: BTreeSet<Ipv4Addr> =
            wanted.keys().chain(self.up.state.keys()).copied().collect();
        let mut changed = Vec::new();
        for g in groups {
            let new = wanted.get(&g);
            if self.up.state.get(&g) == new {
                continue;
            }
            match new {
                Some(w) => {
                    self.up.state.insert(g, w.clone());
                    self.events.push_back(Event::Joined { group: g, want: w.clone() });
                }
                None => {
                    self.up.state.remove(&g);
                    self.up.specific.remove(&g);
                    self.events.push_back(Event::Left { group: g });
                }
            }
            changed.push(g);
        }
        if !changed.is_empty() {
            let version = self.upstream_version(now);
            let now_changes: Vec<_> =
                changed.iter().map(|g| (*g, self.up.state.get(g).cloned())).collect();
            self.report(version, &now_changes, true);
            for g in changed {
                let left = self.cfg.robustness.saturating_sub(1);
                if left > 0 {
                    self.up.changes.insert(g, (now + self.cfg.unsolicited_report_interval, left));
                } else {
                    self.up.changes.remove(&g);
                }
            }
        }
        // The forwarding cache follows: entries change their downstreams at once; one that
        // forwards nowhere is kept for IDLE_ROUTE_HOLD, then deleted.
        let keys: Vec<(Ipv4Addr, Ipv4Addr)> = self.routes.keys().copied().collect();
        for (g, s) in keys {
            let oifs = if self.cfg.allows(g) { self.oifs(g, s) } else { Vec::new() };
            let Some((old, idle)) = self.routes.get_mut(&(g, s)) else { continue };
            if *old != oifs {
                *idle = oifs.is_empty().then_some(now);
                *old = oifs.clone();
                self.stats.mfc_adds += 1;
                self.events.push_back(Event::MfcAdd { source: s, group: g, oifs });
            } else if idle.is_some_and(|t| t + IDLE_ROUTE_HOLD <= now) {
                self.routes.remove(&(g, s));
                self.stats.mfc_dels += 1;
                self.events.push_back(Event::MfcDel { source: s, group: g });
            }
        }
    }

    /// Stopping: leave every group upstream (once) and delete every cache entry.
    pub fn shutdown(&mut self, now: Instant) {
        let version = self.upstream_version(now);
        let left: Vec<_> = self.up.state.keys().map(|g| (*g, None)).collect();
        self.report(version, &left, true);
        self.up = Up::default();
        for d in &mut self.downs {
            d.groups.clear();
        }
        for ((g, s), _) in std::mem::take(&mut self.routes) {
            self.stats.mfc_dels += 1;
            self.events.push_back(Event::MfcDel { source: s, group: g });
        }
    }
}

fn tenths(d: Duration) -> u32 {
    (d.as_millis() / 100).min(u128::from(u32::MAX)) as u32
}

fn general_query(cfg: &Config) -> Message {
    query(cfg, Ipv4Addr::UNSPECIFIED, cfg.query_response_interval)
}

fn specific_query(cfg: &Config, group: Ipv4Addr) -> Message {
    query(cfg, group, cfg.last_member_query_interval)
}

fn query(cfg: &Config, group: Ipv4Addr, max_resp: Duration) -> Message {
    let v3 = cfg.query_version == Version::V3;
    Message::Query(Query {
        version: if v3 { Version::V3 } else { Version::V2 },
        max_resp_code: if v3 {
            encode_code(tenths(max_resp))
        } else {
            tenths(max_resp).clamp(1, 255) as u8
        },
        group,
        suppress: false,
        qrv: if v3 { cfg.robustness.min(7) } else { 0 },
        qqic: if v3 { encode_code(cfg.query_interval.as_secs().min(31_744) as u32) } else { 0 },
        sources: vec![],
    })
}
