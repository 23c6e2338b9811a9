//! Wire formats: parse/emit pairs for every frame this crate reads or writes.
//!
//! Each message family has a `Repr` type with `parse(&[u8]) -> Result<Self, Error>`,
//! `buffer_len()` and `emit(&self, &mut [u8]) -> Result<usize, Error>` (plus `to_vec()`).
//!
//! # No-panic guarantee
//!
//! Nothing in this module panics on any input, whatever its length or content: every read goes
//! through `get`/`split_at_checked`, or reads a named field (`mod field`, smoltcp's style) of a
//! fixed-size header array that one such check produced; every length field is checked once
//! against the bytes that are really there (header first, then the length field against the
//! real frame, then each TLV), and arithmetic on lengths is checked. Emitting into a buffer that is too short returns
//! [`Error::BufferTooShort`] instead of panicking. The fuzz targets in `fuzz/` and the seed-corpus
//! test in `src/tests/corpus.rs` hold this, plus `parse(emit(parse(x))) == parse(x)`.
//!
//! Unknown TLVs (PPPoE tags, LCP/IPCP/IPv6CP options) are kept byte for byte in `Unknown`
//! variants, because RFC 1661 §5.4 requires unknown options to be Configure-Rejected verbatim.

pub mod auth;
pub mod control;
pub mod discovery;
pub mod ethernet;
pub(crate) mod ip;
pub mod lcp;
pub mod ncp;
pub mod session;

pub use auth::{ChapPacket, PapPacket};
pub use control::{ConfigOption, CpPacket};
pub use discovery::{DiscoveryCode, DiscoveryPacket, Tag};
pub use ethernet::{EthernetHeader, Mac, Vlan};
pub use lcp::{AuthProtocol, LcpOption};
pub use ncp::{IpcpOption, Ipv6cpOption};
pub use session::{Classified, SessionHeader, SessionKey};

/// Ethertype of PPPoE Discovery frames (RFC 2516 §4).
pub const ETHERTYPE_DISCOVERY: u16 = 0x8863;
/// Ethertype of PPPoE Session frames (RFC 2516 §4).
pub const ETHERTYPE_SESSION: u16 = 0x8864;
/// Ethertype of an IEEE 802.1Q tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// PPPoE VER=1, TYPE=1 (RFC 2516 §4: "MUST be set to 0x1" each).
pub const PPPOE_VER_TYPE: u8 = 0x11;

/// PPP protocol numbers (RFC 1661 §2, IANA "PPP DLL Protocol Numbers").
pub mod proto {
    /// Internet Protocol version 4.
    pub const IPV4: u16 = 0x0021;
    /// Internet Protocol version 6.
    pub const IPV6: u16 = 0x0057;
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: u16 = 0x8021;
    /// IPv6 Control Protocol (RFC 5072).
    pub const IPV6CP: u16 = 0x8057;
    /// Link Control Protocol (RFC 1661).
    pub const LCP: u16 = 0xc021;
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: u16 = 0xc023;
    /// Challenge-Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: u16 = 0xc223;
}

/// Why a frame could not be parsed or emitted. Small and `Copy`; each variant carries the
/// offending offset or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended before `needed` bytes (counted from the start of the structure).
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// A length field claims more (or less) than is possible.
    #[error("bad length {len} at offset {offset}")]
    BadLength {
        /// Offset of the length field within its structure.
        offset: usize,
        /// The value it held.
        len: usize,
    },
    /// PPPoE VER/TYPE octet other than 0x11.
    #[error("unsupported PPPoE ver/type {0:#04x}")]
    VersionType(u8),
    /// A code that this message family does not define.
    #[error("unknown code {0:#04x}")]
    UnknownCode(u8),
    /// Ethertype that is neither PPPoE Discovery nor Session.
    #[error("unexpected ethertype {0:#06x}")]
    Ethertype(u16),
    /// The output buffer is shorter than `needed`.
    #[error("output buffer too short: need {needed}")]
    BufferTooShort {
        /// Bytes needed.
        needed: usize,
    },
    /// A value does not fit its field on the wire (e.g. a tag longer than 65535 bytes).
    #[error("value too long for its field: {0} bytes")]
    TooLong(usize),
}

/// A header field: its byte range from the start of the header (smoltcp's `Field`).
pub(crate) type Field = std::ops::Range<usize>;
/// The bytes from an offset to the end of a structure (smoltcp's `Rest`).
pub(crate) type Rest = std::ops::RangeFrom<usize>;

/// The bytes of a field of a checked header as an array, `N` being the field's width: a
/// big-endian number is then `u16::from_be_bytes(array(&h[field::LENGTH]))`.
pub(crate) fn array<const N: usize>(field: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.iter_mut().zip(field).for_each(|(d, s)| *d = *s);
    a
}

/// Big-endian u16 at `at`.
pub(crate) fn get_u16(buf: &[u8], at: usize) -> Result<u16, Error> {
    let end = at.checked_add(2).ok_or(Error::BadLength { offset: at, len: 2 })?;
    match buf.get(at..end) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(Error::Truncated { needed: end, have: buf.len() }),
    }
}

/// Big-endian u32 at `at`.
pub(crate) fn get_u32(buf: &[u8], at: usize) -> Result<u32, Error> {
    let end = at.checked_add(4).ok_or(Error::BadLength { offset: at, len: 4 })?;
    match buf.get(at..end) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(Error::Truncated { needed: end, have: buf.len() }),
    }
}

/// Byte at `at`.
pub(crate) fn get_u8(buf: &[u8], at: usize) -> Result<u8, Error> {
    buf.get(at).copied().ok_or(Error::Truncated { needed: at.saturating_add(1), have: buf.len() })
}

/// Splits `buf` at `mid`, or reports how much was missing.
pub(crate) fn split(buf: &[u8], mid: usize) -> Result<(&[u8], &[u8]), Error> {
    buf.split_at_checked(mid).ok_or(Error::Truncated { needed: mid, have: buf.len() })
}

/// A sequential writer over a caller buffer that never panics: it reports `BufferTooShort`.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<(), Error> {
        let end = self.pos.checked_add(data.len()).ok_or(Error::TooLong(data.len()))?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(Error::BufferTooShort { needed: end })?;
        dst.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), Error> {
        self.bytes(&v.to_be_bytes())
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.pos
    }
}

/// A length as a u8 field, or `TooLong`.
pub(crate) fn len_u8(len: usize) -> Result<u8, Error> {
    u8::try_from(len).map_err(|_| Error::TooLong(len))
}

/// A length as a u16 field, or `TooLong`.
pub(crate) fn len_u16(len: usize) -> Result<u16, Error> {
    u16::try_from(len).map_err(|_| Error::TooLong(len))
}
