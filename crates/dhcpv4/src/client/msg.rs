//! The client's messages (RFC 2131 §4.4.1, Table 5): built from the config and the state.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};

use crate::client::ClientConfig;
use crate::{SERVER_PORT, Transmit};

/// Parameter Request List (55): mask, router, DNS, domain, MTU, broadcast, NTP, lease time,
/// server id, T1, T2, classless static routes.
pub const PARAMETER_REQUEST_LIST: [u8; 12] =
    [0x01, 0x03, 0x06, 0x0f, 0x1a, 0x1c, 0x2a, 0x33, 0x36, 0x3a, 0x3b, 0x79];

/// 255.255.255.255 port 67.
pub(crate) fn broadcast() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT)
}

/// The server's port 67.
pub(crate) fn unicast(server: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(server, SERVER_PORT)
}

/// What differs between the client's messages (Table 5).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing {
    pub(crate) kind: MessageType,
    pub(crate) xid: u32,
    pub(crate) secs: u16,
    /// `ciaddr`: set in RENEWING, REBINDING and RELEASE.
    pub(crate) ciaddr: Ipv4Addr,
    /// Requested IP Address (50): SELECTING and INIT-REBOOT.
    pub(crate) requested: Option<Ipv4Addr>,
    /// Server Identifier (54): SELECTING and RELEASE.
    pub(crate) server_id: Option<Ipv4Addr>,
    pub(crate) dst: SocketAddrV4,
}

impl Outgoing {
    /// Builds and encodes the message. `None` only if dhcproto cannot encode it (a host name
    /// over 255 bytes, say).
    pub(crate) fn build(&self, cfg: &ClientConfig, rapid_commit: bool) -> Option<Transmit> {
        let mut m = Message::default();
        m.set_xid(self.xid).set_secs(self.secs).set_ciaddr(self.ciaddr).set_chaddr(&cfg.chaddr);
        // §4.1: a client "that cannot receive unicast IP datagrams until its protocol software
        // has been configured with an IP address SHOULD set the BROADCAST bit".
        if cfg.broadcast_flag && self.ciaddr.is_unspecified() {
            m.set_flags(Flags::default().set_broadcast());
        }
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(self.kind));
        o.insert(DhcpOption::ClientIdentifier(cfg.client_id.clone()));
        if let Some(a) = self.requested {
            o.insert(DhcpOption::RequestedIpAddress(a));
        }
        if let Some(s) = self.server_id {
            o.insert(DhcpOption::ServerIdentifier(s));
        }
        if self.kind != MessageType::Release {
            o.insert(DhcpOption::MaxMessageSize(cfg.max_message_size.max(576)));
            let prl = PARAMETER_REQUEST_LIST.iter().map(|&c| OptionCode::from(c)).collect();
            o.insert(DhcpOption::ParameterRequestList(prl));
            if let Some(h) = &cfg.hostname {
                o.insert(DhcpOption::Hostname(h.clone()));
            }
            if let Some(v) = &cfg.vendor_class {
                o.insert(DhcpOption::ClassIdentifier(v.clone()));
            }
        }
        if rapid_commit && self.kind == MessageType::Discover {
            o.insert(DhcpOption::RapidCommit);
        }
        let payload = crate::wire::emit(&m)?;
        Some(Transmit { dst: self.dst, payload })
    }
}
