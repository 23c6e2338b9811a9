//! The query path: one function from received bytes to the bytes to send back, shared by the
//! UDP and TCP listeners (and the fuzz target).
//!
//! Order, cheapest first: read the header and question ([`QueryView`]); answer nothing that
//! is itself a response; REFUSED for sources outside the client networks ([`Acl`]); NOTIMP for
//! opcodes other than QUERY and UPDATE; then the local table, the cache, and only then the
//! slow paths (hickory's dynamic zone, the upstreams). What the listener needs from the slow
//! paths is an `.await`, so [`Core::answer_fast`] says [`Fast::Slow`] and the listener spawns
//! [`Core::answer_slow`] for it: a query waiting for an upstream never holds up the others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_server::proto::op::Message;
use hickory_server::zone_handler::Catalog;

use crate::cache::{Answer, Cache};
use crate::local::LocalZone;
use crate::policy::{Acl, RebindFilter};
use crate::table::{LocalTable, Outcome};
use crate::wire::{self, FLAG_TC, HEADER_LEN, QueryView, Rcode};
use crate::{dynamic, forward};

/// Everything a query is answered from, replaced whole on any change.
#[derive(Debug)]
pub struct View {
    /// The local zone's precomputed answers.
    pub table: LocalTable,
    /// Who may ask.
    pub acl: Acl,
    /// Which upstream answers are believed.
    pub rebind: RebindFilter,
    /// Where other names are forwarded.
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
}

/// What the fast path did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// The response is in the output buffer.
    Done,
    /// Nothing is to be sent.
    Drop,
    /// Call [`Core::answer_slow`].
    Slow,
}

/// The server's shared state.
pub struct Core {
    /// The current view (swapped atomically).
    pub view: ArcSwap<View>,
    /// The local zone the table is compiled from (for lease events).
    pub zone: tokio::sync::Mutex<LocalZone>,
    /// The forwarding cache.
    pub cache: std::sync::Mutex<Cache>,
    /// Hickory's catalogue with the dynamic (journaled) zone.
    pub catalog: Catalog,
    /// Counters.
    pub stats: Stats,
}

