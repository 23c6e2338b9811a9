//! `/metrics`: the router in the Prometheus text format, made when scraped from what the bus
//! holds and what the drivers count (nothing here counts anything of its own: there is no
//! second source of truth to drift). Names follow Prometheus' conventions: the `routerd_`
//! prefix, base units (seconds, bytes), `_total` on counters, `_seconds` histograms.
//! Cardinality is bounded: labels name a LAN, a service, a reason, a configured port
//! forward or a delegated prefix, never a client, an address or a query name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::bus::{Bus, WanPhase};
use crate::config::WanMode;
use crate::service::ServiceState;

/// One label set: `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;

/// The WAN's traffic, from the PPPoE data path or the interface's kernel counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Packets received from the ISP.
    pub rx_packets: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Packets sent to the ISP.
    pub tx_packets: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Received frames dropped (not for a session of ours, unreadable).
    pub rx_dropped: u64,
    /// Packets to send that were dropped (no session, too large).
    pub tx_dropped: u64,
}

impl Traffic {
    /// The WAN's traffic now: the PPPoE data path's counters, or the kernel's for an
    /// Ethernet WAN.
    pub fn of(bus: &Bus) -> Traffic {
        let c = bus.config.borrow();
        if c.wan.mode == WanMode::Pppoe {
            let d = &bus.counters.datapath;
            let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
            return Traffic {
                rx_packets: n(&d.rx_packets),
                rx_bytes: n(&d.rx_bytes),
                tx_packets: n(&d.tx_packets),
                tx_bytes: n(&d.tx_bytes),
                rx_dropped: n(&d.dropped_frames),
                tx_dropped: n(&d.dropped_packets),
            };
        }
        let read = |what: &str| {
            let p = format!("/sys/class/net/{}/statistics/{what}", c.wan.interface);
            std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        };
        Traffic {
            rx_packets: read("rx_packets"),
            rx_bytes: read("rx_bytes"),
            tx_packets: read("tx_packets"),
            tx_bytes: read("tx_bytes"),
            rx_dropped: read("rx_dropped"),
            tx_dropped: read("tx_dropped"),
        }
    }
}

/// Totals the history graphs follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// DHCP answers sent (v4 and v6, every LAN).
    pub dhcp: u64,
    /// DNS queries received.
    pub dns: u64,
}

impl Totals {
    /// The totals now.
    pub fn of(bus: &Bus) -> Totals {
        let v4: u64 =
            bus.counters.dhcp4_now().values().map(|s| s.offers + s.acks + s.naks + s.informs).sum();
        let v6: u64 = bus.counters.dhcp6_now().values().map(|s| s.advertises + s.replies).sum();
        let dns = bus.dns.borrow().as_ref().map_or(0, |h| {
            let s = h.stats();
            [&s.local, &s.cached, &s.forwarded, &s.refused, &s.dynamic, &s.malformed]
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .sum()
        });
        Totals { dhcp: v4 + v6, dns }
    }
}

/// Everything one scrape shows, read at once (the firewall's counters were read from the
/// kernel just before).
#[derive(Debug)]
pub struct Scrape {
    lines: Vec<Family>,
}

/// One metric family: name (without `_total`), help, type, samples.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, f64)>),
    Info(Vec<Labels>),
    /// Sum (seconds), count, and per-bucket (upper bound in seconds, count in it).
    Histogram {
        sum: f64,
        count: u64,
        buckets: Vec<(f64, u64)>,
    },
}

