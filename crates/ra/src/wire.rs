//! Router Solicitation and Router Advertisement ICMPv6 messages (RFC 4861 §4.1, §4.2) and
//! their options (RFC 4861 §4.6, RFC 8106 §5): parse/emit pairs.
//!
//! The bytes are the whole ICMPv6 message, from the Type octet on. The checksum is emitted as
//! zero and not checked on parse: on a raw ICMPv6 socket the kernel computes it on send and
//! verifies it on receive (RFC 3542 §3.1).
//!
//! No panics: every read goes through `get`/`split_at_checked`, every length is checked once
//! (the fixed header, then each option's length against what is left, then the option's own
//! layout). Unknown options are kept byte-exactly as [`NdOption::Unknown`].

use std::net::Ipv6Addr;

/// ICMPv6 type of a Router Solicitation.
pub const TYPE_ROUTER_SOLICITATION: u8 = 0x85;
/// ICMPv6 type of a Router Advertisement.
pub const TYPE_ROUTER_ADVERTISEMENT: u8 = 0x86;

/// Option type: Source Link-Layer Address (RFC 4861 §4.6.1).
pub const OPT_SOURCE_LLADDR: u8 = 0x01;
/// Option type: Prefix Information (RFC 4861 §4.6.2).
pub const OPT_PREFIX_INFORMATION: u8 = 0x03;
/// Option type: MTU (RFC 4861 §4.6.4).
pub const OPT_MTU: u8 = 0x05;
/// Option type: Recursive DNS Server (RFC 8106 §5.1).
pub const OPT_RDNSS: u8 = 0x19;
/// Option type: DNS Search List (RFC 8106 §5.2).
pub const OPT_DNSSL: u8 = 0x1f;

/// RA flag: Managed address configuration (RFC 4861 §4.2).
pub const FLAG_MANAGED: u8 = 0x80;
/// RA flag: Other configuration (RFC 4861 §4.2).
pub const FLAG_OTHER: u8 = 0x40;
/// Prefix Information flag: on-link (L).
pub const PREFIX_FLAG_ON_LINK: u8 = 0x80;
/// Prefix Information flag: autonomous address-configuration (A).
pub const PREFIX_FLAG_AUTONOMOUS: u8 = 0x40;

/// A malformed message. Offsets count from the ICMPv6 Type octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The message ends before its fixed part (or an option's fixed part) does.
    Truncated {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// Not the ICMPv6 type that was asked for.
    Type(u8),
    /// ICMP Code is not 0 (RFC 4861 §6.1.1, §6.1.2).
    Code(u8),
    /// An option length of 0 or past the end of the message (RFC 4861 §4.6: "Nodes MUST
    /// silently discard an ND packet that contains an option with length zero").
    OptionLength {
        /// Where the option starts.
        offset: usize,
    },
    /// An option whose length does not fit its layout (Prefix Information not 4, MTU not 1,
    /// RDNSS even or below 3, DNSSL below 2).
    OptionLayout {
        /// The option type.
        code: u8,
        /// Its length field.
        len: u8,
    },
    /// A Prefix Information prefix length above 128.
    PrefixLength(u8),
    /// A DNSSL name that is not uncompressed labels (RFC 8106 §5.2), or a label that is not
    /// printable ASCII without dots.
    DomainName {
        /// Where the bad label starts.
        offset: usize,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Error {}

/// The Prefix Information option (RFC 4861 §4.6.2). Reserved fields are sent as zero and
/// ignored on receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixInformation {
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// L and A flags ([`PREFIX_FLAG_ON_LINK`], [`PREFIX_FLAG_AUTONOMOUS`]) and the rest.
    pub flags: u8,
    /// Valid lifetime in seconds; `u32::MAX` is infinity.
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds; `u32::MAX` is infinity.
    pub preferred_lifetime: u32,
    /// The prefix (bits past `prefix_len` are sent as they are).
    pub prefix: Ipv6Addr,
}

/// One Neighbor Discovery option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdOption {
    /// Source Link-Layer Address (1): the link-layer address, padding included.
    SourceLinkLayerAddress(Vec<u8>),
    /// Prefix Information (3).
    PrefixInformation(PrefixInformation),
    /// MTU (5).
    Mtu(u32),
    /// Recursive DNS Server (25, RFC 8106 §5.1).
    Rdnss {
        /// Lifetime in seconds; `u32::MAX` is infinity, 0 withdraws.
        lifetime: u32,
        /// One or more servers.
        servers: Vec<Ipv6Addr>,
    },
    /// DNS Search List (31, RFC 8106 §5.2).
    Dnssl {
        /// Lifetime in seconds; `u32::MAX` is infinity, 0 withdraws.
        lifetime: u32,
        /// Domain names, dotted, without the trailing dot (`lan.example`).
        domains: Vec<String>,
    },
    /// Any other option, kept byte-exactly.
    Unknown {
        /// The option type.
        code: u8,
        /// Everything after the type and length octets.
        data: Vec<u8>,
    },
}

