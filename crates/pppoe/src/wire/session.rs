//! PPPoE Session header + PPP protocol field (RFC 2516 §6), and the data-path helpers the driver
//! uses without the machines: [`classify`] for received frames and [`write_data_header`] for
//! outgoing ones.

use super::ethernet::{HEADER_LEN as ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use super::{
    ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, Error, EthernetHeader, Mac, PPPOE_VER_TYPE, Vlan,
    Writer, array, len_u16, proto,
};

/// Field ranges of the PPPoE header (RFC 2516 §4) in the Session stage, and of the PPP
/// protocol field that starts its payload (RFC 1661 §2).
mod field {
    use crate::wire::{Field, Rest};

    /// VER (high 4 bits) and TYPE (low 4 bits), 0x11.
    pub(super) const VER_TYPE: usize = 0;
    /// CODE, 0x00 for session data.
    pub(super) const CODE: usize = 1;
    /// SESSION_ID.
    pub(super) const SESSION_ID: Field = 2..4;
    /// LENGTH of the PPPoE payload, the Ethernet padding after it not counted.
    pub(super) const LENGTH: Field = 4..6;
    /// The PPPoE payload.
    pub(super) const PAYLOAD: Rest = 6..;
    /// The PPP protocol field, first in the payload.
    pub(super) const PROTOCOL: Field = 0..2;
    /// The PPP payload after it.
    pub(super) const PPP_PAYLOAD: Rest = 2..;
}

/// PPPoE Session header (CODE 0x00) followed by the two-octet PPP protocol field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionHeader {
    /// SESSION_ID from the PADS.
    pub session_id: u16,
    /// PPP protocol number (never compressed: RFC 2516 §7 says PFC SHOULD NOT be used).
    pub protocol: u16,
}

/// Length of the PPPoE header plus the PPP protocol field.
pub const SESSION_HEADER_LEN: usize = field::PAYLOAD.start + field::PPP_PAYLOAD.start;

/// Longest header [`write_data_header`] writes: Ethernet, 802.1Q tag, PPPoE and PPP (26).
pub const DATA_HEADER_MAX: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN + SESSION_HEADER_LEN;

impl SessionHeader {
    /// Parses the header and returns the PPP payload, trimmed to the PPPoE LENGTH field (bytes
    /// past it are Ethernet padding, as Linux `pppoe_rcv` treats them).
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8]), Error> {
        const PPPOE_LEN: usize = field::PAYLOAD.start;
        const PROTOCOL_LEN: usize = field::PPP_PAYLOAD.start;
        let (h, rest) = buf
            .split_first_chunk::<PPPOE_LEN>()
            .ok_or(Error::Truncated { needed: PPPOE_LEN, have: buf.len() })?;
        if h[field::VER_TYPE] != PPPOE_VER_TYPE {
            return Err(Error::VersionType(h[field::VER_TYPE]));
        }
        if h[field::CODE] != 0x00 {
            return Err(Error::UnknownCode(h[field::CODE]));
        }
        let session_id = u16::from_be_bytes(array(&h[field::SESSION_ID]));
        let length = usize::from(u16::from_be_bytes(array(&h[field::LENGTH])));
        let (ppp, _padding) = rest
            .split_at_checked(length)
            .ok_or(Error::BadLength { offset: field::LENGTH.start, len: length })?;
        let (protocol, payload) = ppp
            .split_first_chunk::<PROTOCOL_LEN>()
            .ok_or(Error::Truncated { needed: SESSION_HEADER_LEN, have: PPPOE_LEN + ppp.len() })?;
        let protocol = u16::from_be_bytes(array(&protocol[field::PROTOCOL]));
        Ok((SessionHeader { session_id, protocol }, payload))
    }

    /// Writes the header for a PPP payload of `payload_len` bytes; returns
    /// [`SESSION_HEADER_LEN`].
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, Error> {
        let length = len_u16(payload_len.checked_add(2).ok_or(Error::TooLong(payload_len))?)?;
        let mut w = Writer::new(buf);
        w.u8(PPPOE_VER_TYPE)?;
        w.u8(0x00)?;
        w.u16(self.session_id)?;
        w.u16(length)?;
        w.u16(self.protocol)?;
        Ok(w.len())
    }
}

/// Everything that identifies one PPPoE session on the wire, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    /// Our MAC address.
    pub local: Mac,
    /// The peer's MAC address (the AC for a client, the host for an AC).
    pub peer: Mac,
    /// The 802.1Q tag our frames carry, if any.
    pub vlan: Option<Vlan>,
    /// The PPPoE SESSION_ID.
    pub session_id: u16,
}

impl SessionKey {
    /// Length of the headers [`write_data_header`] writes for this session: 22, or 26 with a
    /// tag.
    pub fn header_len(&self) -> usize {
        let tag = if self.vlan.is_some() { VLAN_TAG_LEN } else { 0 };
        ETHERNET_HEADER_LEN + tag + SESSION_HEADER_LEN
    }
}

/// What a received Ethernet frame is, as far as one session is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified<'a> {
    /// A PPP data frame of this session (IPv4 or IPv6): `payload` is the IP packet.
    Data {
        /// PPP protocol: 0x0021 or 0x0057.
        protocol: u16,
        /// The IP packet.
        payload: &'a [u8],
    },
    /// A PPP frame of this session that the control machine must see (LCP, auth, NCPs, or an
    /// unknown protocol that LCP must Protocol-Reject). Feed the whole frame to the machine.
    Control,
    /// A PPPoE Discovery frame (PADT in session); feed the whole frame to the machine.
    Discovery,
    /// Not for this session (other MAC, other session id, other VLAN or ethertype).
    NotOurs,
    /// Ours by address but unparseable.
    Malformed(Error),
}