fn l(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

/// What the kernel counts for the firewall.
#[derive(Debug, Clone, Default)]
pub struct FirewallCounters {
    /// The counted rules.
    pub rules: Vec<fw::RuleCounter>,
    /// The port forwards' map elements.
    pub forwards: Vec<fw::ElementCounter>,
}

impl Scrape {
    /// Reads the bus and the drivers' counters, and the firewall's from the kernel.
    pub fn of(bus: &Bus, fw_counters: &FirewallCounters) -> Scrape {
        let rules = &fw_counters.rules;
        let mut f = Vec::new();
        let mut counter = |name, help, v: Vec<(Labels, u64)>| {
            f.push(Family { name, help, kind: Kind::Counter(v) });
        };
        let config = bus.config.borrow().clone();
        let state = bus.wan_state.borrow().clone();
        let up = state.phase == WanPhase::Up;

        // The WAN.
        let traffic = Traffic::of(bus);
        counter(
            "routerd_wan_packets",
            "IP packets carried on the WAN, by direction (rx: from the ISP)",
            vec![
                (l(&[("direction", "rx")]), traffic.rx_packets),
                (l(&[("direction", "tx")]), traffic.tx_packets),
            ],
        );
        counter(
            "routerd_wan_bytes",
            "Bytes of IP packets carried on the WAN, by direction",
            vec![
                (l(&[("direction", "rx")]), traffic.rx_bytes),
                (l(&[("direction", "tx")]), traffic.tx_bytes),
            ],
        );
        counter(
            "routerd_wan_dropped_packets",
            "WAN frames or packets dropped by the data path, by direction",
            vec![
                (l(&[("direction", "rx")]), traffic.rx_dropped),
                (l(&[("direction", "tx")]), traffic.tx_dropped),
            ],
        );
        let downs = ["padt", "echo_timeout", "lcp_terminated", "discovery_timeout", "auth_failed"];
        let mut by_reason: BTreeMap<&str, u64> = downs.iter().map(|r| (*r, 0)).collect();
        by_reason.extend(state.downs.iter().map(|(k, v)| (*k, *v)));
        counter(
            "routerd_wan_downs",
            "Times the WAN went down (and was redialled), by reason",
            by_reason.iter().map(|(r, n)| (l(&[("reason", r)]), *n)).collect(),
        );
        let pppoe = *bus.counters.pppoe.borrow();
        counter(
            "routerd_wan_lcp_echo_requests",
            "LCP Echo-Requests sent by the keepalive",
            vec![(Vec::new(), pppoe.echo_requests)],
        );
        let mss = bus.counters.datapath.mss_clamped.load(Ordering::Relaxed);
        counter(
            "routerd_wan_mss_clamped",
            "TCP SYNs whose MSS the PPPoE data path lowered",
            vec![(Vec::new(), mss)],
        );

        // DHCP.
        let (v4, v6) = (bus.counters.dhcp4_now(), bus.counters.dhcp6_now());
        let mut msgs = Vec::new();
        for (lan, s) in &v4 {
            for (t, n) in
                [("offer", s.offers), ("ack", s.acks), ("nak", s.naks), ("inform", s.informs)]
            {
                msgs.push((l(&[("family", "v4"), ("lan", lan), ("type", t)]), n));
            }
        }
        for (lan, s) in &v6 {
            for (t, n) in
                [("advertise", s.advertises), ("reply", s.replies), ("reconfigure", s.reconfigures)]
            {
                msgs.push((l(&[("family", "v6"), ("lan", lan), ("type", t)]), n));
            }
        }
        counter("routerd_dhcp_sent_messages", "DHCP messages sent, by LAN and type", msgs);
        let mut received = Vec::new();
        for (lan, s) in &v4 {
            for (outcome, n) in [
                ("answered", s.received.saturating_sub(s.malformed + s.dropped + s.pool_exhausted)),
                ("malformed", s.malformed),
                ("ignored", s.dropped),
                ("pool_exhausted", s.pool_exhausted),
            ] {
                received.push((l(&[("family", "v4"), ("lan", lan), ("outcome", outcome)]), n));
            }
        }
        for (lan, s) in &v6 {
            for (outcome, n) in [
                ("answered", s.received.saturating_sub(s.malformed + s.dropped)),
                ("malformed", s.malformed),
                ("ignored", s.dropped),
            ] {
                received.push((l(&[("family", "v6"), ("lan", lan), ("outcome", outcome)]), n));
            }
        }
        counter(
            "routerd_dhcp_received_messages",
            "DHCP messages received, by LAN and outcome (answered, malformed, ignored, pool_exhausted)",
            received,
        );
        let mut ias = Vec::new();
        for (lan, s) in &v6 {
            for (outcome, n) in [
                ("granted", s.granted),
                ("no_addrs", s.no_addrs),
                ("no_prefixes", s.no_prefixes),
                ("no_binding", s.no_binding),
                ("released", s.releases),
                ("declined", s.declines),
            ] {
                ias.push((l(&[("lan", lan), ("outcome", outcome)]), n));
            }
        }
        counter("routerd_dhcp6_ias", "DHCPv6 IAs handled, by LAN and outcome", ias);
        let mut v4_events = Vec::new();
        for (lan, s) in &v4 {
            v4_events.push((l(&[("lan", lan), ("type", "release")]), s.releases));
            v4_events.push((l(&[("lan", lan), ("type", "decline")]), s.declines));
        }
        counter(
            "routerd_dhcp4_client_events",
            "DHCPv4 RELEASEs and DECLINEs applied, by LAN",
            v4_events,
        );

        // DNS.
        let dns = bus.dns.borrow().clone();
        let dns_stats = dns.as_ref().map(|h| (h.stats(), h.cache_len()));
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        if let Some((s, _)) = &dns_stats {
            counter(
                "routerd_dns_queries",
                "DNS queries received, by outcome (local: the LAN zone; cache_hit; forwarded; dynamic: the RFC 2136 zone; refused; malformed)",
                [
                    ("local", &s.local),
                    ("cache_hit", &s.cached),
                    ("forwarded", &s.forwarded),
                    ("dynamic", &s.dynamic),
                    ("refused", &s.refused),
                    ("malformed", &s.malformed),
                ]
                .iter()
                .map(|(o, a)| (l(&[("outcome", o)]), n(a)))
                .collect(),
            );
            counter(
                "routerd_dns_servfail",
                "DNS answers that were SERVFAIL (no usable upstream answer, rebinding drops, zone failures)",
                vec![(Vec::new(), n(&s.servfail))],
            );
            counter(
                "routerd_dns_rebinding_dropped",
                "Upstream answers dropped by the rebinding filter",
                vec![(Vec::new(), n(&s.rebind_dropped))],
            );
            counter(
                "routerd_dns_updates_refused",
                "RFC 2136 UPDATEs refused or rejected",
                vec![(Vec::new(), n(&s.updates_refused))],
            );
        }

        // Malformed input, per protocol.
        let dns_malformed = dns_stats.as_ref().map_or(0, |(s, _)| n(&s.malformed));
        counter(
            "routerd_malformed_packets",
            "Packets dropped (or answered FORMERR) as malformed, by protocol",
            vec![
                (l(&[("protocol", "pppoe")]), pppoe.malformed),
                (l(&[("protocol", "dhcpv4")]), v4.values().map(|s| s.malformed).sum()),
                (l(&[("protocol", "dhcpv6")]), v6.values().map(|s| s.malformed).sum()),
                (l(&[("protocol", "dns")]), dns_malformed),
            ],
        );
        counter(
            "routerd_pppoe_ignored_frames",
            "PPPoE frames not credible and dropped, by kind (forged PADT, rejects of nothing sent, CHAP challenges not asked for, others)",
            vec![
                (l(&[("kind", "forged_padt")]), pppoe.forged_padt),
                (l(&[("kind", "reject")]), pppoe.ignored_rejects),
                (l(&[("kind", "challenge")]), pppoe.ignored_challenges),
                (l(&[("kind", "other")]), pppoe.ignored),
            ],
        );

        // The firewall.
        let mut dropped = Vec::new();
        let mut pinholes = Vec::new();
        let mut fast = Vec::new();
        for r in rules {
            match r.comment.as_deref() {
                Some(c) if c.starts_with("fast path ") => {
                    fast.push((l(&[("proto", c.trim_start_matches("fast path "))]), r.packets));
                }
                Some("dropped by policy") => {
                    dropped.push((l(&[("chain", &r.chain)]), r.packets));
                }
                Some(c) if c.starts_with("pinhole ") => {
                    pinholes.push((l(&[("pinhole", c.trim_start_matches("pinhole "))]), r.packets));
                }
                _ => {}
            }
        }
        counter(
            "routerd_firewall_dropped_packets",
            "Packets dropped by the firewall's policy, by chain (input: to the router; forward: through it)",
            dropped,
        );
        // Each forward is an element of its protocol's map, counted where the NAT chain sees
        // a connection's first packet: connections, named and labelled by protocol.
        let fwc = crate::wiring::fw_config(&config);
        let forwards = fw_counters
            .forwards
            .iter()
            .filter_map(|e| {
                let f = fw::model::forward_of(&fwc, &e.map, e.port)?;
                let proto = if e.map == fw::model::PORT_MAP_TCP { "tcp" } else { "udp" };
                Some((l(&[("forward", &f.name), ("proto", proto)]), e.packets))
            })
            .collect();
        counter(
            "routerd_firewall_forward_connections",
            "Connections taken by each configured port forward, by protocol",
            forwards,
        );
        counter(
            "routerd_firewall_pinhole_packets",
            "Packets accepted by each configured IPv6 pinhole",
            pinholes,
        );
        counter(
            "routerd_firewall_fast_path_packets",
            "Forwarded packets of established connections handed to the fast path (a connection's first ones, until its flowtable entry takes the rest past the ruleset), by protocol",
            fast,
        );

        // Services and reloads.
        let services = bus.services.borrow().clone();
        counter(
            "routerd_service_restarts",
            "Restarts of each supervised service (after a failure or a reload)",
            services
                .iter()
                .map(|(id, s)| (l(&[("service", &id.to_string())]), u64::from(s.restarts)))
                .collect(),
        );
        let reloads = bus.reloads.borrow().clone();
        let applied = reloads.count.saturating_sub(reloads.refused + reloads.failed);
        counter(
            "routerd_reloads",
            "Configuration reloads (SIGHUP), by outcome",
            vec![
                (l(&[("outcome", "applied")]), u64::from(applied)),
                (l(&[("outcome", "refused")]), u64::from(reloads.refused)),
                (l(&[("outcome", "failed")]), u64::from(reloads.failed)),
            ],
        );

        // The IGMP proxy (IPTV), while it runs.
        let igmp = bus.igmp.borrow().clone();
        if let Some(st) = &igmp {
            let x = st.stats;
            counter(
                "routerd_igmp_messages",
                "IGMP messages, by direction and kind (received: taken in from the right side)",
                vec![
                    (l(&[("direction", "received"), ("kind", "any")]), x.received),
                    (l(&[("direction", "sent"), ("kind", "query")]), x.queries_sent),
                    (l(&[("direction", "sent"), ("kind", "report")]), x.reports_sent),
                ],
            );
            counter(
                "routerd_igmp_dropped",
                "IGMP messages dropped, by reason",
                [
                    ("malformed", x.malformed),
                    ("bad_ttl", x.bad_ttl),
                    ("ignored_type", x.ignored),
                    ("query_from_lan", x.downstream_queries),
                    ("report_from_upstream", x.upstream_reports),
                    ("outside_range", x.outside_range),
                    ("outside_subnet", x.outside_subnet),
                    ("over_limit", x.over_limit),
                ]
                .into_iter()
                .map(|(r, n)| (l(&[("reason", r)]), n))
                .collect(),
            );
            counter(
                "routerd_igmp_cache_changes",
                "Changes to the kernel's multicast forwarding cache, by operation",
                vec![(l(&[("op", "add")]), x.mfc_adds), (l(&[("op", "delete")]), x.mfc_dels)],
            );
        }

        // Gauges.
        let mut gauge = |name, help, v: Vec<(Labels, f64)>| {
            f.push(Family { name, help, kind: Kind::Gauge(v) });
        };
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        gauge("routerd_wan_up", "1 while the WAN carries traffic", vec![(Vec::new(), b(up))]);
        gauge(
            "routerd_wan_state",
            "The WAN's phase: 1 for the current one",
            [WanPhase::Down, WanPhase::Dialing, WanPhase::Discovering, WanPhase::Up]
                .iter()
                .map(|p| (l(&[("state", phase_label(*p))]), b(*p == state.phase)))
                .collect(),
        );
        let uptime = state.up_since.filter(|_| up).map_or(0.0, |t| t.elapsed().as_secs_f64());
        gauge(
            "routerd_wan_session_uptime_seconds",
            "How long the WAN has been up (0 while down)",
            vec![(Vec::new(), uptime)],
        );
        gauge(
            "routerd_wan_ipcp_up",
            "1 while IPv4 is up on the WAN (IPCP opened, or a DHCP or static address)",
            vec![(Vec::new(), b(up && state.ipv4_up))],
        );
        gauge(
            "routerd_wan_ipv6cp_up",
            "1 while IPv6 is up on the WAN link (IPv6CP opened on PPPoE)",
            vec![(Vec::new(), b(up && state.ipv6_up))],
        );
        let delegation = bus.delegation.borrow().clone();
        gauge(
            "routerd_delegated_prefixes",
            "Prefixes delegated by the ISP now",
            vec![(Vec::new(), delegation.prefixes.len() as f64)],
        );
        gauge(
            "routerd_delegation_confirmed",
            "1 when the ISP confirmed the delegation in this run (0: remembered from the last run, or none)",
            vec![(Vec::new(), b(delegation.confirmed && !delegation.prefixes.is_empty()))],
        );
        gauge(
            "routerd_delegation_valid_seconds",
            "The valid lifetime each delegated prefix had when last renewed",
            delegation
                .prefixes
                .iter()
                .map(|p| (l(&[("prefix", &format!("{}/{}", p.prefix, p.len))]), f64::from(p.valid)))
                .collect(),
        );
        let leases = bus.leases.borrow().clone();
        let mut active: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for lan in config.lan.iter().map(|l| l.get_ref()) {
            if lan.dhcp4.is_some() {
                active.insert((lan.name.as_str(), "v4"), 0);
            }
        }
        for lease in leases.values() {
            *active.entry((&*lease.lan, lease.address.family())).or_default() += 1;
        }
        gauge(
            "routerd_dhcp_active_leases",
            "Leases held now, by LAN and family (v4, v6 addresses, pd: delegated prefixes)",
            active
                .iter()
                .map(|((lan, fam), n)| (l(&[("lan", lan), ("family", fam)]), *n as f64))
                .collect(),
        );
        gauge(
            "routerd_dhcp_pool_size",
            "Addresses in each LAN's DHCPv4 pool",
            config
                .lan
                .iter()
                .filter_map(|lan| {
                    let lan = lan.get_ref();
                    let (a, z) = crate::config::parse_pool(&lan.dhcp4.as_ref()?.pool)?;
                    let size = u32::from(z) - u32::from(a) + 1;
                    Some((l(&[("lan", &lan.name)]), f64::from(size)))
                })
                .collect(),
        );
        if let Some((_, cache)) = &dns_stats {
            gauge(
                "routerd_dns_cache_entries",
                "Answers in the DNS forwarding cache",
                vec![(Vec::new(), *cache as f64)],
            );
        }
        gauge(
            "routerd_service_up",
            "1 while each supervised service runs",
            services
                .iter()
                .map(|(id, s)| {
                    (l(&[("service", &id.to_string())]), b(s.state == ServiceState::Running))
                })
                .collect(),
        );
        let extras = bus.extras.borrow().clone();
        if !config.wan.extra.is_empty() {
            gauge(
                "routerd_wan_extra_up",
                "1 while each extra WAN link (IPTV) holds a lease",
                config
                    .wan
                    .extra
                    .iter()
                    .map(|x| {
                        let name = &x.get_ref().name;
                        (l(&[("link", name)]), b(extras.get(name).is_some_and(|e| e.up)))
                    })
                    .collect(),
            );
        }
        if let Some(st) = &igmp {
            let lans: Vec<String> = config.igmp_lans().iter().map(|l| l.name.clone()).collect();
            let per_lan = |f: &dyn Fn(&igmp::GroupStatus) -> usize| -> Vec<(Labels, f64)> {
                lans.iter()
                    .enumerate()
                    .map(|(i, lan)| {
                        let n: usize = st.groups.iter().filter(|g| g.downstream == i).map(f).sum();
                        (l(&[("lan", lan)]), n as f64)
                    })
                    .collect()
            };
            gauge("routerd_igmp_groups", "Multicast groups joined now, by LAN", per_lan(&|_| 1));
            gauge(
                "routerd_igmp_members",
                "Hosts listed as members of a group now, by LAN",
                per_lan(&|g| g.members.len()),
            );
            gauge(
                "routerd_igmp_forwarding",
                "The kernel's multicast cache entries that forward now",
                vec![(Vec::new(), st.routes.len() as f64)],
            );
        }
        gauge(
            "routerd_start_time_seconds",
            "When routerd started, in seconds since the epoch",
            vec![(Vec::new(), start_time(bus))],
        );

        // Info and histograms.
        f.push(Family {
            name: "routerd_delegated_prefix",
            help: "Each prefix delegated by the ISP now",
            kind: Kind::Info(
                delegation
                    .prefixes
                    .iter()
                    .map(|p| l(&[("prefix", &format!("{}/{}", p.prefix, p.len))]))
                    .collect(),
            ),
        });
        f.push(Family {
            name: "routerd_firewall_fast_path",
            help: "The firewall's fast path (an nftables flowtable): on, off, not_with_pppoe, refused (by the kernel) or pending",
            kind: Kind::Info(vec![l(&[("state", bus.fast_path.borrow().state())])]),
        });
        f.push(Family {
            name: "routerd_build",
            help: "routerd's version",
            kind: Kind::Info(vec![l(&[("version", env!("CARGO_PKG_VERSION"))])]),
        });
        let rtt = pppoe.echo_rtt;
        f.push(Family {
            name: "routerd_wan_lcp_echo_rtt_seconds",
            help: "Round trips of the LCP echo keepalive (sent only while the link is otherwise quiet)",
            kind: Kind::Histogram {
                sum: rtt.sum_us as f64 / 1e6,
                count: rtt.count,
                buckets: pppoe::RttHistogram::BOUNDS
                    .iter()
                    .zip(rtt.buckets)
                    .map(|(b, n)| (b.as_secs_f64(), n))
                    .collect(),
            },
        });
        if let Some((s, _)) = &dns_stats {
            let lat = &s.upstream_latency;
            f.push(Family {
                name: "routerd_dns_upstream_latency_seconds",
                help: "How long the upstream servers took to answer a forwarded query",
                kind: Kind::Histogram {
                    sum: n(&lat.sum_us) as f64 / 1e6,
                    count: n(&lat.count),
                    buckets: dns::Latency::BOUNDS
                        .iter()
                        .zip(&lat.buckets)
                        .map(|(b, c)| (b.as_secs_f64(), n(c)))
                        .collect(),
                },
            });
        }
        Scrape { lines: f }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        // Writing to a String cannot fail; an encoder error would be ours (a bad name).
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            tracing::error!(error = ?e, "metrics: encoding failed");
        }
        out
    }
}

