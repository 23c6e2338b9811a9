//! The query fast path's view of DNS messages (RFC 1035 §4.1), without allocation.
//!
//! Hickory's `Message` decodes everything into owned records; the hot path needs only the
//! header, the question, and where the EDNS OPT record and the TTLs sit. [`QueryView::parse`]
//! and [`Layout::parse`] read exactly that, checking every length against the buffer once, at
//! the edge: no function here panics on any input (the `dns_query` fuzz target holds it to
//! that), and none allocates.

/// Offset of the first byte after the 12-byte header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// RR type OPT (RFC 6891 §6.1.1).
pub const TYPE_OPT: u16 = 0x0029;
/// Longest name on the wire (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// The UDP payload size we advertise and accept from upstreams (the DNS flag day 2020 value).
pub const EDNS_UDP_SIZE: u16 = 1232;

/// Header flag QR (response).
pub const FLAG_QR: u16 = 0x8000;
/// Header flag AA (authoritative answer).
pub const FLAG_AA: u16 = 0x0400;
/// Header flag TC (truncated).
pub const FLAG_TC: u16 = 0x0200;
/// Header flag RD (recursion desired).
pub const FLAG_RD: u16 = 0x0100;
/// Header flag RA (recursion available).
pub const FLAG_RA: u16 = 0x0080;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The message ends inside a field that starts at this offset.
    #[error("message truncated at offset {0}")]
    Truncated(usize),
    /// A name at this offset is longer than 255 bytes, has a reserved label type, or loops.
    #[error("bad name at offset {0}")]
    BadName(usize),
    /// The question count is not one (RFC 9619: a query has exactly one question).
    #[error("question count {0} is not 1")]
    QuestionCount(u16),
    /// The question's name is compressed (legal in theory, sent by nobody: FORMERR).
    #[error("compressed name in the question")]
    CompressedQuestion,
    /// A message taken as an upstream's answer is not a response (QR clear).
    #[error("not a response")]
    NotAResponse,
    /// A second OPT record, or one whose owner is not the root (RFC 6891 §6.1.1: "If a query
    /// message with more than one OPT RR is received, a FORMERR MUST be returned"; the owner
    /// "MUST be 0 (root domain)").
    #[error("bad OPT record at offset {0}")]
    BadOpt(usize),
}

/// Response codes the fast path writes (RFC 1035 §4.1.1, RFC 6895).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Rcode {
    /// No error.
    NoError = 0,
    /// The query could not be read.
    FormErr = 1,
    /// Server failure (also: an upstream answer we refuse to believe).
    ServFail = 2,
    /// The name does not exist.
    NxDomain = 3,
    /// Opcode not implemented.
    NotImp = 4,
    /// Refused by policy.
    Refused = 5,
    /// Not authoritative for the zone (RFC 2136 §2.2).
    NotAuth = 9,
}

/// The EDNS OPT record of a query (RFC 6891 §6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size.
    pub udp_size: u16,
    /// The EDNS version.
    pub version: u8,
    /// The DO bit (RFC 3225).
    pub dnssec_ok: bool,
}

/// A standard query as the fast path sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryView<'a> {
    /// Message ID.
    pub id: u16,
    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, rcode).
    pub flags: u16,
    /// The question's name on the wire (uncompressed, original case).
    pub qname: &'a [u8],
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// The question section as received (the name, type and class).
    pub question: &'a [u8],
    /// The OPT record of the additional section, if any.
    pub edns: Option<Edns>,
}

impl<'a> QueryView<'a> {
    /// Reads the header, the single question and the OPT record of `msg`.
    pub fn parse(msg: &'a [u8]) -> Result<Self, Error> {
        let id = be16(msg, 0)?;
        let flags = be16(msg, 2)?;
        let qdcount = be16(msg, 4)?;
        if qdcount != 1 {
            return Err(Error::QuestionCount(qdcount));
        }
        let (an, ns, ar) = (be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?);
        let name_end = skip_name(msg, HEADER_LEN)?;
        let qname = msg.get(HEADER_LEN..name_end).ok_or(Error::Truncated(HEADER_LEN))?;
        if qname.last() != Some(&0) {
            return Err(Error::CompressedQuestion);
        }
        let (qtype, qclass) = (be16(msg, name_end)?, be16(msg, name_end + 2)?);
        let question = msg.get(HEADER_LEN..name_end + 4).ok_or(Error::Truncated(name_end))?;
        let mut pos = name_end + 4;
        let mut edns = None;
        for i in 0..(u32::from(an) + u32::from(ns) + u32::from(ar)) {
            let rr = Rr::parse(msg, pos)?;
            if rr.rtype == TYPE_OPT && i >= u32::from(an) + u32::from(ns) {
                if edns.is_some() || msg.get(rr.start) != Some(&0) {
                    return Err(Error::BadOpt(rr.start));
                }
                let [_, version, flags_hi, _] = rr.ttl.to_be_bytes();
                edns = Some(Edns { udp_size: rr.class, version, dnssec_ok: flags_hi & 0x80 != 0 });
            }
            pos = rr.end;
        }
        Ok(QueryView { id, flags, qname, qtype, qclass, question, edns })
    }

