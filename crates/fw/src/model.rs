//! The router's policy: configuration plus current state in, a [`Ruleset`] out.
//!
//! Defaults are safe before anything is configured: inbound from the WAN is dropped except
//! established and related traffic, the ICMPv6 of RFC 4890 and DHCP replies to the router's
//! client ports; the LANs reach the router's DHCP, DNS and RA and may go out to the WAN;
//! the WAN reaches a LAN only through port forwards (IPv4) and pinholes (IPv6).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::Error;
use crate::ir::{
    Action, BaseChain, Chain, ChainKind, CtState, Flowtable, Hook, IpVersion, L4, Match, Policy,
    PortMap, PortMapping, Rule, Ruleset,
};

/// The transport protocol of a port forward, pinhole or open port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Both TCP and UDP (two rules).
    Both,
}

impl Proto {
    fn l4s(self) -> &'static [L4] {
        match self {
            Proto::Tcp => &[L4::Tcp],
            Proto::Udp => &[L4::Udp],
            Proto::Both => &[L4::Tcp, L4::Udp],
        }
    }
}

/// A LAN zone: one interface, its IPv4 subnet if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lan {
    /// The zone's name (`lan`, `guest`, `cluster` ...), used in rule comments.
    pub name: String,
    /// Its interface.
    pub interface: String,
    /// Its IPv4 subnet (`192.168.1.0/24`), for NAT reflection.
    pub ipv4: Option<Ipv4Net>,
}

/// An additional upstream link (KPN's IPTV VLAN): the LANs may reach it, nothing from it
/// reaches the router or the LANs but replies, DHCP for the router's own lease and, with
/// `multicast`, IGMP and the multicast the proxy asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraWan {
    /// Its zone name (`iptv`), for rule comments.
    pub name: String,
    /// Its interface.
    pub interface: String,
    /// Masquerade what the LANs send out of it (the ISP routes only the router's address).
    pub nat: bool,
    /// Its multicast goes to the LANs (an IGMP proxy upstream): IGMP accepted on it and on
    /// the LANs, and IPv4 multicast forwarded from it to the LANs.
    pub multicast: bool,
}

/// Inbound IPv4 from the WAN to a LAN host (DNAT and the matching forward accept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// Its name (a rule comment, and what `routerctl` shows).
    pub name: String,
    /// TCP, UDP or both.
    pub proto: Proto,
    /// The public port.
    pub port: u16,
    /// The inside host.
    pub to: Ipv4Addr,
    /// The inside port.
    pub to_port: u16,
}

/// Inbound IPv6 from the WAN to a LAN host, named by its interface identifier so it
/// survives prefix changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinhole {
    /// Its name.
    pub name: String,
    /// The LAN zone the host is in (by [`Lan::name`]).
    pub lan: String,
    /// The host's address suffix (`::10`), compared under [`Pinhole::suffix_len`] bits.
    pub host_suffix: Ipv6Addr,
    /// How many low bits of the address to compare (64: the interface identifier).
    pub suffix_len: u8,
    /// TCP, UDP or both.
    pub proto: Proto,
    /// The port.
    pub port: u16,
}

/// A service of the router itself opened to the WAN (an SSH port for the owner, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPort {
    /// Its name.
    pub name: String,
    /// TCP, UDP or both.
    pub proto: Proto,
    /// The port.
    pub port: u16,
}

/// A role in the split deployment (DESIGN.md, "Split deployment").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// The WAN side only, passing everything through to the gateway behind the DMZ link,
    /// which filters.
    Ingress {
        /// The DMZ interface, towards the gateway.
        dmz: String,
        /// The gateway's DMZ address: every inbound IPv4 connection to the public address
        /// that no port forward takes is sent to it (DNAT), as if it held the address.
        gateway: Option<Ipv4Addr>,
    },
    /// The gateway: its WAN is the DMZ link, where it gives the ingress its address by
    /// DHCPv4.
    Gateway,
}

