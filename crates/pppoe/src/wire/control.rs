//! PPP control packets shared by LCP, IPCP and IPv6CP (RFC 1661 §5): one generic packet type
//! over a per-protocol option type.

use std::fmt::Debug;

use super::{Error, Writer, get_u8, get_u16, get_u32, len_u8, len_u16, split};

/// A configuration option of one control protocol (RFC 1661 §6 format: Type, Length, Data).
pub trait ConfigOption: Clone + Debug + PartialEq + Eq {
    /// The PPP protocol number the options belong to.
    const PROTOCOL: u16;
    /// Whether codes 8..=11 (Protocol-Reject, Echo, Discard) exist: true only for LCP.
    const LCP_CODES: bool;

    /// Builds an option from its type and data. A known type with a malformed length must come
    /// back as the protocol's `Unknown` variant so that it can be rejected byte for byte.
    fn parse(kind: u8, data: &[u8]) -> Self;
    /// The Type octet.
    fn kind(&self) -> u8;
    /// Writes the option's data (without Type and Length).
    fn emit_data(&self, out: &mut Vec<u8>);
}

/// Writes a list of options in RFC 1661 §6 format into `out`.
fn emit_options<O: ConfigOption>(options: &[O], out: &mut Vec<u8>) -> Result<(), Error> {
    for option in options {
        let at = out.len();
        out.push(option.kind());
        out.push(0);
        option.emit_data(out);
        let len = len_u8(out.len().saturating_sub(at))?;
        if let Some(slot) = out.get_mut(at.saturating_add(1)) {
            *slot = len;
        }
    }
    Ok(())
}

/// Parses a list of options; any option with Length < 2 or past the end fails the packet.
fn parse_options<O: ConfigOption>(mut buf: &[u8]) -> Result<Vec<O>, Error> {
    let mut options = Vec::new();
    while !buf.is_empty() {
        let kind = get_u8(buf, 0)?;
        let len = usize::from(get_u8(buf, 1)?);
        if len < 2 {
            return Err(Error::BadLength { offset: 1, len });
        }
        let (option, rest) = split(buf, len)?;
        options.push(O::parse(kind, option.get(2..).unwrap_or_default()));
        buf = rest;
    }
    Ok(options)
}

/// A PPP control packet (RFC 1661 §5), generic over the protocol's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpPacket<O> {
    /// Code 1 (§5.1).
    ConfigureRequest {
        /// Identifier.
        id: u8,
        /// Options requested.
        options: Vec<O>,
    },
    /// Code 2 (§5.2).
    ConfigureAck {
        /// Identifier of the acknowledged request.
        id: u8,
        /// The request's options, verbatim.
        options: Vec<O>,
    },
    /// Code 3 (§5.3).
    ConfigureNak {
        /// Identifier of the request.
        id: u8,
        /// Acceptable values for the options that were not.
        options: Vec<O>,
    },
    /// Code 4 (§5.4).
    ConfigureReject {
        /// Identifier of the request.
        id: u8,
        /// The unacceptable options, verbatim.
        options: Vec<O>,
    },
    /// Code 5 (§5.5).
    TerminateRequest {
        /// Identifier.
        id: u8,
        /// Uninterpreted data.
        data: Vec<u8>,
    },
    /// Code 6 (§5.5).
    TerminateAck {
        /// Identifier.
        id: u8,
        /// Uninterpreted data.
        data: Vec<u8>,
    },
    /// Code 7 (§5.6).
    CodeReject {
        /// Identifier.
        id: u8,
        /// The rejected packet (from its Information field on).
        rejected: Vec<u8>,
    },
    /// Code 8, LCP only (§5.7).
    ProtocolReject {
        /// Identifier.
        id: u8,
        /// The rejected protocol.
        protocol: u16,
        /// The rejected information.
        rejected: Vec<u8>,
    },
    /// Code 9, LCP only (§5.8).
    EchoRequest {
        /// Identifier.
        id: u8,
        /// Sender's Magic-Number, or 0.
        magic: u32,
        /// Uninterpreted data.
        data: Vec<u8>,
    },
    /// Code 10, LCP only (§5.8).
    EchoReply {
        /// Identifier of the request.
        id: u8,
        /// Sender's Magic-Number, or 0.
        magic: u32,
        /// The request's data.
        data: Vec<u8>,
    },
    /// Code 11, LCP only (§5.9).
    DiscardRequest {
        /// Identifier.
        id: u8,
        /// Sender's Magic-Number, or 0.
        magic: u32,
        /// Uninterpreted data.
        data: Vec<u8>,
    },
    /// Any code the protocol does not define: answered with Code-Reject (RUC event).
    Unknown {
        /// Code.
        code: u8,
        /// Identifier.
        id: u8,
        /// Data.
        data: Vec<u8>,
    },
}

