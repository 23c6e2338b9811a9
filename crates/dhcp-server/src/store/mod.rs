//! The durable lease store: an append-only log of framed lease records, ours, no database.
//! One framing for both servers: [`LeaseLog`] holds DHCPv4 [`LeaseRecord`]s in `leases4.log`,
//! [`LeaseLog6`] holds DHCPv6 [`LeaseRecord6`]s in `leases6.log`; a [`Record`] says how one
//! kind of record is encoded, keyed and named.
//!
//! ```text
//! file    = magic ("RDHCP4L1" | "RDHCP6L1") , { frame } , { 0x00 }   (zero fill: unused)
//! frame   = length:u32le , crc32:u32le , payload[length]       (CRC-32/IEEE of the payload)
//! payload = version:u8 (1) , state:u8 , address:4 , expires:u64be ,
//!           htype:u8 , hlen:u8 , chaddr[hlen] , idlen:u8 , client_id[idlen] ,
//!           namelen:u8 , hostname[namelen]                    (DHCPv4)
//! payload = version:u8 (1) , state:u8 , kind:u8 , address:16 , plen:u8 , iaid:u32be ,
//!           expires:u64be , duidlen:u8 , duid[duidlen] , namelen:u8 , hostname[namelen]
//!                                                                      (DHCPv6, see record6)
//! ```
//!
//! The last record for an address wins. A frame whose length runs past the end of the file,
//! is absurd, or whose CRC does not match ends the log: a write torn by a crash (kill -9,
//! power loss) is found this way, cut off, and the records before it are kept. [`LeaseLog`]
//! appends, `fdatasync`s, and compacts (live records to a new file, fsync, rename, fsync of
//! the directory) when the file holds far more records than live leases. The file is grown
//! ahead of the appends in zero-filled steps, synced once each, and records are written over
//! the zeros, so the `fdatasync` per batch writes data only (no size or block-map change);
//! zero bytes after the last frame are the clean end, not a torn record.

mod crc;
mod log;
mod record6;

use std::hash::Hash;
use std::net::Ipv4Addr;

pub use log::{LoadReport, Log};
pub use record6::{IaKind, LeaseRecord6};

/// The DHCPv4 lease log (`leases4.log`).
pub type LeaseLog = Log<LeaseRecord>;

/// The DHCPv6 lease log (`leases6.log`).
pub type LeaseLog6 = Log<LeaseRecord6>;

/// A kind of record the log can hold.
pub trait Record: Clone + Sized {
    /// What identifies the thing a record is about: the last record per key wins.
    type Key: Hash + Eq + Clone + std::fmt::Debug;
    /// The file's first bytes.
    const MAGIC: &'static [u8; 8];
    /// File name inside the state directory.
    const FILE: &'static str;
    /// The key of this record.
    fn key(&self) -> Self::Key;
    /// Appends the payload (without the frame header) to `out`.
    fn encode_payload(&self, out: &mut Vec<u8>);
    /// Decodes a payload; `None` if it is not a valid record.
    fn decode_payload(payload: &[u8]) -> Option<Self>;

    /// Appends the framed record (length, CRC, payload) to `out`.
    fn encode_frame(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME_HEADER]);
        self.encode_payload(out);
        let payload = out.get(start + FRAME_HEADER..).unwrap_or_default();
        let mut header = [0u8; FRAME_HEADER];
        let (len, crc) = header.split_at_mut(4);
        len.copy_from_slice(&(payload.len() as u32).to_le_bytes());
        crc.copy_from_slice(&crc::crc32(payload).to_le_bytes());
        if let Some(h) = out.get_mut(start..start + FRAME_HEADER) {
            h.copy_from_slice(&header);
        }
    }
}

use crate::v4::table::HwAddr;

/// Format version of a record payload.
const VERSION: u8 = 1;

/// Bytes before the payload: length and CRC.
pub const FRAME_HEADER: usize = 8;

/// No valid payload is longer (DHCPv4: 1+1+4+8+2+16+1+255+1+255 = 544; DHCPv6:
/// 1+1+1+16+1+4+8+1+255+1+255 = 544).
pub const MAX_PAYLOAD: usize = 544;

/// What a record says about its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordState {
    /// Leased to the client until `expires` (an ACK was, or is about to be, sent).
    Bound = 1,
    /// Released by the client at `expires`; free, remembered for the client's return.
    Released = 2,
    /// Declined by the client (RFC 2131 §4.3.3): out of the pool until `expires`.
    Declined = 3,
}

