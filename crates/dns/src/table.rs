//! Precomputed answers for the local zone: the query fast path.
//!
//! [`LocalTable::build`] encodes every RRset once, with its owner written as a compression
//! pointer to the question (`0xc00c`, RFC 1035 §4.1.4), so answering is a hash lookup on the
//! lower-cased question name and a few `memcpy`s: the ID, the question and the client's case
//! (RFC draft "0x20") come from the query itself. The table is immutable; a change builds a
//! new one, which the server swaps in whole ([`arc_swap`]), so queries never wait on updates.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{self, FLAG_AA, FLAG_RA, HEADER_LEN, MAX_NAME, QueryView, Rcode};

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_SOA: u16 = 6;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;

/// A record of the local zone (owner names without the trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An address record (RFC 1035 §3.4.1).
    A(String, Ipv4Addr),
    /// An IPv6 address record (RFC 3596 §2.1).
    Aaaa(String, Ipv6Addr),
    /// A pointer (RFC 1035 §3.3.12): owner, target.
    Ptr(String, String),
}

#[derive(Debug, Clone)]
struct RrSet {
    rtype: u16,
    count: u16,
    bytes: Box<[u8]>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    zone: usize,
    sets: Vec<RrSet>,
}

#[derive(Debug, Clone)]
struct Zone {
    apex: Box<[u8]>,
    /// The SOA record after its owner name: type, class, TTL, RDLENGTH, RDATA.
    soa_tail: Box<[u8]>,
    /// The forward zone: names not in the table go to the dynamic (hickory) zone.
    forward: bool,
}

/// What the table made of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response was written.
    Answered,
    /// The name is in the forward zone but not in the table: ask the dynamic zone.
    Dynamic,
    /// The name is not ours: forward it.
    NotLocal,
}

/// The local zone's answers, ready to copy.
#[derive(Debug, Clone, Default)]
pub struct LocalTable {
    names: HashMap<Box<[u8]>, Node>,
    zones: Vec<Zone>,
}

impl LocalTable {
    /// Encodes `records` of the forward zone `domain` and the `reverse` zones.
    pub fn build(
        domain: &str,
        reverse: &[String],
        records: &[Record],
        ttl: u32,
        serial: u32,
    ) -> Self {
        let mut t = LocalTable::default();
        let mname = wire::encode_name(&format!("ns.{domain}")).unwrap_or_else(|| vec![0]);
        let rname = wire::encode_name(&format!("hostmaster.{domain}")).unwrap_or_else(|| vec![0]);
        for (i, z) in std::iter::once(domain).chain(reverse.iter().map(String::as_str)).enumerate()
        {
            let Some(apex) = wire::encode_name(z) else { continue };
            let mut soa = [mname.as_slice(), rname.as_slice()].concat();
            for v in [serial, 3600, 600, 86400, ttl] {
                soa.extend_from_slice(&v.to_be_bytes());
            }
            let mut tail = rr_head(TYPE_SOA, ttl, soa.len());
            tail.extend_from_slice(&soa);
            let idx = t.zones.len();
            if i > 0 {
                // Reverse zones answer their apex themselves; the forward apex is hickory's.
                let node = t.node(&apex, idx);
                let soa_rr = [&[0xc0, 0x0c][..], &tail].concat();
                node.sets.push(RrSet { rtype: TYPE_SOA, count: 1, bytes: owned(&soa_rr) });
                let mut ns = rr_head(TYPE_NS, ttl, mname.len());
                ns.extend_from_slice(&mname);
                node.sets.push(RrSet { rtype: TYPE_NS, count: 1, bytes: owned(&ns) });
            }
            t.zones.push(Zone { apex: owned(&apex), soa_tail: owned(&tail), forward: i == 0 });
        }
        for r in records {
            let (owner, rtype, rdata) = match r {
                Record::A(n, a) => (n, TYPE_A, a.octets().to_vec()),
                Record::Aaaa(n, a) => (n, TYPE_AAAA, a.octets().to_vec()),
                Record::Ptr(n, target) => match wire::encode_name(target) {
                    Some(t) => (n, TYPE_PTR, t),
                    None => continue,
                },
            };
            let Some(key) = wire::encode_name(owner) else { continue };
            let Some(zone) = t.zone_of(&key) else { continue };
            let mut rr = rr_head(rtype, ttl, rdata.len());
            rr.extend_from_slice(&rdata);
            t.add_ents(&key, zone);
            let node = t.node(&key, zone);
            match node.sets.iter_mut().find(|s| s.rtype == rtype) {
                Some(set) => {
                    set.count = set.count.saturating_add(1);
                    set.bytes = [&set.bytes[..], &rr[..]].concat().into_boxed_slice();
                }
                None => node.sets.push(RrSet { rtype, count: 1, bytes: owned(&rr) }),
            }
        }
        t
    }

