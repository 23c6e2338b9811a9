//! The router's configuration: parsed whole, then validated whole; nothing is applied before
//! both succeeded. Every error names the key (`lan[1].dhcp4.pool`) and the line.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A configuration error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {key}: {message}")]
pub struct ConfigError {
    /// 1-based line of the offending value (or of the table it belongs to).
    pub line: usize,
    /// The key, as a path (`lan[0].dhcp4.pool`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Which part of the router this instance is (DESIGN.md, "Split deployment").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in one instance.
    #[default]
    All,
    /// The WAN side only.
    Ingress,
    /// Firewall, NAT, DHCP, DNS and RA for the LANs.
    Gateway,
}

/// How the WAN gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WanMode {
    /// PPPoE (`[wan.pppoe]`).
    Pppoe,
    /// DHCPv4 (IPoE).
    Dhcp,
    /// A fixed address.
    Static,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `all`, `ingress` or `gateway`.
    #[serde(default = "default_role")]
    pub role: Spanned<Role>,
    /// Leases, the DUID, the last prefix: what survives a restart.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// The WAN.
    pub wan: Wan,
    /// The LANs.
    #[serde(default)]
    pub lan: Vec<Spanned<Lan>>,
    /// DNS.
    #[serde(default)]
    pub dns: Dns,
    /// Firewall openings.
    #[serde(default)]
    pub firewall: Firewall,
    /// The control socket of `routerctl`.
    #[serde(default)]
    pub control: Control,
    /// The DMZ link of the split deployment (role `ingress`).
    pub dmz: Option<Spanned<Dmz>>,
    /// The status page and `/metrics`.
    #[serde(default)]
    pub http: Http,
    /// The IGMP proxy (IPTV): multicast from an extra WAN link to the LANs.
    pub igmp: Option<Spanned<Igmp>>,
}

fn default_role() -> Spanned<Role> {
    Spanned::new(0..0, Role::All)
}

/// `[dmz]`: on the ingress, the link to the gateway. The gateway gives the ingress its
/// address there by DHCPv4; the ingress delegates the gateway its prefix by DHCPv6-PD (out
/// of what the ISP delegated) and announces itself as the IPv6 default router.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dmz {
    /// The interface towards the gateway.
    pub interface: String,
    /// The length delegated to the gateway; default: all of the ISP's prefix.
    pub delegate_length: Option<u8>,
}

impl Config {
    /// The role.
    pub fn role(&self) -> Role {
        *self.role.get_ref()
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/routerd")
}

/// `[wan]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wan {
    /// The interface facing the ISP.
    pub interface: String,
    /// 802.1Q VLAN id, tagged in user space (KPN: 6).
    pub vlan: Option<Spanned<u16>>,
    /// `pppoe`, `dhcp` or `static`.
    pub mode: WanMode,
    /// `[wan.pppoe]`, required when `mode = "pppoe"`.
    pub pppoe: Option<Spanned<Pppoe>>,
    /// `[wan.ipv6]`.
    #[serde(default)]
    pub ipv6: WanIpv6,
    /// `[wan.static]`, required when `mode = "static"`.
    #[serde(rename = "static")]
    pub static_: Option<Spanned<WanStatic>>,
    /// `[[wan.extra]]`: additional upstream links (KPN's IPTV VLAN).
    #[serde(default)]
    pub extra: Vec<Spanned<WanExtra>>,
}

/// How an extra WAN link gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtraMode {
    /// DHCPv4.
    Dhcp,
}

/// `[[wan.extra]]`: an additional upstream link, e.g. the IPTV VLAN of a KPN line:
/// `{ name = "iptv", interface = "wan0.4", mode = "dhcp", dhcp = { vendor_class = "..." } }`.
/// Its interface exists already (a VLAN link the host or the container runtime made, or a
/// NIC of its own); routerd does not create kernel VLAN links.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WanExtra {
    /// Its zone name (`iptv`), unique.
    pub name: String,
    /// Its interface.
    pub interface: String,
    /// `dhcp`.
    pub mode: ExtraMode,
    /// The DHCPv4 client's options.
    #[serde(default)]
    pub dhcp: ExtraDhcp,
    /// Masquerade what the LANs send out of it (on by default: the ISP routes only the
    /// router's address there).
    #[serde(default = "yes")]
    pub nat: bool,
}