/// A Router Solicitation (RFC 4861 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterSolicitation {
    /// Its options.
    pub options: Vec<NdOption>,
}

/// A Router Advertisement (RFC 4861 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterAdvertisement {
    /// Cur Hop Limit; 0 is unspecified.
    pub cur_hop_limit: u8,
    /// M and O ([`FLAG_MANAGED`], [`FLAG_OTHER`]) and the rest of the flags octet.
    pub flags: u8,
    /// Router Lifetime in seconds; 0 is "not a default router".
    pub router_lifetime: u16,
    /// Reachable Time in milliseconds; 0 is unspecified.
    pub reachable_time: u32,
    /// Retrans Timer in milliseconds; 0 is unspecified.
    pub retrans_timer: u32,
    /// Its options.
    pub options: Vec<NdOption>,
}

/// Named field offsets (smoltcp style), relative to the start of what each module names.
mod field {
    /// The ICMPv6 header (RFC 4443 §2.1): type, code, checksum.
    pub mod icmp {
        /// Type and code.
        pub const TYPE: usize = 0;
        /// Where the message body starts.
        pub const BODY: usize = 4;
    }
    /// A Router Solicitation's body (RFC 4861 §4.1): reserved, then options.
    pub mod rs {
        /// Length of the fixed part.
        pub const FIXED: usize = 4;
    }
    /// A Router Advertisement's body (RFC 4861 §4.2).
    pub mod ra {
        /// Cur Hop Limit, flags (M, O), Router Lifetime.
        pub const HOP_FLAGS_LIFETIME: usize = 0;
        /// Reachable Time.
        pub const REACHABLE_TIME: usize = 4;
        /// Retrans Timer.
        pub const RETRANS_TIMER: usize = 8;
        /// Length of the fixed part (options follow).
        pub const FIXED: usize = 12;
    }
    /// An option's data after its type and length octets (RFC 4861 §4.6).
    pub mod opt {
        /// Type, Length: the option header.
        pub const HEADER: usize = 2;
        /// Prefix Information: Prefix Length, flags (L, A).
        pub const PIO_LEN_FLAGS: usize = 0;
        /// Prefix Information: Valid Lifetime.
        pub const PIO_VALID: usize = 2;
        /// Prefix Information: Preferred Lifetime.
        pub const PIO_PREFERRED: usize = 6;
        /// Prefix Information: the prefix (after 4 reserved octets).
        pub const PIO_PREFIX: usize = 14;
        /// MTU (after 2 reserved octets); RDNSS/DNSSL Lifetime (RFC 8106 §5.1, §5.2).
        pub const LIFETIME_OR_MTU: usize = 2;
        /// RDNSS addresses / DNSSL names.
        pub const LIST: usize = 6;
    }
}

