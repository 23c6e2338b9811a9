//! IGMP messages (IGMPv1 RFC 1112 appendix I, IGMPv2 RFC 2236 §2, IGMPv3 RFC 3376 §4), the
//! IPv4 header around them (RFC 791, with the Router Alert option of RFC 2113), and the
//! kernel's multicast routing upcall (`struct igmpmsg`, linux/mroute.h): parse/emit pairs.
//!
//! No panics: every read goes through `get`/`split_at_checked`, every length is checked once
//! (the IPv4 header against the datagram, the IGMP message against its type's fixed part,
//! then each v3 source list and group record against what is left). The IGMP checksum is
//! verified on parse (RFC 2236 §2.3, RFC 3376 §4.1.2: a message with a wrong checksum is
//! dropped) and computed on emit.

use std::net::Ipv4Addr;
use std::time::Duration;

/// IGMP message type: Membership Query (all versions).
pub const TYPE_QUERY: u8 = 0x11;
/// IGMP message type: Version 1 Membership Report.
pub const TYPE_V1_REPORT: u8 = 0x12;
/// IGMP message type: Version 2 Membership Report.
pub const TYPE_V2_REPORT: u8 = 0x16;
/// IGMP message type: Version 2 Leave Group.
pub const TYPE_LEAVE: u8 = 0x17;
/// IGMP message type: Version 3 Membership Report.
pub const TYPE_V3_REPORT: u8 = 0x22;

/// IPv4 protocol number of IGMP.
pub const PROTO_IGMP: u8 = 2;

/// 224.0.0.1: all systems, where general queries go.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// 224.0.0.2: all routers, where v2 Leave Group messages go.
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// 224.0.0.22: all IGMPv3-capable routers, where v3 reports go.
pub const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// The Router Alert IPv4 option (RFC 2113): type 148, length 4, value 0.
pub const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

/// A malformed datagram or message. Offsets count from the start of what was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// It ends before its fixed part (or a record's, or a source list) does.
    Truncated {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// Not IPv4, a header length below 5 words, or a total length that disagrees with the
    /// datagram.
    IpHeader,
    /// An IPv4 protocol other than IGMP.
    Protocol(u8),
    /// The IGMP checksum does not add up.
    Checksum,
    /// A message type this module does not know (RFC 3376 §4: "silently ignored").
    Type(u8),
    /// A query whose length is neither 8 nor at least 12 (RFC 3376 §7.1: "silently ignored").
    QueryLength(usize),
    /// A group address that is not multicast where one must be (reports, leaves, records, a
    /// group-specific query).
    Group(Ipv4Addr),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Error {}

fn be16(b: &[u8], at: usize) -> Result<u16, Error> {
    match (b.get(at), b.get(at + 1)) {
        (Some(&h), Some(&l)) => Ok(u16::from_be_bytes([h, l])),
        _ => Err(Error::Truncated { offset: at }),
    }
}

fn byte(b: &[u8], at: usize) -> Result<u8, Error> {
    b.get(at).copied().ok_or(Error::Truncated { offset: at })
}

fn addr(b: &[u8], at: usize) -> Result<Ipv4Addr, Error> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(Ipv4Addr::from)
        .ok_or(Error::Truncated { offset: at })
}

/// The Internet checksum (RFC 1071) of `data`: 0 when `data` holds a correct one.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [h, l] = c {
            sum += u32::from(u16::from_be_bytes([*h, *l]));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// RFC 3376 §4.1.1/§4.1.7: a Max Resp Code or QQIC as a value (units of the field: tenths
/// of a second, seconds). Codes below 128 are the value; above, a floating point form.
pub fn decode_code(code: u8) -> u32 {
    if code < 128 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 4) & 0x07);
        let mant = u32::from(code & 0x0f);
        (mant | 0x10) << (exp + 3)
    }
}

/// The code for `value` (the inverse of [`decode_code`], rounded down, at most 31,744).
pub fn encode_code(value: u32) -> u8 {
    if value < 128 {
        return value as u8;
    }
    for exp in 0u8..8 {
        let mant = (value >> (exp + 3)).saturating_sub(0x10);
        if mant < 0x10 {
            return 0x80 | (exp << 4) | mant as u8;
        }
    }
    0xff
}

/// Which IGMP version a query is (RFC 3376 §7.1): by its length and Max Resp Code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// 8 octets, Max Resp Code 0.
    V1,
    /// 8 octets, Max Resp Code non-zero.
    V2,
    /// 12 octets or more.
    V3,
}

