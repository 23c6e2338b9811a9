//! DHCPv4 lease records (`leases4.log`), in the framing of [`leases`]:
//!
//! ```text
//! payload = version:u8 (1) , state:u8 , address:4 , expires:u64be ,
//!           htype:u8 , hlen:u8 , chaddr[hlen] , idlen:u8 , client_id[idlen] ,
//!           namelen:u8 , hostname[namelen]
//! ```

use std::net::Ipv4Addr;

pub use leases::{FRAME_HEADER, LoadReport, Log, Record, RecordState, next_frame_of};
use leases::{Reader, VERSION, push_short};

use crate::server::table::HwAddr;

/// The DHCPv4 lease log (`leases4.log`).
pub type LeaseLog = Log<LeaseRecord>;

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

/// Splits one DHCPv4 frame off the front of `buf`: `Ok(Some((record, rest)))`, `Ok(None)` at
/// the clean end, `Err(())` for a torn or corrupt frame.
#[allow(clippy::result_unit_err)]
pub fn next_frame(buf: &[u8]) -> Result<Option<(LeaseRecord, &[u8])>, ()> {
    next_frame_of(buf)
}