fn phase_label(p: WanPhase) -> &'static str {
    match p {
        WanPhase::Down => "down",
        WanPhase::Dialing => "dialing",
        WanPhase::Discovering => "discovering",
        WanPhase::Up => "up",
    }
}

fn start_time(bus: &Bus) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    now - bus.started.elapsed().as_secs_f64()
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        for fam in &self.lines {
            match &fam.kind {
                Kind::Counter(samples) => {
                    let mut m =
                        enc.encode_descriptor(fam.name, fam.help, None, MetricType::Counter)?;
                    for (labels, v) in samples {
                        let c = ConstCounter::new(*v);
                        if labels.is_empty() {
                            c.encode(m.encode_family(&NoLabels)?)?;
                        } else {
                            c.encode(m.encode_family(labels)?)?;
                        }
                    }
                }
                Kind::Gauge(samples) => {
                    let mut m =
                        enc.encode_descriptor(fam.name, fam.help, None, MetricType::Gauge)?;
                    for (labels, v) in samples {
                        let g = ConstGauge::new(*v);
                        if labels.is_empty() {
                            g.encode(m.encode_family(&NoLabels)?)?;
                        } else {
                            g.encode(m.encode_family(labels)?)?;
                        }
                    }
                }
                Kind::Info(sets) => {
                    let mut m =
                        enc.encode_descriptor(fam.name, fam.help, None, MetricType::Info)?;
                    for labels in sets {
                        m.encode_info(labels)?;
                    }
                }
                Kind::Histogram { sum, count, buckets } => {
                    let mut m =
                        enc.encode_descriptor(fam.name, fam.help, None, MetricType::Histogram)?;
                    m.encode_histogram::<NoLabels>(*sum, *count, buckets, None)?;
                }
            }
        }
        Ok(())
    }
}

