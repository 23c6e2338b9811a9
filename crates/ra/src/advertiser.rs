//! The advertising interface (RFC 4861 §6.2): one [`Advertiser`] per LAN interface.
//!
//! Call order: `handle_input` / `handle_timeout` / `set_*` / `shutdown`, then drain
//! [`Advertiser::poll_transmit`], then ask [`Advertiser::poll_timeout`].

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::rng::Rng;
use crate::wire::{
    FLAG_MANAGED, FLAG_OTHER, NdOption, PREFIX_FLAG_AUTONOMOUS, PREFIX_FLAG_ON_LINK,
    PrefixInformation, RouterAdvertisement, RouterSolicitation,
};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Router constant MAX_INITIAL_RTR_ADVERT_INTERVAL (RFC 4861 §10).
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = secs(16);
/// Router constant MAX_INITIAL_RTR_ADVERTISEMENTS (RFC 4861 §10).
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
/// Router constant MIN_DELAY_BETWEEN_RAS (RFC 4861 §10).
pub const MIN_DELAY_BETWEEN_RAS: Duration = secs(3);
/// Router constant MAX_RA_DELAY_TIME (RFC 4861 §10).
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);
/// Default MaxRtrAdvInterval (RFC 4861 §6.2.1).
pub const DEFAULT_MAX_RTR_ADV_INTERVAL: Duration = secs(600);
/// Default MinRtrAdvInterval (RFC 4861 §6.2.1: 0.33 × MaxRtrAdvInterval, i.e. 200 s).
pub const DEFAULT_MIN_RTR_ADV_INTERVAL: Duration = secs(200);
/// How long a withdrawn prefix stays announced at most (RFC 9096 §3.5 and RFC 4862
/// §5.5.3(e): hosts do not let an RA shorten a valid lifetime below two hours, so we
/// announce at most two hours and count down).
pub const WITHDRAWN_VALID_LIFETIME: Duration = secs(7200);

/// The all-nodes multicast address, where unsolicited advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The all-routers multicast address, where Router Solicitations go.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// How addresses and other configuration are offered by DHCPv6 on this LAN, which sets the
/// M and O flags (RFC 4861 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dhcpv6Mode {
    /// Addresses by DHCPv6: M and O.
    Stateful,
    /// Only other configuration (DNS) by DHCPv6: O.
    Stateless,
    /// No DHCPv6 server: neither flag.
    #[default]
    Off,
}

/// Configuration of one advertising interface (RFC 4861 §6.2.1 variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// AdvDefaultLifetime, sent while the router has an IPv6 uplink (default 1800 s).
    pub router_lifetime: Duration,
    /// Sets AdvManagedFlag and AdvOtherConfigFlag.
    pub dhcpv6: Dhcpv6Mode,
    /// AdvLinkMTU; `None` sends no MTU option.
    pub mtu: Option<u32>,
    /// AdvCurHopLimit (default 64).
    pub cur_hop_limit: u8,
    /// RDNSS addresses (RFC 8106 §5.1); empty sends no RDNSS option.
    pub rdnss: Vec<Ipv6Addr>,
    /// DNSSL domains (RFC 8106 §5.2); empty sends no DNSSL option.
    pub dnssl: Vec<String>,
    /// Lifetime of the RDNSS and DNSSL options (RFC 8106 §5.1 recommends at least
    /// 3 × MaxRtrAdvInterval; the default is that).
    pub dns_lifetime: Duration,
    /// The interface's link-layer address, sent as Source Link-Layer Address.
    pub lladdr: Option<[u8; 6]>,
    /// MinRtrAdvInterval.
    pub min_interval: Duration,
    /// MaxRtrAdvInterval.
    pub max_interval: Duration,
    /// Seed of the interval and delay randomness.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            router_lifetime: secs(1800),
            dhcpv6: Dhcpv6Mode::Off,
            mtu: None,
            cur_hop_limit: 64,
            rdnss: Vec::new(),
            dnssl: Vec::new(),
            dns_lifetime: DEFAULT_MAX_RTR_ADV_INTERVAL * 3,
            lladdr: None,
            min_interval: DEFAULT_MIN_RTR_ADV_INTERVAL,
            max_interval: DEFAULT_MAX_RTR_ADV_INTERVAL,
            seed: 0,
        }
    }
}

