//! Option-level checks run before `dhcproto` sees the bytes (RFC 8415 §21 formats).

use dhcproto::v6::{DhcpOption, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder};

use super::{Error, MAX_DEPTH};

/// Longest DUID: "A DUID can be no more than 130 octets long (including the type code)"
/// (RFC 8415 §11.1).
const MAX_DUID_LEN: usize = 130;

/// Option codes this crate reads and therefore hands to `dhcproto`'s typed decoder at the top
/// level. Everything else is kept as `Unknown { code, data }`, byte-exactly.
const DECODED: [u16; 19] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0b, 0x0c, 0x0d, 0x0e, 0x13, 0x14, 0x17, 0x18,
    0x19, 0x1a, 0x20,
];

/// Walks one level of options in `buf`, checks each, and returns `(code, value)` spans.
///
/// At depth 0 only the codes in [`DECODED`] are checked against their format (the rest stay
/// opaque). Deeper, `dhcproto` decodes every code itself, so every code it treats specially
/// is checked.
pub(super) fn check_options(buf: &[u8], depth: u8) -> Result<Vec<(u16, &[u8])>, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    let mut spans = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let offset = buf.len() - rest.len();
        let (header, tail) = rest.split_at_checked(4).ok_or(Error::OptionOverrun { offset })?;
        let code = be16(header, 0);
        let len = be16(header, 2);
        let (value, tail) =
            tail.split_at_checked(usize::from(len)).ok_or(Error::OptionOverrun { offset })?;
        if depth > 0 || DECODED.contains(&code) {
            check_value(code, value, depth)?;
        }
        spans.push((code, value));
        rest = tail;
    }
    Ok(spans)
}

/// Checks one option body against its RFC 8415 §21 format.
fn check_value(code: u16, value: &[u8], depth: u8) -> Result<(), Error> {
    let n = value.len();
    let bad = || Error::BadOptionLength { code, len: u16::try_from(n).unwrap_or(u16::MAX) };
    let nested = |skip: usize| -> Result<(), Error> {
        let inner = value.get(skip..).ok_or_else(bad)?;
        check_options(inner, depth + 1).map(|_| ())
    };
    match code {
        // Client/Server Identifier (§21.2, §21.3): a DUID.
        0x01 | 0x02 if (1..=MAX_DUID_LEN).contains(&n) => Ok(()),
        // IA_NA, IA_PD (§21.4, §21.21): IAID, T1, T2, then options.
        0x03 | 0x19 => nested(12),
        // IA_TA (§21.5): IAID then options.
        0x04 => nested(4),
        // IA Address (§21.6): address, lifetimes, then options.
        0x05 => nested(24),
        // IA Prefix (§21.22): lifetimes, length, prefix, then options.
        0x1a => nested(25),
        // Vendor-specific Information (§21.17): enterprise number then options.
        0x11 => nested(4),
        // Option Request (§21.7), DNS Recursive Name Server (RFC 3646 §3), Client Arch (RFC 5970).
        0x06 | 0x3d if n % 2 == 0 => Ok(()),
        0x17 if n % 16 == 0 => Ok(()),
        // Preference (§21.8), Reconfigure Message (§21.19).
        0x07 | 0x13 if n == 1 => Ok(()),
        // Elapsed Time (§21.9).
        0x08 if n == 2 => Ok(()),
        // Authentication (§21.11): protocol, algorithm, RDM, replay detection.
        0x0b if n >= 11 => Ok(()),
        // Server Unicast (§21.12).
        0x0c if n == 16 => Ok(()),
        // Status Code (§21.13): "UTF-8 encoded text string".
        0x0d => match value.split_at_checked(2) {
            Some((_, msg)) if std::str::from_utf8(msg).is_ok() => Ok(()),
            Some(_) => Err(Error::BadOptionValue { code }),
            None => Err(bad()),
        },
        // Rapid Commit (§21.14), Reconfigure Accept (§21.20): no data.
        0x0e | 0x14 if n == 0 => Ok(()),
        // Information Refresh Time (§21.23), SOL_MAX_RT, INF_MAX_RT (§21.24, §21.25).
        0x20 | 0x52 | 0x53 if n == 4 => Ok(()),
        // Relay Message (§21.10), User Class, Vendor Class (§21.15, §21.16) and NTP Server
        // (RFC 5908) have no place inside an IA; dhcproto also mis-encodes both class options
        // (it writes the item count as the option length), so they never reach it nested.
        0x09 | 0x0f | 0x10 | 0x38 => Err(Error::BadOptionValue { code }),
        0x01 | 0x02 | 0x06 | 0x07 | 0x08 | 0x0b | 0x0c | 0x0e | 0x13 | 0x14 | 0x17 | 0x20
        | 0x3d | 0x52 | 0x53 => Err(bad()),
        _ => Ok(()),
    }
}

/// Decodes one checked option: typed through `dhcproto` if this crate reads it, else opaque.
pub(super) fn decode_option(code: u16, value: &[u8]) -> Result<DhcpOption, Error> {
    if !DECODED.contains(&code) {
        return Ok(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(code), value.to_vec())));
    }
    let len = u16::try_from(value.len()).map_err(|_| Error::Decode { code })?;
    let mut tlv = Vec::with_capacity(value.len() + 4);
    tlv.extend_from_slice(&code.to_be_bytes());
    tlv.extend_from_slice(&len.to_be_bytes());
    tlv.extend_from_slice(value);
    DhcpOption::decode(&mut Decoder::new(&tlv)).map_err(|_| Error::Decode { code })
}

/// Domain Search List option (RFC 3646 §4), names encoded uncompressed as RFC 8415 §10
/// requires. Names that are not valid DNS names (labels of 1..=63 octets, at most 255 octets
/// in all) are left out.
pub fn domain_list_option(domains: &[String]) -> DhcpOption {
    let mut data = Vec::new();
    for name in domains {
        let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
        let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
        if wire_len > 255 || labels.iter().any(|l| l.is_empty() || l.len() > 63) {
            continue;
        }
        for label in labels {
            data.push(label.len() as u8);
            data.extend_from_slice(label.as_bytes());
        }
        data.push(0);
    }
    DhcpOption::Unknown(UnknownOption::new(OptionCode::DomainSearchList, data))
}

/// Big-endian u16 at `at`; 0 when out of range (callers pass checked slices).
fn be16(buf: &[u8], at: usize) -> u16 {
    match (buf.get(at), buf.get(at + 1)) {
        (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}