impl RecordState {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(RecordState::Bound),
            2 => Some(RecordState::Released),
            3 => Some(RecordState::Declined),
            _ => None,
        }
    }
}

/// One lease record: what the log stores per address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The leased address.
    pub address: Ipv4Addr,
    /// Bound, released or declined.
    pub state: RecordState,
    /// Unix time, seconds: when the lease (or the decline hold) ends, or when it was released.
    pub expires: u64,
    /// The client's hardware address (chaddr).
    pub hw: HwAddr,
    /// The client identifier (61), empty if none was sent.
    pub client_id: Vec<u8>,
    /// The sanitised host name given to the client.
    pub hostname: Option<String>,
}

impl LeaseRecord {
    /// Appends the framed record to `out`. Over-long fields are cut to 255 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_frame(out);
    }

    /// Decodes a payload (without the frame header); `None` if it is not a valid record.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        Self::decode_payload(payload)
    }
}

impl Record for LeaseRecord {
    type Key = Ipv4Addr;
    const MAGIC: &'static [u8; 8] = b"RDHCP4L1";
    const FILE: &'static str = "leases4.log";

    fn key(&self) -> Ipv4Addr {
        self.address
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, self.state as u8]);
        out.extend_from_slice(&self.address.octets());
        out.extend_from_slice(&self.expires.to_be_bytes());
        out.push(self.hw.htype);
        push_short(out, self.hw.as_bytes());
        push_short(out, &self.client_id);
        push_short(out, self.hostname.as_deref().unwrap_or_default().as_bytes());
    }

    fn decode_payload(payload: &[u8]) -> Option<Self> {
        let mut r = Reader(payload);
        if r.u8()? != VERSION {
            return None;
        }
        let state = RecordState::from_u8(r.u8()?)?;
        let address = Ipv4Addr::from(<[u8; 4]>::try_from(r.take(4)?).ok()?);
        let expires = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let htype = r.u8()?;
        let hw = HwAddr::new(htype, r.short()?)?;
        let client_id = r.short()?.to_vec();
        let hostname = r.name()?;
        r.0.is_empty().then_some(LeaseRecord { address, state, expires, hw, client_id, hostname })
    }
}

pub(crate) fn push_short(out: &mut Vec<u8>, field: &[u8]) {
    let field = field.get(..255).unwrap_or(field);
    out.push(field.len() as u8);
    out.extend_from_slice(field);
}

/// A cursor over a payload; every read checked.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A length-prefixed host name: empty is `None`, not UTF-8 is an error (outer `None`).
    pub(crate) fn name(&mut self) -> Option<Option<String>> {
        match self.short()? {
            [] => Some(None),
            n => Some(Some(String::from_utf8(n.to_vec()).ok()?)),
        }
    }

    /// A length-prefixed (u8) field.
    pub(crate) fn short(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
}

/// Splits one DHCPv4 frame off the front of `buf`: `Ok(Some((record, rest)))`, `Ok(None)` at
/// the clean end, `Err(())` for a torn or corrupt frame.
#[allow(clippy::result_unit_err)]
pub fn next_frame(buf: &[u8]) -> Result<Option<(LeaseRecord, &[u8])>, ()> {
    next_frame_of(buf)
}

/// Splits one frame of record kind `R` off the front of `buf` (see [`next_frame`]).
#[allow(clippy::result_unit_err)]
pub fn next_frame_of<R: Record>(buf: &[u8]) -> Result<Option<(R, &[u8])>, ()> {
    if buf.is_empty() {
        return Ok(None);
    }
    let (header, rest) = buf.split_at_checked(FRAME_HEADER).ok_or(())?;
    let len = u32::from_le_bytes(header.get(..4).ok_or(())?.try_into().map_err(|_| ())?);
    let crc = u32::from_le_bytes(header.get(4..).ok_or(())?.try_into().map_err(|_| ())?);
    let len = usize::try_from(len).map_err(|_| ())?;
    if len > MAX_PAYLOAD {
        return Err(());
    }
    let (payload, rest) = rest.split_at_checked(len).ok_or(())?;
    if crc::crc32(payload) != crc {
        return Err(());
    }
    let record = R::decode_payload(payload).ok_or(())?;
    Ok(Some((record, rest)))
}