/// A Membership Query: general (group 0.0.0.0), group-specific, or (v3) group-and-source-
/// specific.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Which version's format it has.
    pub version: Version,
    /// Max Resp Code as sent (tenths of a second; v3 floating point above 127).
    pub max_resp_code: u8,
    /// The group asked about; unspecified for a general query.
    pub group: Ipv4Addr,
    /// v3: Suppress Router-Side Processing.
    pub suppress: bool,
    /// v3: the querier's robustness variable (0: unknown).
    pub qrv: u8,
    /// v3: Querier's Query Interval Code.
    pub qqic: u8,
    /// v3: the sources asked about.
    pub sources: Vec<Ipv4Addr>,
}

impl Query {
    /// The Max Response Time it gives (v1: 10 s, RFC 2236 §4).
    pub fn max_response(&self) -> Duration {
        match self.version {
            Version::V1 => Duration::from_secs(10),
            Version::V2 => Duration::from_millis(u64::from(self.max_resp_code) * 100),
            Version::V3 => Duration::from_millis(u64::from(decode_code(self.max_resp_code)) * 100),
        }
    }

    /// A general query of `version` (the v3 fields, QRV and QQIC, ignored for v1 and v2).
    pub fn general(version: Version, max_resp_code: u8, qrv: u8, qqic: u8) -> Self {
        let v3 = version == Version::V3;
        Query {
            version,
            max_resp_code,
            group: Ipv4Addr::UNSPECIFIED,
            suppress: false,
            qrv: if v3 { qrv } else { 0 },
            qqic: if v3 { qqic } else { 0 },
            sources: Vec::new(),
        }
    }

    /// Whether it is a general query.
    pub fn is_general(&self) -> bool {
        self.group.is_unspecified()
    }
}

/// IGMPv3 group record types (RFC 3376 §4.2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    /// MODE_IS_INCLUDE: current state, include these sources.
    IsInclude,
    /// MODE_IS_EXCLUDE: current state, all sources but these.
    IsExclude,
    /// CHANGE_TO_INCLUDE_MODE (with no sources: a leave).
    ToInclude,
    /// CHANGE_TO_EXCLUDE_MODE (with no sources: a join of any source).
    ToExclude,
    /// ALLOW_NEW_SOURCES.
    Allow,
    /// BLOCK_OLD_SOURCES.
    Block,
    /// A type RFC 3376 does not define: kept for a byte-exact round trip, ignored by the
    /// proxy (§4.2.12: "MUST be silently ignored").
    Unknown(u8),
}

impl RecordType {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::IsInclude,
            2 => Self::IsExclude,
            3 => Self::ToInclude,
            4 => Self::ToExclude,
            5 => Self::Allow,
            6 => Self::Block,
            x => Self::Unknown(x),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::IsInclude => 1,
            Self::IsExclude => 2,
            Self::ToInclude => 3,
            Self::ToExclude => 4,
            Self::Allow => 5,
            Self::Block => 6,
            Self::Unknown(x) => x,
        }
    }
}

/// One group record of a v3 report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// What it says.
    pub kind: RecordType,
    /// The multicast group.
    pub group: Ipv4Addr,
    /// The sources it names.
    pub sources: Vec<Ipv4Addr>,
    /// Auxiliary data (RFC 3376 defines none; kept, ignored).
    pub aux: Vec<u8>,
}

/// An IGMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A Membership Query of any version.
    Query(Query),
    /// A v1 Membership Report for a group.
    V1Report(Ipv4Addr),
    /// A v2 Membership Report for a group.
    V2Report(Ipv4Addr),
    /// A v2 Leave Group for a group.
    Leave(Ipv4Addr),
    /// A v3 Membership Report.
    V3Report(Vec<GroupRecord>),
}

fn multicast(g: Ipv4Addr) -> Result<Ipv4Addr, Error> {
    if g.is_multicast() { Ok(g) } else { Err(Error::Group(g)) }
}

fn sources(b: &[u8], at: usize, n: usize) -> Result<Vec<Ipv4Addr>, Error> {
    // Checked against the length first, so a lying count allocates nothing.
    if b.len() < at + 4 * n {
        return Err(Error::Truncated { offset: b.len() });
    }
    (0..n).map(|i| addr(b, at + 4 * i)).collect()
}