fn read<const N: usize>(b: &[u8], offset: usize) -> Result<[u8; N], Error> {
    b.get(offset..offset + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Error::Truncated { offset })
}

fn be32(b: &[u8], offset: usize) -> Result<u32, Error> {
    read::<4>(b, offset).map(u32::from_be_bytes)
}

fn addr(b: &[u8], offset: usize) -> Result<Ipv6Addr, Error> {
    read::<16>(b, offset).map(Ipv6Addr::from)
}

/// Checks the ICMPv6 type and code and returns the bytes after the 4-octet ICMPv6 header.
fn header(bytes: &[u8], ty: u8, fixed: usize) -> Result<&[u8], Error> {
    let [t, code, _, _] = read::<4>(bytes, field::icmp::TYPE)?;
    if t != ty {
        return Err(Error::Type(t));
    }
    if code != 0 {
        return Err(Error::Code(code));
    }
    if bytes.len() < field::icmp::BODY + fixed {
        return Err(Error::Truncated { offset: bytes.len() });
    }
    Ok(bytes.get(field::icmp::BODY..).unwrap_or_default())
}

impl RouterSolicitation {
    /// Parses a Router Solicitation.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let body = header(bytes, TYPE_ROUTER_SOLICITATION, field::rs::FIXED)?;
        let options = body.get(field::rs::FIXED..).unwrap_or_default();
        Ok(Self { options: parse_options(options, field::icmp::BODY + field::rs::FIXED)? })
    }

    /// The emitted length.
    pub fn buffer_len(&self) -> usize {
        8 + self.options.iter().map(NdOption::buffer_len).sum::<usize>()
    }

    /// Emits the message (checksum zero, for the kernel to fill).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        out.extend_from_slice(&[TYPE_ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
        self.options.iter().for_each(|o| o.emit(&mut out));
        out
    }
}

impl RouterAdvertisement {
    /// Parses a Router Advertisement.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        use field::ra::{FIXED, HOP_FLAGS_LIFETIME, REACHABLE_TIME, RETRANS_TIMER};
        let body = header(bytes, TYPE_ROUTER_ADVERTISEMENT, FIXED)?;
        let [cur_hop_limit, flags, l0, l1] = read::<4>(body, HOP_FLAGS_LIFETIME)?;
        Ok(Self {
            cur_hop_limit,
            flags,
            router_lifetime: u16::from_be_bytes([l0, l1]),
            reachable_time: be32(body, REACHABLE_TIME)?,
            retrans_timer: be32(body, RETRANS_TIMER)?,
            options: parse_options(
                body.get(FIXED..).unwrap_or_default(),
                field::icmp::BODY + FIXED,
            )?,
        })
    }

    /// The emitted length.
    pub fn buffer_len(&self) -> usize {
        16 + self.options.iter().map(NdOption::buffer_len).sum::<usize>()
    }

    /// Emits the message (checksum zero, for the kernel to fill).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        out.extend_from_slice(&[TYPE_ROUTER_ADVERTISEMENT, 0, 0, 0, self.cur_hop_limit]);
        out.push(self.flags);
        out.extend_from_slice(&self.router_lifetime.to_be_bytes());
        out.extend_from_slice(&self.reachable_time.to_be_bytes());
        out.extend_from_slice(&self.retrans_timer.to_be_bytes());
        self.options.iter().for_each(|o| o.emit(&mut out));
        out
    }
}

/// Parses the options area; `base` is its offset in the message, for error offsets.
fn parse_options(mut rest: &[u8], base: usize) -> Result<Vec<NdOption>, Error> {
    let mut options = Vec::new();
    let mut offset = base;
    while !rest.is_empty() {
        let [code, len] = read::<2>(rest, 0)?;
        let total = usize::from(len) * 8;
        if len == 0 {
            return Err(Error::OptionLength { offset });
        }
        let (opt, tail) = rest.split_at_checked(total).ok_or(Error::OptionLength { offset })?;
        let data = opt.get(field::opt::HEADER..).unwrap_or_default();
        options.push(NdOption::parse(code, len, data, offset + field::opt::HEADER)?);
        rest = tail;
        offset += total;
    }
    Ok(options)
}

