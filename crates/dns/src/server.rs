//! The query path's decisions, sans-IO: from received bytes to the bytes to send back, or to
//! what must be asked first. Shared by the UDP and TCP listeners of the driver (`driver`
//! feature) and by the fuzz target.
//!
//! Order, cheapest first: read the header and question ([`QueryView`]); answer nothing that
//! is itself a response; REFUSED for sources outside the client networks ([`Acl`]); NOTIMP for
//! opcodes other than QUERY and UPDATE; the UPDATE conflict check against the local zone;
//! then the local table, the cache, and only then the slow paths (hickory's dynamic zone, the
//! upstreams). [`Core::handle_query`] answers what needs no I/O at once and otherwise says what
//! to ask ([`Next::Ask`]); the driver asks (a query waiting for an upstream never holds up the
//! others) and hands the result to [`Core::handle_dynamic_reply`] or
//! [`Core::handle_upstream_reply`], which decide what the client gets (rebinding filter,
//! cache, truncation).
//!
//! No tokio, no socket, no clock: time comes in as `now`. The core is shared by every listener
//! task, so it takes `&self`: the [`View`] is replaced whole (`ArcSwap`, queries in flight
//! finish on the old one), the cache is behind a `std::sync::Mutex` held for one lookup or one
//! insert (never across I/O), and the counters are atomics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::op::Message;
use ipnet::{IpNet, Ipv6Net};

use crate::DnsConfig;
use crate::cache::{Answer, Cache};
use crate::local::LocalZone;
use crate::policy::{Acl, RebindFilter};
use crate::table::{LocalTable, Outcome};
use crate::upstream;
use crate::wire::{self, FLAG_TC, HEADER_LEN, MAX_NAME, QueryView, Rcode};

/// Everything a query is answered from, replaced whole on any change.
#[derive(Debug)]
pub struct View {
    /// The local zone the table was compiled from (UPDATEs are checked against it).
    pub zone: LocalZone,
    /// The local zone's precomputed answers.
    pub table: LocalTable,
    /// Who may ask.
    pub acl: Acl,
    /// Which upstream answers are believed.
    pub rebind: RebindFilter,
    /// Where other names are forwarded, in order.
    pub upstreams: Vec<SocketAddr>,
    /// How long one upstream gets to answer.
    pub timeout: Duration,
}

/// Counters (all since start).
#[derive(Debug, Default)]
pub struct Stats {
    /// Queries answered from the local table.
    pub local: AtomicU64,
    /// Queries answered from the cache.
    pub cached: AtomicU64,
    /// Queries forwarded upstream.
    pub forwarded: AtomicU64,
    /// Queries and UPDATEs handed to hickory's zone.
    pub dynamic: AtomicU64,
    /// Queries REFUSED by the access list.
    pub refused: AtomicU64,
    /// Upstream answers dropped by the rebinding filter.
    pub rebind_dropped: AtomicU64,
    /// Messages answered FORMERR or dropped as unreadable.
    pub malformed: AtomicU64,
    /// UPDATEs refused (the conflict policy) or rejected (unsigned, bad TSIG, prerequisites).
    pub updates_refused: AtomicU64,
    /// Queries answered SERVFAIL: no upstream answered usably, or hickory could not answer.
    pub servfail: AtomicU64,
    /// How long the upstreams took to answer forwarded queries (all tries of one query).
    pub upstream_latency: Latency,
}

/// Durations counted in fixed buckets (a Prometheus histogram's shape), lock-free.
#[derive(Debug, Default)]
pub struct Latency {
    /// Durations at most `BOUNDS[i]` (each in its first bucket, not cumulative).
    pub buckets: [AtomicU64; 10],
    /// All durations (those above the last bound too).
    pub count: AtomicU64,
    /// Their sum in microseconds.
    pub sum_us: AtomicU64,
}