impl Message {
    /// An IGMP message (the bytes after the IPv4 header), its checksum verified.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let kind = byte(b, 0)?;
        if b.len() < 8 {
            return Err(Error::Truncated { offset: b.len() });
        }
        if checksum(b) != 0 {
            return Err(Error::Checksum);
        }
        let code = byte(b, 1)?;
        let group = addr(b, 4)?;
        match kind {
            TYPE_QUERY => {
                if !group.is_unspecified() {
                    multicast(group)?;
                }
                match b.len() {
                    8 => Ok(Message::Query(Query {
                        version: if code == 0 { Version::V1 } else { Version::V2 },
                        max_resp_code: code,
                        group,
                        suppress: false,
                        qrv: 0,
                        qqic: 0,
                        sources: Vec::new(),
                    })),
                    n if n >= 12 => {
                        let flags = byte(b, 8)?;
                        let n_src = usize::from(be16(b, 10)?);
                        Ok(Message::Query(Query {
                            version: Version::V3,
                            max_resp_code: code,
                            group,
                            suppress: flags & 0x08 != 0,
                            qrv: flags & 0x07,
                            qqic: byte(b, 9)?,
                            sources: sources(b, 12, n_src)?,
                        }))
                    }
                    n => Err(Error::QueryLength(n)),
                }
            }
            TYPE_V1_REPORT => Ok(Message::V1Report(multicast(group)?)),
            TYPE_V2_REPORT => Ok(Message::V2Report(multicast(group)?)),
            TYPE_LEAVE => Ok(Message::Leave(multicast(group)?)),
            TYPE_V3_REPORT => {
                let n = usize::from(be16(b, 6)?);
                let mut at = 8;
                // Each record is at least 8 octets: a count beyond that is a lie.
                let mut records = Vec::with_capacity(n.min(b.len() / 8));
                for _ in 0..n {
                    let kind = RecordType::from_u8(byte(b, at)?);
                    let aux_len = usize::from(byte(b, at + 1)?) * 4;
                    let n_src = usize::from(be16(b, at + 2)?);
                    let group = multicast(addr(b, at + 4)?)?;
                    let srcs = sources(b, at + 8, n_src)?;
                    let aux_at = at + 8 + 4 * n_src;
                    let aux = b
                        .get(aux_at..aux_at + aux_len)
                        .ok_or(Error::Truncated { offset: b.len() })?
                        .to_vec();
                    records.push(GroupRecord { kind, group, sources: srcs, aux });
                    at = aux_at + aux_len;
                }
                Ok(Message::V3Report(records))
            }
            other => Err(Error::Type(other)),
        }
    }

    /// The message's octets, checksum filled in.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        let fixed = |v: &mut Vec<u8>, kind: u8, code: u8, group: Ipv4Addr| {
            v.extend_from_slice(&[kind, code, 0, 0]);
            v.extend_from_slice(&group.octets());
        };
        match self {
            Message::Query(q) => {
                fixed(&mut v, TYPE_QUERY, q.max_resp_code, q.group);
                if q.version == Version::V3 {
                    v.push(if q.suppress { 0x08 } else { 0 } | (q.qrv & 0x07));
                    v.push(q.qqic);
                    v.extend_from_slice(&(q.sources.len().min(0xffff) as u16).to_be_bytes());
                    for s in q.sources.iter().take(0xffff) {
                        v.extend_from_slice(&s.octets());
                    }
                }
            }
            Message::V1Report(g) => fixed(&mut v, TYPE_V1_REPORT, 0, *g),
            Message::V2Report(g) => fixed(&mut v, TYPE_V2_REPORT, 0, *g),
            Message::Leave(g) => fixed(&mut v, TYPE_LEAVE, 0, *g),
            Message::V3Report(records) => {
                v.extend_from_slice(&[TYPE_V3_REPORT, 0, 0, 0, 0, 0]);
                v.extend_from_slice(&(records.len().min(0xffff) as u16).to_be_bytes());
                for r in records.iter().take(0xffff) {
                    let aux_words = (r.aux.len() / 4).min(255);
                    v.push(r.kind.to_u8());
                    v.push(aux_words as u8);
                    v.extend_from_slice(&(r.sources.len().min(0xffff) as u16).to_be_bytes());
                    v.extend_from_slice(&r.group.octets());
                    for s in r.sources.iter().take(0xffff) {
                        v.extend_from_slice(&s.octets());
                    }
                    v.extend(r.aux.iter().take(aux_words * 4));
                }
            }
        }
        let sum = checksum(&v);
        if let Some(c) = v.get_mut(2..4) {
            c.copy_from_slice(&sum.to_be_bytes());
        }
        v
    }
}

