//! What the DHCPv4 and DHCPv6 servers share (`dhcpv4`, `dhcpv6`): the durable lease store, an
//! append-only log of framed lease records (ours, no database), the group-commit writer
//! thread of their drivers ([`writer`]) and the event loop both drivers run ([`serve`]) (feature
//! `driver`), and the sanitising of the host
//! names clients send ([`names`]). One framing for both: `dhcpv4` keeps its records in
//! `leases4.log`, `dhcpv6` in `leases6.log`; a [`Record`] says how one kind of record is
//! encoded, keyed and named.
//!
//! ```text
//! file    = magic ("RDHCP4L1" | "RDHCP6L1") , { frame } , { 0x00 }   (zero fill: unused)
//! frame   = length:u32le , crc32:u32le , payload[length]       (CRC-32/IEEE of the payload)
//! payload = version:u8 (1) , state:u8 , address:4 , expires:u64be ,
//!           htype:u8 , hlen:u8 , chaddr[hlen] , idlen:u8 , client_id[idlen] ,
//!           namelen:u8 , hostname[namelen]                    (DHCPv4)
//! payload = version:u8 (1) , state:u8 , kind:u8 , address:16 , plen:u8 , iaid:u32be ,
//!           expires:u64be , duidlen:u8 , duid[duidlen] , namelen:u8 , hostname[namelen]
//!                                                                      (DHCPv6)
//! ```
//!
//! The last record for an address wins. A frame whose length runs past the end of the file,
//! is absurd, or whose CRC does not match ends the log: a write torn by a crash (kill -9,
//! power loss) is found this way, cut off, and the records before it are kept. [`Log`]
//! appends, `fdatasync`s, and compacts (live records to a new file, fsync, rename, fsync of
//! the directory) when the file holds far more records than live leases. The file is grown
//! ahead of the appends in zero-filled steps, synced once each, and records are written over
//! the zeros, so the `fdatasync` per batch writes data only (no size or block-map change);
//! zero bytes after the last frame are the clean end, not a torn record.

mod crc;
mod log;
pub mod names;
#[cfg(feature = "driver")]
pub mod serve;
#[cfg(feature = "driver")]
pub mod writer;

use std::hash::Hash;
use std::time::{Duration, Instant};

pub use log::{LoadReport, Log};

/// Maps a machine's `Instant`s to Unix seconds (lease times are persisted as wall-clock
/// time): the two readings of one moment, taken once when the machine is made.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The monotonic reading.
    pub at: Instant,
    /// Unix seconds at `at`.
    pub unix: u64,
}

impl Clock {
    /// Unix seconds at `now`.
    pub fn unix(&self, now: Instant) -> u64 {
        self.unix + now.saturating_duration_since(self.at).as_secs()
    }

    /// The `Instant` of Unix second `unix` (clamped to `at` for times before it).
    pub fn instant(&self, unix: u64) -> Instant {
        self.at + Duration::from_secs(unix.saturating_sub(self.unix))
    }
}

/// A per-packet warning, rate limited: the first one logs, later ones within `interval`
/// seconds are only counted, and the next one to log says how many it stood for. One LAN
/// host cycling MACs or DUIDs must not fill the log (the counters in `stats()` count every
/// case regardless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    interval: u64,
    next: u64,
    suppressed: u64,
}

impl Throttle {
    /// One line per `interval` seconds.
    pub const fn new(interval: u64) -> Self {
        Throttle { interval, next: 0, suppressed: 0 }
    }

    /// At Unix second `now`: `Some(suppressed)` when this occurrence may be logged (with the
    /// number of occurrences not logged since the last line), `None` when it is only counted.
    pub fn check(&mut self, now: u64) -> Option<u64> {
        if now < self.next {
            self.suppressed += 1;
            return None;
        }
        self.next = now.saturating_add(self.interval);
        Some(std::mem::take(&mut self.suppressed))
    }
}

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

/// Format version of a record payload.
pub const VERSION: u8 = 1;

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
    /// The state stored as `v`, if it is one.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(RecordState::Bound),
            2 => Some(RecordState::Released),
            3 => Some(RecordState::Declined),
            _ => None,
        }
    }
}

/// Appends `field` with a one-byte length prefix, cut to 255 bytes.
pub fn push_short(out: &mut Vec<u8>, field: &[u8]) {
    let field = field.get(..255).unwrap_or(field);
    out.push(field.len() as u8);
    out.extend_from_slice(field);
}

/// A cursor over a payload; every read checked.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A length-prefixed host name: empty is `None`, not UTF-8 is an error (outer `None`).
    pub fn name(&mut self) -> Option<Option<String>> {
        match self.short()? {
            [] => Some(None),
            n => Some(Some(String::from_utf8(n.to_vec()).ok()?)),
        }
    }

    /// A length-prefixed (u8) field.
    pub fn short(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
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

#[cfg(test)]
mod throttle_tests {
    use super::Throttle;

    /// 10,000 occurrences in 100 s at one line a minute: two lines, the second saying how
    /// many the first minute held back.
    #[test]
    fn a_flood_logs_a_line_per_interval_with_the_count() {
        let mut t = Throttle::new(60);
        let logged: Vec<(u64, u64)> = (0..10_000u64)
            .filter_map(|i| t.check(1_000 + i / 100).map(|n| (1_000 + i / 100, n)))
            .collect();
        assert_eq!(logged, [(1_000, 0), (1_060, 5_999)]);
    }
}