    /// The opcode (RFC 1035 §4.1.1: 0 QUERY, RFC 2136: 5 UPDATE).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    /// Whether the message is a response (QR set).
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    /// The largest UDP response this requestor takes (RFC 6891 §6.2.5, RFC 1035 §4.2.1).
    pub fn udp_limit(&self) -> usize {
        self.edns.map_or(512, |e| usize::from(e.udp_size.max(512)))
    }

    /// Writes the qname in lower case into `buf` and returns that prefix: the lookup key.
    pub fn lower_qname<'b>(&self, buf: &'b mut [u8; MAX_NAME]) -> &'b [u8] {
        let n = self.qname.len().min(MAX_NAME);
        for (d, s) in buf.iter_mut().zip(self.qname) {
            *d = s.to_ascii_lowercase();
        }
        buf.get(..n).unwrap_or_default()
    }
}

/// One resource record's fixed fields and where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rr {
    /// Offset of the TTL field.
    pub ttl_at: usize,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (the UDP size, for OPT).
    pub class: u16,
    /// TTL (extended rcode and flags, for OPT).
    pub ttl: u32,
    /// Offset just past the RDATA.
    pub end: usize,
    /// Offset of the start of the record (its owner name).
    pub start: usize,
}

impl Rr {
    /// Reads the record that starts at `pos`.
    pub fn parse(msg: &[u8], pos: usize) -> Result<Rr, Error> {
        let at = skip_name(msg, pos)?;
        let rtype = be16(msg, at)?;
        let class = be16(msg, at + 2)?;
        let ttl = u32::from(be16(msg, at + 4)?) << 16 | u32::from(be16(msg, at + 6)?);
        let rdlen = usize::from(be16(msg, at + 8)?);
        let end = at + 10 + rdlen;
        if end > msg.len() {
            return Err(Error::Truncated(at + 10));
        }
        Ok(Rr { ttl_at: at + 4, rtype, class, ttl, end, start: pos })
    }
}

/// Where the records of a response sit: what a cache patches when it serves a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Offsets of the TTL fields of all records but OPT.
    pub ttls: Vec<usize>,
    /// The smallest of those TTLs (`u32::MAX` when there are none).
    pub min_ttl: u32,
    /// The byte range of the OPT record, if any.
    pub opt: Option<(usize, usize)>,
    /// Offset just past the question.
    pub question_end: usize,
}

impl Layout {
    /// Walks a whole response (one question).
    pub fn parse(msg: &[u8]) -> Result<Layout, Error> {
        let q = QueryView::parse(msg)?;
        let counts = [be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?];
        let question_end = HEADER_LEN + q.question.len();
        let mut out = Layout { min_ttl: u32::MAX, question_end, ..Layout::default() };
        let mut pos = question_end;
        for _ in 0..counts.iter().map(|&c| u32::from(c)).sum::<u32>() {
            let rr = Rr::parse(msg, pos)?;
            if rr.rtype == TYPE_OPT {
                out.opt = Some((rr.start, rr.end));
            } else {
                out.ttls.push(rr.ttl_at);
                out.min_ttl = out.min_ttl.min(rr.ttl);
            }
            pos = rr.end;
        }
        Ok(out)
    }
}

/// Reads a big-endian u16 at `at`.
pub fn be16(msg: &[u8], at: usize) -> Result<u16, Error> {
    match msg.get(at..at + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(Error::Truncated(at)),
    }
}

/// Writes a big-endian u16 at `at`, if it fits.
pub fn put16(msg: &mut [u8], at: usize, v: u16) {
    if let Some(d) = msg.get_mut(at..at + 2) {
        d.copy_from_slice(&v.to_be_bytes());
    }
}

/// Returns the offset just past the name at `pos` (labels, then a zero or a pointer).
pub fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, Error> {
    let start = pos;
    loop {
        let len = *msg.get(pos).ok_or(Error::Truncated(pos))?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                pos += 1 + usize::from(len);
                if pos - start >= MAX_NAME {
                    return Err(Error::BadName(start));
                }
            }
            0xc0 if pos + 2 <= msg.len() => return Ok(pos + 2),
            0xc0 => return Err(Error::Truncated(pos)),
            _ => return Err(Error::BadName(pos)),
        }
    }
}

/// Writes a header for a response to `q` into `out` (which it clears).
pub fn start_response(out: &mut Vec<u8>, q: &QueryView<'_>, flags: u16, rcode: Rcode) {
    out.clear();
    let opcode_rd = q.flags & (0x7800 | FLAG_RD);
    let word = FLAG_QR | opcode_rd | flags | rcode as u16;
    out.extend_from_slice(&q.id.to_be_bytes());
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(q.question);
}

/// Sets the answer, authority and additional counts of a response being built.
pub fn set_counts(out: &mut [u8], an: u16, ns: u16, ar: u16) {
    put16(out, 6, an);
    put16(out, 8, ns);
    put16(out, 10, ar);
}

