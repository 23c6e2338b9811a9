//! The bus between the services: current state in `watch` channels (a late subscriber sees
//! it at once) and transitions as typed events on a broadcast channel. No strings, no JSON
//! inside the process. It is the one source of truth: what `routerctl status` shows is a
//! projection of these channels ([`crate::status::Status::of`]), kept nowhere else.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dhcpv6::DelegatedPrefix;
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::plan::Plan;
use crate::service::{Ready, ServiceId, ServiceStatus};

/// The WAN link as it is now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WanLink {
    /// The link carries traffic.
    pub up: bool,
    /// The public IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// The ISP's end (PPP) or the gateway.
    pub peer: Option<Ipv4Addr>,
    /// DNS servers the ISP gave.
    pub dns: Vec<IpAddr>,
    /// The link's MTU.
    pub mtu: Option<u16>,
}

/// The delegated prefixes as they are now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delegation {
    /// The prefixes, with their lifetimes at `at` (seconds).
    pub prefixes: Vec<DelegatedPrefix>,
    /// The ISP confirmed them in this run (false: remembered from the last run, or none).
    pub confirmed: bool,
}

impl Delegation {
    /// The prefixes as networks (host bits cleared).
    pub fn nets(&self) -> Vec<ipnet::Ipv6Net> {
        self.prefixes
            .iter()
            .filter_map(|p| ipnet::Ipv6Net::new(p.prefix, p.len).ok().map(|n| n.trunc()))
            .collect()
    }
}

/// The ingress's side of the DMZ link (split deployment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmzLink {
    /// Our DMZ address, leased by the gateway.
    pub address: Option<ipnet::Ipv4Net>,
    /// The gateway (the DHCP server that leased it).
    pub gateway: Option<Ipv4Addr>,
}

/// Why the WAN went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// The PPPoE session ended (PADT, LCP, echo timeout, authentication, ...).
    Pppoe(pppoe::DownReason),
    /// The DHCP lease ran out without a renewal.
    DhcpLost,
    /// The DHCP lease was released (the WAN service stopped).
    DhcpReleased,
    /// The WAN service was stopped (shutdown, or a reload restarting it).
    Stopped,
}

impl DownReason {
    /// The reason as a metric label (`routerd_wan_downs_total{reason}`): one of a fixed few.
    pub fn label(&self) -> &'static str {
        match self {
            DownReason::Pppoe(r) => match r {
                pppoe::DownReason::DiscoveryTimeout => "discovery_timeout",
                pppoe::DownReason::DiscoveryError => "discovery_error",
                pppoe::DownReason::Padt => "padt",
                pppoe::DownReason::LcpNegotiationFailed => "lcp_failed",
                pppoe::DownReason::LcpTerminated => "lcp_terminated",
                pppoe::DownReason::EchoTimeout => "echo_timeout",
                pppoe::DownReason::AuthFailed => "auth_failed",
                pppoe::DownReason::NcpFailed => "ncp_failed",
                pppoe::DownReason::AdminClose => "admin_close",
                _ => "other",
            },
            DownReason::DhcpLost => "dhcp_lost",
            DownReason::DhcpReleased => "dhcp_released",
            DownReason::Stopped => "stopped",
        }
    }
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Pppoe(r) => write!(f, "{r:?}"),
            DownReason::DhcpLost => f.write_str("dhcp lease lost"),
            DownReason::DhcpReleased => f.write_str("dhcp lease released"),
            DownReason::Stopped => f.write_str("stopped"),
        }
    }
}

/// Where the WAN service is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WanPhase {
    /// Not up (not started yet, or down).
    #[default]
    Down,
    /// PPPoE: discovery and PPP negotiation.
    Dialing,
    /// DHCP: looking for a lease.
    Discovering,
    /// Carrying traffic.
    Up,
}

impl fmt::Display for WanPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WanPhase::Down => "down",
            WanPhase::Dialing => "dialing",
            WanPhase::Discovering => "dhcp: discovering",
            WanPhase::Up => "up",
        })
    }
}

