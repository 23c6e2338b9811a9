//! LCP configuration options (RFC 1661 §6, RFC 1994 §3 for CHAP's algorithm octet).

use super::control::ConfigOption;
use super::proto;

/// The value of an Authentication-Protocol option (RFC 1661 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// PAP, 0xc023 (RFC 1334).
    Pap,
    /// CHAP with MD5, 0xc223 algorithm 5 (RFC 1994 §3).
    ChapMd5,
    /// Anything else (MS-CHAP, EAP, ...), verbatim.
    Other {
        /// Protocol number.
        protocol: u16,
        /// Any data after it.
        data: Vec<u8>,
    },
}

/// An LCP option. Options this crate does not negotiate (ACCM, PFC, ACFC, ...) are kept
/// verbatim in `Unknown` so that they can be Configure-Rejected byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LcpOption {
    /// Type 1: Maximum-Receive-Unit.
    Mru(u16),
    /// Type 3: Authentication-Protocol.
    AuthProtocol(AuthProtocol),
    /// Type 5: Magic-Number.
    MagicNumber(u32),
    /// Any other type, or a known type with a malformed length.
    Unknown {
        /// Type.
        kind: u8,
        /// Data, without Type and Length.
        data: Vec<u8>,
    },
}

impl ConfigOption for LcpOption {
    const PROTOCOL: u16 = proto::LCP;
    const LCP_CODES: bool = true;

    fn parse(kind: u8, data: &[u8]) -> Self {
        match (kind, data) {
            (0x01, &[a, b]) => LcpOption::Mru(u16::from_be_bytes([a, b])),
            (0x03, &[0xc0, 0x23]) => LcpOption::AuthProtocol(AuthProtocol::Pap),
            (0x03, &[0xc2, 0x23, 0x05]) => LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
            (0x03, &[a, b, ref rest @ ..]) => LcpOption::AuthProtocol(AuthProtocol::Other {
                protocol: u16::from_be_bytes([a, b]),
                data: rest.to_vec(),
            }),
            (0x05, &[a, b, c, d]) => LcpOption::MagicNumber(u32::from_be_bytes([a, b, c, d])),
            (kind, data) => LcpOption::Unknown { kind, data: data.to_vec() },
        }
    }

    fn kind(&self) -> u8 {
        match self {
            LcpOption::Mru(_) => 0x01,
            LcpOption::AuthProtocol(_) => 0x03,
            LcpOption::MagicNumber(_) => 0x05,
            LcpOption::Unknown { kind, .. } => *kind,
        }
    }

    fn emit_data(&self, out: &mut Vec<u8>) {
        match self {
            LcpOption::Mru(v) => out.extend_from_slice(&v.to_be_bytes()),
            LcpOption::AuthProtocol(AuthProtocol::Pap) => {
                out.extend_from_slice(&proto::PAP.to_be_bytes())
            }
            LcpOption::AuthProtocol(AuthProtocol::ChapMd5) => {
                out.extend_from_slice(&proto::CHAP.to_be_bytes());
                out.push(0x05);
            }
            LcpOption::AuthProtocol(AuthProtocol::Other { protocol, data }) => {
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(data);
            }
            LcpOption::MagicNumber(v) => out.extend_from_slice(&v.to_be_bytes()),
            LcpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::CpPacket;

    // Hand-built from RFC 1661 §6 / RFC 1994 §3 in the shape an access concentrator sends:
    // Configure-Request id 1 with MRU 1492, Auth-Protocol CHAP-MD5, Magic-Number 0x1a2b3c4d,
    // and ACFC (type 8, which we do not negotiate and keep verbatim); two bytes of padding.
    const CONF_REQ: [u8; 23] = [
        0x01, 0x01, 0x00, 0x15, 0x01, 0x04, 0x05, 0xd4, 0x03, 0x05, 0xc2, 0x23, 0x05, 0x05, 0x06,
        0x1a, 0x2b, 0x3c, 0x4d, 0x08, 0x02, 0x00, 0x00,
    ];

    fn repr() -> CpPacket<LcpOption> {
        CpPacket::ConfigureRequest {
            id: 1,
            options: vec![
                LcpOption::Mru(1492),
                LcpOption::AuthProtocol(AuthProtocol::ChapMd5),
                LcpOption::MagicNumber(0x1a2b_3c4d),
                LcpOption::Unknown { kind: 8, data: vec![] },
            ],
        }
    }

    #[test]
    fn quartet() {
        let p = CpPacket::<LcpOption>::parse(&CONF_REQ).unwrap();
        assert_eq!(p, repr());
        match &p {
            CpPacket::ConfigureRequest { options, .. } => {
                assert_eq!(options[0], LcpOption::Mru(1492));
            }
            _ => unreachable!(),
        }
        assert_eq!(repr().to_vec().unwrap(), &CONF_REQ[..21]);
    }

    #[test]
    fn auth_protocol_variants() {
        let ms_chap = LcpOption::parse(3, &[0xc2, 0x23, 0x80]);
        assert_eq!(
            ms_chap,
            LcpOption::AuthProtocol(AuthProtocol::Other { protocol: 0xc223, data: vec![0x80] })
        );
        let mut out = vec![];
        ms_chap.emit_data(&mut out);
        assert_eq!(out, [0xc2, 0x23, 0x80]);
        // A wrongly sized MRU is kept verbatim.
        assert_eq!(LcpOption::parse(1, &[5]), LcpOption::Unknown { kind: 1, data: vec![5] });
        assert_eq!(LcpOption::parse(3, &[0xc0]), LcpOption::Unknown { kind: 3, data: vec![0xc0] });
    }
}