/// Appends our OPT record (RFC 6891 §6.1.2: version 0, no options).
pub fn push_opt(out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_UDP_SIZE.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
}

/// A whole error response to `q`: header, question, and OPT when the query had one.
pub fn error_response(q: &QueryView<'_>, rcode: Rcode, ra: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + 11);
    start_response(&mut out, q, if ra { FLAG_RA } else { 0 }, rcode);
    if q.edns.is_some() {
        push_opt(&mut out);
        set_counts(&mut out, 0, 0, 1);
    }
    out
}

/// FORMERR for a message whose header could be read but nothing else (RFC 1035 §4.1.1).
/// Nothing for less than a whole header: such junk gets no answer (unbound is silent too),
/// since answering a spoofed source is a reflection.
pub fn formerr_header(msg: &[u8]) -> Option<Vec<u8>> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    let id = be16(msg, 0).ok()?;
    let flags = be16(msg, 2).ok()?;
    if flags & FLAG_QR != 0 {
        return None; // never answer a response: that is how reflection loops start
    }
    let word = FLAG_QR | (flags & 0x7800) | Rcode::FormErr as u16;
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

/// Encodes a dotted name (`"a.home.arpa"`, trailing dot optional) in lower-case wire form.
pub fn encode_name(name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        let len = u8::try_from(label.len()).ok().filter(|&l| l <= 63)?;
        out.push(len);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    (out.len() <= MAX_NAME).then_some(out)
}

/// Whether wire name `name` equals `zone` or lies below it (both lower case, uncompressed).
pub fn is_subdomain(name: &[u8], zone: &[u8]) -> bool {
    let Some(cut) = name.len().checked_sub(zone.len()) else {
        return false;
    };
    if name.get(cut..) != Some(zone) {
        return false;
    }
    // `cut` must fall on a label boundary: walk the labels from the start.
    let mut pos = 0;
    while pos < cut {
        pos += 1 + usize::from(name.get(pos).copied().unwrap_or(0));
    }
    pos == cut
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Assembled by hand in the shape `dig www.Example.com A` (BIND 9.18) sends: RD+AD,
    /// one question, an OPT record of 1232 bytes carrying an 8-byte client cookie.
    const DIG_QUERY: &str = "3b2f0120000100000000000103777777074578616d706c6503636f6d00000100\
                             0100002904d000000000000c000a000812f3e7a2d81b1b4e";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_a_dig_query() {
        let msg = hex(DIG_QUERY);
        let q = QueryView::parse(&msg).unwrap();
        assert_eq!(q.id, 0x3b2f);
        assert_eq!(q.opcode(), 0);
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(q.edns, Some(Edns { udp_size: 1232, version: 0, dnssec_ok: false }));
        let mut buf = [0; MAX_NAME];
        assert_eq!(q.lower_qname(&mut buf), encode_name("www.example.com").unwrap());
        assert_eq!(q.udp_limit(), 1232);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let msg = hex(DIG_QUERY);
        for n in 0..msg.len() {
            assert!(QueryView::parse(&msg[..n]).is_err(), "{n}");
            let _ = Layout::parse(&msg[..n]);
            let _ = formerr_header(&msg[..n]);
        }
    }

    #[test]
    fn pointer_loops_and_long_names_are_refused() {
        let mut msg = hex("000100000001000000000000");
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(QueryView::parse(&msg), Err(Error::CompressedQuestion));
        let mut long = hex("000100000001000000000000");
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(QueryView::parse(&long), Err(Error::BadName(12)));
        let mut two = hex("000100000002000000000000");
        two.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(QueryView::parse(&two), Err(Error::QuestionCount(2)));
    }

    #[test]
    fn subdomains_on_label_boundaries_only() {
        let zone = encode_name("home.arpa").unwrap();
        assert!(is_subdomain(&encode_name("a.home.arpa.").unwrap(), &zone));
        assert!(is_subdomain(&zone, &zone));
        assert!(!is_subdomain(&encode_name("xhome.arpa").unwrap(), &zone));
        assert!(!is_subdomain(&encode_name("arpa").unwrap(), &zone));
        assert_eq!(encode_name("."), Some(vec![0]));
        assert_eq!(encode_name(&"a".repeat(64)), None);
    }

    #[test]
    fn error_responses_echo_id_question_and_edns() {
        let msg = hex(DIG_QUERY);
        let q = QueryView::parse(&msg).unwrap();
        let r = error_response(&q, Rcode::Refused, false);
        let back = QueryView::parse(&r).unwrap();
        assert_eq!(back.id, q.id);
        assert!(back.is_response());
        assert_eq!(back.flags & 0x000f, 5);
        assert_eq!(back.flags & FLAG_RD, FLAG_RD);
        assert_eq!(back.edns.map(|e| e.udp_size), Some(EDNS_UDP_SIZE));
        let l = Layout::parse(&r).unwrap();
        assert!(l.ttls.is_empty() && l.opt.is_some());
        assert_eq!(formerr_header(&r), None, "responses are never answered");
    }
}