/// The WAN service's state beside its link: phase, why it last went down, the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WanState {
    /// Where it is.
    pub phase: WanPhase,
    /// Why it last went down.
    pub last_down: Option<DownReason>,
    /// The PPPoE session id while up.
    pub session_id: Option<u16>,
    /// Since when it is up.
    pub up_since: Option<std::time::Instant>,
    /// How often it went down, by [`DownReason::label`].
    pub downs: BTreeMap<&'static str, u64>,
    /// IPv4 is up (IPCP opened, or a DHCP or static address).
    pub ipv4_up: bool,
    /// IPv6 is up on the link (IPv6CP opened; on Ethernet, the WAN's IPv6 is enabled).
    pub ipv6_up: bool,
}

/// What a lease holds: an address (DHCPv4, DHCPv6 IA_NA) or a delegated prefix (IA_PD).
/// Shown and serialised as `192.168.1.50`, `fd00::5` or `2001:db8:0:40::/60`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Leased {
    /// An address.
    Address(std::net::IpAddr),
    /// A delegated prefix.
    Prefix(ipnet::Ipv6Net),
}

impl Leased {
    /// The `family` label of `routerd_dhcp_active_leases`: `v4`, `v6` or `pd`.
    pub fn family(&self) -> &'static str {
        match self {
            Leased::Address(std::net::IpAddr::V4(_)) => "v4",
            Leased::Address(std::net::IpAddr::V6(_)) => "v6",
            Leased::Prefix(_) => "pd",
        }
    }
}

impl std::fmt::Display for Leased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leased::Address(a) => a.fmt(f),
            Leased::Prefix(p) => p.fmt(f),
        }
    }
}

impl serde::Serialize for Leased {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A LAN host's lease, as the DHCP servers granted it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostLease {
    /// The LAN (one allocation shared by all its leases).
    pub lan: Arc<str>,
    /// The address, or the delegated prefix.
    pub address: Leased,
    /// The client's host name.
    pub hostname: Option<Box<str>>,
    /// Seconds since the epoch when it ends.
    pub expires: u64,
}

/// What a reload (SIGHUP) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Applied: what changed, and the services restarted for it (all came back).
    Applied {
        /// The parts of the configuration that changed.
        changed: Vec<String>,
        /// The services restarted.
        restarted: Vec<ServiceId>,
    },
    /// Refused as a whole; the running configuration stays.
    Refused(String),
    /// Applied, but these restarted services failed with the new configuration.
    RestartFailed(Vec<(ServiceId, String)>),
}

impl fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadOutcome::Applied { changed, restarted } => {
                let restarted: Vec<String> = restarted.iter().map(ToString::to_string).collect();
                write!(f, "applied: changed {changed:?}, restarted {restarted:?}")
            }
            ReloadOutcome::Refused(why) => write!(f, "refused: {why}"),
            ReloadOutcome::RestartFailed(failed) => {
                let list: Vec<String> = failed.iter().map(|(s, w)| format!("{s}: {w}")).collect();
                write!(f, "failed: restart of {}", list.join("; "))
            }
        }
    }
}

/// The reloads so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloads {
    /// How many were asked for.
    pub count: u32,
    /// What the last one did.
    pub last: Option<ReloadOutcome>,
    /// How many were refused.
    pub refused: u32,
    /// How many were applied but a restarted service failed with them.
    pub failed: u32,
}

/// The counters the protocol drivers publish while they run, read when metrics are
/// scraped (the drivers' own counters: nothing is counted twice).
#[derive(Debug, Default)]
pub struct Counters {
    /// The PPPoE control machine's (malformed, ignored, echoes and their round trips).
    pub pppoe: watch::Sender<pppoe::Stats>,
    /// The PPPoE data path's (packets, bytes, drops), across redials and restarts.
    pub datapath: Arc<pppoe::driver::Counters>,
    dhcp4: std::sync::Mutex<BTreeMap<String, watch::Sender<dhcpv4::server::Stats>>>,
    dhcp6: std::sync::Mutex<BTreeMap<String, watch::Sender<dhcpv6::server::Stats6>>>,
}

impl Counters {
    /// Where the DHCPv4 server of `lan` publishes.
    pub fn dhcp4(&self, lan: &str) -> watch::Sender<dhcpv4::server::Stats> {
        entry(&self.dhcp4, lan)
    }

    /// Where the DHCPv6 server of `lan` publishes.
    pub fn dhcp6(&self, lan: &str) -> watch::Sender<dhcpv6::server::Stats6> {
        entry(&self.dhcp6, lan)
    }