/// The firewall's part of the router configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwConfig {
    /// The nftables table the router owns (`routerd`).
    pub table: String,
    /// The WAN interface (`ppp0`, or the Ethernet WAN for DHCP/static).
    pub wan: String,
    /// Clamp TCP MSS to the route MTU on forwarded SYNs (on for PPPoE, MTU 1492).
    pub clamp_mss: bool,
    /// The LAN zones.
    pub lans: Vec<Lan>,
    /// Port forwards.
    pub port_forwards: Vec<PortForward>,
    /// IPv6 pinholes.
    pub pinholes: Vec<Pinhole>,
    /// Router services open to the WAN.
    pub open: Vec<OpenPort>,
    /// TCP ports of router services open to the LANs (and only to them): the status page.
    pub lan_tcp: Vec<u16>,
    /// The role in the split deployment, if any.
    pub split: Option<Split>,
    /// Additional upstream links (IPTV).
    pub extra_wans: Vec<ExtraWan>,
    /// The fast path: an nftables flowtable over the WAN, the LANs, the extra WANs and the
    /// DMZ, into which the forward chain puts every established TCP and UDP connection, so
    /// that their packets go past the ruleset. For Ethernet WANs (DHCP, static); a PPPoE
    /// WAN is a TUN device the flowtable cannot take.
    pub fast_path: bool,
}

/// What the router knows now; a change re-applies the ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FwState {
    /// The public IPv4 address, when the WAN has one: port forwards then match it, which
    /// also makes them work from the LAN (NAT reflection).
    pub public_ipv4: Option<Ipv4Addr>,
    /// Interfaces of [`fast_path_devices`] that do not exist now: the fast path's flowtable
    /// leaves them out (the kernel refuses a flowtable over a device it does not have).
    /// Their traffic goes through the ruleset as without the fast path.
    pub absent: Vec<String>,
}

/// ICMPv6 a router must accept for itself (RFC 4890 §4.4): errors, echo, neighbour and
/// router discovery, MLD.
const ICMPV6_TO_ROUTER: &[u8] =
    &[1, 2, 3, 4, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143];
/// ICMPv6 to forward (RFC 4890 §4.3.1, must not be dropped): errors and echo.
const ICMPV6_TRANSIT: &[u8] = &[1, 2, 3, 4, 128, 129];
/// ICMPv4 to the router: echo request, unreachable (PMTU), time exceeded, parameter problem.
const ICMP_TO_ROUTER: &[u8] = &[3, 8, 11, 12];

fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 16
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl FwConfig {
    /// Checks names and ports: interface and object names go into netlink messages and into
    /// `nft` text, so they are kept to a safe alphabet.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::Invalid(what));
        if !valid_name(&self.table) {
            return bad(format!("table name {:?}", self.table));
        }
        if !valid_ifname(&self.wan) {
            return bad(format!("wan interface {:?}", self.wan));
        }
        for l in &self.lans {
            if !valid_name(&l.name) || !valid_ifname(&l.interface) || l.interface == self.wan {
                return bad(format!("lan {:?} on interface {:?}", l.name, l.interface));
            }
        }
        for x in &self.extra_wans {
            let clash =
                x.interface == self.wan || self.lans.iter().any(|l| l.interface == x.interface);
            if !valid_name(&x.name) || !valid_ifname(&x.interface) || clash {
                return bad(format!("extra wan {:?} on interface {:?}", x.name, x.interface));
            }
        }
        // Which forward took each (port, protocol): linear, for 10,000 forwards.
        let mut taken: std::collections::HashMap<(u16, u8), usize> =
            std::collections::HashMap::new();
        for (i, pf) in self.port_forwards.iter().enumerate() {
            if !valid_name(&pf.name) || pf.port == 0 || pf.to_port == 0 {
                return bad(format!("port forward {:?}", pf.name));
            }
            for l4 in pf.proto.l4s() {
                if let Some(&j) = taken.get(&(pf.port, l4.number())) {
                    let other = self.port_forwards.get(j).map(|o| o.name.as_str());
                    return bad(format!(
                        "port forwards {:?} and {:?} both take port {}",
                        other.unwrap_or_default(),
                        pf.name,
                        pf.port
                    ));
                }
                taken.insert((pf.port, l4.number()), i);
            }
        }
        for p in &self.pinholes {
            if !valid_name(&p.name) || p.port == 0 || p.suffix_len == 0 || p.suffix_len > 128 {
                return bad(format!("pinhole {:?}", p.name));
            }
            if !self.lans.iter().any(|l| l.name == p.lan) {
                return bad(format!("pinhole {:?} names unknown lan {:?}", p.name, p.lan));
            }
        }
        for o in &self.open {
            if !valid_name(&o.name) || o.port == 0 {
                return bad(format!("open port {:?}", o.name));
            }
        }
        if let Some(Split::Ingress { dmz, .. }) = &self.split {
            if !valid_ifname(dmz)
                || *dmz == self.wan
                || self.lans.iter().any(|l| l.interface == *dmz)
            {
                return bad(format!("dmz interface {dmz:?}"));
            }
        }
        Ok(())
    }
}

