//! What is sent to an upstream server and what is taken back (RFC 1035 §4.1, RFC 5452).
//! Sans-IO: the forwarder (`driver::forward`, `driver` feature) owns the sockets and calls
//! these.
//!
//! The query carries the client's question, a random ID (the caller's) and our own EDNS OPT
//! (1232 bytes, no DO). A reply must carry that ID and that question, else it is ignored
//! (RFC 5452 §3). [`answer_addrs`] gives the rebinding filter the addresses an answer holds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::{self, FLAG_RD, HEADER_LEN, QueryView, Rr};

/// Builds the query we send upstream for the client's question.
pub fn query(q: &QueryView<'_>, id: u16) -> Vec<u8> {
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
        let up = query(&view, 0xbeef);
        let v = QueryView::parse(&up).unwrap();
        assert_eq!(v.id, 0xbeef);
        assert_eq!(v.question, view.question);
        assert_eq!(v.edns.map(|e| e.udp_size), Some(wire::EDNS_UDP_SIZE));
        let mut reply = up.clone();
        reply[2] |= 0x80;
        assert!(matches(&up, &reply));
        reply[0] ^= 1;
        assert!(!matches(&up, &reply));
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
