//! PPPoE Discovery packets (RFC 2516 §4–§5) and their tags (RFC 2516 Appendix A, RFC 4638).

use super::{Error, PPPOE_VER_TYPE, Writer, get_u8, get_u16, len_u16, split};

/// Discovery packet codes (RFC 2516 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryCode {
    /// PPPoE Active Discovery Offer.
    Pado,
    /// PPPoE Active Discovery Initiation.
    Padi,
    /// PPPoE Active Discovery Request.
    Padr,
    /// PPPoE Active Discovery Session-confirmation.
    Pads,
    /// PPPoE Active Discovery Terminate.
    Padt,
}

impl DiscoveryCode {
    /// The code octet.
    pub fn to_u8(self) -> u8 {
        match self {
            DiscoveryCode::Pado => 0x07,
            DiscoveryCode::Padi => 0x09,
            DiscoveryCode::Padr => 0x19,
            DiscoveryCode::Pads => 0x65,
            DiscoveryCode::Padt => 0xa7,
        }
    }

    /// The code for an octet, or `UnknownCode`.
    pub fn from_u8(code: u8) -> Result<Self, Error> {
        Ok(match code {
            0x07 => DiscoveryCode::Pado,
            0x09 => DiscoveryCode::Padi,
            0x19 => DiscoveryCode::Padr,
            0x65 => DiscoveryCode::Pads,
            0xa7 => DiscoveryCode::Padt,
            other => return Err(Error::UnknownCode(other)),
        })
    }
}

/// A discovery TLV (RFC 2516 Appendix A; PPP-Max-Payload from RFC 4638 §4).
///
/// A known tag type whose length does not fit its definition is kept as `Unknown`, so
/// parse/emit stays lossless.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tag {
    /// 0x0000: no further tags follow; parsing stops here.
    EndOfList,
    /// 0x0101: UTF-8 service name; empty means "any service".
    ServiceName(Vec<u8>),
    /// 0x0102: UTF-8 name of the access concentrator.
    AcName(Vec<u8>),
    /// 0x0103: opaque value the host uses to match replies to requests.
    HostUniq(Vec<u8>),
    /// 0x0104: opaque value the AC uses against DoS; echoed in PADR.
    AcCookie(Vec<u8>),
    /// 0x0105: vendor id (4 octets) and vendor data, kept raw.
    VendorSpecific(Vec<u8>),
    /// 0x0110: set by relays; echoed back.
    RelaySessionId(Vec<u8>),
    /// 0x0120: RFC 4638 PPP-Max-Payload, the largest PPP payload (MRU) the sender can carry.
    PppMaxPayload(u16),
    /// 0x0201: the requested service cannot be honoured.
    ServiceNameError(Vec<u8>),
    /// 0x0202: the AC had an error performing the request.
    AcSystemError(Vec<u8>),
    /// 0x0203: any other error.
    GenericError(Vec<u8>),
    /// Any other tag, byte for byte.
    Unknown {
        /// TAG_TYPE.
        tag_type: u16,
        /// TAG_VALUE.
        data: Vec<u8>,
    },
}

impl Tag {
    fn parse(tag_type: u16, data: &[u8]) -> Tag {
        let v = data.to_vec();
        match (tag_type, data) {
            (0x0000, []) => Tag::EndOfList,
            (0x0101, _) => Tag::ServiceName(v),
            (0x0102, _) => Tag::AcName(v),
            (0x0103, _) => Tag::HostUniq(v),
            (0x0104, _) => Tag::AcCookie(v),
            (0x0105, _) => Tag::VendorSpecific(v),
            (0x0110, _) => Tag::RelaySessionId(v),
            (0x0120, &[a, b]) => Tag::PppMaxPayload(u16::from_be_bytes([a, b])),
            (0x0201, _) => Tag::ServiceNameError(v),
            (0x0202, _) => Tag::AcSystemError(v),
            (0x0203, _) => Tag::GenericError(v),
            (tag_type, _) => Tag::Unknown { tag_type, data: v },
        }
    }