fn base(kind: ChainKind, hook: Hook, priority: i32, policy: Policy) -> Option<BaseChain> {
    Some(BaseChain { kind, hook, priority, policy })
}

fn r(matches: Vec<Match>, action: Action) -> Rule {
    Rule::new(matches, action)
}

/// The rules that start the input and forward chains: conntrack verdicts first.
fn conntrack_head() -> Vec<Rule> {
    vec![
        r(vec![Match::CtState(CtState::ESTABLISHED.or(CtState::RELATED))], Action::Accept),
        r(vec![Match::CtState(CtState::INVALID)], Action::Drop).counted(),
    ]
}

fn input(cfg: &FwConfig) -> Chain {
    let mut rules = conntrack_head();
    rules.push(r(vec![Match::IifName("lo".into())], Action::Accept));
    rules.extend(ICMPV6_TO_ROUTER.iter().map(|t| r(vec![Match::Icmpv6Type(*t)], Action::Accept)));
    rules.extend(ICMP_TO_ROUTER.iter().map(|t| r(vec![Match::IcmpType(*t)], Action::Accept)));
    let wan = Match::IifName(cfg.wan.clone());
    // DHCPv6 replies to our client port, from the server's link-local address (RFC 8415 §7.2),
    // and DHCPv4 replies for an IPoE WAN.
    let ll: IpNet =
        IpNet::V6(Ipv6Net::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10).unwrap_or_default());
    rules.push(r(
        vec![wan.clone(), Match::Saddr(ll), Match::L4Proto(L4::Udp), Match::Dport(546)],
        Action::Accept,
    ));
    rules.push(r(vec![wan.clone(), Match::L4Proto(L4::Udp), Match::Dport(68)], Action::Accept));
    for x in &cfg.extra_wans {
        let iif = Match::IifName(x.interface.clone());
        rules.push(r(vec![iif.clone(), Match::L4Proto(L4::Udp), Match::Dport(68)], Action::Accept));
        if x.multicast {
            // The upstream querier's queries; the LANs' reports and leaves.
            let igmp = Match::L4Proto(L4::Igmp);
            rules.push(
                r(vec![iif, Match::NfProto(IpVersion::V4), igmp.clone()], Action::Accept)
                    .counted()
                    .comment(format!("igmp from {}", x.name)),
            );
            for lan in &cfg.lans {
                let iif = Match::IifName(lan.interface.clone());
                rules.push(
                    r(vec![iif, Match::NfProto(IpVersion::V4), igmp.clone()], Action::Accept)
                        .comment(format!("igmp from {}", lan.name)),
                );
            }
        }
    }
    for lan in &cfg.lans {
        let iif = Match::IifName(lan.interface.clone());
        // DHCPv4, DHCPv6 and DNS for the LAN.
        for port in [67, 547, 53] {
            rules.push(r(
                vec![iif.clone(), Match::L4Proto(L4::Udp), Match::Dport(port)],
                Action::Accept,
            ));
        }
        rules.push(r(vec![iif.clone(), Match::L4Proto(L4::Tcp), Match::Dport(53)], Action::Accept));
        for port in &cfg.lan_tcp {
            rules.push(r(
                vec![iif.clone(), Match::L4Proto(L4::Tcp), Match::Dport(*port)],
                Action::Accept,
            ));
        }
    }
    match &cfg.split {
        Some(Split::Ingress { dmz, .. }) => {
            // The gateway asks for its prefix (DHCPv6 server) and gives our DMZ address
            // (DHCPv4 client).
            let iif = Match::IifName(dmz.clone());
            for port in [547, 68] {
                rules.push(r(
                    vec![iif.clone(), Match::L4Proto(L4::Udp), Match::Dport(port)],
                    Action::Accept,
                ));
            }
        }
        Some(Split::Gateway) => {
            // The ingress asks for its DMZ address.
            rules.push(r(
                vec![wan.clone(), Match::L4Proto(L4::Udp), Match::Dport(67)],
                Action::Accept,
            ));
        }
        None => {}
    }
    for o in &cfg.open {
        for l4 in o.proto.l4s() {
            rules.push(
                r(vec![wan.clone(), Match::L4Proto(*l4), Match::Dport(o.port)], Action::Accept)
                    .counted()
                    .comment(format!("open {}", o.name)),
            );
        }
    }
    rules.push(r(vec![], Action::Continue).counted().comment("dropped by policy"));
    Chain {
        name: "input".into(),
        base: base(ChainKind::Filter, Hook::Input, 0, Policy::Drop),
        rules,
    }
}