/// One /64 (or other length) to announce for SLAAC, with lifetimes counted from the `now`
/// passed along with it (typically what remains of the delegated prefix's lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// Its length (64 for SLAAC).
    pub len: u8,
    /// Preferred lifetime; `None` is infinity.
    pub preferred: Option<Duration>,
    /// Valid lifetime; `None` is infinity.
    pub valid: Option<Duration>,
}

/// A message to send on the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// ff02::1, or a soliciting host.
    pub dst: Ipv6Addr,
    /// The ICMPv6 message (checksum left to the kernel).
    pub bytes: Vec<u8>,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Router Advertisements queued.
    pub ra_sent: u64,
    /// Valid Router Solicitations received.
    pub rs_received: u64,
    /// Malformed or invalid solicitations dropped.
    pub malformed: u64,
}

/// A prefix being announced: deadlines are absolute; `None` is infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announced {
    prefix: Ipv6Addr,
    len: u8,
    preferred_until: Option<Instant>,
    valid_until: Option<Instant>,
    withdrawn: bool,
}

/// The sans-IO router advertiser of one interface.
#[derive(Debug)]
pub struct Advertiser {
    cfg: Config,
    rng: Rng,
    prefixes: Vec<Announced>,
    uplink: bool,
    /// Multicast RAs sent since start or the last change (RFC 4861 §6.2.4 initial ones).
    initial_sent: u32,
    /// When the next unsolicited RA is due; `None` once shut down.
    next_unsolicited: Option<Instant>,
    /// When a solicited RA is due (RFC 4861 §6.2.6).
    next_solicited: Option<Instant>,
    last_multicast: Option<Instant>,
    transmits: VecDeque<Transmit>,
    stats: Stats,
}