    fn tag_type(&self) -> u16 {
        match self {
            Tag::EndOfList => 0x0000,
            Tag::ServiceName(_) => 0x0101,
            Tag::AcName(_) => 0x0102,
            Tag::HostUniq(_) => 0x0103,
            Tag::AcCookie(_) => 0x0104,
            Tag::VendorSpecific(_) => 0x0105,
            Tag::RelaySessionId(_) => 0x0110,
            Tag::PppMaxPayload(_) => 0x0120,
            Tag::ServiceNameError(_) => 0x0201,
            Tag::AcSystemError(_) => 0x0202,
            Tag::GenericError(_) => 0x0203,
            Tag::Unknown { tag_type, .. } => *tag_type,
        }
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u16(self.tag_type())?;
        match self {
            Tag::EndOfList => w.u16(0),
            Tag::PppMaxPayload(v) => {
                w.u16(2)?;
                w.u16(*v)
            }
            Tag::ServiceName(d)
            | Tag::AcName(d)
            | Tag::HostUniq(d)
            | Tag::AcCookie(d)
            | Tag::VendorSpecific(d)
            | Tag::RelaySessionId(d)
            | Tag::ServiceNameError(d)
            | Tag::AcSystemError(d)
            | Tag::GenericError(d)
            | Tag::Unknown { data: d, .. } => {
                w.u16(len_u16(d.len())?)?;
                w.bytes(d)
            }
        }
    }

    fn buffer_len(&self) -> usize {
        4 + match self {
            Tag::EndOfList => 0,
            Tag::PppMaxPayload(_) => 2,
            Tag::ServiceName(d)
            | Tag::AcName(d)
            | Tag::HostUniq(d)
            | Tag::AcCookie(d)
            | Tag::VendorSpecific(d)
            | Tag::RelaySessionId(d)
            | Tag::ServiceNameError(d)
            | Tag::AcSystemError(d)
            | Tag::GenericError(d)
            | Tag::Unknown { data: d, .. } => d.len(),
        }
    }
}

/// A PPPoE Discovery packet: the 6-octet PPPoE header and its tags (the Ethernet header is
/// separate, see [`super::EthernetHeader`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryPacket {
    /// PADI, PADO, PADR, PADS or PADT.
    pub code: DiscoveryCode,
    /// SESSION_ID: 0 except in PADS and PADT.
    pub session_id: u16,
    /// The tags in wire order.
    pub tags: Vec<Tag>,
}

