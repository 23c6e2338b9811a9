//! The forwarding cache. Sans-IO: time comes in as an argument.
//!
//! An upstream response is kept as the bytes it arrived in, with the offsets of its TTLs
//! ([`wire::Layout`]). Serving a copy patches the ID, the client's question (its case), the
//! RD flag and every TTL (less the time spent in the cache, RFC 1035 §7.4, RFC 2181 §8), and
//! drops the OPT record for a client that sent none (RFC 6891 §7). A response lives for its
//! smallest TTL, at most [`MAX_TTL`]; negative answers live for their SOA's TTL (RFC 2308 §5).
//! Only NOERROR and NXDOMAIN are cached. When full, expired entries go first, then all.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::wire::{self, FLAG_RD, HEADER_LEN, Layout, MAX_NAME, QueryView};

/// The longest time a response is kept, whatever its TTL says.
pub const MAX_TTL: u32 = 86_400;

/// A response ready to be served again.
#[derive(Debug, Clone)]
pub struct Answer {
    bytes: Box<[u8]>,
    layout: Layout,
    stored: Instant,
}

impl Answer {
    /// Reads an upstream response received at `now`.
    pub fn new(bytes: &[u8], now: Instant) -> Result<Answer, wire::Error> {
        // Only a response is an answer: a query (QR clear) echoed by a broken or hostile
        // upstream must never be cached and served to clients (found by fuzzing).
        if wire::be16(bytes, 2).is_ok_and(|f| f & wire::FLAG_QR == 0) {
            return Err(wire::Error::NotAResponse);
        }
        let layout = Layout::parse(bytes)?;
        Ok(Answer { bytes: bytes.into(), layout, stored: now })
    }

    /// The response code (low four bits).
    pub fn rcode(&self) -> u8 {
        self.bytes.get(3).map_or(2, |b| b & 0x0f)
    }

    /// How long the answer may be kept, or `None` if it must not be cached.
    pub fn lifetime(&self) -> Option<Duration> {
        let ttl = self.layout.min_ttl;
        let cacheable = matches!(self.rcode(), 0 | 3) && ttl > 0 && ttl != u32::MAX;
        cacheable.then(|| Duration::from_secs(u64::from(ttl.min(MAX_TTL))))
    }

    /// The response bytes as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Writes the copy for `q` at `now` into `out`. `false` if `q` asks something else.
    pub fn render(&self, q: &QueryView<'_>, now: Instant, out: &mut Vec<u8>) -> bool {
        let qend = self.layout.question_end;
        let same_q =
            self.bytes.get(HEADER_LEN..qend).is_some_and(|b| b.eq_ignore_ascii_case(q.question));
        if !same_q {
            return false;
        }
        let age =
            u32::try_from(now.saturating_duration_since(self.stored).as_secs()).unwrap_or(u32::MAX);
        out.clear();
        out.extend_from_slice(&self.bytes);
        wire::put16(out, 0, q.id);
        let flags = wire::be16(out, 2).unwrap_or(0);
        wire::put16(out, 2, (flags & !FLAG_RD) | (q.flags & FLAG_RD));
        if let Some(dst) = out.get_mut(HEADER_LEN..qend) {
            dst.copy_from_slice(q.question);
        }
        for &at in &self.layout.ttls {
            let Some(t) = out.get_mut(at..at + 4) else { continue };
            let Ok(old) = <[u8; 4]>::try_from(&*t) else { continue };
            t.copy_from_slice(&u32::from_be_bytes(old).saturating_sub(age).to_be_bytes());
        }
        if let (Some((start, end)), None) = (self.layout.opt, q.edns) {
            if end <= out.len() {
                out.drain(start..end);
                let ar = wire::be16(out, 10).unwrap_or(1);
                wire::put16(out, 10, ar.saturating_sub(1));
            }
        }
        true
    }
}

/// Cached responses by question (lower-case name, type, class).
#[derive(Debug)]
pub struct Cache {
    map: HashMap<Box<[u8]>, (Answer, Instant)>,
    capacity: usize,
}

impl Cache {
    /// An empty cache of at most `capacity` responses.
    pub fn new(capacity: usize) -> Self {
        Cache { map: HashMap::new(), capacity }
    }