impl Latency {
    /// The buckets' upper bounds.
    pub const BOUNDS: [Duration; 10] = [
        Duration::from_millis(1),
        Duration::from_millis(5),
        Duration::from_millis(10),
        Duration::from_millis(25),
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_millis(250),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_secs(2),
    ];

    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        if let Some(b) = Self::BOUNDS.iter().position(|b| d <= *b).and_then(|i| self.buckets.get(i))
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// A per-message warning, rate limited to one line per [`Warn::INTERVAL`] (one LAN host
/// sending 10,000 unsigned UPDATEs must not fill the log); the line says how many it stood
/// for. The clock is the `now` the core is given (never its own).
#[derive(Debug, Default)]
struct Warn(Mutex<WarnState>);

#[derive(Debug, Default)]
struct WarnState {
    /// Before this, occurrences are only counted.
    next: Option<Instant>,
    suppressed: u64,
    /// The latest `now` the core was given (for the paths that get none).
    seen: Option<Instant>,
}

impl Warn {
    const INTERVAL: Duration = Duration::from_secs(60);

    /// Notes `now` as the latest time seen.
    fn see(&self, now: Instant) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        w.seen = Some(w.seen.map_or(now, |s| s.max(now)));
    }

    /// `Some(suppressed)` when an occurrence at `now` (or, with `None`, at the latest time
    /// seen) may be logged.
    fn check(&self, now: Option<Instant>) -> Option<u64> {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(now) = now.or(w.seen) else { return Some(0) };
        if w.next.is_some_and(|n| now < n) {
            w.suppressed += 1;
            return None;
        }
        w.next = now.checked_add(Self::INTERVAL);
        Some(std::mem::take(&mut w.suppressed))
    }
}

/// What [`Core::handle_query`] made of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The response is in the output buffer: send it.
    Reply,
    /// Nothing is to be sent.
    Drop,
    /// The answer needs I/O first.
    Ask(Ask),
}

/// The I/O a query waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Hand the message to hickory's dynamic zone (an UPDATE that passed the conflict check,
    /// or a name of the local domain that the table does not hold), for a response of at most
    /// `max` bytes; then [`Core::handle_dynamic_reply`].
    Dynamic {
        /// The longest response the client can take (its UDP limit; 65535 over TCP).
        max: u16,
    },
    /// Ask [`View::upstreams`] in order, each for [`View::timeout`]; then
    /// [`Core::handle_upstream_reply`].
    Upstream,
}

/// The server's shared state: the current view, the forwarding cache, the counters.
#[derive(Debug)]
pub struct Core {
    view: ArcSwap<View>,
    cache: Mutex<Cache>,
    /// The client networks that do not change (LAN subnets, ULA prefixes, `clients`); the
    /// delegated prefix is added from the zone.
    clients: Vec<IpNet>,
    stats: Stats,
    /// Rate limit of the per-message warnings.
    warn: Warn,
}

impl Core {
    /// A core answering from `zone` (compiled now), with `config`'s client networks,
    /// rebinding exemptions, upstreams, upstream timeout and cache size.
    pub fn new(config: &DnsConfig, zone: &LocalZone) -> Core {
        let v4 = config.lan_v4.iter().map(|&n| IpNet::V4(n));
        let v6 = config.lan_v6.iter().map(|&n| IpNet::V6(n));
        let clients: Vec<IpNet> = v4.chain(v6).chain(config.clients.iter().copied()).collect();
        let view = View {
            zone: zone.clone(),
            table: zone.table(),
            acl: acl(&clients, zone.prefix()),
            rebind: RebindFilter::new(&config.rebind_allow),
            upstreams: config.upstreams.clone(),
            timeout: config.upstream_timeout,
        };
        Core {
            view: ArcSwap::from_pointee(view),
            cache: Mutex::new(Cache::new(config.cache_size)),
            clients,
            stats: Stats::default(),
            warn: Warn::default(),
        }
    }

    /// Whether a per-message warning at `now` may be logged, and how many it stands for.
    fn warn_now(&self, now: Option<Instant>) -> Option<u64> {
        self.warn.check(now)
    }

    /// Publishes what `zone` now holds (after a lease or a prefix change): its answers, and its
    /// delegated prefix as a client network.
    pub fn publish(&self, zone: &LocalZone) {
        let (table, acl) = (zone.table(), acl(&self.clients, zone.prefix()));
        self.view.rcu(|v| View {
            zone: zone.clone(),
            table: table.clone(),
            acl: acl.clone(),
            rebind: v.rebind.clone(),
            upstreams: v.upstreams.clone(),
            timeout: v.timeout,
        });
    }