impl DiscoveryPacket {
    /// Parses a discovery packet (the Ethernet payload).
    ///
    /// The LENGTH field is checked against the real frame and the frame is trimmed to it, as
    /// Linux `pppoe_rcv` does: bytes past LENGTH are Ethernet padding. Tag parsing stops at
    /// End-Of-List (RFC 2516 Appendix A).
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let ver_type = get_u8(buf, 0)?;
        if ver_type != PPPOE_VER_TYPE {
            return Err(Error::VersionType(ver_type));
        }
        let code = DiscoveryCode::from_u8(get_u8(buf, 1)?)?;
        let session_id = get_u16(buf, 2)?;
        let length = usize::from(get_u16(buf, 4)?);
        let (_, rest) = split(buf, 6)?;
        let (mut payload, _padding) =
            rest.split_at_checked(length).ok_or(Error::BadLength { offset: 4, len: length })?;
        let mut tags = Vec::new();
        while !payload.is_empty() {
            let tag_type = get_u16(payload, 0)?;
            let tag_len = usize::from(get_u16(payload, 2)?);
            let (_, body) = split(payload, 4)?;
            let (data, next) = body
                .split_at_checked(tag_len)
                .ok_or(Error::BadLength { offset: 2, len: tag_len })?;
            let tag = Tag::parse(tag_type, data);
            let end = tag == Tag::EndOfList;
            tags.push(tag);
            if end {
                break;
            }
            payload = next;
        }
        Ok(DiscoveryPacket { code, session_id, tags })
    }

    /// Length on the wire.
    pub fn buffer_len(&self) -> usize {
        6 + self.tags.iter().map(Tag::buffer_len).sum::<usize>()
    }

    /// Writes the packet at the start of `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let payload_len = len_u16(self.buffer_len().saturating_sub(6))?;
        let mut w = Writer::new(buf);
        w.u8(PPPOE_VER_TYPE)?;
        w.u8(self.code.to_u8())?;
        w.u16(self.session_id)?;
        w.u16(payload_len)?;
        for tag in &self.tags {
            tag.emit(&mut w)?;
        }
        Ok(w.len())
    }

    /// The packet as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }

    /// The first tag for which `f` returns something.
    pub fn find<'a, T>(&'a self, f: impl FnMut(&'a Tag) -> Option<T>) -> Option<T> {
        self.tags.iter().find_map(f)
    }

    /// The value of the first Host-Uniq tag.
    pub fn host_uniq(&self) -> Option<&[u8]> {
        self.find(|t| match t {
            Tag::HostUniq(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    /// The first of the error tags (Service-Name-Error, AC-System-Error, Generic-Error).
    pub fn error_tag(&self) -> Option<&Tag> {
        self.tags.iter().find(|t| {
            matches!(t, Tag::ServiceNameError(_) | Tag::AcSystemError(_) | Tag::GenericError(_))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // Hand-built from RFC 2516 §5.1/Appendix A: a PADI with an empty Service-Name (any service),
    // an 8-byte Host-Uniq and an RFC 4638 PPP-Max-Payload of 1500, followed by Ethernet padding
    // that the LENGTH field (0x0016) excludes.
    const PADI: [u8; 32] = [
        0x11, 0x09, 0x00, 0x00, 0x00, 0x16, // ver/type, code, session 0, length 22
        0x01, 0x01, 0x00, 0x00, // Service-Name ""
        0x01, 0x03, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, // Host-Uniq
        0x01, 0x20, 0x00, 0x02, 0x05, 0xdc, // PPP-Max-Payload 1500
        0x00, 0x00, 0x00, 0x00, // padding
    ];

    fn padi_repr() -> DiscoveryPacket {
        DiscoveryPacket {
            code: DiscoveryCode::Padi,
            session_id: 0,
            tags: vec![
                Tag::ServiceName(vec![]),
                Tag::HostUniq(vec![1, 2, 3, 4, 5, 6, 7, 8]),
                Tag::PppMaxPayload(1500),
            ],
        }
    }

    #[test]
    fn deconstruct() {
        let p = DiscoveryPacket::parse(&PADI).unwrap();
        assert_eq!(p.code, DiscoveryCode::Padi);
        assert_eq!(p.host_uniq(), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
    }

    #[test]
    fn construct_parse_emit() {
        assert_eq!(DiscoveryPacket::parse(&PADI).unwrap(), padi_repr());
        assert_eq!(padi_repr().to_vec().unwrap(), &PADI[..28]);
    }

    // Hand-built from RFC 2516 §5.4: a PADS for session 0x1234 carrying a vendor tag the
    // parser does not know (type 0x0999), which must survive byte for byte, and an explicit
    // End-Of-List after which the parser stops.
    #[test]
    fn unknown_tag_preserved_and_eol_stops() {
        let raw = [
            0x11, 0x65, 0x12, 0x34, 0x00, 0x0f, 0x09, 0x99, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0x00,
            0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00,
        ];
        let p = DiscoveryPacket::parse(&raw).unwrap();
        assert_eq!(p.session_id, 0x1234);
        assert_eq!(
            p.tags,
            vec![Tag::Unknown { tag_type: 0x0999, data: vec![0xaa, 0xbb, 0xcc] }, Tag::EndOfList]
        );
        assert_eq!(DiscoveryPacket::parse(&p.to_vec().unwrap()).unwrap(), p);
    }

    #[test]
    fn malformed() {
        assert_eq!(DiscoveryPacket::parse(&[0x12, 0x09]), Err(Error::VersionType(0x12)));
        assert_eq!(DiscoveryPacket::parse(&[0x11, 0x42]), Err(Error::UnknownCode(0x42)));
        // LENGTH larger than the frame.
        let mut long = PADI;
        long[5] = 0x30;
        assert!(matches!(DiscoveryPacket::parse(&long), Err(Error::BadLength { .. })));
        // Tag running past LENGTH.
        let mut tag = PADI;
        tag[13] = 0x10;
        assert!(DiscoveryPacket::parse(&tag).is_err());
        for n in 0..28 {
            let _ = DiscoveryPacket::parse(&PADI[..n]);
        }
        // A wrongly sized PPP-Max-Payload stays Unknown.
        let odd = [0x11, 0x09, 0, 0, 0, 5, 0x01, 0x20, 0, 1, 7];
        let p = DiscoveryPacket::parse(&odd).unwrap();
        assert_eq!(p.tags, vec![Tag::Unknown { tag_type: 0x0120, data: vec![7] }]);
    }
}
