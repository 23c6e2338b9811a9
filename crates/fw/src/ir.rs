//! The typed ruleset: tables, chains and rules as data, and their `nft` text form.
//!
//! This is what [`crate::model`] builds from the configuration and the router's state, what
//! [`crate::netlink`] turns into one netlink batch, and what [`Ruleset::to_nft`] prints in the
//! syntax of `nft -f` (for logs, `routerctl`, the benchmark against the nft CLI, and the
//! tests, which load that text into a second namespace and compare the kernel's two copies).

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A whole table: what is applied (replaced) atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// The `inet` table's name.
    pub table: String,
    /// Its maps, defined before the chains whose rules look them up.
    pub maps: Vec<PortMap>,
    /// Its fast path, if it has one, defined before the rule that adds flows to it.
    pub flowtable: Option<Flowtable>,
    /// Its chains, base chains first.
    pub chains: Vec<Chain>,
}

/// An nftables flowtable (`flowtable NAME { hook ingress priority filter; devices = ...; }`):
/// the fast path. Once a rule added an established connection to it ([`Action::FlowAdd`]),
/// the connection's packets go from the ingress of one of its devices straight out of the
/// other (routed, NATed, TTL decreased), past the forward chain and the NAT chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flowtable {
    /// Its name.
    pub name: String,
    /// The devices whose traffic it takes: the WAN and the LANs. Each must exist when the
    /// table is applied (the kernel hooks their ingress).
    pub devices: Vec<String>,
}

/// A named map from a destination port to an inside address and port: the port forwards of
/// one transport protocol, looked up by one rule ([`Action::DnatPortMap`], `dnat ip to th
/// dport map @NAME`), so neither applying nor a new connection's way through the NAT grows
/// with the number of forwards. Every element counts its packets and bytes (the map's
/// `counter`): the per-forward counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// The map's name.
    pub name: String,
    /// Its elements, ports unique.
    pub elements: Vec<PortMapping>,
}

/// One element of a [`PortMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// The public port.
    pub port: u16,
    /// The inside host.
    pub to: Ipv4Addr,
    /// The inside port.
    pub to_port: u16,
}

/// A chain, attached to a netfilter hook (a base chain) or only jumped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The chain's name.
    pub name: String,
    /// Hook, type, priority and policy of a base chain; `None` for a regular chain.
    pub base: Option<BaseChain>,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// How a base chain attaches to netfilter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseChain {
    /// `filter` or `nat`.
    pub kind: ChainKind,
    /// The hook.
    pub hook: Hook,
    /// The priority (`filter` is 0, `dstnat` -100, `srcnat` 100).
    pub priority: i32,
    /// What happens to packets no rule decided.
    pub policy: Policy,
}

/// The chain type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// `type filter`.
    Filter,
    /// `type nat`.
    Nat,
}

/// Netfilter hooks of the `inet` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
}

/// A base chain's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `policy accept`.
    Accept,
    /// `policy drop`.
    Drop,
}

/// One rule: all matches must hold, then the optional counter, then the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Conditions, all of which must hold.
    pub matches: Vec<Match>,
    /// Count the packets and bytes that reach the action.
    pub counter: bool,
    /// What to do.
    pub action: Action,
    /// A comment stored with the rule (names the port forward or pinhole it came from).
    pub comment: Option<String>,
}

/// IP version, for `meta nfproto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Transport protocols the rules name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmpv6,
    /// IGMP (2).
    Igmp,
}

impl L4 {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Icmp => 1,
            L4::Icmpv6 => 58,
            L4::Igmp => 2,
        }
    }

    fn nft_name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Icmpv6 => "ipv6-icmp",
            L4::Igmp => "igmp",
        }
    }
}

/// Connection tracking states (`ct state`), as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtState(pub u32);

impl CtState {
    /// `invalid`.
    pub const INVALID: CtState = CtState(0x01);
    /// `established`.
    pub const ESTABLISHED: CtState = CtState(0x02);
    /// `related`.
    pub const RELATED: CtState = CtState(0x04);
    /// `new`.
    pub const NEW: CtState = CtState(0x08);

