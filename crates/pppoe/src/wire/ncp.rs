//! IPCP options (RFC 1332 §3, RFC 1877 §1) and IPv6CP options (RFC 5072 §4).

use std::net::Ipv4Addr;

use super::control::ConfigOption;
use super::proto;

/// An IPCP option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpcpOption {
    /// Type 3: IP-Address (RFC 1332 §3.3).
    IpAddress(Ipv4Addr),
    /// Type 129: Primary-DNS-Address (RFC 1877 §1.1).
    PrimaryDns(Ipv4Addr),
    /// Type 131: Secondary-DNS-Address (RFC 1877 §1.3).
    SecondaryDns(Ipv4Addr),
    /// Any other type (IP-Compression-Protocol, NBNS, ...), or a malformed length, verbatim.
    Unknown {
        /// Type.
        kind: u8,
        /// Data.
        data: Vec<u8>,
    },
}

impl ConfigOption for IpcpOption {
    const PROTOCOL: u16 = proto::IPCP;
    const LCP_CODES: bool = false;

    fn parse(kind: u8, data: &[u8]) -> Self {
        match (kind, data) {
            (0x03, &[a, b, c, d]) => IpcpOption::IpAddress(Ipv4Addr::new(a, b, c, d)),
            (0x81, &[a, b, c, d]) => IpcpOption::PrimaryDns(Ipv4Addr::new(a, b, c, d)),
            (0x83, &[a, b, c, d]) => IpcpOption::SecondaryDns(Ipv4Addr::new(a, b, c, d)),
            (kind, data) => IpcpOption::Unknown { kind, data: data.to_vec() },
        }
    }

    fn kind(&self) -> u8 {
        match self {
            IpcpOption::IpAddress(_) => 0x03,
            IpcpOption::PrimaryDns(_) => 0x81,
            IpcpOption::SecondaryDns(_) => 0x83,
            IpcpOption::Unknown { kind, .. } => *kind,
        }
    }

    fn emit_data(&self, out: &mut Vec<u8>) {
        match self {
            IpcpOption::IpAddress(a) | IpcpOption::PrimaryDns(a) | IpcpOption::SecondaryDns(a) => {
                out.extend_from_slice(&a.octets())
            }
            IpcpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// An IPv6CP option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ipv6cpOption {
    /// Type 1: Interface-Identifier, 64 bits (RFC 5072 §4.1).
    InterfaceId(u64),
    /// Any other type (IPv6-Compression-Protocol, ...), or a malformed length, verbatim.
    Unknown {
        /// Type.
        kind: u8,
        /// Data.
        data: Vec<u8>,
    },
}

impl ConfigOption for Ipv6cpOption {
    const PROTOCOL: u16 = proto::IPV6CP;
    const LCP_CODES: bool = false;

    fn parse(kind: u8, data: &[u8]) -> Self {
        match (kind, <[u8; 8]>::try_from(data)) {
            (0x01, Ok(id)) => Ipv6cpOption::InterfaceId(u64::from_be_bytes(id)),
            _ => Ipv6cpOption::Unknown { kind, data: data.to_vec() },
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Ipv6cpOption::InterfaceId(_) => 0x01,
            Ipv6cpOption::Unknown { kind, .. } => *kind,
        }
    }

    fn emit_data(&self, out: &mut Vec<u8>) {
        match self {
            Ipv6cpOption::InterfaceId(id) => out.extend_from_slice(&id.to_be_bytes()),
            Ipv6cpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::CpPacket;

    // Hand-built from RFC 1332 §3.3 and RFC 1877 §1: a host's first IPCP Configure-Request
    // (id 1) asking for an address and both DNS servers, plus VJ compression (type 2, kept
    // verbatim so it can be rejected).
    const IPCP_REQ: [u8; 28] = [
        0x01, 0x01, 0x00, 0x1c, 0x03, 0x06, 0, 0, 0, 0, 0x81, 0x06, 0, 0, 0, 0, 0x83, 0x06, 0, 0,
        0, 0, 0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01,
    ];

    #[test]
    fn ipcp_quartet() {
        let want = CpPacket::ConfigureRequest {
            id: 1,
            options: vec![
                IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
                IpcpOption::PrimaryDns(Ipv4Addr::UNSPECIFIED),
                IpcpOption::SecondaryDns(Ipv4Addr::UNSPECIFIED),
                IpcpOption::Unknown { kind: 2, data: vec![0x00, 0x2d, 0x0f, 0x01] },
            ],
        };
        assert_eq!(CpPacket::<IpcpOption>::parse(&IPCP_REQ).unwrap(), want);
        assert_eq!(want.to_vec().unwrap(), IPCP_REQ);
    }

    // Hand-built from RFC 5072 §4.1: Configure-Nak (id 2) suggesting interface identifier
    // 0x0211:22ff:fe33:4455.
    const IPV6CP_NAK: [u8; 14] =
        [0x03, 0x02, 0x00, 0x0e, 0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];

    #[test]
    fn ipv6cp_quartet() {
        let want = CpPacket::ConfigureNak {
            id: 2,
            options: vec![Ipv6cpOption::InterfaceId(0x0211_22ff_fe33_4455)],
        };
        assert_eq!(CpPacket::<Ipv6cpOption>::parse(&IPV6CP_NAK).unwrap(), want);
        assert_eq!(want.to_vec().unwrap(), IPV6CP_NAK);
        assert_eq!(
            Ipv6cpOption::parse(1, &[1, 2]),
            Ipv6cpOption::Unknown { kind: 1, data: vec![1, 2] }
        );
    }
}
