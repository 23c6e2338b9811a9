//! Ethernet II header with an optional IEEE 802.1Q tag, written and stripped in user space.

use super::{ETHERTYPE_VLAN, Error, Writer, get_u16, split};

/// A 48-bit MAC address.
pub type Mac = [u8; 6];

/// The broadcast MAC address, destination of PADI (RFC 2516 §5.1).
pub const BROADCAST: Mac = [0xff; 6];

/// Length of an untagged Ethernet II header: destination, source, ethertype.
pub const HEADER_LEN: usize = 14;
/// Length of an IEEE 802.1Q tag: TPID and TCI.
pub const VLAN_TAG_LEN: usize = 4;

/// An 802.1Q tag control field, kept whole so parse/emit is lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub id: u16,
}

impl Vlan {
    /// A tag with this VLAN id, priority 0.
    pub fn id(id: u16) -> Self {
        Vlan { pcp: 0, dei: false, id: id & 0x0fff }
    }

    fn tci(self) -> u16 {
        (u16::from(self.pcp & 0x07) << 13) | (u16::from(self.dei) << 12) | (self.id & 0x0fff)
    }

    fn from_tci(tci: u16) -> Self {
        // The shifts leave at most 3 bits, so the cast cannot truncate.
        let pcp = (tci >> 13) as u8;
        Vlan { pcp, dei: tci & 0x1000 != 0, id: tci & 0x0fff }
    }
}

/// An Ethernet II header, optionally 802.1Q-tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetHeader {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// The 802.1Q tag, if the frame carries one.
    pub vlan: Option<Vlan>,
    /// Ethertype of the payload (after the tag, if any).
    pub ethertype: u16,
}

impl EthernetHeader {
    /// Parses the header and returns it with the payload.
    pub fn parse(frame: &[u8]) -> Result<(Self, &[u8]), Error> {
        let (macs, rest) = split(frame, 12)?;
        let (dst, src) = split(macs, 6)?;
        let mut ethertype = get_u16(rest, 0)?;
        let mut payload = rest.get(2..).unwrap_or_default();
        let mut vlan = None;
        if ethertype == ETHERTYPE_VLAN {
            vlan = Some(Vlan::from_tci(get_u16(payload, 0)?));
            ethertype = get_u16(payload, 2)?;
            payload = payload.get(4..).unwrap_or_default();
        }
        let header = EthernetHeader {
            dst: dst.try_into().map_err(|_| Error::Truncated { needed: 6, have: dst.len() })?,
            src: src.try_into().map_err(|_| Error::Truncated { needed: 12, have: src.len() })?,
            vlan,
            ethertype,
        };
        Ok((header, payload))
    }

    /// Length of the header on the wire: 14, or 18 with a tag.
    pub fn buffer_len(&self) -> usize {
        if self.vlan.is_some() { HEADER_LEN + VLAN_TAG_LEN } else { HEADER_LEN }
    }

    /// Writes the header at the start of `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        w.bytes(&self.dst)?;
        w.bytes(&self.src)?;
        if let Some(vlan) = self.vlan {
            w.u16(ETHERTYPE_VLAN)?;
            w.u16(vlan.tci())?;
        }
        w.u16(self.ethertype)?;
        Ok(w.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // Hand-built after IEEE 802.1Q §9.6: a PPPoE session frame on VLAN 6 (as KPN uses),
    // priority 1, from 02:00:00:00:00:01 to 02:00:00:00:00:02.
    const TAGGED: [u8; 20] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0x20,
        0x06, 0x88, 0x64, 0xaa, 0xbb,
    ];

    fn tagged_repr() -> EthernetHeader {
        EthernetHeader {
            dst: [2, 0, 0, 0, 0, 2],
            src: [2, 0, 0, 0, 0, 1],
            vlan: Some(Vlan { pcp: 1, dei: false, id: 6 }),
            ethertype: 0x8864,
        }
    }

    #[test]
    fn deconstruct_tagged() {
        let (h, payload) = EthernetHeader::parse(&TAGGED).unwrap();
        assert_eq!(h.vlan.unwrap().id, 6);
        assert_eq!(h.ethertype, 0x8864);
        assert_eq!(payload, &[0xaa, 0xbb]);
    }

    #[test]
    fn construct_and_emit_tagged() {
        let mut buf = [0u8; 18];
        assert_eq!(tagged_repr().emit(&mut buf).unwrap(), 18);
        assert_eq!(&buf[..], &TAGGED[..18]);
    }

    #[test]
    fn parse_untagged_round_trip() {
        let h = EthernetHeader { vlan: None, ..tagged_repr() };
        let mut buf = [0u8; 14];
        h.emit(&mut buf).unwrap();
        assert_eq!(EthernetHeader::parse(&buf).unwrap(), (h, &[][..]));
    }

    #[test]
    fn truncated_is_an_error() {
        for n in 0..TAGGED.len() - 2 {
            assert!(EthernetHeader::parse(&TAGGED[..n]).is_err(), "len {n}");
        }
        assert!(tagged_repr().emit(&mut [0u8; 17]).is_err());
    }
}