    /// Serves `q` from the cache into `out`, if a live answer is there.
    pub fn serve(&self, q: &QueryView<'_>, now: Instant, out: &mut Vec<u8>) -> bool {
        let mut buf = [0; MAX_NAME + 4];
        let Some(key) = key(q, &mut buf) else { return false };
        match self.map.get(key) {
            Some((a, expires)) if *expires > now => a.render(q, now, out),
            _ => false,
        }
    }

    /// Keeps `answer` for `q` if it may be cached. Returns whether it was.
    pub fn insert(&mut self, q: &QueryView<'_>, answer: Answer, now: Instant) -> bool {
        let Some(life) = answer.lifetime() else { return false };
        let mut buf = [0; MAX_NAME + 4];
        let Some(k) = key(q, &mut buf) else { return false };
        if self.map.len() >= self.capacity {
            self.map.retain(|_, (_, exp)| *exp > now);
            if self.map.len() >= self.capacity {
                self.map.clear();
            }
        }
        self.map.insert(k.into(), (answer, now + life));
        true
    }

    /// The number of responses held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn key<'b>(q: &QueryView<'_>, buf: &'b mut [u8; MAX_NAME + 4]) -> Option<&'b [u8]> {
    let mut name = [0; MAX_NAME];
    let lower = q.lower_qname(&mut name);
    let n = lower.len();
    buf.get_mut(..n)?.copy_from_slice(lower);
    buf.get_mut(n..n + 4)?
        .copy_from_slice(&[q.qtype.to_be_bytes(), q.qclass.to_be_bytes()].concat());
    buf.get(..n + 4)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, Record, RecordType, rdata::A};

    use super::*;

    fn query(name: &str, id: u16, edns: bool) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = id;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        if edns {
            m.edns = Some(Edns::new());
        }
        m.to_vec().unwrap()
    }

    fn response(ttl: u32, rcode: ResponseCode) -> Vec<u8> {
        let mut m = Message::from_vec(&query("www.example.com.", 7, true)).unwrap();
        m.metadata.message_type = MessageType::Response;
        m.metadata.response_code = rcode;
        let name = Name::from_ascii("www.example.com.").unwrap();
        m.answers.push(Record::from_rdata(name, ttl, RData::A(A::new(203, 0, 113, 80))));
        m.to_vec().unwrap()
    }

    #[test]
    fn serves_with_aged_ttls_new_id_and_client_case() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        let q1 = query("www.example.com.", 7, true);
        let q1 = QueryView::parse(&q1).unwrap();
        assert!(c.insert(&q1, Answer::new(&response(300, ResponseCode::NoError), t0).unwrap(), t0));
        let q2b = query("WWW.example.COM.", 99, false);
        let q2 = QueryView::parse(&q2b).unwrap();
        let mut out = Vec::new();
        assert!(c.serve(&q2, t0 + Duration::from_secs(100), &mut out));
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 99);
        assert_eq!(m.answers[0].ttl, 200);
        assert_eq!(m.queries[0].name().to_ascii(), "WWW.example.COM.");
        assert!(m.edns.is_none(), "no OPT for a client without EDNS");
        assert!(!c.serve(&q2, t0 + Duration::from_secs(301), &mut out), "expired");
    }

    #[test]
    fn servfail_and_ttl_zero_are_not_cached_and_the_size_is_bounded() {
        let t0 = Instant::now();
        let mut c = Cache::new(2);
        let qb = query("www.example.com.", 7, true);
        let q = QueryView::parse(&qb).unwrap();
        assert!(!c.insert(
            &q,
            Answer::new(&response(300, ResponseCode::ServFail), t0).unwrap(),
            t0
        ));
        assert!(!c.insert(&q, Answer::new(&response(0, ResponseCode::NoError), t0).unwrap(), t0));
        for i in 0..5 {
            let qb = query(&format!("n{i}.example.com."), 7, true);
            let q = QueryView::parse(&qb).unwrap();
            c.insert(&q, Answer::new(&response(60, ResponseCode::NoError), t0).unwrap(), t0);
            assert!(c.len() <= 2);
        }
        let other = query("other.example.com.", 1, true);
        let a = Answer::new(&response(60, ResponseCode::NoError), t0).unwrap();
        assert!(!a.render(&QueryView::parse(&other).unwrap(), t0, &mut Vec::new()));
    }
}
