//! `ispemu.toml`: parsed whole and checked before anything starts.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;

/// Authentication the ISP asks of subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// None.
    None,
    /// PAP.
    Pap,
    /// CHAP with MD5.
    Chap,
}

/// A subscriber account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The password (PAP) or secret (CHAP).
    pub password: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The interface facing the subscribers.
    pub interface: String,
    /// The TUN device subscriber traffic comes out of.
    #[serde(default = "default_tun")]
    pub tun: String,
    /// 802.1Q VLAN id of the PPPoE service (KPN: 6).
    pub vlan: Option<u16>,
    /// AC-Name.
    #[serde(default = "default_ac_name")]
    pub ac_name: String,
    /// Authentication asked of subscribers.
    #[serde(default = "default_auth")]
    pub auth: Auth,
    /// Accounts.
    #[serde(default)]
    pub users: Vec<User>,
    /// Subscriber addresses; the first host address is the ISP's own end.
    #[serde(default = "default_pool")]
    pub ipv4_pool: Ipv4Net,
    /// DNS servers handed out by IPCP.
    #[serde(default = "default_dns")]
    pub dns: Vec<Ipv4Addr>,
    /// Run IPv6CP.
    #[serde(default = "yes")]
    pub ipv6: bool,
    /// Largest RFC 4638 PPP-Max-Payload granted (1492 turns RFC 4638 off).
    #[serde(default = "default_max_payload")]
    pub max_payload: u16,
    /// LCP echo interval, e.g. `"10s"`; `"0s"` turns echoes off.
    #[serde(default = "default_echo", with = "duration")]
    pub echo_interval: Duration,
    /// Unanswered echoes before a session is dropped.
    #[serde(default = "default_echo_failures")]
    pub echo_failures: u32,
    /// The control socket of `ispemu ctl`.
    #[serde(default = "default_socket")]
    pub control_socket: PathBuf,
    /// Run the DHCPv6 delegating router on the TUN device (needs `ipv6`).
    #[serde(default = "yes")]
    pub pd: bool,
    /// Where delegated prefixes come from.
    #[serde(default = "default_pd_pool")]
    pub pd_pool: Ipv6Net,
    /// Length of each delegated prefix (KPN: 48).
    #[serde(default = "default_pd_length")]
    pub pd_length: u8,
    /// Where the delegating router keeps its bindings (`leases6.log`); by default
    /// `<control_socket>.state`, so emulators with their own sockets never share it.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// The IPTV network (KPN: VLAN 4), when emulated.
    pub iptv: Option<Iptv>,
}

/// `[iptv]`: the ISP's television network on an interface of its own (a VLAN link, or a
/// veth standing in for one): a DHCP server that answers only `vendor_class` (with routes to
/// the head-end by option 121, no default route), an IGMP querier, and a head-end that
/// multicasts numbered datagrams to each channel while anyone on the link has joined it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Iptv {
    /// The interface.
    pub interface: String,
    /// The ISP's address and the link's prefix.
    #[serde(default = "default_iptv_address")]
    pub address: Ipv4Net,
    /// The leased range, `first-last`.
    #[serde(default = "default_iptv_pool")]
    pub pool: String,
    /// The Vendor Class Identifier answered (none: everyone).
    pub vendor_class: Option<String>,
    /// The head-end's address (on the loopback; routed to the subscribers by option 121).
    #[serde(default = "default_headend")]
    pub headend: Ipv4Addr,
    /// The channels.
    #[serde(default = "default_channels")]
    pub channels: Vec<Ipv4Addr>,
    /// Datagrams per second per channel.
    #[serde(default = "default_channel_pps")]
    pub pps: u32,
    /// Octets per datagram (at least 8: the group and a sequence number).
    #[serde(default = "default_channel_len")]
    pub payload: usize,
    /// The querier's Query Interval.
    #[serde(default = "default_iptv_qi", with = "duration")]
    pub query_interval: Duration,
}

impl Iptv {
    /// The pool's first and last addresses, when they are inside the link's prefix.
    pub fn pool(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let (a, b) = self.pool.split_once('-')?;
        let (a, b): (Ipv4Addr, Ipv4Addr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        let net = self.address.trunc();
        (net.contains(&a) && net.contains(&b) && u32::from(a) <= u32::from(b)).then_some((a, b))
    }
}

fn default_iptv_address() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(10, 4, 0, 1), 24).unwrap_or_default()
}
fn default_iptv_pool() -> String {
    "10.4.0.100-10.4.0.199".into()
}
fn default_headend() -> Ipv4Addr {
    Ipv4Addr::new(10, 10, 0, 1)
}
fn default_channels() -> Vec<Ipv4Addr> {
    (1..=5).map(|i| Ipv4Addr::new(239, 1, 1, i)).collect()
}
fn default_channel_pps() -> u32 {
    100
}
fn default_channel_len() -> usize {
    1316
}
fn default_iptv_qi() -> Duration {
    Duration::from_secs(125)
}

impl Config {
    /// The delegating router's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| self.control_socket.with_extension("state"))
    }
}

