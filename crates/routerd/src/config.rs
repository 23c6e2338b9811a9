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
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            domain: default_domain(),
            upstream: Upstream::default(),
            hosts: Vec::new(),
            tsig_keys: Vec::new(),
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// Port forwards.
    #[serde(default)]
    pub port_forward: Vec<Spanned<PortForward>>,
    /// IPv6 pinholes.
    #[serde(default)]
    pub pinhole: Vec<Spanned<Pinhole>>,
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
        ConfigError { line, key: key_from_toml(&message), message }
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
    Ok(cfg)
}

fn key_from_toml(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|k| !k.contains(' '))
        .map_or_else(|| "(syntax)".to_string(), ToString::to_string)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The line of `key`'s own `name =` inside the table entry at `span`: the components after
/// the entry's index, each searched after the one before (`lan[0].dhcp4.pool` finds `dhcp4`
/// (an inline table, or a `[lan.dhcp4]` sub-table), then `pool` in it), or the last one.
fn key_line(text: &str, span: &std::ops::Range<usize>, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    let (table, cands): (String, Vec<&str>) = match parts.iter().position(|p| p.contains('[')) {
        Some(i) => {
            let mut t: Vec<&str> = parts.get(..=i)?.to_vec();
            if let Some(last) = t.last_mut() {
                *last = last.split('[').next().unwrap_or(last);
            }
            (t.join("."), parts.get(i + 1..)?.to_vec())
        }
        None => (String::new(), parts.last().copied().into_iter().collect()),
    };
    // An array-of-tables entry's span is its `[[header]]`: its keys follow, up to the next
    // header that is not one of its own sub-tables (`[lan.dhcp4]`).
    let mut end = span.end;
    if text.get(span.clone()).is_some_and(|t| t.starts_with('[')) {
        let own = format!("[{table}.");
        let from = span.end.min(text.len());
        let rest = text.get(from..).unwrap_or("");
        end = rest
            .match_indices("\n[")
            .find(|(i, _)| !rest.get(i + 1..).is_some_and(|h| h.starts_with(&own)))
            .map_or(text.len(), |(i, _)| from + i);
    }
    let region = text.get(span.start..end)?;
    let (mut from, mut found) = (0, None);
    for cand in cands {
        let cand = cand.split('[').next().unwrap_or(cand);
        let mut offset = 0;
        for line in region.split_inclusive('\n') {
            if offset >= from && (assigns(line, cand) || opens(line, cand)) {
                found = Some(line_of(text, span.start + offset));
                from = offset;
                break;
            }
            offset += line.len();
        }
    }
    found
}

/// Whether `line` is the header of a sub-table named `key` (`[lan.dhcp4]`).
fn opens(line: &str, key: &str) -> bool {
    let t = line.trim();
    t.starts_with('[') && t.trim_end_matches(']').ends_with(&format!(".{key}"))
}

/// Whether `line` assigns `key` (`key =`, `{ key =`, `, key =`), comments aside.
fn assigns(line: &str, key: &str) -> bool {
    let line = line.split('#').next().unwrap_or(line);
    line.match_indices(key).any(|(i, _)| {
        let before = line.get(..i).unwrap_or("").trim_end();
        let after = line.get(i + key.len()..).unwrap_or("").trim_start();
        (before.is_empty() || before.ends_with('{') || before.ends_with(','))
            && after.starts_with('=')
    })
}

struct Validator<'a> {
    text: &'a str,
    dir: &'a Path,
    errors: Vec<ConfigError>,
}

fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 16
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `first-last`, e.g. `192.168.1.100-192.168.1.249`, first not after last.
pub fn parse_pool(s: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (Ipv4Addr, Ipv4Addr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (u32::from(a) <= u32::from(b)).then_some((a, b))
}

impl Validator<'_> {
    /// Records an error at `key`; `span` is the value's, or the table entry's it is in (then
    /// the line of the key itself is looked up inside the entry).
    fn err(
        &mut self,
        span: &std::ops::Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let key = key.into();
        let line = if span.is_empty() && span.start == 0 {
            0
        } else {
            key_line(self.text, span, &key).unwrap_or_else(|| line_of(self.text, span.start))
        };
        self.errors.push(ConfigError { line, key, message: message.into() });
    }

    fn run(mut self, c: &Config) -> Result<(), ConfigError> {
        self.role(c);
        self.wan(c);
        self.lans(c);
        self.dns(c);
        self.firewall(c);
        // The first error in file order: what a person fixes first.
        self.errors.sort_by_key(|e| e.line);
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn wan(&mut self, c: &Config) {
        let none = 0..0;
        if !valid_ifname(&c.wan.interface) {
            self.err(
                &none,
                "wan.interface",
                format!("{:?} is not an interface name", c.wan.interface),
            );
        }
        if let Some(v) = &c.wan.vlan {
            if !(1..=4094).contains(v.get_ref()) {
                self.err(&v.span(), "wan.vlan", "must be 1..=4094");
            }
        }
        match (c.wan.mode, &c.wan.pppoe, &c.wan.static_) {
            (WanMode::Pppoe, None, _) => {
                self.err(&none, "wan.pppoe", "mode = \"pppoe\" needs a [wan.pppoe] table")
            }
            (WanMode::Static, _, None) => {
                self.err(&none, "wan.static", "mode = \"static\" needs a [wan.static] table")
            }
            _ => {}
        }
        if let Some(p) = &c.wan.pppoe {
            let span = p.span();
            let p = p.get_ref();
            if !(1280..=1500).contains(p.mtu.get_ref()) {
                self.err(
                    &p.mtu.span(),
                    "wan.pppoe.mtu",
                    "must be 1280..=1500 (above 1492 uses RFC 4638)",
                );
            }
            match (&p.password, &p.password_file) {
                (None, None) => {
                    self.err(&span, "wan.pppoe.password", "missing: give password or password_file")
                }
                (Some(_), Some(_)) => self.err(
                    &span,
                    "wan.pppoe.password",
                    "give password or password_file, not both",
                ),
                (None, Some(f)) => {
                    let f = self.dir.join(f);
                    if std::fs::read_to_string(&f).is_err() {
                        self.err(
                            &span,
                            "wan.pppoe.password_file",
                            format!("cannot read {}", f.display()),
                        );
                    }
                }
                _ => {}
            }
        }
        let pd = &c.wan.ipv6.pd_length;
        if !(32..=64).contains(pd.get_ref()) {
            self.err(&pd.span(), "wan.ipv6.pd_length", "must be 32..=64");
        }
    }

    /// What each role of the split deployment needs and refuses.
    fn role(&mut self, c: &Config) {
        let span = c.role.span();
        match (c.role(), &c.dmz) {
            (Role::Ingress, None) => self.err(
                &span,
                "dmz",
                "role = \"ingress\" needs a [dmz] table (the link to the gateway)",
            ),
            (Role::Ingress, Some(d)) => {
                let ds = d.span();
                let d = d.get_ref();
                if !valid_ifname(&d.interface) || d.interface == c.wan.interface {
                    self.err(
                        &ds,
                        "dmz.interface",
                        format!("{:?} must be an interface other than the WAN's", d.interface),
                    );
                }
                let pd = *c.wan.ipv6.pd_length.get_ref();
                if d.delegate_length.is_some_and(|l| l < pd || l > 64) {
                    self.err(
                        &ds,
                        "dmz.delegate_length",
                        format!("must be between wan.ipv6.pd_length ({pd}) and 64"),
                    );
                }
                if let Some(l) = c.lan.first() {
                    self.err(
                        &l.span(),
                        "lan[0]",
                        "role = \"ingress\" has no LANs: they belong to the gateway",
                    );
                }
                if let Some(p) = c.firewall.port_forward.first() {
                    self.err(
                        &p.span(),
                        "firewall.port_forward[0]",
                        "on the ingress everything goes to the gateway: forward ports there",
                    );
                }
                if let Some(p) = c.firewall.pinhole.first() {
                    self.err(
                        &p.span(),
                        "firewall.pinhole[0]",
                        "on the ingress IPv6 goes to the gateway: open pinholes there",
                    );
                }
            }
            (Role::Gateway, dmz) => {
                if let Some(d) = dmz {
                    self.err(
                        &d.span(),
                        "dmz",
                        "only the ingress has a [dmz] table; the gateway's WAN is the DMZ link",
                    );
                }
                if c.wan.mode != WanMode::Static {
                    self.err(
                        &span,
                        "wan.mode",
                        "the gateway's WAN is the DMZ link: mode = \"static\", its [wan.static] gateway being the ingress, which gets that address by DHCP",
                    );
                }
            }
            (Role::All, Some(d)) => self.err(&d.span(), "dmz", "only for role = \"ingress\""),
            (Role::All, None) => {}
        }
    }

    fn lans(&mut self, c: &Config) {
        let (mut names, mut ifaces) = (HashSet::new(), HashSet::new());
        let mut subnets: Vec<(usize, Ipv4Net)> = Vec::new();
        let mut pools: Vec<(usize, Delegate)> = Vec::new();
        let pd_len = *c.wan.ipv6.pd_length.get_ref();
        for (i, l) in c.lan.iter().enumerate() {
            let span = l.span();
            let l = l.get_ref();
            let k = |f: &str| format!("lan[{i}].{f}");
            if !valid_label(&l.name) || !names.insert(l.name.clone()) {
                self.err(
                    &span,
                    k("name"),
                    format!("{:?} must be a unique name of letters, digits and -", l.name),
                );
            }
            if !valid_ifname(&l.interface)
                || l.interface == c.wan.interface
                || !ifaces.insert(l.interface.clone())
            {
                self.err(
                    &span,
                    k("interface"),
                    format!("{:?} must be a unique interface, not the WAN's", l.interface),
                );
            }
            if let Some(d) = l.dhcp6.as_ref().and_then(|d| d.delegate) {
                let pool_fits = d.pool_length > pd_len
                    && d.pool_length <= 64
                    && (d.pool_length - pd_len >= 32
                        || u64::from(d.pool) < 1u64 << (d.pool_length - pd_len));
                if !pool_fits {
                    self.err(
                        &span,
                        k("dhcp6.delegate.pool"),
                        format!(
                            "pool {} of length /{} does not fit in the delegated /{pd_len}",
                            d.pool, d.pool_length
                        ),
                    );
                } else if d.length < d.pool_length || d.length > 64 {
                    self.err(
                        &span,
                        k("dhcp6.delegate.length"),
                        format!("must be between pool_length ({}) and 64", d.pool_length),
                    );
                } else if l.ula.is_none() && l.subnet_id.is_none() {
                    self.err(&span, k("dhcp6"), "needs lan.subnet_id or lan.ula");
                }
                pools.push((i, d));
            }
            if let Some(id) = l.subnet_id {
                let fits = pd_len >= 64 && id == 0
                    || pd_len < 64 && u32::from(id) < (1u32 << (64 - u32::from(pd_len)).min(16));
                if !fits {
                    self.err(
                        &span,
                        k("subnet_id"),
                        format!(
                            "{id} does not fit in a /{pd_len} (only {} /64s)",
                            1u64 << (64 - u32::from(pd_len.min(64)))
                        ),
                    );
                }
            }
            let Some(net) = l.ipv4 else {
                if l.dhcp4.is_some() {
                    self.err(&span, k("dhcp4"), "needs lan.ipv4");
                }
                continue;
            };
            if net.addr() == net.network() || net.prefix_len() > 30 {
                self.err(
                    &span,
                    k("ipv4"),
                    format!("{net}: give the router's address in the subnet, e.g. 192.168.1.1/24"),
                );
            }
            if let Some((j, other)) = subnets
                .iter()
                .find(|(_, o)| o.contains(&net.network()) || net.contains(&o.network()))
            {
                self.err(&span, k("ipv4"), format!("{net} overlaps lan[{j}].ipv4 {other}"));
            }
            subnets.push((i, net.trunc()));
            if let Some(d) = &l.dhcp4 {
                match parse_pool(&d.pool) {
                    None => self.err(
                        &span,
                        k("dhcp4.pool"),
                        format!("{:?}: use first-last, e.g. 192.168.1.100-192.168.1.249", d.pool),
                    ),
                    Some((a, b)) if !net.contains(&a) || !net.contains(&b) => {
                        self.err(&span, k("dhcp4.pool"), format!("{} is outside {net}", d.pool));
                    }
                    Some((a, b))
                        if (u32::from(a)..=u32::from(b)).contains(&u32::from(net.addr())) =>
                    {
                        self.err(
                            &span,
                            k("dhcp4.pool"),
                            format!("{} contains the router's own {}", d.pool, net.addr()),
                        );
                    }
                    _ => {}
                }
            }
            for (r, res) in l.reservations.iter().enumerate() {
                if !net.contains(&res.ipv4) || res.ipv4 == net.addr() {
                    self.err(
                        &span,
                        k(&format!("reservations[{r}].ipv4")),
                        format!("{} is not a host address of {net}", res.ipv4),
                    );
                }
                let mac_ok = res
                    .mac
                    .split(':')
                    .filter(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok())
                    .count()
                    == 6
                    && res.mac.len() == 17;
                if !mac_ok {
                    self.err(
                        &span,
                        k(&format!("reservations[{r}].mac")),
                        format!("{:?} is not a MAC address", res.mac),
                    );
                }
                if res.hostname.as_deref().is_some_and(|h| !valid_label(h)) {
                    self.err(
                        &span,
                        k(&format!("reservations[{r}].hostname")),
                        "must be one DNS label (letters, digits, -)",
                    );
                }
            }
        }
        // A delegation pool may not hold a LAN's own /64, nor overlap another pool.
        let range = |d: &Delegate| {
            let shift = 64 - u32::from(d.pool_length);
            let start = u64::from(d.pool).checked_shl(shift).unwrap_or(u64::MAX);
            (start, start.saturating_add(1u64.checked_shl(shift).unwrap_or(u64::MAX)))
        };
        for (n, &(i, d)) in pools.iter().enumerate() {
            let (start, end) = range(&d);
            let span = c.lan.get(i).map(Spanned::span).unwrap_or_default();
            let key = format!("lan[{i}].dhcp6.delegate.pool");
            for (j, l) in c.lan.iter().enumerate() {
                if let Some(id) =
                    l.get_ref().subnet_id.filter(|id| (start..end).contains(&u64::from(*id)))
                {
                    self.err(&span, key.clone(), format!("holds lan[{j}]'s subnet_id {id}"));
                }
            }
            for &(j, o) in pools.iter().skip(n + 1) {
                let (s2, e2) = range(&o);
                if s2 < end && start < e2 {
                    self.err(&span, key.clone(), format!("overlaps lan[{j}].dhcp6.delegate"));
                }
            }
        }
    }

    fn dns(&mut self, c: &Config) {
        let none = 0..0;
        if !c.dns.domain.split('.').all(valid_label) {
            self.err(&none, "dns.domain", format!("{:?} is not a domain name", c.dns.domain));
        }
        for (i, h) in c.dns.hosts.iter().enumerate() {
            if !valid_label(&h.name) || (h.ipv4.is_none() && h.ipv6.is_none()) {
                self.err(
                    &none,
                    format!("dns.hosts[{i}]"),
                    "needs a one-label name and an ipv4 or ipv6 address",
                );
            }
        }
        for (i, k) in c.dns.tsig_keys.iter().enumerate() {
            let span = k.span();
            let k = k.get_ref();
            if k.algorithm != "hmac-sha256" {
                self.err(
                    &span,
                    format!("dns.tsig_keys[{i}].algorithm"),
                    format!("{:?}: only hmac-sha256", k.algorithm),
                );
            }
            let f = self.dir.join(&k.secret_file);
            if std::fs::read_to_string(&f).map_or(true, |s| s.trim().is_empty()) {
                self.err(
                    &span,
                    format!("dns.tsig_keys[{i}].secret_file"),
                    format!("cannot read a secret from {}", f.display()),
                );
            }
        }
    }

    fn firewall(&mut self, c: &Config) {
        let lans: Vec<&Lan> = c.lan.iter().map(Spanned::get_ref).collect();
        for (i, pf) in c.firewall.port_forward.iter().enumerate() {
            let span = pf.span();
            let pf = pf.get_ref();
            if pf.port == 0 || pf.to.port() == 0 {
                self.err(
                    &span,
                    format!("firewall.port_forward[{i}].port"),
                    "ports must be 1..=65535",
                );
            }
            if !lans
                .iter()
                .any(|l| l.ipv4.is_some_and(|n| n.contains(pf.to.ip()) && n.addr() != *pf.to.ip()))
            {
                self.err(
                    &span,
                    format!("firewall.port_forward[{i}].to"),
                    format!("{} is in no LAN's subnet", pf.to.ip()),
                );
            }
        }
        for (i, p) in c.firewall.pinhole.iter().enumerate() {
            let span = p.span();
            let p = p.get_ref();
            if !lans.iter().any(|l| l.name == p.lan) {
                self.err(
                    &span,
                    format!("firewall.pinhole[{i}].lan"),
                    format!("no LAN named {:?}", p.lan),
                );
            }
            if p.port == 0 {
                self.err(&span, format!("firewall.pinhole[{i}].port"), "must be 1..=65535");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/routerd.toml");

    /// The DESIGN.md example, its TSIG secret in a temp dir.
    pub(crate) fn example() -> (String, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "routerd-cfg-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tsig"), "c2VjcmV0c2VjcmV0c2VjcmV0\n").unwrap();
        (EXAMPLE.replace("/run/secrets/tsig", "tsig"), dir)
    }

    fn err(text: &str, dir: &Path) -> ConfigError {
        load(text, dir).expect_err("must be refused")
    }

    #[test]
    fn a_delegation_pool_must_fit_and_not_hold_a_lans_subnet() {
        let (text, dir) = example();
        let with = |d: &str| {
            text.replace(
                r#"dhcp6 = { mode = "stateful" }"#,
                &format!(r#"dhcp6 = {{ mode = "stateful", delegate = {d} }}"#),
            )
        };
        let ok = load(&with("{ pool = 1, pool_length = 56, length = 60 }"), &dir).unwrap();
        let d = ok.lan[0].get_ref().dhcp6.as_ref().unwrap().delegate.unwrap();
        assert_eq!((d.pool, d.pool_length, d.length), (1, 56, 60));
        let e = err(&with("{ pool = 0, pool_length = 56, length = 60 }"), &dir);
        assert_eq!(e.key, "lan[0].dhcp6.delegate.pool", "subnet id 1 is in the first /56: {e}");
        let e = err(&with("{ pool = 256, pool_length = 56, length = 60 }"), &dir);
        assert_eq!(e.key, "lan[0].dhcp6.delegate.pool", "only 256 /56s in a /48: {e}");
        let e = err(&with("{ pool = 1, pool_length = 56, length = 52 }"), &dir);
        assert_eq!(e.key, "lan[0].dhcp6.delegate.length", "{e}");
    }

    #[test]
    fn the_split_examples_parse_and_each_role_refuses_what_is_not_its_own() {
        let dir = std::env::temp_dir();
        let ingress = include_str!("../examples/ingress.toml");
        let gateway = include_str!("../examples/gateway.toml");
        let i = load(ingress, &dir).unwrap();
        assert_eq!(
            (i.role(), i.dmz.as_ref().unwrap().get_ref().delegate_length),
            (Role::Ingress, Some(48))
        );
        let g = load(gateway, &dir).unwrap();
        assert_eq!((g.role(), g.lan.len()), (Role::Gateway, 2));
        let e = err(&ingress.replace("[dmz]", "[dmz_link]"), &dir);
        assert!(e.key.starts_with("dmz"), "{e}");
        let e = err(&format!("{ingress}\n[[lan]]\nname = \"x\"\ninterface = \"eth5\"\n"), &dir);
        assert_eq!(e.key, "lan[0]", "{e}");
        let e = err(&ingress.replace("delegate_length = 48", "delegate_length = 40"), &dir);
        assert_eq!(e.key, "dmz.delegate_length", "{e}");
        let e = err(&gateway.replace("mode = \"static\"", "mode = \"dhcp\""), &dir);
        assert_eq!(e.key, "wan.mode", "{e}");
        assert!(e.line > 0, "{e}");
    }

    #[test]
    fn every_compose_deployments_config_validates() {
        let dir = std::env::temp_dir().join(format!("routerd-compose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pppoe"), "internet\n").unwrap();
        for (name, text) in [
            ("demo", include_str!("../../../compose/demo/routerd.toml")),
            ("kpn ingress", include_str!("../../../compose/kpn/ingress.toml")),
            ("kpn gateway", include_str!("../../../compose/kpn/gateway.toml")),
            ("kpn cluster router", include_str!("../../../compose/kpn/cluster-router.toml")),
            ("router template", include_str!("../../../compose/router/routerd.toml")),
        ] {
            let text = text.replace("/run/secrets/pppoe", "pppoe");
            let r = load(&text, &dir);
            assert!(r.is_ok(), "compose {name}: {r:?}");
        }
    }

    #[test]
    fn design_example_parses_and_validates() {
        let (text, dir) = example();
        let c = load(&text, &dir).unwrap();
        assert_eq!(c.role(), Role::All);
        assert_eq!(c.wan.vlan.as_ref().map(|v| *v.get_ref()), Some(6));
        let p = c.wan.pppoe.as_ref().unwrap().get_ref();
        assert_eq!(
            (p.username.as_str(), *p.mtu.get_ref(), p.lcp_echo_interval),
            ("internet", 1492, Duration::from_secs(10))
        );
        assert_eq!(*c.wan.ipv6.pd_length.get_ref(), 48);
        let lan = c.lan[0].get_ref();
        assert_eq!(lan.dhcp4.as_ref().unwrap().lease_time, Duration::from_secs(12 * 3600));
        assert_eq!(lan.dhcp6.as_ref().unwrap().mode, Dhcp6Mode::Stateful);
        assert_eq!(c.dns.upstream, Upstream::Wan);
        assert_eq!(c.firewall.port_forward[0].get_ref().to, "192.168.1.10:443".parse().unwrap());
        assert_eq!(
            c.firewall.pinhole[0].get_ref().host_suffix,
            "::10".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let (text, dir) = example();
        let text =
            text.replace("lcp_echo_failures = 3", "lcp_echo_failures = 3\nlcp_echo_failure = 4");
        let e = err(&text, &dir);
        assert_eq!(e.line, 16, "{e}");
        assert!(e.to_string().contains("lcp_echo_failure"), "{e}");
    }

    #[test]
    fn semantic_errors_name_key_and_line() {
        let (text, dir) = example();
        let cases = [
            (
                "pool = \"192.168.1.100-192.168.1.249\"",
                "pool = \"192.168.2.100-192.168.2.249\"",
                "lan[0].dhcp4.pool",
                26,
            ),
            (
                "to = \"192.168.1.10:443\"",
                "to = \"10.9.9.9:443\"",
                "firewall.port_forward[0].to",
                40,
            ),
            ("pd_length = 48", "pd_length = 64", "lan[0].subnet_id", 24),
            ("lan = \"lan\"", "lan = \"guest\"", "firewall.pinhole[0].lan", 44),
            ("vlan = 6", "vlan = 4095", "wan.vlan", 7),
            ("mtu = 1492", "mtu = 1600", "wan.pppoe.mtu", 13),
            (
                "algorithm = \"hmac-sha256\"",
                "algorithm = \"hmac-md5\"",
                "dns.tsig_keys[0].algorithm",
                34,
            ),
            (
                "ipv4 = \"192.168.1.10\"",
                "ipv4 = \"192.168.7.10\"",
                "lan[0].reservations[0].ipv4",
                28,
            ),
        ];
        for (from, to, key, line) in cases {
            assert!(text.contains(from), "{from}");
            let e = err(&text.replace(from, to), &dir);
            assert_eq!((e.key.as_str(), e.line), (key, line), "{from} -> {to}: {e}");
        }
    }

    #[test]
    fn missing_secret_and_overlap_are_refused() {
        let (text, dir) = example();
        let e = err(&text.replace("password = \"internet\"", "password_file = \"nosuch\""), &dir);
        assert_eq!(e.key, "wan.pppoe.password_file", "{e}");
        let e = err(&text.replace("password = \"internet\"", ""), &dir);
        assert_eq!(e.key, "wan.pppoe.password", "{e}");
        let second =
            "\n[[lan]]\nname = \"guest\"\ninterface = \"eth2\"\nipv4 = \"192.168.1.129/25\"\n";
        let mut two = text.clone();
        let at = two.find("[dns]").unwrap();
        two.insert_str(at, second);
        let e = err(&two, &dir);
        assert_eq!(e.key, "lan[1].ipv4", "{e}");
        assert!(e.message.contains("overlaps"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (text, dir) = example();
        let e = err(&text.replace("port = 443", "port = "), &dir);
        assert_eq!(e.line, 39, "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }
}