/// Classifies a received frame against `key` with no allocation: the driver's hot path routes
/// `Data` to the TUN device and everything else to the control machine.
pub fn classify<'a>(frame: &'a [u8], key: &SessionKey) -> Classified<'a> {
    let Ok((eth, rest)) = EthernetHeader::parse(frame) else {
        return Classified::NotOurs;
    };
    if eth.dst != key.local || eth.vlan.map(|v| v.id) != key.vlan.map(|v| v.id) {
        return Classified::NotOurs;
    }
    match eth.ethertype {
        ETHERTYPE_DISCOVERY => return Classified::Discovery,
        ETHERTYPE_SESSION => {}
        _ => return Classified::NotOurs,
    }
    if eth.src != key.peer {
        return Classified::NotOurs;
    }
    match SessionHeader::parse(rest) {
        Ok((h, _)) if h.session_id != key.session_id => Classified::NotOurs,
        Ok((h, payload)) if h.protocol == proto::IPV4 || h.protocol == proto::IPV6 => {
            Classified::Data { protocol: h.protocol, payload }
        }
        Ok(_) => Classified::Control,
        Err(e) => Classified::Malformed(e),
    }
}

/// Writes Ethernet (+802.1Q) + PPPoE + PPP headers for a data frame carrying `payload_len`
/// bytes of `protocol` into the start of `buf`; returns the header length,
/// [`SessionKey::header_len`]. The caller places the payload right after it.
pub fn write_data_header(
    buf: &mut [u8],
    key: &SessionKey,
    protocol: u16,
    payload_len: usize,
) -> Result<usize, Error> {
    let eth = EthernetHeader {
        dst: key.peer,
        src: key.local,
        vlan: key.vlan,
        ethertype: ETHERTYPE_SESSION,
    };
    let n = eth.emit(buf)?;
    let rest = buf.get_mut(n..).ok_or(Error::BufferTooShort { needed: n })?;
    let m = SessionHeader { session_id: key.session_id, protocol }.emit(rest, payload_len)?;
    Ok(n + m)
}

/// Builds a whole session frame (headers + payload) as a vector.
pub fn session_frame(key: &SessionKey, protocol: u16, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut v = vec![0; key.header_len() + payload.len()];
    let n = write_data_header(&mut v, key, protocol, payload.len())?;
    v.truncate(n);
    v.extend_from_slice(payload);
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // Hand-built from RFC 2516 §6 and RFC 1661 §5.8: session 0x0001 carrying an LCP
    // Echo-Request (id 1, magic 0x01020304), padded by Ethernet to 12 bytes past LENGTH.
    const LCP_ECHO: [u8; 20] = [
        0x11, 0x00, 0x00, 0x01, 0x00, 0x0a, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x01, 0x02, 0x03,
        0x04, 0x00, 0x00, 0x00, 0x00,
    ];

    const KEY: SessionKey = SessionKey {
        local: [2, 0, 0, 0, 0, 1],
        peer: [2, 0, 0, 0, 0, 2],
        vlan: Some(Vlan { pcp: 0, dei: false, id: 6 }),
        session_id: 1,
    };

    #[test]
    fn quartet() {
        let (h, payload) = SessionHeader::parse(&LCP_ECHO).unwrap();
        assert_eq!(h, SessionHeader { session_id: 1, protocol: 0xc021 });
        assert_eq!(payload, &LCP_ECHO[8..16]);
        let mut buf = [0u8; 8];
        h.emit(&mut buf, payload.len()).unwrap();
        assert_eq!(buf, LCP_ECHO[..8]);
        assert!(SessionHeader::parse(&LCP_ECHO[..7]).is_err());
        let mut bad = LCP_ECHO;
        bad[5] = 0x20;
        assert!(SessionHeader::parse(&bad).is_err());
    }

    #[test]
    fn classify_routes_data_and_control() {
        let ip = [0x45, 0, 0, 20];
        let mine = KEY;
        let theirs = SessionKey { local: KEY.peer, peer: KEY.local, ..KEY };
        let data = session_frame(&theirs, proto::IPV4, &ip).unwrap();
        assert_eq!(data.len(), DATA_HEADER_MAX + 4);
        assert_eq!(
            classify(&data, &mine),
            Classified::Data { protocol: proto::IPV4, payload: &ip }
        );
        let lcp = session_frame(&theirs, proto::LCP, &LCP_ECHO[8..16]).unwrap();
        assert_eq!(classify(&lcp, &mine), Classified::Control);
        let other = SessionKey { session_id: 2, ..theirs };
        let other = session_frame(&other, proto::IPV4, &ip).unwrap();
        assert_eq!(classify(&other, &mine), Classified::NotOurs);
        let untagged = SessionKey { vlan: None, ..theirs };
        let untagged = session_frame(&untagged, proto::IPV4, &ip).unwrap();
        assert_eq!(classify(&untagged, &mine), Classified::NotOurs);
        let mut short = data.clone();
        short.truncate(24);
        assert!(matches!(classify(&short, &mine), Classified::Malformed(_)));
        assert!(write_data_header(&mut [0u8; 25], &mine, proto::IPV4, 4).is_err());
    }

    #[test]
    fn header_len_is_what_write_data_header_writes() {
        let untagged = SessionKey { vlan: None, ..KEY };
        for (key, len) in [(KEY, 26), (untagged, 22)] {
            assert_eq!(key.header_len(), len);
            let mut buf = [0u8; DATA_HEADER_MAX];
            assert_eq!(write_data_header(&mut buf, &key, proto::IPV6, 1280), Ok(len));
        }
    }
}