fn default_tun() -> String {
    "isp0".into()
}
fn default_ac_name() -> String {
    "ispemu".into()
}
fn default_auth() -> Auth {
    Auth::Pap
}
fn default_pool() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap_or_default()
}
fn default_dns() -> Vec<Ipv4Addr> {
    vec![Ipv4Addr::new(203, 0, 113, 53)]
}
fn yes() -> bool {
    true
}
fn default_max_payload() -> u16 {
    1500
}
fn default_echo() -> Duration {
    Duration::from_secs(10)
}
fn default_echo_failures() -> u32 {
    3
}
fn default_pd_pool() -> Ipv6Net {
    Ipv6Net::new(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x1000, 0, 0, 0, 0, 0), 36)
        .unwrap_or_default()
}
fn default_pd_length() -> u8 {
    48
}
fn default_socket() -> PathBuf {
    PathBuf::from("/run/ispemu/control.sock")
}

/// Durations written as `"10s"`, `"500ms"`, `"5m"`, `"1h"`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Parses `"10s"`-style durations.
    pub fn parse(s: &str) -> Option<Duration> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().ok()?;
        match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
            "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
            _ => None,
        }
    }

    /// Serde adapter.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("bad duration {s:?}: use 10s, 500ms, 5m, 1h"))
        })
    }
}

impl Config {
    /// Parses and checks a configuration; errors name the key (and line, from toml).
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if c.vlan.is_some_and(|v| v == 0 || v > 4094) {
            return Err("vlan: must be 1..=4094".into());
        }
        if c.auth != Auth::None && c.users.is_empty() {
            return Err("users: authentication is on but no user is configured".into());
        }
        if c.ipv4_pool.prefix_len() > 30 {
            return Err("ipv4_pool: too small (at most /30)".into());
        }
        if !(1280..=1500).contains(&c.max_payload) {
            return Err("max_payload: must be 1280..=1500".into());
        }
        if c.pd_length < c.pd_pool.prefix_len() || c.pd_length > 64 {
            return Err("pd_length: must be between the pd_pool's length and 64".into());
        }
        if let Some(t) = &c.iptv {
            if t.pool().is_none() {
                return Err("iptv.pool: must be first-last inside iptv.address's prefix".into());
            }
            if t.channels.iter().any(|g| !g.is_multicast()) || t.payload < 8 || t.pps == 0 {
                return Err(
                    "iptv: channels must be multicast, payload at least 8, pps above 0".into()
                );
            }
        }
        Ok(c)
    }

    /// The ISP's own address: the pool's first host.
    pub fn local_ipv4(&self) -> Ipv4Addr {
        self.ipv4_pool.hosts().next().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_iptv_network_parses_with_defaults_and_a_bad_pool_is_refused() {
        let base = "interface = \"eth0\"\nauth = \"none\"\n[iptv]\ninterface = \"tv0\"\nvendor_class = \"IPTV_RG\"\n";
        let c = Config::parse(base).unwrap();
        let t = c.iptv.unwrap();
        assert_eq!(t.pool(), Some(("10.4.0.100".parse().unwrap(), "10.4.0.199".parse().unwrap())));
        assert_eq!((t.headend, t.channels.len(), t.pps), ("10.10.0.1".parse().unwrap(), 5, 100));
        let bad = format!("{base}pool = \"10.5.0.1-10.5.0.9\"\n");
        assert!(Config::parse(&bad).unwrap_err().contains("iptv.pool"));
        let bad = format!("{base}channels = [\"10.0.0.1\"]\n");
        assert!(Config::parse(&bad).is_err());
    }

    #[test]
    fn kpn_profile_parses_with_defaults() {
        let c = Config::parse(
            "interface = \"eth0\"\nvlan = 6\nauth = \"pap\"\nusers = [{ name = \"internet\", password = \"internet\" }]\necho_interval = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(c.vlan, Some(6));
        assert_eq!(c.echo_interval, Duration::from_secs(2));
        assert_eq!(c.local_ipv4(), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(c.tun, "isp0");
        assert!(c.pd);
        assert_eq!((c.pd_pool.to_string().as_str(), c.pd_length), ("2001:db8:1000::/36", 48));
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let e = Config::parse("interface = \"eth0\"\nvlan = 5000\nauth = \"none\"\n").unwrap_err();
        assert!(e.contains("vlan"), "{e}");
        let e = Config::parse("interface = \"eth0\"\nauth = \"none\"\nbogus = 1\n").unwrap_err();
        assert!(e.contains("bogus") && e.contains("line 3"), "{e}");
        let e = Config::parse("interface = \"eth0\"\nauth = \"none\"\necho_interval = \"ten\"\n")
            .unwrap_err();
        assert!(e.contains("bad duration"), "{e}");
        let e =
            Config::parse("interface = \"eth0\"\nauth = \"none\"\npd_length = 30\n").unwrap_err();
        assert!(e.contains("pd_length"), "{e}");
        let e = Config::parse("interface = \"eth0\"\n").unwrap_err();
        assert!(e.contains("users"), "{e}");
    }
}