/// The parts of an IPv4 header the proxy looks at, and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// The protocol number.
    pub protocol: u8,
    /// Whether a Router Alert option (RFC 2113) is present.
    pub router_alert: bool,
    /// What follows the header, up to the total length.
    pub payload: &'a [u8],
}

impl<'a> Ipv4<'a> {
    /// An IPv4 datagram as a raw socket delivers it (header included). The header checksum
    /// is the kernel's to check (it drops bad ones before any socket sees them).
    pub fn parse(b: &'a [u8]) -> Result<Self, Error> {
        let vihl = byte(b, 0)?;
        let ihl = usize::from(vihl & 0x0f) * 4;
        if vihl >> 4 != 4 || ihl < 20 {
            return Err(Error::IpHeader);
        }
        let total = usize::from(be16(b, 2)?);
        if total < ihl || total > b.len() {
            return Err(Error::IpHeader);
        }
        let options = b.get(20..ihl).ok_or(Error::Truncated { offset: ihl })?;
        let payload = b.get(ihl..total).ok_or(Error::IpHeader)?;
        Ok(Ipv4 {
            src: addr(b, 12)?,
            dst: addr(b, 16)?,
            ttl: byte(b, 8)?,
            protocol: byte(b, 9)?,
            router_alert: has_router_alert(options),
            payload,
        })
    }
}

/// Whether the option list holds a Router Alert (walking it; a malformed list has none).
fn has_router_alert(mut opts: &[u8]) -> bool {
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => return false,
            1 => opts = rest,
            _ => {
                let Some(&len) = rest.first() else { return false };
                if len < 2 {
                    return false;
                }
                if kind == 0x94 && len == 4 {
                    return true;
                }
                match opts.get(usize::from(len)..) {
                    Some(r) => opts = r,
                    None => return false,
                }
            }
        }
    }
    false
}

/// An IPv4 datagram carrying `igmp`, with a Router Alert option and TTL 1 (RFC 2236 §2,
/// RFC 3376 §4): what a test host or ispemu puts on the wire; the driver lets the kernel
/// build the header instead.
pub fn ipv4_datagram(src: Ipv4Addr, dst: Ipv4Addr, igmp: &[u8]) -> Vec<u8> {
    let total = (24 + igmp.len()).min(0xffff) as u16;
    let mut v = vec![0x46, 0xc0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 1, PROTO_IGMP, 0, 0]);
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    v.extend_from_slice(&ROUTER_ALERT);
    let sum = checksum(&v);
    if let Some(c) = v.get_mut(10..12) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    v.extend_from_slice(igmp);
    v
}

/// What the kernel's multicast routing says on the mroute socket (`struct igmpmsg`): it
/// looks like an IPv4 header whose protocol octet is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upcall {
    /// IGMPMSG_NOCACHE (1), IGMPMSG_WRONGVIF (2), IGMPMSG_WHOLEPKT (3), ...
    pub kind: u8,
    /// The virtual interface the packet came in on.
    pub vif: u16,
    /// The packet's source.
    pub source: Ipv4Addr,
    /// The packet's group.
    pub group: Ipv4Addr,
}

/// `IGMPMSG_NOCACHE`: a packet for which no forwarding cache entry exists.
pub const UPCALL_NOCACHE: u8 = 1;
/// `IGMPMSG_WRONGVIF`: a packet that came in on another interface than its entry's.
pub const UPCALL_WRONGVIF: u8 = 2;