    /// Replaces the upstream servers. The cache is kept: its answers stay valid for their TTL
    /// whoever gave them.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        self.view.rcu(|v| View {
            zone: v.zone.clone(),
            table: v.table.clone(),
            acl: v.acl.clone(),
            rebind: v.rebind.clone(),
            upstreams: upstreams.clone(),
            timeout: v.timeout,
        });
    }

    /// The current view (for [`Ask::Upstream`]: the upstreams and their timeout).
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Answers in the forwarding cache now.
    pub fn cache_len(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.len())
    }

    /// The upstreams took `d` to answer one forwarded query (measured by the driver).
    pub fn note_upstream_latency(&self, d: Duration) {
        self.stats.upstream_latency.observe(d);
    }

    /// Takes a message that arrived at `now` from `src` (over TCP if `tcp`). [`Next::Reply`]:
    /// the response is in `out`.
    pub fn handle_query(
        &self,
        now: Instant,
        src: SocketAddr,
        tcp: bool,
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Next {
        self.warn.see(now);
        let q = match QueryView::parse(msg) {
            Ok(q) if q.is_response() => return Next::Drop,
            Ok(q) => q,
            Err(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%src, error = %e, "malformed query");
                return match wire::formerr_header(msg) {
                    Some(r) => reply(out, r),
                    None => Next::Drop,
                };
            }
        };
        let view = self.view.load();
        if !view.acl.allows(src.ip()) {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%src, "refused: not a client network");
            return reply(out, wire::error_response(&q, Rcode::Refused, false));
        }
        let max = if tcp { u16::MAX } else { u16::try_from(q.udp_limit()).unwrap_or(512) };
        match q.opcode() {
            0 => {}
            5 => {
                if let Some(rcode) = update_precheck(&view.zone, msg) {
                    self.stats.updates_refused.fetch_add(1, Ordering::Relaxed);
                    if let Some(more) = self.warn_now(Some(now)) {
                        tracing::warn!(%src, ?rcode, suppressed = more, "UPDATE refused by the local zone's conflict policy");
                    }
                    return reply(out, wire::error_response(&q, rcode, false));
                }
                self.stats.dynamic.fetch_add(1, Ordering::Relaxed);
                return Next::Ask(Ask::Dynamic { max });
            }
            _ => return reply(out, wire::error_response(&q, Rcode::NotImp, true)),
        }
        match view.table.answer(&q, out) {
            Outcome::Answered => {
                self.stats.local.fetch_add(1, Ordering::Relaxed);
                finish(&q, tcp, out)
            }
            Outcome::Dynamic => {
                self.stats.dynamic.fetch_add(1, Ordering::Relaxed);
                Next::Ask(Ask::Dynamic { max })
            }
            Outcome::NotLocal => {
                if self.cache.lock().is_ok_and(|c| c.serve(&q, now, out)) {
                    self.stats.cached.fetch_add(1, Ordering::Relaxed);
                    return finish(&q, tcp, out);
                }
                self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                Next::Ask(Ask::Upstream)
            }
        }
    }

    /// What the client gets after [`Ask::Dynamic`] for `msg`: hickory's `reply` (logged for an
    /// UPDATE), SERVFAIL for a query hickory could not answer, nothing for such an UPDATE.
    pub fn handle_dynamic_reply(
        &self,
        src: SocketAddr,
        msg: &[u8],
        reply: Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        let q = QueryView::parse(msg).ok()?;
        if q.opcode() == 5 {
            match reply.as_ref().and_then(|r| r.get(3)).map(|b| b & 0x0f) {
                Some(0) => tracing::info!(%src, "UPDATE applied"),
                rcode => {
                    self.stats.updates_refused.fetch_add(1, Ordering::Relaxed);
                    if let Some(more) = self.warn_now(None) {
                        tracing::warn!(%src, ?rcode, suppressed = more, "UPDATE rejected (unsigned, bad TSIG or prerequisites)")
                    }
                }
            }
            return reply;
        }
        reply.or_else(|| {
            self.stats.servfail.fetch_add(1, Ordering::Relaxed);
            Some(wire::error_response(&q, Rcode::ServFail, true))
        })
    }

    /// What the client gets after [`Ask::Upstream`] for `msg`, given the upstream `reply` that
    /// arrived at `now` (`None`: no upstream answered). A believable, readable answer is
    /// cached and served (ID, case and TTLs patched, truncated for UDP); anything else is
    /// SERVFAIL and not cached.
    pub fn handle_upstream_reply(
        &self,
        now: Instant,
        tcp: bool,
        msg: &[u8],
        reply: Option<&[u8]>,
    ) -> Option<Vec<u8>> {
        let q = QueryView::parse(msg).ok()?;
        let servfail = || {
            self.stats.servfail.fetch_add(1, Ordering::Relaxed);
            Some(wire::error_response(&q, Rcode::ServFail, true))
        };
        let Some(reply) = reply else {
            tracing::debug!("no upstream answered");
            return servfail();
        };
        let mut key = [0; MAX_NAME];
        let view = self.view.load();
        if !view.rebind.permits(q.lower_qname(&mut key), upstream::answer_addrs(reply)) {
            self.stats.rebind_dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(more) = self.warn_now(Some(now)) {
                tracing::warn!(qname = ?String::from_utf8_lossy(q.qname), suppressed = more, "rebinding: internal address in a public answer, dropped");
            }
            return servfail();
        }
        let mut out = Vec::new();
        let Ok(answer) = Answer::new(reply, now) else { return servfail() };
        if !answer.render(&q, now, &mut out) {
            tracing::debug!("upstream reply for another question");
            return servfail();
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(&q, answer, now);
        }
        finish(&q, tcp, &mut out);
        Some(out)
    }
}