    /// Each DHCPv4 server's counters now, by LAN.
    pub fn dhcp4_now(&self) -> BTreeMap<String, dhcpv4::server::Stats> {
        now(&self.dhcp4)
    }

    /// Each DHCPv6 server's counters now, by LAN.
    pub fn dhcp6_now(&self) -> BTreeMap<String, dhcpv6::server::Stats6> {
        now(&self.dhcp6)
    }
}

fn entry<T: Default>(
    m: &std::sync::Mutex<BTreeMap<String, watch::Sender<T>>>,
    lan: &str,
) -> watch::Sender<T> {
    let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
    m.entry(lan.to_string()).or_default().clone()
}

fn now<T: Copy>(m: &std::sync::Mutex<BTreeMap<String, watch::Sender<T>>>) -> BTreeMap<String, T> {
    let m = m.lock().unwrap_or_else(|p| p.into_inner());
    m.iter().map(|(k, v)| (k.clone(), *v.borrow())).collect()
}

/// What happened, for whoever listens (the status keeper, `routerctl`, logs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The WAN came up.
    WanUp,
    /// The WAN went down, and why.
    WanDown(DownReason),
    /// A public IPv4 address was acquired.
    Ipv4Acquired(Ipv4Addr),
    /// The public IPv4 address is gone.
    Ipv4Lost,
    /// Prefixes were delegated (new, renewed or changed).
    PrefixDelegated(Vec<DelegatedPrefix>),
    /// The delegation ended.
    PrefixLost,
    /// A LAN host got or renewed a lease.
    LeaseGranted {
        /// The LAN.
        lan: String,
        /// The address.
        address: IpAddr,
        /// The host name it gave.
        hostname: Option<String>,
    },
    /// A lease was released or expired.
    LeaseReleased {
        /// The LAN.
        lan: String,
        /// The address.
        address: IpAddr,
    },
    /// A new configuration was applied (SIGHUP).
    ConfigReloaded,
}

/// The channels.
pub struct Bus {
    /// The configuration in force.
    pub config: watch::Sender<Arc<Config>>,
    /// The WAN link.
    pub wan: watch::Sender<WanLink>,
    /// The delegated prefixes.
    pub delegation: watch::Sender<Delegation>,
    /// The DMZ link, on the ingress.
    pub dmz: watch::Sender<DmzLink>,
    /// The WAN service's phase, last down reason and session.
    pub wan_state: watch::Sender<WanState>,
    /// The LAN hosts' leases by address.
    pub leases: watch::Sender<BTreeMap<Leased, HostLease>>,
    /// Each supervised service's state (the supervisor writes it).
    pub services: Arc<watch::Sender<BTreeMap<ServiceId, ServiceStatus>>>,
    /// The reloads.
    pub reloads: watch::Sender<Reloads>,
    /// How long from start until the WAN was up and the LANs numbered from a delegation.
    pub ready_after: watch::Sender<Option<Duration>>,
    /// The plan computed from (configuration, delegation, WAN link) by [`crate::plan::plan`]:
    /// what every LAN numbers, announces and serves.
    pub plan: watch::Sender<Arc<Plan>>,
    /// Per LAN, the /64s of the delegation the router's own address is on the interface in
    /// (addressing writes it): RA and DHCPv6 use a delegated /64 only once it is here.
    pub numbered: watch::Sender<BTreeMap<String, Vec<ipnet::Ipv6Net>>>,
    /// The conditions services declare they need (firewall in force, LANs up, WAN up).
    pub ready: watch::Sender<std::collections::BTreeSet<Ready>>,
    /// Transitions.
    pub events: broadcast::Sender<Event>,
    /// The DNS server while it runs (the services that feed it, and the metrics, read it).
    pub dns: watch::Sender<Option<dns::DnsHandle>>,
    /// What the drivers count.
    pub counters: Counters,
    /// When routerd started.
    pub started: std::time::Instant,
    /// The extra WAN links (`[[wan.extra]]`) by name.
    pub extras: watch::Sender<BTreeMap<String, ExtraLink>>,
    /// The IGMP proxy's groups, members, cache entries and counters while it runs.
    pub igmp: watch::Sender<Option<igmp::driver::Status>>,
    /// The firewall's fast path.
    pub fast_path: watch::Sender<FastPath>,
}