impl<O: ConfigOption> CpPacket<O> {
    /// Parses a packet (the PPP payload after the protocol field), trimmed to its Length field
    /// (RFC 1661 §5: "Octets outside the range of the Length field are treated as padding").
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let code = get_u8(buf, 0)?;
        let id = get_u8(buf, 1)?;
        let len = usize::from(get_u16(buf, 2)?);
        if len < 4 {
            return Err(Error::BadLength { offset: 2, len });
        }
        let (packet, _padding) = split(buf, len)?;
        let (_, data) = split(packet, 4)?;
        let magic = || get_u32(data, 0);
        let after_magic = || data.get(4..).unwrap_or_default().to_vec();
        Ok(match (code, O::LCP_CODES) {
            (0x01, _) => CpPacket::ConfigureRequest { id, options: parse_options(data)? },
            (0x02, _) => CpPacket::ConfigureAck { id, options: parse_options(data)? },
            (0x03, _) => CpPacket::ConfigureNak { id, options: parse_options(data)? },
            (0x04, _) => CpPacket::ConfigureReject { id, options: parse_options(data)? },
            (0x05, _) => CpPacket::TerminateRequest { id, data: data.to_vec() },
            (0x06, _) => CpPacket::TerminateAck { id, data: data.to_vec() },
            (0x07, _) => CpPacket::CodeReject { id, rejected: data.to_vec() },
            (0x08, true) => CpPacket::ProtocolReject {
                id,
                protocol: get_u16(data, 0)?,
                rejected: data.get(2..).unwrap_or_default().to_vec(),
            },
            (0x09, true) => CpPacket::EchoRequest { id, magic: magic()?, data: after_magic() },
            (0x0a, true) => CpPacket::EchoReply { id, magic: magic()?, data: after_magic() },
            (0x0b, true) => CpPacket::DiscardRequest { id, magic: magic()?, data: after_magic() },
            (code, _) => CpPacket::Unknown { code, id, data: data.to_vec() },
        })
    }

    /// The packet's Code octet.
    pub fn code(&self) -> u8 {
        match self {
            CpPacket::ConfigureRequest { .. } => 0x01,
            CpPacket::ConfigureAck { .. } => 0x02,
            CpPacket::ConfigureNak { .. } => 0x03,
            CpPacket::ConfigureReject { .. } => 0x04,
            CpPacket::TerminateRequest { .. } => 0x05,
            CpPacket::TerminateAck { .. } => 0x06,
            CpPacket::CodeReject { .. } => 0x07,
            CpPacket::ProtocolReject { .. } => 0x08,
            CpPacket::EchoRequest { .. } => 0x09,
            CpPacket::EchoReply { .. } => 0x0a,
            CpPacket::DiscardRequest { .. } => 0x0b,
            CpPacket::Unknown { code, .. } => *code,
        }
    }

    /// The packet's Identifier.
    pub fn id(&self) -> u8 {
        match self {
            CpPacket::ConfigureRequest { id, .. }
            | CpPacket::ConfigureAck { id, .. }
            | CpPacket::ConfigureNak { id, .. }
            | CpPacket::ConfigureReject { id, .. }
            | CpPacket::TerminateRequest { id, .. }
            | CpPacket::TerminateAck { id, .. }
            | CpPacket::CodeReject { id, .. }
            | CpPacket::ProtocolReject { id, .. }
            | CpPacket::EchoRequest { id, .. }
            | CpPacket::EchoReply { id, .. }
            | CpPacket::DiscardRequest { id, .. }
            | CpPacket::Unknown { id, .. } => *id,
        }
    }

    /// The packet as bytes (Code, Identifier, Length, data).
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut out = vec![self.code(), self.id(), 0, 0];
        match self {
            CpPacket::ConfigureRequest { options, .. }
            | CpPacket::ConfigureAck { options, .. }
            | CpPacket::ConfigureNak { options, .. }
            | CpPacket::ConfigureReject { options, .. } => emit_options(options, &mut out)?,
            CpPacket::TerminateRequest { data, .. }
            | CpPacket::TerminateAck { data, .. }
            | CpPacket::CodeReject { rejected: data, .. }
            | CpPacket::Unknown { data, .. } => out.extend_from_slice(data),
            CpPacket::ProtocolReject { protocol, rejected, .. } => {
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(rejected);
            }
            CpPacket::EchoRequest { magic, data, .. }
            | CpPacket::EchoReply { magic, data, .. }
            | CpPacket::DiscardRequest { magic, data, .. } => {
                out.extend_from_slice(&magic.to_be_bytes());
                out.extend_from_slice(data);
            }
        }
        let len = len_u16(out.len())?.to_be_bytes();
        let mut w = Writer::new(out.get_mut(2..4).unwrap_or_default());
        w.bytes(&len)?;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::LcpOption;
    use super::*;

    type Lcp = CpPacket<LcpOption>;

    // Hand-built from RFC 1661 §5.7: Protocol-Reject (id 3) of an IPv6CP frame whose
    // Configure-Request begins 01 01 00 0e.
    const PROTO_REJ: [u8; 10] = [0x08, 0x03, 0x00, 0x0a, 0x80, 0x57, 0x01, 0x01, 0x00, 0x0e];

    #[test]
    fn protocol_reject_quartet() {
        let p = Lcp::parse(&PROTO_REJ).unwrap();
        let want = Lcp::ProtocolReject { id: 3, protocol: 0x8057, rejected: vec![1, 1, 0, 0x0e] };
        assert_eq!(p, want);
        assert_eq!(want.to_vec().unwrap(), PROTO_REJ);
    }

    #[test]
    fn lcp_only_codes_are_unknown_elsewhere() {
        use super::super::IpcpOption;
        let p = CpPacket::<IpcpOption>::parse(&PROTO_REJ).unwrap();
        assert_eq!(p, CpPacket::Unknown { code: 8, id: 3, data: PROTO_REJ[4..].to_vec() });
        assert_eq!(p.to_vec().unwrap(), PROTO_REJ);
    }

    #[test]
    fn malformed() {
        assert!(Lcp::parse(&[1, 1, 0, 3]).is_err());
        assert!(Lcp::parse(&[1, 1, 0, 9, 1, 4, 5]).is_err());
        // Option length 1.
        assert!(Lcp::parse(&[1, 1, 0, 6, 1, 1]).is_err());
        // Echo without a magic number.
        assert!(Lcp::parse(&[9, 1, 0, 6, 0, 0]).is_err());
        for n in 0..PROTO_REJ.len() {
            let _ = Lcp::parse(&PROTO_REJ[..n]);
        }
    }

    #[test]
    fn padding_is_trimmed() {
        let mut padded = PROTO_REJ.to_vec();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(Lcp::parse(&padded).unwrap(), Lcp::parse(&PROTO_REJ).unwrap());
    }
}