impl NdOption {
    /// Parses one option from its type, its length field and the bytes after them.
    fn parse(code: u8, len: u8, d: &[u8], offset: usize) -> Result<Self, Error> {
        use field::opt::{
            LIFETIME_OR_MTU, LIST, PIO_LEN_FLAGS, PIO_PREFERRED, PIO_PREFIX, PIO_VALID,
        };
        let layout = Error::OptionLayout { code, len };
        Ok(match code {
            OPT_SOURCE_LLADDR => NdOption::SourceLinkLayerAddress(d.to_vec()),
            OPT_PREFIX_INFORMATION => {
                if len != 4 {
                    return Err(layout);
                }
                let [prefix_len, flags] = read::<2>(d, PIO_LEN_FLAGS)?;
                if prefix_len > 128 {
                    return Err(Error::PrefixLength(prefix_len));
                }
                NdOption::PrefixInformation(PrefixInformation {
                    prefix_len,
                    flags,
                    valid_lifetime: be32(d, PIO_VALID)?,
                    preferred_lifetime: be32(d, PIO_PREFERRED)?,
                    prefix: addr(d, PIO_PREFIX)?,
                })
            }
            OPT_MTU if len == 1 => NdOption::Mtu(be32(d, LIFETIME_OR_MTU)?),
            OPT_RDNSS if len >= 3 && len % 2 == 1 => NdOption::Rdnss {
                lifetime: be32(d, LIFETIME_OR_MTU)?,
                servers: d.get(LIST..).unwrap_or_default().chunks_exact(16).map(to_addr).collect(),
            },
            OPT_DNSSL if len >= 2 => {
                let domains = parse_names(d.get(LIST..).unwrap_or_default(), offset + LIST)?;
                // RFC 8106 §5.2: one or more names (without one, the option could not be
                // emitted again: it would be shorter than its minimum length).
                if domains.is_empty() {
                    return Err(Error::DomainName { offset: offset + LIST });
                }
                NdOption::Dnssl { lifetime: be32(d, LIFETIME_OR_MTU)?, domains }
            }
            OPT_MTU | OPT_RDNSS | OPT_DNSSL => return Err(layout),
            _ => NdOption::Unknown { code, data: d.to_vec() },
        })
    }

    /// The emitted length, padding included.
    pub fn buffer_len(&self) -> usize {
        let raw = match self {
            NdOption::SourceLinkLayerAddress(a) => 2 + a.len(),
            NdOption::PrefixInformation(_) => 32,
            NdOption::Mtu(_) => 8,
            NdOption::Rdnss { servers, .. } => 8 + 16 * servers.len(),
            NdOption::Dnssl { domains, .. } => {
                8 + domains.iter().map(|d| name_len(d)).sum::<usize>()
            }
            NdOption::Unknown { data, .. } => 2 + data.len(),
        };
        raw.div_ceil(8).max(1) * 8
    }