    /// Answers `q` into `out` if the name is ours. RFC 1034 §4.3.2 step 3: the exact name
    /// gives its RRset, or NODATA (NOERROR and the SOA, RFC 2308 §2.2); a name with nothing
    /// at or below it gives NXDOMAIN and the SOA (RFC 2308 §2.1, RFC 8020).
    pub fn answer(&self, q: &QueryView<'_>, out: &mut Vec<u8>) -> Outcome {
        let mut buf = [0; MAX_NAME];
        let key = q.lower_qname(&mut buf);
        let found = self.names.get(key);
        let zone_idx = match found {
            Some(node) => node.zone,
            None => match self.zone_of(key) {
                Some(i) => i,
                None => return Outcome::NotLocal,
            },
        };
        let Some(zone) = self.zones.get(zone_idx) else { return Outcome::NotLocal };
        if found.is_none() && zone.forward {
            return Outcome::Dynamic;
        }
        let class_ok = q.qclass == CLASS_IN || q.qclass == TYPE_ANY;
        let sets = found.map(|n| n.sets.as_slice()).unwrap_or_default();
        let rcode = if found.is_some() { Rcode::NoError } else { Rcode::NxDomain };
        wire::start_response(out, q, FLAG_AA | FLAG_RA, rcode);
        let mut an = 0u16;
        for s in sets.iter().filter(|s| class_ok && (q.qtype == s.rtype || q.qtype == TYPE_ANY)) {
            out.extend_from_slice(&s.bytes);
            an = an.saturating_add(s.count);
        }
        let mut ns = 0;
        if an == 0 {
            // The apex is a suffix of the question name: point at it.
            let at = HEADER_LEN + q.qname.len().saturating_sub(zone.apex.len());
            out.extend_from_slice(&(0xc000 | at as u16 & 0x3fff).to_be_bytes());
            out.extend_from_slice(&zone.soa_tail);
            ns = 1;
        }
        let ar = u16::from(q.edns.is_some());
        if q.edns.is_some() {
            wire::push_opt(out);
        }
        wire::set_counts(out, an, ns, ar);
        Outcome::Answered
    }

    /// The number of names with records (empty non-terminals excluded).
    pub fn len(&self) -> usize {
        self.names.values().filter(|n| !n.sets.is_empty()).count()
    }

    /// Whether the table has no names.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this wire name (lower case) has records in the table.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.names.get(key).is_some_and(|n| !n.sets.is_empty())
    }

    /// The index of the deepest zone that contains `key`.
    fn zone_of(&self, key: &[u8]) -> Option<usize> {
        let inside =
            self.zones.iter().enumerate().filter(|(_, z)| wire::is_subdomain(key, &z.apex));
        inside.max_by_key(|(_, z)| z.apex.len()).map(|(i, _)| i)
    }

    fn node(&mut self, key: &[u8], zone: usize) -> &mut Node {
        self.names.entry(owned(key)).or_insert_with(|| Node { zone, sets: Vec::new() })
    }

    /// Empty non-terminals between `key` and its zone's apex answer NODATA, not NXDOMAIN.
    fn add_ents(&mut self, key: &[u8], zone: usize) {
        let apex_len = self.zones.get(zone).map_or(0, |z| z.apex.len());
        let mut pos = 0;
        while let Some(&len) = key.get(pos) {
            pos += 1 + usize::from(len);
            let Some(rest) = key.get(pos..) else { break };
            if len == 0 || rest.len() <= apex_len {
                break;
            }
            self.node(rest, zone);
        }
    }
}

/// A record's bytes from its owner on: pointer to the question, type, class IN, TTL, length.
fn rr_head(rtype: u16, ttl: u32, rdlen: usize) -> Vec<u8> {
    let mut rr = Vec::with_capacity(12 + rdlen);
    rr.extend_from_slice(&[0xc0, 0x0c]);
    rr.extend_from_slice(&rtype.to_be_bytes());
    rr.extend_from_slice(&CLASS_IN.to_be_bytes());
    rr.extend_from_slice(&ttl.to_be_bytes());
    rr.extend_from_slice(&(rdlen as u16).to_be_bytes());
    if rtype == TYPE_SOA {
        // The SOA's owner is written by `answer`: drop the placeholder pointer.
        rr.drain(..2);
    }
    rr
}