/// `dhcp = { vendor_class = "...", routes_only = true }` of an extra WAN link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraDhcp {
    /// Vendor Class Identifier (option 60) to send; some ISPs answer only the right one.
    pub vendor_class: Option<String>,
    /// Install only the classless static routes (option 121), never a default route: the
    /// default route stays on the internet WAN (on by default).
    #[serde(default = "yes")]
    pub routes_only: bool,
}

impl Default for ExtraDhcp {
    fn default() -> Self {
        ExtraDhcp { vendor_class: None, routes_only: true }
    }
}

/// `[igmp]`: the IGMP proxy (RFC 4605) from an extra WAN link to LANs; the kernel forwards.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Igmp {
    /// The `[[wan.extra]]` link the channels come from, by name.
    pub upstream: String,
    /// The LANs that get them, by name; default: every LAN with an IPv4 address.
    #[serde(default)]
    pub lans: Vec<String>,
    /// The group ranges that may be joined (KPN has changed its ranges before; a range
    /// missing here is the classic frozen-channel break). Default: all of 224.0.0.0/4.
    #[serde(default = "default_igmp_allowed")]
    pub allowed: Vec<Ipv4Net>,
    /// Drop a LAN's channel as soon as its last known member leaves.
    #[serde(default)]
    pub fast_leave: bool,
    /// The Query Interval on the LANs.
    #[serde(default = "default_query_interval", deserialize_with = "duration")]
    pub query_interval: Duration,
    /// The version of the queries on the LANs: 2 or 3.
    #[serde(default = "default_igmp_version")]
    pub version: Spanned<u8>,
}

fn default_igmp_allowed() -> Vec<Ipv4Net> {
    vec![Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).unwrap_or_default()]
}
fn default_query_interval() -> Duration {
    Duration::from_secs(125)
}
fn default_igmp_version() -> Spanned<u8> {
    Spanned::new(0..0, 3)
}

impl Config {
    /// The LANs the IGMP proxy serves: `[igmp] lans`, or every LAN with an IPv4 address.
    pub fn igmp_lans(&self) -> Vec<&Lan> {
        let Some(i) = &self.igmp else { return Vec::new() };
        let i = i.get_ref();
        self.lan
            .iter()
            .map(|l| l.get_ref())
            .filter(|l| l.ipv4.is_some() && (i.lans.is_empty() || i.lans.contains(&l.name)))
            .collect()
    }
}

/// `[wan.pppoe]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pppoe {
    /// The user name.
    pub username: String,
    /// The password, or:
    pub password: Option<String>,
    /// a file holding it (container secrets).
    pub password_file: Option<PathBuf>,
    /// 1492, or up to 1500 with RFC 4638.
    #[serde(default = "default_mtu")]
    pub mtu: Spanned<u16>,
    /// LCP echo interval.
    #[serde(default = "default_echo", deserialize_with = "duration")]
    pub lcp_echo_interval: Duration,
    /// Unanswered echoes before the link is declared dead.
    #[serde(default = "default_echo_failures")]
    pub lcp_echo_failures: u32,
}

fn default_mtu() -> Spanned<u16> {
    Spanned::new(0..0, 1492)
}
fn default_echo() -> Duration {
    Duration::from_secs(10)
}
fn default_echo_failures() -> u32 {
    3
}

/// `[wan.ipv6]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WanIpv6 {
    /// Ask for a delegated prefix.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The prefix length hint sent to the ISP.
    #[serde(default = "default_pd_length")]
    pub pd_length: Spanned<u8>,
}

impl Default for WanIpv6 {
    fn default() -> Self {
        WanIpv6 { enabled: true, pd_length: default_pd_length() }
    }
}

fn yes() -> bool {
    true
}
fn default_pd_length() -> Spanned<u8> {
    Spanned::new(0..0, 56)
}

/// `[wan.static]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WanStatic {
    /// Address and prefix.
    pub ipv4: Ipv4Net,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// The ISP's DNS servers (what `dns.upstream = "wan"` forwards to).
    #[serde(default)]
    pub dns: Vec<IpAddr>,
}