/// The empty label set.
#[derive(Debug)]
struct NoLabels;

impl prometheus_client::encoding::EncodeLabelSet for NoLabels {
    fn encode(
        &self,
        _: &mut prometheus_client::encoding::LabelSetEncoder<'_>,
    ) -> Result<(), fmt::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use std::time::Duration;

    use crate::bus::{DownReason, HostLease, Leased, WanState};
    use crate::config::tests::example;

    /// `name{labels} value` lines of a scrape, by `name{labels}`.
    fn samples(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    }

    /// The kernel's counters of the config's first port forward (3 connections), as the map
    /// dump gives them, and one of a port no forward has (not shown).
    fn forward_elements(bus: &Bus) -> Vec<fw::ElementCounter> {
        let cfg = crate::wiring::fw_config(&bus.config.borrow());
        let f = &cfg.port_forwards[0];
        let map = match f.proto {
            fw::Proto::Udp => fw::model::PORT_MAP_UDP,
            _ => fw::model::PORT_MAP_TCP,
        };
        let e = |port, packets| fw::ElementCounter { map: map.into(), port, packets, bytes: 0 };
        vec![e(f.port, 3), e(f.port.wrapping_add(1), 9)]
    }

    /// The scrape is the bus and the drivers' counters, under conventional names, and each
    /// family is declared once with its type.
    #[test]
    fn a_scrape_shows_what_the_bus_and_the_drivers_hold() {
        let (text, dir) = example();
        let bus = Bus::new(crate::config::load(&text, &dir).unwrap(), Vec::new());
        bus.wan_state.send_modify(|s| {
            *s = WanState { phase: WanPhase::Up, ipv4_up: true, ..WanState::default() };
            s.downs.insert(DownReason::Pppoe(pppoe::DownReason::Padt).label(), 2);
        });
        bus.counters.dhcp4("lan").send_modify(|s| {
            s.received = 10;
            s.offers = 4;
            s.acks = 4;
            s.malformed = 1;
        });
        bus.counters.pppoe.send_modify(|s| s.echo_rtt.observe(Duration::from_millis(3)));
        bus.counters.datapath.rx_bytes.store(1500, Ordering::Relaxed);
        bus.leases.send_modify(|m| {
            let l = HostLease {
                lan: "lan".into(),
                address: Leased::Address("192.168.1.100".parse().unwrap()),
                hostname: Some("laptop".into()),
                expires: 0,
            };
            m.insert(l.address, l);
        });
        let rules = vec![fw::RuleCounter {
            chain: "input".into(),
            comment: Some("dropped by policy".into()),
            packets: 7,
            bytes: 420,
        }];
        let forwards = forward_elements(&bus);
        let out = Scrape::of(&bus, &FirewallCounters { rules, forwards }).render();
        let s = samples(&out);
        assert_eq!(s["routerd_wan_up"], 1.0);
        assert_eq!(s["routerd_wan_state{state=\"up\"}"], 1.0);
        assert_eq!(s["routerd_wan_state{state=\"dialing\"}"], 0.0);
        assert_eq!(s["routerd_wan_downs_total{reason=\"padt\"}"], 2.0);
        assert_eq!(s["routerd_wan_downs_total{reason=\"echo_timeout\"}"], 0.0);
        assert_eq!(s["routerd_wan_bytes_total{direction=\"rx\"}"], 1500.0);
        assert_eq!(
            s["routerd_dhcp_sent_messages_total{family=\"v4\",lan=\"lan\",type=\"offer\"}"],
            4.0
        );
        assert_eq!(
            s["routerd_dhcp_received_messages_total{family=\"v4\",lan=\"lan\",outcome=\"answered\"}"],
            9.0
        );
        assert_eq!(s["routerd_malformed_packets_total{protocol=\"dhcpv4\"}"], 1.0);
        assert_eq!(s["routerd_dhcp_active_leases{lan=\"lan\",family=\"v4\"}"], 1.0);
        assert_eq!(s["routerd_firewall_dropped_packets_total{chain=\"input\"}"], 7.0);
        let cfg = crate::wiring::fw_config(&bus.config.borrow());
        let name = &cfg.port_forwards[0].name;
        let fwd: Vec<(&String, &f64)> = s
            .iter()
            .filter(|(k, _)| k.starts_with("routerd_firewall_forward_connections"))
            .collect();
        assert_eq!(fwd.len(), 1, "only the configured forward: {fwd:?}");
        assert!(fwd[0].0.contains(&format!("forward=\"{name}\"")) && *fwd[0].1 == 3.0, "{fwd:?}");
        assert_eq!(s["routerd_wan_lcp_echo_rtt_seconds_bucket{le=\"0.005\"}"], 1.0);
        assert_eq!(s["routerd_wan_lcp_echo_rtt_seconds_bucket{le=\"0.002\"}"], 0.0);
        assert_eq!(s["routerd_wan_lcp_echo_rtt_seconds_count"], 1.0);
        assert!(s.contains_key("routerd_dhcp_pool_size{lan=\"lan\"}"));
        // One TYPE line per family, none twice.
        let types: Vec<&str> = out.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(names.iter().all(|n| n.starts_with("routerd_")));
    }