fn owned(b: &[u8]) -> Box<[u8]> {
    b.to_vec().into_boxed_slice()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, RecordType};

    use super::*;

    fn table() -> LocalTable {
        let recs = [
            Record::A("nas.home.arpa".into(), Ipv4Addr::new(192, 168, 1, 10)),
            Record::A("nas.home.arpa".into(), Ipv4Addr::new(192, 168, 1, 11)),
            Record::Ptr("10.1.168.192.in-addr.arpa".into(), "nas.home.arpa".into()),
            Record::Aaaa("nas.home.arpa".into(), "fd00::10".parse().unwrap()),
            Record::Ptr("0.1.0.0.d.f.ip6.arpa".into(), "deep.home.arpa".into()),
        ];
        let rev = ["1.168.192.in-addr.arpa".to_string(), "d.f.ip6.arpa".to_string()];
        LocalTable::build("home.arpa", &rev, &recs, 300, 7)
    }

    /// Asks with hickory's encoder, answers, and decodes with hickory: an independent check.
    fn ask(t: &LocalTable, name: &str, rtype: RecordType) -> (Outcome, Option<Message>) {
        let mut m = Message::query();
        m.metadata.id = 0x4242;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        let bytes = m.to_vec().unwrap();
        let q = QueryView::parse(&bytes).unwrap();
        let mut out = Vec::new();
        let o = t.answer(&q, &mut out);
        (o, (o == Outcome::Answered).then(|| Message::from_vec(&out).unwrap()))
    }

    #[test]
    fn positive_answers_keep_the_clients_case() {
        let (_, m) = ask(&table(), "NaS.Home.ARPA.", RecordType::A);
        let m = m.unwrap();
        assert_eq!(m.metadata.id, 0x4242);
        assert!(m.metadata.authoritative);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].name.to_ascii(), "NaS.Home.ARPA.");
        assert_eq!(m.answers[0].ttl, 300);
        assert!(matches!(m.answers[1].data, RData::A(a) if a.0 == Ipv4Addr::new(192, 168, 1, 11)));
        let (_, any) = ask(&table(), "nas.home.arpa.", RecordType::ANY);
        assert_eq!(any.unwrap().answers.len(), 3);
    }

    #[test]
    fn ptr_nodata_nxdomain_and_ents() {
        let t = table();
        let (_, m) = ask(&t, "10.1.168.192.in-addr.arpa.", RecordType::PTR);
        assert!(
            matches!(&m.unwrap().answers[0].data, RData::PTR(p) if p.0.to_ascii() == "nas.home.arpa.")
        );
        let (_, m) = ask(&t, "nas.home.arpa.", RecordType::TXT);
        let m = m.unwrap();
        assert_eq!((m.metadata.response_code, m.answers.len()), (ResponseCode::NoError, 0));
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(m.authorities[0].name.to_ascii(), "home.arpa.");
        let (_, m) = ask(&t, "99.1.168.192.in-addr.arpa.", RecordType::PTR);
        let m = m.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].name.to_ascii(), "1.168.192.in-addr.arpa.");
        let (_, m) = ask(&t, "1.0.0.d.f.ip6.arpa.", RecordType::PTR);
        assert_eq!(m.unwrap().metadata.response_code, ResponseCode::NoError, "ENT");
        let (_, m) = ask(&t, "1.168.192.in-addr.arpa.", RecordType::SOA);
        assert_eq!(m.unwrap().answers[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn other_names_go_elsewhere() {
        let t = table();
        assert_eq!(ask(&t, "printer.home.arpa.", RecordType::A).0, Outcome::Dynamic);
        assert_eq!(ask(&t, "home.arpa.", RecordType::SOA).0, Outcome::Dynamic);
        assert_eq!(ask(&t, "example.com.", RecordType::A).0, Outcome::NotLocal);
        assert_eq!(ask(&t, "2.168.192.in-addr.arpa.", RecordType::PTR).0, Outcome::NotLocal);
        assert_eq!(t.len(), 5, "three owners and two reverse apexes");
    }
}