/// The fast path's flowtable.
pub const FLOWTABLE: &str = "fastpath";

/// Every interface the router forwards between, which the fast path's flowtable takes:
/// the WAN, the LANs, the extra WANs and the DMZ.
pub fn fast_path_devices(cfg: &FwConfig) -> Vec<String> {
    let mut devices = vec![cfg.wan.clone()];
    devices.extend(cfg.lans.iter().map(|l| l.interface.clone()));
    devices.extend(cfg.extra_wans.iter().map(|x| x.interface.clone()));
    if let Some(Split::Ingress { dmz, .. }) = &cfg.split {
        devices.push(dmz.clone());
    }
    let mut seen = std::collections::HashSet::new();
    devices.retain(|d| seen.insert(d.clone()));
    devices
}

/// The flowtable of the fast path, over those of [`fast_path_devices`] that exist.
fn flowtable(cfg: &FwConfig, st: &FwState) -> Option<Flowtable> {
    if !cfg.fast_path {
        return None;
    }
    let mut devices = fast_path_devices(cfg);
    devices.retain(|d| !st.absent.contains(d));
    (!devices.is_empty()).then(|| Flowtable { name: FLOWTABLE.into(), devices })
}

fn forward(cfg: &FwConfig, flowtable: Option<&Flowtable>) -> Chain {
    let mut rules = Vec::new();
    if cfg.clamp_mss {
        rules.push(r(vec![Match::TcpSyn], Action::ClampMssToPmtu));
    }
    if flowtable.is_some() {
        // Established connections this chain accepted when they were new go to the fast
        // path; the counter counts what reaches it (a flow's packets until the flowtable has
        // it, and those of flows it cannot take).
        for l4 in [L4::Tcp, L4::Udp] {
            rules.push(
                r(
                    vec![Match::L4Proto(l4), Match::CtState(CtState::ESTABLISHED)],
                    Action::FlowAdd(FLOWTABLE.into()),
                )
                .counted()
                .comment(format!("fast path {}", l4_name(l4))),
            );
        }
    }
    rules.extend(conntrack_head());
    let (wan_in, wan_out) = (Match::IifName(cfg.wan.clone()), Match::OifName(cfg.wan.clone()));
    for lan in &cfg.lans {
        rules.push(
            r(vec![Match::IifName(lan.interface.clone()), wan_out.clone()], Action::Accept)
                .counted()
                .comment(format!("{} to wan", lan.name)),
        );
    }
    let multicast: IpNet =
        IpNet::V4(Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).unwrap_or_default());
    for x in &cfg.extra_wans {
        for lan in &cfg.lans {
            let (lan_in, lan_out) =
                (Match::IifName(lan.interface.clone()), Match::OifName(lan.interface.clone()));
            rules.push(
                r(vec![lan_in, Match::OifName(x.interface.clone())], Action::Accept)
                    .counted()
                    .comment(format!("{} to {}", lan.name, x.name)),
            );
            if x.multicast {
                // What the kernel forwards by the IGMP proxy's cache entries.
                rules.push(
                    r(
                        vec![
                            Match::IifName(x.interface.clone()),
                            lan_out,
                            Match::NfProto(IpVersion::V4),
                            Match::Daddr(multicast),
                        ],
                        Action::Accept,
                    )
                    .counted()
                    .comment(format!("{} multicast to {}", x.name, lan.name)),
                );
            }
        }
    }
    if let Some(Split::Ingress { dmz, .. }) = &cfg.split {
        let dmz = (Match::IifName(dmz.clone()), Match::OifName(dmz.clone()));
        rules.push(r(vec![dmz.0, wan_out.clone()], Action::Accept).counted().comment("dmz to wan"));
        // IPv6 is routed, not translated: the gateway filters what reaches its LANs.
        rules.push(
            r(vec![wan_in.clone(), dmz.1, Match::NfProto(IpVersion::V6)], Action::Accept)
                .counted()
                .comment("wan to the gateway (ipv6)"),
        );
    }
    rules.push(r(vec![Match::CtStatusDnat], Action::Accept).counted().comment("port forwards"));
    rules.extend(ICMPV6_TRANSIT.iter().map(|t| r(vec![Match::Icmpv6Type(*t)], Action::Accept)));
    for p in &cfg.pinholes {
        let Some(lan) = cfg.lans.iter().find(|l| l.name == p.lan) else {
            continue;
        };
        let mask =
            Ipv6Addr::from(u128::MAX.checked_shr(128 - u32::from(p.suffix_len)).unwrap_or(0));
        let suffix = Ipv6Addr::from(u128::from(p.host_suffix) & u128::from(mask));
        for l4 in p.proto.l4s() {
            rules.push(
                r(
                    vec![
                        wan_in.clone(),
                        Match::OifName(lan.interface.clone()),
                        Match::Daddr6Suffix { suffix, mask },
                        Match::L4Proto(*l4),
                        Match::Dport(p.port),
                    ],
                    Action::Accept,
                )
                .counted()
                .comment(format!("pinhole {}", p.name)),
            );
        }
    }
    rules.push(r(vec![], Action::Continue).counted().comment("dropped by policy"));
    Chain {
        name: "forward".into(),
        base: base(ChainKind::Filter, Hook::Forward, 0, Policy::Drop),
        rules,
    }
}

