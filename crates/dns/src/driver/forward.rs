//! Asking the upstream servers (RFC 1035 §4.2, RFC 7766): the only socket code besides the
//! listener. What is sent and what is accepted back is [`crate::upstream`]'s.
//!
//! Each upstream is asked over UDP from a fresh socket (a random source port, RFC 5452 §9.2)
//! with a random ID and the client's question ([`upstream::query`]). A reply must come from
//! that server and [`upstream::matches`] the query, else it is ignored (RFC 5452 §3). A
//! truncated reply (TC) is asked again over TCP, to the same server. A server that does not
//! answer within the timeout, or answers SERVFAIL, REFUSED or NOTIMP, is skipped for the next
//! one, so one dead upstream costs at most one timeout.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::upstream::{self, matches};
use crate::wire::{self, FLAG_QR, FLAG_TC, QueryView};

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
        let sent = upstream::query(q, random_id());
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
mod tests {
    use super::*;

    #[test]
    fn random_ids_differ() {
        assert_ne!((0..8).map(|_| random_id()).collect::<std::collections::HashSet<_>>().len(), 1);
    }
}