    /// Both sets.
    pub const fn or(self, other: CtState) -> CtState {
        CtState(self.0 | other.0)
    }
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `meta nfproto ipv4|ipv6`.
    NfProto(IpVersion),
    /// `iifname "NAME"`.
    IifName(String),
    /// `oifname "NAME"`.
    OifName(String),
    /// `meta l4proto P`.
    L4Proto(L4),
    /// `th dport N`: the destination port of TCP or UDP (put an [`Match::L4Proto`] first).
    Dport(u16),
    /// `ct state S` (any of the bits).
    CtState(CtState),
    /// `ct status dnat`: the connection was destination-NATed (a port forward).
    CtStatusDnat,
    /// `ip saddr` / `ip6 saddr` in a prefix (a host address when the prefix is full).
    Saddr(IpNet),
    /// `ip daddr` / `ip6 daddr` in a prefix.
    Daddr(IpNet),
    /// `ip6 daddr & MASK == SUFFIX`: an IPv6 destination by interface identifier, whatever
    /// the prefix (pinholes that survive a prefix change).
    Daddr6Suffix {
        /// The suffix, e.g. `::10`.
        suffix: Ipv6Addr,
        /// Which bits to compare, e.g. `::ffff:ffff:ffff:ffff`.
        mask: Ipv6Addr,
    },
    /// `icmp type N`.
    IcmpType(u8),
    /// `icmpv6 type N`.
    Icmpv6Type(u8),
    /// `tcp flags syn`: the SYN bit is set.
    TcpSyn,
}

/// What a rule does once it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `jump CHAIN`.
    Jump(String),
    /// No verdict: go on with the next rule (a counting rule).
    Continue,
    /// `masquerade`: source NAT to the outgoing interface's address.
    Masquerade,
    /// `dnat ip to ADDR[:PORT]`.
    Dnat {
        /// The inside host.
        addr: Ipv4Addr,
        /// The inside port, when it differs or must be set.
        port: Option<u16>,
    },
    /// `tcp option maxseg size set rt mtu`: clamp a SYN's MSS to the route's MTU.
    ClampMssToPmtu,
    /// `dnat ip to th dport map @NAME`: the destination port looked up in the [`PortMap`]
    /// `NAME`, DNAT to the address and port found; no verdict when it is not there. Put an
    /// IPv4 and a TCP or UDP match first.
    DnatPortMap(String),
    /// `flow add @NAME`: the connection goes into the [`Flowtable`] `NAME` (the kernel takes
    /// TCP and UDP connections once they are established; others go on as before).
    FlowAdd(String),
}

impl Rule {
    /// A rule from matches and an action, no counter, no comment.
    pub fn new(matches: Vec<Match>, action: Action) -> Self {
        Rule { matches, counter: false, action, comment: None }
    }

    /// With a counter.
    pub fn counted(mut self) -> Self {
        self.counter = true;
        self
    }

    /// With a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Self {
        self.comment = Some(c.into());
        self
    }
}