/// The firewall's fast path (an nftables flowtable that established connections go
/// through, past the ruleset), as `routerctl status` and the metrics show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FastPath {
    /// Asked for by the configuration, not applied yet.
    #[default]
    Pending,
    /// In force over these interfaces.
    On {
        /// The flowtable's devices.
        devices: Vec<String>,
    },
    /// Turned off by the configuration (`firewall.fast_path = false`).
    Off,
    /// Not with a PPPoE WAN: its TUN device has no link layer that a flowtable can take.
    NotWithPppoe,
    /// The kernel refused the flowtable (no `nf_flow_table`, or a device missing); the
    /// ruleset is in force without it. Tried again on the next reload.
    Refused {
        /// The kernel's answer.
        error: String,
    },
}

impl FastPath {
    /// The `state` label of `routerd_firewall_fast_path`.
    pub fn state(&self) -> &'static str {
        match self {
            FastPath::Pending => "pending",
            FastPath::On { .. } => "on",
            FastPath::Off => "off",
            FastPath::NotWithPppoe => "not_with_pppoe",
            FastPath::Refused { .. } => "refused",
        }
    }
}

impl std::fmt::Display for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FastPath::Pending => f.write_str("pending"),
            FastPath::On { devices } => write!(f, "on ({})", devices.join(", ")),
            FastPath::Off => f.write_str("off (firewall.fast_path = false)"),
            FastPath::NotWithPppoe => f.write_str("not with a PPPoE WAN"),
            FastPath::Refused { error } => write!(f, "refused: {error}"),
        }
    }
}

/// An extra WAN link (the IPTV VLAN) as its DHCP client has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExtraLink {
    /// Whether it holds a lease.
    pub up: bool,
    /// Its address and prefix.
    pub ipv4: Option<ipnet::Ipv4Net>,
    /// The classless static routes (option 121) it installed.
    pub routes: Vec<ipnet::Ipv4Net>,
}

impl Bus {
    /// A bus with `config` in force, no WAN and the remembered delegation.
    pub fn new(config: Config, remembered: Vec<DelegatedPrefix>) -> Self {
        let delegation = Delegation { prefixes: remembered, confirmed: false };
        let first = crate::plan::plan(&config, &delegation, &WanLink::default());
        Self {
            config: watch::Sender::new(Arc::new(config)),
            wan: watch::Sender::new(WanLink::default()),
            delegation: watch::Sender::new(delegation),
            plan: watch::Sender::new(Arc::new(first)),
            numbered: watch::Sender::new(BTreeMap::new()),
            ready: watch::Sender::new(Default::default()),
            dmz: watch::Sender::new(DmzLink::default()),
            wan_state: watch::Sender::new(WanState::default()),
            leases: watch::Sender::new(BTreeMap::new()),
            services: Arc::new(watch::Sender::new(BTreeMap::new())),
            reloads: watch::Sender::new(Reloads::default()),
            ready_after: watch::Sender::new(None),
            events: broadcast::Sender::new(256),
            dns: watch::Sender::new(None),
            counters: Counters::default(),
            started: std::time::Instant::now(),
            extras: watch::Sender::new(BTreeMap::new()),
            igmp: watch::Sender::new(None),
            fast_path: watch::Sender::new(FastPath::Pending),
        }
    }

    /// Computes the plan again from the configuration, the delegation and the WAN link, and
    /// publishes it when it changed (the planner task calls it on every change of those).
    pub fn replan(&self) {
        let (c, d, w) = (
            self.config.borrow().clone(),
            self.delegation.borrow().clone(),
            self.wan.borrow().clone(),
        );
        let p = crate::plan::plan(&c, &d, &w);
        self.plan.send_if_modified(|old| {
            let changed = **old != p;
            if changed {
                *old = Arc::new(p);
            }
            changed
        });
    }

    /// `what` holds now (`true`) or no longer (`false`).
    pub fn set_ready(&self, what: Ready, holds: bool) {
        self.ready.send_if_modified(|r| if holds { r.insert(what) } else { r.remove(&what) });
    }

    /// Sends an event (nobody listening is fine).
    pub fn emit(&self, ev: Event) {
        let _ = self.events.send(ev);
    }
}