/// The client networks: loopback, the fixed ones, and the delegated prefix.
fn acl(clients: &[IpNet], prefix: Option<Ipv6Net>) -> Acl {
    Acl::new(clients.iter().copied().chain(prefix.map(IpNet::V6)))
}

/// RFC 2136 §3.1.1: NOTAUTH for a zone other than ours; REFUSED (our policy, §3.3) for an
/// UPDATE that touches a static or leased name. `None` lets hickory decide (TSIG first).
fn update_precheck(zone: &LocalZone, msg: &[u8]) -> Option<Rcode> {
    let Ok(m) = Message::from_vec(msg) else { return Some(Rcode::FormErr) };
    let zone_name = m.queries.first().map(|z| z.name().to_lowercase().to_ascii());
    let domain = format!("{}.", zone.domain());
    if zone_name.as_deref() != Some(domain.as_str()) {
        return Some(Rcode::NotAuth);
    }
    let suffix = format!(".{domain}");
    let taken = m.authorities.iter().any(|r| {
        let n = r.name.to_lowercase().to_ascii();
        n.strip_suffix(&suffix).is_some_and(|rel| zone.holds(rel))
    });
    taken.then_some(Rcode::Refused)
}

/// The answer for `q` is in `out`; truncates it for UDP if it is too long (RFC 2181 §9).
fn finish(q: &QueryView<'_>, tcp: bool, out: &mut Vec<u8>) -> Next {
    if !tcp && out.len() > q.udp_limit() {
        out.truncate(HEADER_LEN + q.question.len());
        let flags = wire::be16(out, 2).unwrap_or(0);
        wire::put16(out, 2, flags | FLAG_TC);
        wire::set_counts(out, 0, 0, 0);
    }
    Next::Reply
}

fn reply(out: &mut Vec<u8>, bytes: Vec<u8>) -> Next {
    *out = bytes;
    Next::Reply
}

#[cfg(test)]
mod warn_tests {
    use super::*;

    /// 10,000 occurrences over 100 s: two lines, the second counting the minute before.
    #[test]
    fn a_flood_of_warnings_is_a_line_a_minute() {
        let (w, t0) = (Warn::default(), Instant::now());
        let lines: Vec<u64> = (0..10_000u64)
            .filter_map(|i| w.check(Some(t0 + Duration::from_millis(i * 10))))
            .collect();
        assert_eq!(lines, [0, 5_999]);
        // A path without a clock of its own uses the latest time seen.
        w.see(t0 + Duration::from_secs(200));
        assert_eq!(w.check(None), Some(3_999));
    }
}