impl Core {
    /// The fast path: everything that needs no `.await`.
    pub fn answer_fast(&self, msg: &[u8], src: SocketAddr, tcp: bool, out: &mut Vec<u8>) -> Fast {
        let q = match QueryView::parse(msg) {
            Ok(q) if q.is_response() => return Fast::Drop,
            Ok(q) => q,
            Err(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%src, error = %e, "malformed query");
                return match wire::formerr_header(msg) {
                    Some(r) => done(out, r),
                    None => Fast::Drop,
                };
            }
        };
        let view = self.view.load();
        if !view.acl.allows(src.ip()) {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%src, "refused: not a client network");
            return done(out, wire::error_response(&q, Rcode::Refused, false));
        }
        match q.opcode() {
            0 => {}
            5 => return Fast::Slow,
            _ => return done(out, wire::error_response(&q, Rcode::NotImp, true)),
        }
        match view.table.answer(&q, out) {
            Outcome::Answered => {
                self.stats.local.fetch_add(1, Ordering::Relaxed);
                finish(&q, tcp, out)
            }
            Outcome::Dynamic => Fast::Slow,
            Outcome::NotLocal => {
                let hit = self.cache.lock().is_ok_and(|c| c.serve(&q, Instant::now(), out));
                if !hit {
                    return Fast::Slow;
                }
                self.stats.cached.fetch_add(1, Ordering::Relaxed);
                finish(&q, tcp, out)
            }
        }
    }

    /// The slow path, for a message [`Core::answer_fast`] said [`Fast::Slow`] about.
    pub async fn answer_slow(&self, msg: Vec<u8>, src: SocketAddr, tcp: bool) -> Option<Vec<u8>> {
        let q = QueryView::parse(&msg).ok()?;
        let max = if tcp { u16::MAX } else { u16::try_from(q.udp_limit()).unwrap_or(512) };
        if q.opcode() == 5 {
            if let Some(rcode) = self.update_precheck(&msg).await {
                tracing::warn!(%src, ?rcode, "UPDATE refused by the local zone's conflict policy");
                return Some(wire::error_response(&q, rcode, false));
            }
            let reply = dynamic::ask(&self.catalog, msg.clone(), src, tcp, max).await;
            let rcode = reply.as_ref().and_then(|r| r.get(3)).map(|b| b & 0x0f);
            match rcode {
                Some(0) => tracing::info!(%src, "UPDATE applied"),
                _ => {
                    tracing::warn!(%src, ?rcode, "UPDATE rejected (unsigned, bad TSIG or prerequisites)")
                }
            }
            self.stats.dynamic.fetch_add(1, Ordering::Relaxed);
            return reply;
        }
        let view = self.view.load_full();
        let mut out = Vec::new();
        match view.table.answer(&q, &mut out) {
            // The view changed since the fast path looked: the name became local.
            Outcome::Answered => {
                finish(&q, tcp, &mut out);
                return Some(out);
            }
            Outcome::Dynamic => {
                self.stats.dynamic.fetch_add(1, Ordering::Relaxed);
                let reply = dynamic::ask(&self.catalog, msg.clone(), src, tcp, max).await;
                return reply.or_else(|| Some(wire::error_response(&q, Rcode::ServFail, true)));
            }
            Outcome::NotLocal => {}
        }
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
        let Some(reply) = forward::resolve(&view.upstreams, &q, view.timeout).await else {
            tracing::debug!("no upstream answered");
            return Some(wire::error_response(&q, Rcode::ServFail, true));
        };
        let mut key = [0; wire::MAX_NAME];
        if !view.rebind.permits(q.lower_qname(&mut key), forward::answer_addrs(&reply)) {
            self.stats.rebind_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(qname = ?String::from_utf8_lossy(q.qname), "rebinding: internal address in a public answer, dropped");
            return Some(wire::error_response(&q, Rcode::ServFail, true));
        }
        let now = Instant::now();
        let Ok(answer) = Answer::new(&reply, now) else {
            return Some(wire::error_response(&q, Rcode::ServFail, true));
        };
        answer.render(&q, now, &mut out);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(&q, answer, now);
        }
        finish(&q, tcp, &mut out);
        Some(out)
    }

    /// RFC 2136 §3.1.1: NOTAUTH for a zone other than ours; REFUSED (our policy, §3.3) for an
    /// UPDATE that touches a static or leased name. `None` lets hickory decide (TSIG first).
    async fn update_precheck(&self, msg: &[u8]) -> Option<Rcode> {
        let Ok(m) = Message::from_vec(msg) else { return Some(Rcode::FormErr) };
        let zone_name = m.queries.first().map(|z| z.name().to_lowercase().to_ascii());
        let zone = self.zone.lock().await;
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
}

/// The answer for `q` is in `out`; truncates it for UDP if it is too long (RFC 2181 §9).
fn finish(q: &QueryView<'_>, tcp: bool, out: &mut Vec<u8>) -> Fast {
    if !tcp && out.len() > q.udp_limit() {
        out.truncate(HEADER_LEN + q.question.len());
        let flags = wire::be16(out, 2).unwrap_or(0);
        wire::put16(out, 2, flags | FLAG_TC);
        wire::set_counts(out, 0, 0, 0);
    }
    Fast::Done
}

fn done(out: &mut Vec<u8>, bytes: Vec<u8>) -> Fast {
    *out = bytes;
    Fast::Done
}

/// Builds a core with an empty cache of `cache_size`.
pub fn core(view: View, zone: LocalZone, catalog: Catalog, cache_size: usize) -> Arc<Core> {
    Arc::new(Core {
        view: ArcSwap::from_pointee(view),
        zone: tokio::sync::Mutex::new(zone),
        cache: std::sync::Mutex::new(Cache::new(cache_size)),
        catalog,
        stats: Stats::default(),
    })
}