/// The port forwards' maps, by protocol.
pub const PORT_MAP_TCP: &str = "forwards_tcp";
/// See [`PORT_MAP_TCP`].
pub const PORT_MAP_UDP: &str = "forwards_udp";

fn l4_name(l4: L4) -> &'static str {
    if l4 == L4::Tcp { "tcp" } else { "udp" }
}

/// The forwards of each protocol as a map. Both maps are there even when empty, so that
/// adding or removing forwards never changes the rest of the table (an element update).
fn port_maps(cfg: &FwConfig) -> Vec<PortMap> {
    [(L4::Tcp, PORT_MAP_TCP), (L4::Udp, PORT_MAP_UDP)]
        .into_iter()
        .map(|(l4, name)| {
            let elements: Vec<PortMapping> = cfg
                .port_forwards
                .iter()
                .filter(|pf| pf.proto.l4s().contains(&l4))
                .map(|pf| PortMapping { port: pf.port, to: pf.to, to_port: pf.to_port })
                .collect();
            PortMap { name: name.into(), elements }
        })
        .collect()
}

/// Which port forward a map element is: the forward of `proto` (`tcp`/`udp`) on `port`.
pub fn forward_of<'c>(cfg: &'c FwConfig, map: &str, port: u16) -> Option<&'c PortForward> {
    let l4 = match map {
        PORT_MAP_TCP => L4::Tcp,
        PORT_MAP_UDP => L4::Udp,
        _ => return None,
    };
    cfg.port_forwards.iter().find(|pf| pf.port == port && pf.proto.l4s().contains(&l4))
}