/// One `[[lan]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lan {
    /// Its name (zone), unique.
    pub name: String,
    /// Its interface.
    pub interface: String,
    /// The router's address and the subnet (`192.168.1.1/24`).
    pub ipv4: Option<Ipv4Net>,
    /// Which /64 of the delegated prefix.
    pub subnet_id: Option<u16>,
    /// A ULA prefix and the router's address in it.
    pub ula: Option<Ipv6Net>,
    /// DHCPv4.
    pub dhcp4: Option<Dhcp4>,
    /// DHCPv6.
    pub dhcp6: Option<Dhcp6>,
    /// Fixed addresses.
    #[serde(default)]
    pub reservations: Vec<Reservation>,
}

/// `dhcp4 = { pool = "a-b", lease_time = "12h" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcp4 {
    /// `first-last`.
    pub pool: String,
    /// Lease time.
    #[serde(default = "default_lease", deserialize_with = "duration")]
    pub lease_time: Duration,
}

fn default_lease() -> Duration {
    Duration::from_secs(12 * 3600)
}

/// DHCPv6 mode of a LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dhcp6Mode {
    /// Addresses by DHCPv6 (M flag).
    Stateful,
    /// SLAAC, DNS by DHCPv6 (O flag).
    Stateless,
    /// SLAAC only.
    Off,
}

/// `dhcp6 = { mode = "stateful" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcp6 {
    /// The mode.
    pub mode: Dhcp6Mode,
    /// Prefix delegation to routers on this LAN (a lab, a cluster, a downstream router).
    pub delegate: Option<Delegate>,
}

/// `delegate = { pool = 1, pool_length = 56, length = 60 }`: the `pool`-th /`pool_length`
/// of the delegated prefix, handed out to routers on the LAN as /`length` prefixes by
/// DHCPv6-PD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegate {
    /// Which /`pool_length` of the delegated prefix.
    pub pool: u32,
    /// The pool's length (longer than `wan.ipv6.pd_length`).
    pub pool_length: u8,
    /// The length of each delegated prefix (at least `pool_length`, at most 64).
    pub length: u8,
}

/// A reservation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// `52:54:00:12:34:56`.
    pub mac: String,
    /// Its address.
    pub ipv4: Ipv4Addr,
    /// Its DNS name.
    pub hostname: Option<String>,
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// The local domain.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// `"wan"` (what the WAN learned) or a list of servers.
    #[serde(default)]
    pub upstream: Upstream,
    /// Static names.
    #[serde(default)]
    pub hosts: Vec<Host>,
    /// Keys for RFC 2136 updates.
    #[serde(default)]
    pub tsig_keys: Vec<Spanned<TsigKey>>,
    /// The most answers the forwarding cache holds (100..=10,000,000; default 10,000).
    #[serde(default)]
    pub cache_size: Option<Spanned<u32>>,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            domain: default_domain(),
            upstream: Upstream::default(),
            hosts: Vec::new(),
            tsig_keys: Vec::new(),
            cache_size: None,
        }
    }
}

fn default_domain() -> String {
    "home.arpa".into()
}

/// Where forwarded queries go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Upstream {
    /// The servers the WAN learned (IPCP, DHCPv6).
    #[default]
    Wan,
    /// These servers.
    Servers(Vec<IpAddr>),
}

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<IpAddr>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "wan" => Ok(Upstream::Wan),
            Raw::Word(w) => {
                Err(serde::de::Error::custom(format!("{w:?}: use \"wan\" or a list of addresses")))
            }
            Raw::List(l) => Ok(Upstream::Servers(l)),
        }
    }
}

/// A static DNS name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// The name (in the local domain).
    pub name: String,
    /// Its IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// Its IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

/// A TSIG key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKey {
    /// Its name.
    pub name: String,
    /// `hmac-sha256`.
    pub algorithm: String,
    /// The file holding its base64 secret.
    pub secret_file: PathBuf,
}

/// `[firewall]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// Port forwards.
    #[serde(default)]
    pub port_forward: Vec<Spanned<PortForward>>,
    /// IPv6 pinholes.
    #[serde(default)]
    pub pinhole: Vec<Spanned<Pinhole>>,
    /// The fast path: established connections through an nftables flowtable, past the
    /// ruleset (on by default; with an Ethernet WAN only, a PPPoE WAN cannot use it).
    #[serde(default = "yes")]
    pub fast_path: bool,
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall { port_forward: Vec::new(), pinhole: Vec::new(), fast_path: true }
    }
}

/// Transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Both.
    Both,
}

/// `[[firewall.port_forward]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortForward {
    /// Its name.
    pub name: String,
    /// Protocol.
    pub proto: Proto,
    /// Public port.
    pub port: u16,
    /// Inside host and port.
    pub to: SocketAddrV4,
}

/// `[[firewall.pinhole]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinhole {
    /// Its name.
    pub name: String,
    /// The LAN the host is in.
    pub lan: String,
    /// The host's interface identifier (`::10`).
    pub host_suffix: Ipv6Addr,
    /// Protocol.
    pub proto: Proto,
    /// Port.
    pub port: u16,
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// The Unix socket.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
}

impl Default for Control {
    fn default() -> Self {
        Control { socket: default_socket() }
    }
}

/// `[http]`: the status page (`/`), `/api/status` and Prometheus' `/metrics`. Never on the
/// WAN: only the LANs' own addresses (or loopback) may be listened on, and the firewall
/// refuses the port from the WAN as it refuses everything not opened.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Serve at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The addresses; default: each LAN's IPv4 address (and ULA) on `port`.
    pub listen: Option<Spanned<Vec<std::net::SocketAddr>>>,
    /// The port of the default addresses.
    #[serde(default = "default_http_port")]
    pub port: u16,
    /// A file holding a bearer token: requests without `Authorization: Bearer <token>` get
    /// 401.
    pub token_file: Option<Spanned<PathBuf>>,
}

impl Default for Http {
    fn default() -> Self {
        Http { enabled: true, listen: None, port: default_http_port(), token_file: None }
    }
}

fn default_http_port() -> u16 {
    8080
}

impl Config {
    /// Where the HTTP endpoint listens: `[http] listen`, or each LAN's IPv4 address and ULA
    /// on `[http] port`; nothing when disabled.
    pub fn http_listen(&self) -> Vec<std::net::SocketAddr> {
        if !self.http.enabled {
            return Vec::new();
        }
        if let Some(l) = &self.http.listen {
            return l.get_ref().clone();
        }
        let port = self.http.port;
        self.lan
            .iter()
            .flat_map(|l| {
                let l = l.get_ref();
                let v4 = l.ipv4.map(|a| std::net::SocketAddr::new(IpAddr::V4(a.addr()), port));
                let v6 = l.ula.map(|a| std::net::SocketAddr::new(IpAddr::V6(a.addr()), port));
                v4.into_iter().chain(v6)
            })
            .collect()
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/routerd/control.sock")
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).ok_or_else(|| {
        serde::de::Error::custom(format!("bad duration {s:?}: use 10s, 500ms, 5m, 12h"))
    })
}

/// `"10s"`, `"500ms"`, `"5m"`, `"12h"`, `"1d"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Parses a whole configuration file and validates it. `dir` resolves relative secret
/// file paths (the config file's directory).
pub fn load(text: &str, dir: &Path) -> Result<Config, ConfigError> {
    let mut cfg: Config = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        // toml names the key in its message; keep it, without the source excerpt.
        let message = e.message().to_string();
        let mut key = key_from_toml(&message);
        let wrong_value =
            message.starts_with("invalid type") || message.starts_with("invalid value");
        if key == "(syntax)" || wrong_value {
            // A value of the wrong type: toml points at it without naming its key (the
            // quoted word in its message is the value).
            if let Some(k) = e.span().and_then(|s| key_at(text, s.start)) {
                key = k;
            }
        }
        ConfigError { line, key, message }
    })?;
    Validator { text, dir, errors: Vec::new() }.run(&cfg)?;
    // Secret files named relative to the configuration file, as the validator read them.
    for k in &mut cfg.dns.tsig_keys {
        let k = k.get_mut();
        k.secret_file = dir.join(&k.secret_file);
    }
    if let Some(p) = cfg.wan.pppoe.as_mut() {
        let p = p.get_mut();
        p.password_file = p.password_file.as_ref().map(|f| dir.join(f));
    }
    if let Some(f) = cfg.http.token_file.as_mut() {
        *f.get_mut() = dir.join(f.get_ref());
    }
    Ok(cfg)
}

mod validate;

pub use validate::parse_pool;
use validate::{Validator, key_at, key_from_toml, line_of};

#[cfg(test)]
pub(crate) mod tests;