    /// Leases do not add series: a scrape with 1,000 leases has the lines of one with one
    /// (bounded cardinality), and its size and time are printed (README).
    #[test]
    fn a_scrape_does_not_grow_with_the_leases() {
        let (text, dir) = example();
        let bus = Bus::new(crate::config::load(&text, &dir).unwrap(), Vec::new());
        let lease = |i: u32| HostLease {
            lan: "lan".into(),
            address: Leased::Address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                10,
                0,
                (i / 250) as u8,
                (i % 250) as u8,
            ))),
            hostname: Some(format!("host{i}").into()),
            expires: 0,
        };
        bus.leases.send_modify(|m| {
            m.insert(lease(0).address, lease(0));
        });
        let one = Scrape::of(&bus, &FirewallCounters::default()).render();
        bus.leases.send_modify(|m| {
            for i in 1..1000 {
                m.insert(lease(i).address, lease(i));
            }
        });
        let t = std::time::Instant::now();
        let many = Scrape::of(&bus, &FirewallCounters::default()).render();
        let took = t.elapsed();
        assert_eq!(one.lines().count(), many.lines().count());
        assert!(many.contains("routerd_dhcp_active_leases{lan=\"lan\",family=\"v4\"} 1000"));
        println!(
            "scrape with 1,000 leases: {} bytes, {} lines, {took:?}",
            many.len(),
            many.lines().count()
        );
    }
}