fn prerouting(cfg: &FwConfig, st: &FwState) -> Chain {
    let mut rules = Vec::new();
    // With the public address known, match it: from the WAN and, reflected, from the LAN.
    let to_us = match st.public_ipv4 {
        Some(a) => Match::Daddr(IpNet::V4(Ipv4Net::from(a))),
        None => Match::IifName(cfg.wan.clone()),
    };
    // One rule per protocol that looks the port up in its map, however many forwards.
    for map in port_maps(cfg) {
        let l4 = if map.name == PORT_MAP_TCP { L4::Tcp } else { L4::Udp };
        rules.push(
            r(
                vec![Match::NfProto(IpVersion::V4), to_us.clone(), Match::L4Proto(l4)],
                Action::DnatPortMap(map.name.clone()),
            )
            .counted()
            .comment(format!("forwards {}", l4_name(l4))),
        );
    }
    if let Some(Split::Ingress { gateway: Some(gw), .. }) = &cfg.split {
        let gw = *gw;
        rules.push(
            r(
                vec![Match::IifName(cfg.wan.clone()), Match::NfProto(IpVersion::V4)],
                Action::Dnat { addr: gw, port: None },
            )
            .comment("everything else to the gateway"),
        );
    }
    Chain {
        name: "prerouting".into(),
        base: base(ChainKind::Nat, Hook::Prerouting, -100, Policy::Accept),
        rules,
    }
}

fn postrouting(cfg: &FwConfig) -> Chain {
    let mut rules = Vec::new();
    for lan in &cfg.lans {
        let Some(net) = lan.ipv4 else { continue };
        // NAT reflection: a LAN host reaching another through the public address must see
        // the answers come back through the router, so the source becomes the router.
        let net = IpNet::V4(net.trunc());
        rules.push(
            r(vec![Match::Saddr(net), Match::Daddr(net), Match::CtStatusDnat], Action::Masquerade)
                .comment(format!("reflection {}", lan.name)),
        );
    }
    rules.push(r(
        vec![Match::NfProto(IpVersion::V4), Match::OifName(cfg.wan.clone())],
        Action::Masquerade,
    ));
    for x in cfg.extra_wans.iter().filter(|x| x.nat) {
        rules.push(r(
            vec![Match::NfProto(IpVersion::V4), Match::OifName(x.interface.clone())],
            Action::Masquerade,
        ));
    }
    Chain {
        name: "postrouting".into(),
        base: base(ChainKind::Nat, Hook::Postrouting, 100, Policy::Accept),
        rules,
    }
}

