//! DHCPv6 lease records (`leases6.log`): one record per leased address or delegated prefix.
//!
//! ```text
//! payload = version:u8 (1) , state:u8 , kind:u8 , address:16 , plen:u8 , iaid:u32be ,
//!           expires:u64be , duidlen:u8 , duid[duidlen] , namelen:u8 , hostname[namelen]
//! ```
//!
//! `kind` is 3 (IA_NA, `plen` 128) or 25 (IA_PD), the option codes. The key is the address
//! or prefix: the last record for it wins.

use std::net::Ipv6Addr;

pub use leases::{Log, Record, RecordState, next_frame_of};
use leases::{Reader, VERSION, push_short};

/// The DHCPv6 lease log (`leases6.log`).
pub type LeaseLog6 = Log<LeaseRecord6>;

/// Which kind of IA a lease belongs to; the values are the option codes (RFC 8415 §21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IaKind {
    /// IA_NA (3): non-temporary addresses.
    Na = 3,
    /// IA_PD (25): delegated prefixes.
    Pd = 25,
}

impl IaKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            3 => Some(IaKind::Na),
            25 => Some(IaKind::Pd),
            _ => None,
        }
    }
}

/// One DHCPv6 lease record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord6 {
    /// Bound, released or declined.
    pub state: RecordState,
    /// IA_NA or IA_PD.
    pub kind: IaKind,
    /// The address (IA_NA) or prefix (IA_PD).
    pub address: Ipv6Addr,
    /// 128 for an address, the prefix length for a prefix.
    pub prefix_len: u8,
    /// The IAID of the IA the lease is in.
    pub iaid: u32,
    /// Unix seconds: end of the valid lifetime, of the decline hold, or the release time.
    pub expires: u64,
    /// The client's DUID (Client Identifier); empty for a declined address.
    pub duid: Vec<u8>,
    /// The sanitised host name (Client FQDN, option 39).
    pub hostname: Option<String>,
}

impl Record for LeaseRecord6 {
    type Key = (Ipv6Addr, u8);
    const MAGIC: &'static [u8; 8] = b"RDHCP6L1";
    const FILE: &'static str = "leases6.log";

    fn key(&self) -> (Ipv6Addr, u8) {
        (self.address, self.prefix_len)
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, self.state as u8, self.kind as u8]);
        out.extend_from_slice(&self.address.octets());
        out.push(self.prefix_len);
        out.extend_from_slice(&self.iaid.to_be_bytes());
        out.extend_from_slice(&self.expires.to_be_bytes());
        push_short(out, &self.duid);
        push_short(out, self.hostname.as_deref().unwrap_or_default().as_bytes());
    }

    fn decode_payload(payload: &[u8]) -> Option<Self> {
        let mut r = Reader(payload);
        if r.u8()? != VERSION {
            return None;
        }
        let state = RecordState::from_u8(r.u8()?)?;
        let kind = IaKind::from_u8(r.u8()?)?;
        let address = Ipv6Addr::from(<[u8; 16]>::try_from(r.take(16)?).ok()?);
        let prefix_len = r.u8()?;
        if prefix_len > 128 {
            return None;
        }
        let iaid = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
        let expires = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let duid = r.short()?.to_vec();
        let hostname = r.name()?;
        r.0.is_empty().then_some(LeaseRecord6 {
            state,
            kind,
            address,
            prefix_len,
            iaid,
            expires,
            duid,
            hostname,
        })
    }
}