    /// Appends the option, zero-padded to its length. An option longer than 2040 octets
    /// (which no caller builds) is cut to that length rather than written wrong.
    fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let len = self.buffer_len().min(255 * 8);
        let (code, len_field) = (self.code(), (len / 8) as u8);
        out.extend_from_slice(&[code, len_field]);
        match self {
            NdOption::SourceLinkLayerAddress(a) => out.extend_from_slice(a),
            NdOption::PrefixInformation(p) => {
                out.extend_from_slice(&[p.prefix_len, p.flags]);
                out.extend_from_slice(&p.valid_lifetime.to_be_bytes());
                out.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&p.prefix.octets());
            }
            NdOption::Mtu(mtu) => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&mtu.to_be_bytes());
            }
            NdOption::Rdnss { lifetime, servers } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&lifetime.to_be_bytes());
                servers.iter().for_each(|s| out.extend_from_slice(&s.octets()));
            }
            NdOption::Dnssl { lifetime, domains } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&lifetime.to_be_bytes());
                domains.iter().for_each(|d| emit_name(d, out));
            }
            NdOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
        out.resize(start + len, 0);
    }

    /// The option type.
    pub fn code(&self) -> u8 {
        match self {
            NdOption::SourceLinkLayerAddress(_) => OPT_SOURCE_LLADDR,
            NdOption::PrefixInformation(_) => OPT_PREFIX_INFORMATION,
            NdOption::Mtu(_) => OPT_MTU,
            NdOption::Rdnss { .. } => OPT_RDNSS,
            NdOption::Dnssl { .. } => OPT_DNSSL,
            NdOption::Unknown { code, .. } => *code,
        }
    }
}