fn prefix(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() { net.addr().to_string() } else { net.to_string() }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = |n: &IpNet| {
            if matches!(n.addr(), IpAddr::V4(_)) { "ip" } else { "ip6" }
        };
        match self {
            Match::NfProto(IpVersion::V4) => f.write_str("meta nfproto ipv4"),
            Match::NfProto(IpVersion::V6) => f.write_str("meta nfproto ipv6"),
            Match::IifName(n) => write!(f, "iifname \"{n}\""),
            Match::OifName(n) => write!(f, "oifname \"{n}\""),
            Match::L4Proto(p) => write!(f, "meta l4proto {}", p.nft_name()),
            Match::Dport(p) => write!(f, "th dport {p}"),
            Match::CtState(s) => {
                let names =
                    [(0x01, "invalid"), (0x02, "established"), (0x04, "related"), (0x08, "new")];
                let set: Vec<&str> =
                    names.iter().filter(|(b, _)| s.0 & b != 0).map(|(_, n)| *n).collect();
                write!(f, "ct state {}", set.join(","))
            }
            Match::CtStatusDnat => f.write_str("ct status dnat"),
            Match::Saddr(n) => write!(f, "{} saddr {}", ip(n), prefix(n)),
            Match::Daddr(n) => write!(f, "{} daddr {}", ip(n), prefix(n)),
            Match::Daddr6Suffix { suffix, mask } => write!(f, "ip6 daddr & {mask} == {suffix}"),
            Match::IcmpType(t) => write!(f, "icmp type {t}"),
            Match::Icmpv6Type(t) => write!(f, "icmpv6 type {t}"),
            Match::TcpSyn => f.write_str("tcp flags syn"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Accept => f.write_str("accept"),
            Action::Drop => f.write_str("drop"),
            Action::Jump(c) => write!(f, "jump {c}"),
            Action::Continue => Ok(()),
            Action::Masquerade => f.write_str("masquerade"),
            Action::Dnat { addr, port: Some(p) } => write!(f, "dnat ip to {addr}:{p}"),
            Action::Dnat { addr, port: None } => write!(f, "dnat ip to {addr}"),
            Action::ClampMssToPmtu => f.write_str("tcp option maxseg size set rt mtu"),
            Action::DnatPortMap(m) => write!(f, "dnat ip to th dport map @{m}"),
            Action::FlowAdd(t) => write!(f, "flow add @{t}"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.matches.iter().map(ToString::to_string).collect();
        if self.counter {
            parts.push("counter".into());
        }
        let action = self.action.to_string();
        if !action.is_empty() {
            parts.push(action);
        }
        if let Some(c) = &self.comment {
            parts.push(format!("comment \"{c}\""));
        }
        f.write_str(&parts.join(" "))
    }
}

impl Hook {
    fn nft_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

impl Ruleset {
    /// The ruleset as an `nft -f` script that replaces the table atomically: it creates the
    /// table if missing, deletes it, and defines it anew, all in one transaction.
    pub fn to_nft(&self) -> String {
        let mut s = String::new();
        let t = &self.table;
        let _ = writeln!(s, "table inet {t}\ndelete table inet {t}\ntable inet {t} {{");
        for m in &self.maps {
            let _ = writeln!(s, "\tmap {} {{", m.name);
            let _ = writeln!(s, "\t\ttype inet_service : ipv4_addr . inet_service");
            let _ = writeln!(s, "\t\tcounter");
            if !m.elements.is_empty() {
                let e: Vec<String> = m
                    .elements
                    .iter()
                    .map(|e| format!("{} : {} . {}", e.port, e.to, e.to_port))
                    .collect();
                let _ = writeln!(s, "\t\telements = {{ {} }}", e.join(", "));
            }
            let _ = writeln!(s, "\t}}");
        }
        if let Some(ft) = &self.flowtable {
            let devices: Vec<String> = ft.devices.iter().map(|d| format!("\"{d}\"")).collect();
            let _ = writeln!(s, "\tflowtable {} {{", ft.name);
            let _ = writeln!(
                s,
                "\t\thook ingress priority filter; devices = {{ {} }};",
                devices.join(", ")
            );
            let _ = writeln!(s, "\t}}");
        }
        for c in &self.chains {
            let _ = writeln!(s, "\tchain {} {{", c.name);
            if let Some(b) = c.base {
                let kind = match b.kind {
                    ChainKind::Filter => "filter",
                    ChainKind::Nat => "nat",
                };
                let policy = match b.policy {
                    Policy::Accept => "accept",
                    Policy::Drop => "drop",
                };
                let _ = writeln!(
                    s,
                    "\t\ttype {kind} hook {} priority {}; policy {policy};",
                    b.hook.nft_name(),
                    b.priority
                );
            }
            for r in &c.rules {
                let _ = writeln!(s, "\t\t{r}");
            }
            let _ = writeln!(s, "\t}}");
        }
        s.push_str("}\n");
        s
    }

    /// The same ruleset without its fast path: no flowtable, no rule that adds to it.
    pub fn without_flowtable(&self) -> Ruleset {
        let mut rs = self.clone();
        if let Some(ft) = rs.flowtable.take() {
            for c in &mut rs.chains {
                c.rules.retain(|r| r.action != Action::FlowAdd(ft.name.clone()));
            }
        }
        rs
    }

    /// How many rules in all.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }

    /// How many map elements in all.
    pub fn element_count(&self) -> usize {
        self.maps.iter().map(|m| m.elements.len()).sum()
    }
}