/// The file in the state directory where the last delegation is kept, so that a restarted
/// router still knows which prefix its LAN hosts hold (RFC 9096 §3.5).
const DELEGATION_FILE: &str = "delegated-prefixes";

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes the delegation with absolute end times: `prefix/len preferred_until valid_until`.
pub fn save_delegation(dir: &Path, prefixes: &[DelegatedPrefix]) -> std::io::Result<()> {
    let now = unix_now();
    let until = |s: u32| if s == u32::MAX { u64::MAX } else { now + u64::from(s) };
    let text: String = prefixes
        .iter()
        .map(|p| format!("{}/{} {} {}\n", p.prefix, p.len, until(p.preferred), until(p.valid)))
        .collect();
    let tmp = dir.join(format!("{DELEGATION_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(DELEGATION_FILE))
}

/// The delegation saved by [`save_delegation`], with the lifetimes that remain now; ended
/// prefixes and unreadable lines are left out.
pub fn load_delegation(dir: &Path) -> Vec<DelegatedPrefix> {
    let Ok(text) = std::fs::read_to_string(dir.join(DELEGATION_FILE)) else { return Vec::new() };
    parse_delegation(&text, unix_now())
}

fn parse_delegation(text: &str, now: u64) -> Vec<DelegatedPrefix> {
    let left = |until: u64| {
        if until == u64::MAX {
            u32::MAX
        } else {
            u32::try_from(until.saturating_sub(now)).unwrap_or(u32::MAX - 1)
        }
    };
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let net: ipnet::Ipv6Net = f.next()?.parse().ok()?;
            let preferred: u64 = f.next()?.parse().ok()?;
            let valid: u64 = f.next()?.parse().ok()?;
            (valid > now).then(|| DelegatedPrefix {
                prefix: net.addr(),
                len: net.prefix_len(),
                preferred: left(preferred),
                valid: left(valid),
            })
        })
        .collect()
}

/// How long a delegated lifetime is, as a `Duration` (`None` is infinity).
pub fn lifetime(secs: u32) -> Option<Duration> {
    (secs != u32::MAX).then(|| Duration::from_secs(u64::from(secs)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_delegation_survives_a_restart_with_what_remains_of_its_lifetimes() {
        let dir = std::env::temp_dir().join(format!("routerd-bus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = DelegatedPrefix {
            prefix: "2001:db8:1::".parse().unwrap(),
            len: 48,
            preferred: 3600,
            valid: 7200,
        };
        save_delegation(&dir, &[p]).unwrap();
        let back = load_delegation(&dir);
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].prefix, back[0].len), (p.prefix, 48));
        assert!(back[0].valid <= 7200 && back[0].valid >= 7190);
        std::fs::remove_dir_all(&dir).unwrap();

        let text = "2001:db8:1::/48 1000 2000\n2001:db8:2::/48 100 500\ngarbage\n";
        let at = parse_delegation(text, 900);
        assert_eq!(at.len(), 1, "the ended one and the garbage are dropped");
        assert_eq!((at[0].preferred, at[0].valid), (100, 1100));
        let later = parse_delegation(text, 1500);
        assert_eq!((later[0].preferred, later[0].valid), (0, 500));
    }
}

#[cfg(test)]
mod leased_tests {
    #![allow(clippy::unwrap_used)]

    use super::Leased;

    /// A lease's address is shown and serialised as before it was typed (`routerctl leases
    /// --json` unchanged), and its family is read off the type, not the text.
    #[test]
    fn leased_renders_as_text_and_knows_its_family() {
        let cases = [
            (Leased::Address("192.168.1.50".parse().unwrap()), "192.168.1.50", "v4"),
            (Leased::Address("fd00::5".parse().unwrap()), "fd00::5", "v6"),
            (Leased::Prefix("2001:db8:0:40::/60".parse().unwrap()), "2001:db8:0:40::/60", "pd"),
        ];
        for (l, text, family) in cases {
            assert_eq!(l.to_string(), text);
            assert_eq!(serde_json::to_value(l).unwrap(), serde_json::json!(text));
            assert_eq!(l.family(), family);
        }
        // Ordered as addresses, not as strings: .9 before .10.
        let (a, b) = (
            Leased::Address("10.0.0.9".parse().unwrap()),
            Leased::Address("10.0.0.10".parse().unwrap()),
        );
        assert!(a < b);
    }
}