fn to_addr(c: &[u8]) -> Ipv6Addr {
    <[u8; 16]>::try_from(c).map(Ipv6Addr::from).unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// Wire length of a dotted name as uncompressed labels with the root label.
fn name_len(name: &str) -> usize {
    name.split('.').filter(|l| !l.is_empty()).map(|l| 1 + l.len().min(63)).sum::<usize>() + 1
}

fn emit_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = label.as_bytes().get(..63).unwrap_or(label.as_bytes());
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// Parses the DNSSL names area: names of uncompressed labels, then zero padding
/// (RFC 8106 §5.2: "the unused fields ... MUST be padded with zero").
fn parse_names(mut d: &[u8], mut offset: usize) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut labels: Vec<&str> = Vec::new();
    while let Some((&n, rest)) = d.split_first() {
        let n = usize::from(n);
        if n == 0 {
            if labels.is_empty() {
                // Padding: everything left must be zero too.
                return match rest.iter().all(|b| *b == 0) {
                    true => Ok(names),
                    false => Err(Error::DomainName { offset }),
                };
            }
            names.push(labels.join("."));
            labels.clear();
        } else {
            let label = rest.get(..n).filter(|_| n <= 63).ok_or(Error::DomainName { offset })?;
            if !label.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
                return Err(Error::DomainName { offset });
            }
            labels.push(std::str::from_utf8(label).map_err(|_| Error::DomainName { offset })?);
        }
        let used = 1 + if n == 0 { 0 } else { n };
        d = d.get(used..).unwrap_or_default();
        offset += used;
    }
    // A name must end with the root label inside the option.
    match labels.is_empty() {
        true => Ok(names),
        false => Err(Error::DomainName { offset }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // Built by hand from RFC 4861 §4.2 / §4.6 and RFC 8106 §5 layouts (what radvd 2.19 sends
    // for prefix 2001:db8:1::/64, MTU 1500, RDNSS 2001:db8:1::53, DNSSL lan.example).
    const RA: &str = "8600000040c00708 0000000000000000
                      010102005e000101
                      0304408000007080 0000384000000000 20010db800010000 0000000000000000
                      05010000000005dc
                      1903000000000258 20010db800010000 0000000000000053
                      1f03000000000258 036c616e07657861 6d706c6500000000";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn ra() -> RouterAdvertisement {
        RouterAdvertisement {
            cur_hop_limit: 64,
            flags: FLAG_MANAGED | FLAG_OTHER,
            router_lifetime: 1800,
            reachable_time: 0,
            retrans_timer: 0,
            options: vec![
                NdOption::SourceLinkLayerAddress(vec![0x02, 0, 0x5e, 0, 0x01, 0x01]),
                NdOption::PrefixInformation(PrefixInformation {
                    prefix_len: 64,
                    flags: PREFIX_FLAG_ON_LINK,
                    valid_lifetime: 28_800,
                    preferred_lifetime: 14_400,
                    prefix: "2001:db8:1::".parse().unwrap(),
                }),
                NdOption::Mtu(1500),
                NdOption::Rdnss { lifetime: 600, servers: vec!["2001:db8:1::53".parse().unwrap()] },
                NdOption::Dnssl { lifetime: 600, domains: vec!["lan.example".into()] },
            ],
        }
    }

    #[test]
    fn ra_parse_emit_vector() {
        let v = hex(RA);
        let parsed = RouterAdvertisement::parse(&v).unwrap();
        assert_eq!(parsed, ra());
        assert_eq!(parsed.to_vec(), v);
        assert_eq!(ra().buffer_len(), v.len());
    }

    #[test]
    fn ra_round_trip_with_unknown_option() {
        let mut m = ra();
        m.options.push(NdOption::Unknown { code: 0x18, data: vec![0x30, 0, 0, 0, 0, 1] });
        m.options.push(NdOption::Dnssl {
            lifetime: u32::MAX,
            domains: vec!["a.example".into(), "b.example.org".into()],
        });
        let bytes = m.to_vec();
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(RouterAdvertisement::parse(&bytes).unwrap(), m);
    }

    #[test]
    fn rs_round_trip() {
        let rs = RouterSolicitation {
            options: vec![NdOption::SourceLinkLayerAddress(vec![2, 0, 0, 0, 0, 9])],
        };
        let b = rs.to_vec();
        assert_eq!(b, hex("8500000000000000 0101020000000009"));
        assert_eq!(RouterSolicitation::parse(&b).unwrap(), rs);
        assert_eq!(RouterSolicitation::parse(&b[..8]).unwrap(), RouterSolicitation::default());
    }

    #[test]
    fn malformed_is_rejected() {
        let rs = hex("8500000000000000");
        assert_eq!(RouterSolicitation::parse(&rs[..7]), Err(Error::Truncated { offset: 7 }));
        assert_eq!(RouterSolicitation::parse(&hex("8501000000000000")), Err(Error::Code(1)));
        assert_eq!(RouterAdvertisement::parse(&rs), Err(Error::Type(0x85)));
        // Option length 0 (RFC 4861 §4.6).
        let zero = hex("85000000000000000100000000000000");
        assert_eq!(RouterSolicitation::parse(&zero), Err(Error::OptionLength { offset: 8 }));
        // Option longer than the message.
        let long = hex("85000000000000000102000000000000");
        assert_eq!(RouterSolicitation::parse(&long), Err(Error::OptionLength { offset: 8 }));
        // Wrong layouts.
        let mtu = hex("850000000000000005020000000005dc0000000000000000");
        assert!(matches!(RouterSolicitation::parse(&mtu), Err(Error::OptionLayout { .. })));
        let rdnss = hex("850000000000000019020000000000000000000000000000");
        assert!(matches!(RouterSolicitation::parse(&rdnss), Err(Error::OptionLayout { .. })));
        // A DNSSL label running past the option, and a compression pointer.
        let dnssl = hex("85000000000000001f02000000000000 0961620000000000");
        assert!(matches!(RouterSolicitation::parse(&dnssl), Err(Error::DomainName { .. })));
        let ptr = hex("85000000000000001f02000000000000 c00c000000000000");
        assert!(matches!(RouterSolicitation::parse(&ptr), Err(Error::DomainName { .. })));
        // A truncated RA header.
        assert!(RouterAdvertisement::parse(&hex("860000004000070800000000")).is_err());
    }

    #[test]
    fn no_panic_on_any_prefix_of_a_valid_message() {
        let b = ra().to_vec();
        for n in 0..b.len() {
            let _ = RouterAdvertisement::parse(&b[..n]);
            let mut c = b.clone();
            c[n] ^= 0xff;
            let _ = RouterAdvertisement::parse(&c);
        }
    }
}
