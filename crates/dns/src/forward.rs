//! Asking the upstream servers (RFC 1035 §4.2, RFC 7766): the only socket code besides the
//! listener.
//!
//! Each upstream is asked over UDP from a fresh socket (a random source port, RFC 5452 §9.2)
//! with a random ID and the client's question, with our own EDNS OPT (1232 bytes, no DO). A
//! reply must come from that server, carry that ID and that question, else it is ignored
//! (RFC 5452 §3). A truncated reply (TC) is asked again over TCP, to the same server. A
//! server that does not answer within the timeout, or answers SERVFAIL, REFUSED or NOTIMP,
//! is skipped for the next one, so one dead upstream costs at most one timeout.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::wire::{self, FLAG_QR, FLAG_RD, FLAG_TC, HEADER_LEN, QueryView, Rr};

/// Builds the query we send upstream for the client's question.
pub fn upstream_query(q: &QueryView<'_>, id: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + 11);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    out.extend_from_slice(q.question);
    wire::push_opt(&mut out);
    out
}

/// Whether `reply` answers `sent` (ID, QR, same question ignoring case).
pub fn matches(sent: &[u8], reply: &[u8]) -> bool {
    let (Ok(s), Ok(r)) = (QueryView::parse(sent), QueryView::parse(reply)) else { return false };
    s.id == r.id && r.is_response() && s.question.eq_ignore_ascii_case(r.question)
}

/// The addresses in the answer section of a response (A and AAAA records).
pub fn answer_addrs(msg: &[u8]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let (Ok(q), Ok(an)) = (QueryView::parse(msg), wire::be16(msg, 6)) else { return out };
    let mut pos = HEADER_LEN + q.question.len();
    for _ in 0..an {
        let Ok(rr) = Rr::parse(msg, pos) else { break };
        let rdata = msg.get(rr.ttl_at + 6..rr.end).unwrap_or_default();
        match (rr.rtype, rdata.len()) {
            (1, 4) => {
                out.extend(<[u8; 4]>::try_from(rdata).ok().map(|b| IpAddr::V4(Ipv4Addr::from(b))))
            }
            (28, 16) => {
                out.extend(<[u8; 16]>::try_from(rdata).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b))))
            }
            _ => {}
        }
        pos = rr.end;
    }
    out
}

/// A random 16-bit message ID (RFC 5452 §4.3).
pub fn random_id() -> u16 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed));
    h.finish() as u16
}

/// Asks the upstreams in order until one gives a usable answer. `None` when none did.
pub async fn resolve(
    upstreams: &[SocketAddr],
    q: &QueryView<'_>,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let mut fallback = None;
    for &server in upstreams {
        let sent = upstream_query(q, random_id());
        let deadline = Instant::now() + timeout;
        let reply = match udp_exchange(server, &sent, deadline).await {
            Some(r) if wire::be16(&r, 2).is_ok_and(|f| f & FLAG_TC != 0) => {
                tracing::debug!(%server, "truncated reply: asking over TCP");
                tcp_exchange(server, &sent, Instant::now() + timeout).await
            }
            other => other,
        };
        let Some(reply) = reply else {
            tracing::debug!(%server, "upstream did not answer");
            continue;
        };
        match reply.get(3).map(|b| b & 0x0f) {
            Some(2 | 4 | 5) => fallback = Some(reply),
            _ => return Some(reply),
        }
    }
    fallback
}

async fn udp_exchange(server: SocketAddr, sent: &[u8], deadline: Instant) -> Option<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await.ok()?;
    sock.connect(server).await.ok()?;
    sock.send(sent).await.ok()?;
    let mut buf = vec![0; 65_535];
    loop {
        let n = timeout_at(deadline, sock.recv(&mut buf)).await.ok()?.ok()?;
        let reply = buf.get(..n)?;
        if matches(sent, reply) {
            return Some(reply.to_vec());
        }
        tracing::debug!(%server, "ignoring a reply that does not match the query");
    }
}

/// One query over TCP (RFC 1035 §4.2.2: two-byte length prefix).
pub async fn tcp_exchange(server: SocketAddr, sent: &[u8], deadline: Instant) -> Option<Vec<u8>> {
    let mut s = timeout_at(deadline, TcpStream::connect(server)).await.ok()?.ok()?;
    let len = u16::try_from(sent.len()).ok()?;
    let framed = [&len.to_be_bytes()[..], sent].concat();
    timeout_at(deadline, s.write_all(&framed)).await.ok()?.ok()?;
    let n = timeout_at(deadline, s.read_u16()).await.ok()?.ok()?;
    let mut reply = vec![0; usize::from(n)];
    timeout_at(deadline, s.read_exact(&mut reply)).await.ok()?.ok()?;
    (matches(sent, &reply) && wire::be16(&reply, 2).is_ok_and(|f| f & FLAG_QR != 0))
        .then_some(reply)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn q(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(wire::encode_name(name).unwrap());
        m.extend_from_slice(&[0, 1, 0, 1]);
        m
    }

    #[test]
    fn upstream_query_carries_question_and_opt() {
        let client = q("www.example.com");
        let view = QueryView::parse(&client).unwrap();
        let up = upstream_query(&view, 0xbeef);
        let v = QueryView::parse(&up).unwrap();
        assert_eq!(v.id, 0xbeef);
        assert_eq!(v.question, view.question);
        assert_eq!(v.edns.map(|e| e.udp_size), Some(wire::EDNS_UDP_SIZE));
        let mut reply = up.clone();
        reply[2] |= 0x80;
        assert!(matches(&up, &reply));
        reply[0] ^= 1;
        assert!(!matches(&up, &reply));
        assert_ne!((0..8).map(|_| random_id()).collect::<std::collections::HashSet<_>>().len(), 1);
    }

    #[test]
    fn addresses_of_an_answer() {
        let mut m = q("x.example.com");
        m[7] = 2; // ANCOUNT
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 168, 5, 5]);
        m.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        m.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        let a = answer_addrs(&m);
        assert_eq!(a, ["192.168.5.5".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
        assert!(answer_addrs(&m[..m.len() - 3]).is_empty(), "a cut message is not read");
    }
}