impl Advertiser {
    /// A new advertising interface; its first RA is due at `now` (RFC 4861 §6.2.4).
    /// The uplink starts down (router lifetime 0) until [`Advertiser::set_uplink`].
    pub fn new(cfg: Config, now: Instant) -> Self {
        let rng = Rng::new(cfg.seed);
        Self {
            cfg,
            rng,
            prefixes: Vec::new(),
            uplink: false,
            initial_sent: 0,
            next_unsolicited: Some(now),
            next_solicited: None,
            last_multicast: None,
            transmits: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Replaces the announced prefixes. A prefix missing from `prefixes` is announced with
    /// preferred lifetime 0 and a valid lifetime of what remains, at most two hours,
    /// counting down to 0 (RFC 9096 §3.5); then it is forgotten.
    ///
    /// Only a change of the set of prefixes triggers new RAs at once; new lifetimes of the
    /// same prefixes (a renewed lease) go out with the next periodic RA.
    pub fn set_prefixes(&mut self, now: Instant, prefixes: Vec<PrefixInfo>) {
        let key = |p: &PrefixInfo| (p.prefix, p.len);
        let mut before: Vec<_> =
            self.prefixes.iter().filter(|p| !p.withdrawn).map(|p| (p.prefix, p.len)).collect();
        let mut after: Vec<_> = prefixes.iter().map(key).collect();
        before.sort();
        after.sort();
        let cap = now + WITHDRAWN_VALID_LIFETIME;
        for old in &mut self.prefixes {
            if old.withdrawn || prefixes.iter().any(|p| (p.prefix, p.len) == (old.prefix, old.len))
            {
                continue;
            }
            old.withdrawn = true;
            old.preferred_until = Some(now);
            old.valid_until = Some(old.valid_until.map_or(cap, |v| v.min(cap)));
        }
        self.prefixes.retain(|o| {
            o.withdrawn && !prefixes.iter().any(|p| (p.prefix, p.len) == (o.prefix, o.len))
        });
        self.prefixes.extend(prefixes.iter().map(|p| Announced {
            prefix: p.prefix,
            len: p.len,
            preferred_until: p.preferred.map(|d| now + d),
            valid_until: p.valid.map(|d| now + d),
            withdrawn: false,
        }));
        if before != after {
            self.changed(now);
        }
    }

    /// Whether the router has an IPv6 uplink: without one the router lifetime is 0, "not a
    /// default router" (RFC 4861 §6.2.5, RFC 7084 G-4).
    pub fn set_uplink(&mut self, now: Instant, up: bool) {
        if self.uplink != up {
            self.uplink = up;
            self.changed(now);
        }
    }

    /// Replaces the RDNSS and DNSSL contents.
    pub fn set_dns(&mut self, now: Instant, rdnss: Vec<Ipv6Addr>, dnssl: Vec<String>) {
        if (&self.cfg.rdnss, &self.cfg.dnssl) != (&rdnss, &dnssl) {
            self.cfg.rdnss = rdnss;
            self.cfg.dnssl = dnssl;
            self.changed(now);
        }
    }

    /// RFC 4861 §6.2.4: when what the router advertises changes it "MAY transmit up to
    /// MAX_INITIAL_RTR_ADVERTISEMENTS unsolicited advertisements"; the first goes as soon as
    /// the MIN_DELAY_BETWEEN_RAS limit allows.
    fn changed(&mut self, now: Instant) {
        if self.next_unsolicited.is_none() {
            return;
        }
        self.initial_sent = 0;
        let at = self.last_multicast.map_or(now, |l| (l + MIN_DELAY_BETWEEN_RAS).max(now));
        self.next_unsolicited = Some(self.next_unsolicited.map_or(at, |n| n.min(at)));
    }

    /// A Router Solicitation from `src` (RFC 4861 §6.2.6). Invalid ones (RFC 4861 §6.1.1:
    /// unspecified source with a Source Link-Layer Address option) are counted and dropped.
    pub fn handle_input(&mut self, now: Instant, src: Ipv6Addr, bytes: &[u8]) {
        let rs = match RouterSolicitation::parse(bytes) {
            Ok(rs) => rs,
            Err(e) => {
                debug!(%src, error = %e, "ra: malformed router solicitation");
                self.stats.malformed += 1;
                return;
            }
        };
        let slla = rs.options.iter().any(|o| matches!(o, NdOption::SourceLinkLayerAddress(_)));
        if src.is_unspecified() && slla {
            self.stats.malformed += 1;
            return;
        }
        self.stats.rs_received += 1;
        let Some(unsolicited) = self.next_unsolicited else { return };
        // "the router MUST delay the response ... by a random time between 0 and
        // MAX_RA_DELAY_TIME" and, being multicast, at least MIN_DELAY_BETWEEN_RAS after the
        // previous multicast RA.
        let delay = self.random(Duration::ZERO, MAX_RA_DELAY_TIME);
        let mut at = now + delay;
        if let Some(last) = self.last_multicast {
            at = at.max(last + MIN_DELAY_BETWEEN_RAS + delay);
        }
        // An unsolicited RA due before that answers the solicitation too.
        if unsolicited <= at {
            return;
        }
        self.next_solicited = Some(self.next_solicited.map_or(at, |s| s.min(at)));
    }

    /// Sends what is due: a solicited or unsolicited multicast RA, and forgets withdrawn
    /// prefixes whose valid lifetime ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(unsolicited) = self.next_unsolicited else { return };
        let solicited = self.next_solicited.is_some_and(|s| s <= now);
        if unsolicited > now && !solicited {
            return;
        }
        if unsolicited <= now {
            self.initial_sent = self.initial_sent.saturating_add(1);
        }
        self.next_solicited = None;
        self.send_multicast(now, self.router_lifetime());
        // RFC 4861 §6.2.4: "Whenever a multicast advertisement is sent from an interface,
        // the timer is reset to a uniformly distributed random value between the interface's
        // configured MinRtrAdvInterval and MaxRtrAdvInterval"; the first
        // MAX_INITIAL_RTR_ADVERTISEMENTS at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart.
        let mut interval = self.random(self.cfg.min_interval, self.cfg.max_interval);
        if self.initial_sent < MAX_INITIAL_RTR_ADVERTISEMENTS {
            interval = interval.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
        }
        self.next_unsolicited = Some(now + interval);
        self.prefixes.retain(|p| !p.withdrawn || p.valid_until.is_some_and(|v| v > now));
    }

    /// Stops advertising: one final RA with router lifetime 0 (RFC 4861 §6.2.5: "the router
    /// SHOULD transmit one or more (but not more than MAX_FINAL_RTR_ADVERTISEMENTS) final
    /// multicast Router Advertisements on the interface with a Router Lifetime field of
    /// zero").
    pub fn shutdown(&mut self, now: Instant) {
        if self.next_unsolicited.take().is_some() {
            self.next_solicited = None;
            self.send_multicast(now, 0);
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Advertiser::handle_timeout`] is due; `None` after shutdown.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let u = self.next_unsolicited?;
        Some(self.next_solicited.map_or(u, |s| s.min(u)))
    }

    fn router_lifetime(&self) -> u16 {
        match self.uplink {
            true => u16::try_from(self.cfg.router_lifetime.as_secs()).unwrap_or(u16::MAX),
            false => 0,
        }
    }

    /// Uniform in `lo..=hi` at millisecond resolution.
    fn random(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_millis() as u64;
        lo + Duration::from_millis(self.rng.below(span.saturating_add(1)))
    }

    fn send_multicast(&mut self, now: Instant, router_lifetime: u16) {
        let bytes = self.advertisement(now, router_lifetime).to_vec();
        self.transmits.push_back(Transmit { dst: ALL_NODES, bytes });
        self.last_multicast = Some(now);
        self.stats.ra_sent += 1;
    }

    /// The RA as of `now`, lifetimes counted down to what remains.
    pub fn advertisement(&self, now: Instant, router_lifetime: u16) -> RouterAdvertisement {
        let flags = match self.cfg.dhcpv6 {
            Dhcpv6Mode::Stateful => FLAG_MANAGED | FLAG_OTHER,
            Dhcpv6Mode::Stateless => FLAG_OTHER,
            Dhcpv6Mode::Off => 0,
        };
        let mut options = Vec::new();
        if let Some(ll) = self.cfg.lladdr {
            options.push(NdOption::SourceLinkLayerAddress(ll.to_vec()));
        }
        if let Some(mtu) = self.cfg.mtu {
            options.push(NdOption::Mtu(mtu));
        }
        let remaining = |until: Option<Instant>| match until {
            None => u32::MAX,
            Some(t) => u32::try_from(t.saturating_duration_since(now).as_secs())
                .unwrap_or(u32::MAX - 1)
                .min(u32::MAX - 1),
        };
        for p in self.prefixes.iter().filter(|p| p.valid_until.is_none_or(|v| v > now)) {
            let valid = remaining(p.valid_until);
            options.push(NdOption::PrefixInformation(PrefixInformation {
                prefix_len: p.len,
                flags: PREFIX_FLAG_ON_LINK | PREFIX_FLAG_AUTONOMOUS,
                valid_lifetime: valid,
                // RFC 4861 §6.2.1: preferred MUST NOT exceed valid.
                preferred_lifetime: remaining(p.preferred_until).min(valid),
                prefix: p.prefix,
            }));
        }
        let dns_lifetime = u32::try_from(self.cfg.dns_lifetime.as_secs()).unwrap_or(u32::MAX);
        if !self.cfg.rdnss.is_empty() {
            let servers = self.cfg.rdnss.clone();
            options.push(NdOption::Rdnss { lifetime: dns_lifetime, servers });
        }
        if !self.cfg.dnssl.is_empty() {
            let domains = self.cfg.dnssl.clone();
            options.push(NdOption::Dnssl { lifetime: dns_lifetime, domains });
        }
        RouterAdvertisement {
            cur_hop_limit: self.cfg.cur_hop_limit,
            flags,
            router_lifetime,
            reachable_time: 0,
            retrans_timer: 0,
            options,
        }
    }
}