impl Upcall {
    /// An upcall, or `None` when `b` is an ordinary IPv4 datagram (protocol not 0).
    pub fn parse(b: &[u8]) -> Result<Option<Self>, Error> {
        if byte(b, 9)? != 0 {
            return Ok(None);
        }
        Ok(Some(Upcall {
            kind: byte(b, 8)?,
            vif: u16::from(byte(b, 10)?) | (u16::from(byte(b, 11)?) << 8),
            source: addr(b, 12)?,
            group: addr(b, 16)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn codes_round_trip_and_match_the_rfc_examples() {
        assert_eq!(decode_code(100), 100);
        assert_eq!(decode_code(0x80), 128);
        assert_eq!(decode_code(0xff), 31_744);
        for v in [0, 1, 100, 127, 128, 200, 1250, 31_744] {
            let c = encode_code(v);
            assert!(decode_code(c) <= v && decode_code(c) * 17 / 16 + 8 >= v, "{v} -> {c}");
        }
        assert_eq!(encode_code(125), 125, "QQIC of the default 125 s query interval");
    }

    #[test]
    fn messages_round_trip() {
        let msgs = [
            Message::Query(Query {
                version: Version::V3,
                max_resp_code: 100,
                group: Ipv4Addr::UNSPECIFIED,
                suppress: false,
                qrv: 2,
                qqic: 125,
                sources: vec![],
            }),
            Message::Query(Query {
                version: Version::V2,
                max_resp_code: 10,
                group: a("239.1.1.1"),
                suppress: false,
                qrv: 0,
                qqic: 0,
                sources: vec![],
            }),
            Message::V2Report(a("239.1.1.1")),
            Message::Leave(a("239.1.1.1")),
            Message::V1Report(a("224.1.2.3")),
            Message::V3Report(vec![
                GroupRecord {
                    kind: RecordType::ToExclude,
                    group: a("239.1.1.1"),
                    sources: vec![],
                    aux: vec![],
                },
                GroupRecord {
                    kind: RecordType::Allow,
                    group: a("232.1.1.1"),
                    sources: vec![a("10.0.0.1"), a("10.0.0.2")],
                    aux: vec![1, 2, 3, 4],
                },
                GroupRecord {
                    kind: RecordType::Unknown(9),
                    group: a("239.9.9.9"),
                    sources: vec![],
                    aux: vec![],
                },
            ]),
        ];
        for m in msgs {
            let b = m.to_vec();
            assert_eq!(checksum(&b), 0);
            assert_eq!(Message::parse(&b), Ok(m.clone()), "{b:02x?}");
        }
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        let good = Message::V2Report(a("239.1.1.1")).to_vec();
        let mut bad = good.clone();
        bad[7] ^= 1;
        assert_eq!(Message::parse(&bad), Err(Error::Checksum));
        assert!(matches!(Message::parse(&good[..7]), Err(Error::Truncated { .. })));
        assert_eq!(
            Message::parse(&Message::V2Report(a("10.1.1.1")).to_vec()),
            Err(Error::Group(a("10.1.1.1")))
        );
        // A v3 report that claims 65,535 records in 8 octets, and one record claiming 65,535
        // sources.
        let mut lie = vec![0x22, 0, 0, 0, 0, 0, 0xff, 0xff];
        let s = checksum(&lie);
        lie[2..4].copy_from_slice(&s.to_be_bytes());
        assert!(matches!(Message::parse(&lie), Err(Error::Truncated { .. })));
        let mut lie = vec![0x22, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0xff, 0xff, 239, 1, 1, 1];
        let s = checksum(&lie);
        lie[2..4].copy_from_slice(&s.to_be_bytes());
        assert!(matches!(Message::parse(&lie), Err(Error::Truncated { .. })));
        // A 10-octet query: neither v2 nor v3.
        let mut q = vec![0x11, 100, 0, 0, 0, 0, 0, 0, 0, 0];
        let s = checksum(&q);
        q[2..4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(Message::parse(&q), Err(Error::QueryLength(10)));
    }

    #[test]
    fn ipv4_datagrams_parse_with_their_router_alert() {
        let igmp = Message::V2Report(a("239.1.1.1")).to_vec();
        let d = ipv4_datagram(a("192.168.1.10"), a("239.1.1.1"), &igmp);
        assert_eq!(checksum(&d[..24]), 0);
        let ip = Ipv4::parse(&d).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.ttl, ip.protocol),
            (a("192.168.1.10"), a("239.1.1.1"), 1, 2)
        );
        assert!(ip.router_alert);
        assert_eq!(ip.payload, &igmp[..]);
        assert_eq!(Upcall::parse(&d), Ok(None));
        assert_eq!(Ipv4::parse(&d[..20]), Err(Error::IpHeader), "total length past the end");
        let mut v6 = d.clone();
        v6[0] = 0x60;
        assert_eq!(Ipv4::parse(&v6), Err(Error::IpHeader));
    }

    #[test]
    fn upcalls_are_told_from_datagrams() {
        let mut u = [0u8; 20];
        u[8] = UPCALL_NOCACHE;
        u[10] = 0;
        u[12..16].copy_from_slice(&[10, 0, 0, 1]);
        u[16..20].copy_from_slice(&[239, 1, 1, 1]);
        assert_eq!(
            Upcall::parse(&u),
            Ok(Some(Upcall { kind: 1, vif: 0, source: a("10.0.0.1"), group: a("239.1.1.1") }))
        );
    }
}