/// Builds the router's ruleset from its configuration and current state.
pub fn build(cfg: &FwConfig, st: &FwState) -> Result<Ruleset, Error> {
    cfg.validate()?;
    let ft = flowtable(cfg, st);
    Ok(Ruleset {
        table: cfg.table.clone(),
        maps: port_maps(cfg),
        flowtable: ft.clone(),
        chains: vec![input(cfg), forward(cfg, ft.as_ref()), prerouting(cfg, st), postrouting(cfg)],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn cfg() -> FwConfig {
        FwConfig {
            table: "routerd".into(),
            wan: "ppp0".into(),
            clamp_mss: true,
            lans: vec![Lan {
                name: "lan".into(),
                interface: "eth1".into(),
                ipv4: "192.168.1.0/24".parse().ok(),
            }],
            port_forwards: vec![PortForward {
                name: "web".into(),
                proto: Proto::Both,
                port: 443,
                to: Ipv4Addr::new(192, 168, 1, 10),
                to_port: 8443,
            }],
            pinholes: vec![Pinhole {
                name: "nas".into(),
                lan: "lan".into(),
                host_suffix: "::1:2:3:10".parse().unwrap(),
                suffix_len: 64,
                proto: Proto::Tcp,
                port: 22,
            }],
            open: vec![],
            lan_tcp: vec![],
            split: None,
            extra_wans: vec![],
            fast_path: false,
        }
    }

    #[test]
    fn the_fast_path_takes_established_tcp_and_udp_over_every_forwarding_interface() {
        let mut c = cfg();
        c.wan = "eth0".into();
        c.clamp_mss = false;
        c.fast_path = true;
        c.extra_wans = vec![ExtraWan {
            name: "iptv".into(),
            interface: "eth0.4".into(),
            nat: true,
            multicast: true,
        }];
        let rs = build(&c, &FwState::default()).unwrap();
        let ft = rs.flowtable.as_ref().unwrap();
        assert_eq!(ft.devices, ["eth0", "eth1", "eth0.4"]);
        let text = rs.to_nft();
        let forward = text.split("chain forward {").nth(1).unwrap();
        let lines: Vec<&str> = forward.lines().map(str::trim).collect();
        // First in the chain, before the conntrack verdicts that would accept the packet.
        assert_eq!(
            lines.get(2..5).unwrap(),
            [
                "meta l4proto tcp ct state established counter flow add @fastpath comment \"fast path tcp\"",
                "meta l4proto udp ct state established counter flow add @fastpath comment \"fast path udp\"",
                "ct state established,related accept",
            ]
        );
        assert!(
            text.contains(
                "\tflowtable fastpath {\n\t\thook ingress priority filter; devices = { \"eth0\", \"eth1\", \"eth0.4\" };\n\t}\n"
            ),
            "{text}"
        );
        // Defined before the chains whose rule adds to it.
        assert!(text.find("flowtable fastpath").unwrap() < text.find("chain input").unwrap());
        // Without it: no flowtable and no rule that names it, the rest the same.
        let without = rs.without_flowtable();
        assert_eq!(
            without,
            build(&FwConfig { fast_path: false, ..c.clone() }, &FwState::default()).unwrap()
        );
        assert!(!without.to_nft().contains("fastpath"));
        // An interface that is not there is left out; the rest keep the fast path.
        let st = FwState { absent: vec!["eth0.4".into()], ..FwState::default() };
        assert_eq!(build(&c, &st).unwrap().flowtable.unwrap().devices, ["eth0", "eth1"]);
        assert_eq!(fast_path_devices(&c), ["eth0", "eth1", "eth0.4"]);
        // Off by configuration (a PPPoE WAN): none of it.
        c.fast_path = false;
        assert!(!build(&c, &FwState::default()).unwrap().to_nft().contains("flow"));
    }

    #[test]
    fn an_iptv_link_gets_dhcp_igmp_its_multicast_to_the_lans_and_nat() {
        let mut c = cfg();
        c.extra_wans = vec![ExtraWan {
            name: "iptv".into(),
            interface: "iptv0".into(),
            nat: true,
            multicast: true,
        }];
        let text = build(&c, &FwState::default()).unwrap().to_nft();
        for want in [
            "iifname \"iptv0\" meta l4proto udp th dport 68 accept",
            "iifname \"iptv0\" meta nfproto ipv4 meta l4proto igmp counter accept comment \"igmp from iptv\"",
            "iifname \"eth1\" meta nfproto ipv4 meta l4proto igmp accept",
            "iifname \"eth1\" oifname \"iptv0\" counter accept comment \"lan to iptv\"",
            "iifname \"iptv0\" oifname \"eth1\" meta nfproto ipv4 ip daddr 224.0.0.0/4 counter accept",
            "meta nfproto ipv4 oifname \"iptv0\" masquerade",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        // Nothing else from it: no unicast from the IPTV link to the LANs.
        assert!(!text.contains("iifname \"iptv0\" oifname \"eth1\" counter accept"), "{text}");
        c.extra_wans[0].interface = "eth1".into();
        assert!(build(&c, &FwState::default()).is_err(), "an extra wan on a LAN interface");
    }

    #[test]
    fn port_forwards_are_one_map_per_protocol_and_follow_the_public_address() {
        let text = build(&cfg(), &FwState::default()).unwrap().to_nft();
        for want in [
            "\tmap forwards_tcp {\n\t\ttype inet_service : ipv4_addr . inet_service\n\t\tcounter\n\t\telements = { 443 : 192.168.1.10 . 8443 }",
            "\tmap forwards_udp {",
            "meta nfproto ipv4 iifname \"ppp0\" meta l4proto tcp counter dnat ip to th dport map @forwards_tcp comment \"forwards tcp\"",
            "meta nfproto ipv4 iifname \"ppp0\" meta l4proto udp counter dnat ip to th dport map @forwards_udp",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        let st =
            FwState { public_ipv4: Some(Ipv4Addr::new(198, 51, 100, 7)), ..FwState::default() };
        let text = build(&cfg(), &st).unwrap().to_nft();
        assert!(
            text.contains("ip daddr 198.51.100.7 meta l4proto tcp counter dnat ip to th dport map"),
            "{text}"
        );
    }

    #[test]
    fn a_thousand_forwards_are_two_rules_and_each_element_names_its_forward() {
        let mut c = cfg();
        c.port_forwards = (0..1000u16)
            .map(|i| PortForward {
                name: format!("f{i}"),
                proto: if i % 2 == 0 { Proto::Tcp } else { Proto::Udp },
                port: 10_000 + i,
                to: Ipv4Addr::new(192, 168, 1, 10),
                to_port: 80,
            })
            .collect();
        let rs = build(&c, &FwState::default()).unwrap();
        let pre = rs.chains.iter().find(|ch| ch.name == "prerouting").unwrap();
        assert_eq!(pre.rules.len(), 2, "one lookup per protocol");
        assert_eq!(rs.element_count(), 1000);
        assert_eq!(forward_of(&c, PORT_MAP_TCP, 10_002).map(|f| f.name.as_str()), Some("f2"));
        assert_eq!(forward_of(&c, PORT_MAP_UDP, 10_002), None);
        assert_eq!(forward_of(&c, PORT_MAP_UDP, 10_003).map(|f| f.name.as_str()), Some("f3"));
    }

    #[test]
    fn two_forwards_of_one_port_are_refused() {
        let mut c = cfg();
        let mut other = c.port_forwards[0].clone();
        other.name = "other".into();
        other.proto = Proto::Udp;
        c.port_forwards.push(other);
        let e = build(&c, &FwState::default()).unwrap_err().to_string();
        assert!(e.contains("\"web\" and \"other\" both take port 443"), "{e}");
        // The same port for the other protocol only is fine.
        c.port_forwards[0].proto = Proto::Tcp;
        assert!(build(&c, &FwState::default()).is_ok());
    }

    #[test]
    fn pinhole_matches_the_interface_identifier_only() {
        let text = build(&cfg(), &FwState::default()).unwrap().to_nft();
        assert!(
            text.contains(
                "iifname \"ppp0\" oifname \"eth1\" ip6 daddr & ::ffff:ffff:ffff:ffff == ::1:2:3:10"
            ),
            "{text}"
        );
    }

    #[test]
    fn safe_defaults_and_order() {
        let rs = build(&cfg(), &FwState::default()).unwrap();
        let input = &rs.chains[0];
        assert_eq!(input.base.unwrap().policy, Policy::Drop);
        assert_eq!(input.rules[0].to_string(), "ct state established,related accept");
        let fwd = &rs.chains[1];
        assert_eq!(fwd.base.unwrap().policy, Policy::Drop);
        assert_eq!(fwd.rules[0].action, Action::ClampMssToPmtu, "clamp before any accept");
        let post = rs.to_nft();
        assert!(post.contains("meta nfproto ipv4 oifname \"ppp0\" masquerade"));
        assert!(
            post.starts_with("table inet routerd\ndelete table inet routerd\n"),
            "atomic replace"
        );
    }

    #[test]
    fn the_ingress_passes_everything_to_the_gateway() {
        let mut c = cfg();
        c.lans.clear();
        c.pinholes.clear();
        c.split = Some(Split::Ingress {
            dmz: "dmz0".into(),
            gateway: Some(Ipv4Addr::new(10, 255, 0, 1)),
        });
        let text = build(&c, &FwState::default()).unwrap().to_nft();
        assert!(
            text.contains("iifname \"ppp0\" meta nfproto ipv4 dnat ip to 10.255.0.1"),
            "{text}"
        );
        let fwd = text.find("dnat ip to th dport map").unwrap();
        assert!(fwd < text.find("dnat ip to 10.255.0.1").unwrap(), "port forwards first: {text}");
        assert!(text.contains("iifname \"dmz0\" oifname \"ppp0\""), "{text}");
        assert!(
            text.contains("iifname \"ppp0\" oifname \"dmz0\" meta nfproto ipv6 counter accept"),
            "{text}"
        );
        assert!(text.contains("iifname \"dmz0\" meta l4proto udp th dport 68 accept"), "{text}");
    }

    #[test]
    fn bad_names_are_refused() {
        let mut c = cfg();
        c.wan = "ppp0\"; flush ruleset".into();
        assert!(matches!(build(&c, &FwState::default()), Err(Error::Invalid(_))));
        let mut c = cfg();
        c.pinholes[0].lan = "nosuch".into();
        assert!(build(&c, &FwState::default()).is_err());
        let mut c = cfg();
        c.lans[0].interface = "ppp0".into();
        assert!(build(&c, &FwState::default()).is_err(), "a LAN on the WAN interface");
    }
}
