//! Reply construction: header fields (RFC 2131 Table 3), options, and where replies go
//! (RFC 2131 §4.1).

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::Name;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption};
use ipnet::Ipv4Net;

use crate::server::config::ServerConfig;
use crate::{CLIENT_PORT, SERVER_PORT};

/// The options a lease carries, built once from the configuration.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Always sent: subnet mask, routers, DNS servers, domain name.
    always: Vec<DhcpOption>,
    /// Sent when asked for in option 55 (or when there is no option 55).
    on_request: Vec<DhcpOption>,
    lease_time: u32,
    t1: u32,
    t2: u32,
}

impl LeaseOptions {
    /// Builds the option set of `cfg`.
    pub fn new(cfg: &ServerConfig) -> Self {
        let mut always = vec![DhcpOption::SubnetMask(cfg.subnet.netmask())];
        if !cfg.routers.is_empty() {
            always.push(DhcpOption::Router(cfg.routers.clone()));
        }
        if !cfg.dns_servers.is_empty() {
            always.push(DhcpOption::DomainNameServer(cfg.dns_servers.clone()));
        }
        if let Some(d) = &cfg.domain_name {
            always.push(DhcpOption::DomainName(d.clone()));
        }
        let mut on_request = Vec::new();
        if let Some(mtu) = cfg.mtu {
            on_request.push(DhcpOption::InterfaceMtu(mtu));
        }
        if !cfg.ntp_servers.is_empty() {
            on_request.push(DhcpOption::NtpServers(cfg.ntp_servers.clone()));
        }
        let search: Vec<Name> =
            cfg.domain_search.iter().filter_map(|d| Name::from_ascii(d).ok()).collect();
        if !search.is_empty() {
            on_request.push(DhcpOption::DomainSearch(search));
        }
        if let Some(routes) = classless_routes(cfg) {
            on_request.push(DhcpOption::ClasslessStaticRoute(routes));
        }
        for (code, data) in &cfg.extra_options {
            let opt = UnknownOption::new(OptionCode::from(*code), data.clone());
            on_request.push(DhcpOption::Unknown(opt));
        }
        LeaseOptions { always, on_request, lease_time: cfg.lease_time, t1: cfg.t1(), t2: cfg.t2() }
    }

    /// Adds the configuration options to `m`; with `lease` also 51, 58 and 59.
    pub fn add_to(&self, m: &mut Message, req: &Message, lease: bool) {
        let prl = match req.opts().get(OptionCode::ParameterRequestList) {
            Some(DhcpOption::ParameterRequestList(l)) => Some(l),
            _ => None,
        };
        let opts = m.opts_mut();
        for o in &self.always {
            opts.insert(o.clone());
        }
        for o in &self.on_request {
            let code = u8::from(OptionCode::from(o));
            if prl.is_none_or(|l| l.iter().any(|&c| u8::from(c) == code)) {
                opts.insert(o.clone());
            }
        }
        if lease {
            opts.insert(DhcpOption::AddressLeaseTime(self.lease_time));
            opts.insert(DhcpOption::Renewal(self.t1));
            opts.insert(DhcpOption::Rebinding(self.t2));
        }
    }
}

/// RFC 3442 routes, with a default route through the first router added when there is
/// none: "If the DHCP server returns both a Classless Static Routes option and a Router
/// option, the DHCP client MUST ignore the Router option" (§2).
fn classless_routes(cfg: &ServerConfig) -> Option<Vec<(Ipv4Net, Ipv4Addr)>> {
    if cfg.routes.is_empty() {
        return None;
    }
    let mut routes = cfg.routes.clone();
    if let Some(&gw) = cfg.routers.first() {
        if !routes.iter().any(|(n, _)| n.prefix_len() == 0) {
            routes.push((Ipv4Net::default(), gw));
        }
    }
    Some(routes)
}

/// A reply to `req` of type `kind` with the header fields of RFC 2131 Table 3, the
/// server identifier, and the relay agent information (82) copied back (RFC 3046 §2.2).
pub fn base(server_id: Ipv4Addr, req: &Message, kind: MessageType, yiaddr: Ipv4Addr) -> Message {
    let unspec = Ipv4Addr::UNSPECIFIED;
    // Table 3: ciaddr is 0 except in an ACK, where it is the request's.
    let ciaddr = if kind == MessageType::Ack { req.ciaddr() } else { unspec };
    let mut m = Message::new_with_id(req.xid(), ciaddr, yiaddr, unspec, req.giaddr(), req.chaddr());
    m.set_opcode(Opcode::BootReply).set_htype(req.htype()).set_flags(req.flags());
    if kind == MessageType::Nak && !req.giaddr().is_unspecified() {
        // §4.3.2: "the server MUST set the broadcast bit in the DHCPNAK" sent to a relay.
        m.set_flags(Flags::default().set_broadcast());
    }
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ServerIdentifier(server_id));
    if let Some(rai) = req.opts().get(OptionCode::RelayAgentInformation) {
        opts.insert(rai.clone());
    }
    m
}

/// Where a reply to `req` goes (RFC 2131 §4.1).
pub fn destination(req: &Message, kind: MessageType) -> SocketAddrV4 {
    let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
    if !req.giaddr().is_unspecified() {
        // "If the 'giaddr' field ... is not zero, the server sends any return messages to
        // the 'DHCP server' port on the BOOTP relay agent whose address appears in 'giaddr'."
        return SocketAddrV4::new(req.giaddr(), SERVER_PORT);
    }
    if kind == MessageType::Nak {
        // "In all cases, when 'giaddr' is zero, the server broadcasts any DHCPNAK messages".
        return bcast;
    }
    if !req.ciaddr().is_unspecified() {
        // "If the 'giaddr' field is zero and the 'ciaddr' field is nonzero, then the server
        // unicasts DHCPOFFER and DHCPACK messages to the address in 'ciaddr'."
        return SocketAddrV4::new(req.ciaddr(), CLIENT_PORT);
    }
    // Broadcast bit set: broadcast. Not set: §4.1 asks for unicast to chaddr/yiaddr, which
    // needs an ARP entry the client cannot answer for yet; we broadcast (see the crate doc).
    bcast
}
