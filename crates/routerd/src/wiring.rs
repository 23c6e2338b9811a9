//! From the configuration to each service's own configuration: pure functions, so that a
//! reload can build (and check) everything before it applies anything.

use std::net::SocketAddr;

use crate::bus;
use crate::config::{self, Config, Upstream, WanMode};

/// The firewall's part of the configuration.
pub fn fw_config(c: &Config) -> fw::FwConfig {
    let proto = |p: config::Proto| match p {
        config::Proto::Tcp => fw::Proto::Tcp,
        config::Proto::Udp => fw::Proto::Udp,
        config::Proto::Both => fw::Proto::Both,
    };
    fw::FwConfig {
        table: "routerd".into(),
        wan: match c.wan.mode {
            WanMode::Pppoe => "ppp0".into(),
            _ => c.wan.interface.clone(),
        },
        clamp_mss: c.wan.mode == WanMode::Pppoe,
        lans: c
            .lan
            .iter()
            .map(|l| {
                let l = l.get_ref();
                fw::Lan {
                    name: l.name.clone(),
                    interface: l.interface.clone(),
                    ipv4: l.ipv4.map(|n| n.trunc()),
                }
            })
            .collect(),
        port_forwards: c
            .firewall
            .port_forward
            .iter()
            .map(|p| {
                let p = p.get_ref();
                fw::PortForward {
                    name: p.name.clone(),
                    proto: proto(p.proto),
                    port: p.port,
                    to: *p.to.ip(),
                    to_port: p.to.port(),
                }
            })
            .collect(),
        pinholes: c
            .firewall
            .pinhole
            .iter()
            .map(|p| {
                let p = p.get_ref();
                fw::Pinhole {
                    name: p.name.clone(),
                    lan: p.lan.clone(),
                    host_suffix: p.host_suffix,
                    suffix_len: 64,
                    proto: proto(p.proto),
                    port: p.port,
                }
            })
            .collect(),
        open: Vec::new(),
        lan_tcp: {
            let mut ports: Vec<u16> = c.http_listen().iter().map(|a| a.port()).collect();
            ports.sort_unstable();
            ports.dedup();
            ports
        },
        split: match c.role() {
            config::Role::All => None,
            config::Role::Gateway => Some(fw::Split::Gateway),
            config::Role::Ingress => Some(fw::Split::Ingress {
                dmz: c.dmz.as_ref().map(|d| d.get_ref().interface.clone()).unwrap_or_default(),
                gateway: None,
            }),
        },
        extra_wans: c
            .wan
            .extra
            .iter()
            .map(|x| {
                let x = x.get_ref();
                fw::ExtraWan {
                    name: x.name.clone(),
                    interface: x.interface.clone(),
                    nat: x.nat,
                    multicast: c.igmp.as_ref().is_some_and(|g| g.get_ref().upstream == x.name),
                }
            })
            .collect(),
        fast_path: fast_path(c) == bus::FastPath::Pending,
    }
}

/// Whether the configuration asks for the fast path, and why not where it does not.
pub fn fast_path(c: &Config) -> bus::FastPath {
    if c.wan.mode == WanMode::Pppoe {
        bus::FastPath::NotWithPppoe
    } else if !c.firewall.fast_path {
        bus::FastPath::Off
    } else {
        bus::FastPath::Pending
    }
}

/// The DHCPv4 client of an extra WAN link (`[[wan.extra]]`): its lease and option 121 routes
/// on the interface, the default route only without `routes_only`, option 60 when given; the
/// last address kept in its own state file.
pub fn extra_dhcp_config(c: &Config, x: &config::WanExtra) -> dhcpv4::driver::client::Config {
    let mut dc = dhcpv4::driver::client::Config::new(&x.interface);
    dc.state_dir = Some(c.state_dir.join(format!("extra-{}", x.name)));
    dc.vendor_class = x.dhcp.vendor_class.as_ref().map(|v| v.as_bytes().to_vec());
    dc.install_default_route = !x.dhcp.routes_only;
    dc
}

/// The IGMP proxy (`[igmp]`): upstream the extra link's interface, downstream the LANs.
pub fn igmp_config(c: &Config) -> Option<igmp::driver::Config> {
    let g = c.igmp.as_ref()?.get_ref();
    let up = c.wan.extra.iter().map(|x| x.get_ref()).find(|x| x.name == g.upstream)?;
    let lans = c.igmp_lans();
    let proxy = igmp::Config {
        downstreams: lans
            .iter()
            .filter_map(|l| Some(igmp::Downstream { name: l.name.clone(), subnet: l.ipv4? }))
            .collect(),
        allowed: g.allowed.clone(),
        fast_leave: g.fast_leave,
        query_interval: g.query_interval,
        query_version: if *g.version.get_ref() == 2 {
            igmp::wire::Version::V2
        } else {
            igmp::wire::Version::V3
        },
        // The service seeds the response delays when it starts (this stays comparable).
        ..igmp::Config::default()
    };
    Some(igmp::driver::Config {
        upstream: up.interface.clone(),
        downstreams: lans.iter().map(|l| l.interface.clone()).collect(),
        proxy,
    })
}

/// `<prefix>:<subnet_id>::1/64`, the router's address on a LAN numbered from a delegated
/// prefix (config validation made sure the subnet id fits).
pub fn lan_address(p: &dhcpv6::DelegatedPrefix, subnet_id: u16) -> Option<ipnet::Ipv6Net> {
    let base = u128::from(p.prefix) & u128::MAX.checked_shl(128 - u32::from(p.len))?;
    let net = base | (u128::from(subnet_id) << 64);
    ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(net | 1), 64).ok()
}

/// The DHCPv4 server of one LAN, from its configuration (validated already).
pub fn dhcp_config(c: &Config, l: &config::Lan) -> Option<dhcpv4::server::ServerConfig> {
    let (net, d) = (l.ipv4?, l.dhcp4.as_ref()?);
    let (first, last) = config::parse_pool(&d.pool)?;
    let pool = dhcpv4::server::PoolRange { first, last };
    let mut sc = dhcpv4::server::ServerConfig::new(net.addr(), net.trunc(), pool);
    sc.lease_time = u32::try_from(d.lease_time.as_secs()).unwrap_or(u32::MAX).max(60);
    sc.domain_name = Some(c.dns.domain.clone());
    sc.domain_search = vec![c.dns.domain.clone()];
    sc.protected_names = c.dns.hosts.iter().map(|h| h.name.clone()).collect();
    for r in &l.reservations {
        let mac: Vec<u8> =
            r.mac.split(':').filter_map(|x| u8::from_str_radix(x, 16).ok()).collect();
        if let Ok(mac) = <[u8; 6]>::try_from(mac.as_slice()) {
            sc.reservations.push(dhcpv4::server::Reservation {
                client: dhcpv4::server::ClientKey::Hw(dhcpv4::server::HwAddr::ethernet(mac)),
                address: r.ipv4,
                hostname: r.hostname.clone(),
            });
        }
    }
    Some(sc)
}

/// Why the PPPoE WAN cannot dial.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The `password_file` could not be read at dial time (it was readable when the
    /// configuration was loaded: it went away or lost its permissions since).
    #[error("wan.pppoe.password_file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
}

/// The PPPoE client's configuration. The password comes from `password` or is read from
/// `password_file` now; an unreadable file is an error (the WAN service fails and the
/// supervisor retries with back-off), never a dial with an empty password.
pub fn pppoe_config(c: &Config) -> Result<pppoe::driver::client::Config, DialError> {
    let p = c.wan.pppoe.as_ref().map(|p| p.get_ref());
    let password = match p {
        Some(p) => match (&p.password, &p.password_file) {
            (Some(pw), _) => Some(pw.clone()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|source| DialError::PasswordFile { path: f.clone(), source })?
                    .trim_end()
                    .to_string(),
            ),
            (None, None) => None,
        },
        None => None,
    };
    let creds = p.map(|p| pppoe::Credentials {
        username: p.username.clone().into_bytes(),
        password: password.unwrap_or_default().into_bytes(),
    });
    let mut cfg = pppoe::driver::client::Config::new(&c.wan.interface, creds);
    cfg.vlan = c.wan.vlan.as_ref().map(|v| *v.get_ref());
    if let Some(p) = p {
        cfg.mtu = *p.mtu.get_ref();
        cfg.echo_interval = Some(p.lcp_echo_interval).filter(|d| !d.is_zero());
        cfg.echo_failures = p.lcp_echo_failures;
    }
    cfg.state_dir = Some(c.state_dir.clone());
    Ok(cfg)
}

/// Where DNS listens: loopback and each LAN's IPv4 and ULA address (the one RDNSS and
/// DHCPv6 announce).
pub fn dns_listen(c: &Config) -> Vec<SocketAddr> {
    let v4 =
        c.lan.iter().filter_map(|l| l.get_ref().ipv4).map(|n| SocketAddr::new(n.addr().into(), 53));
    let ula =
        c.lan.iter().filter_map(|l| l.get_ref().ula).map(|n| SocketAddr::new(n.addr().into(), 53));
    std::iter::once(SocketAddr::from(([127, 0, 0, 1], 53))).chain(v4).chain(ula).collect()
}

/// The pool a LAN's DHCPv6 server delegates from: its `delegate.pool`-th /`pool_length` of
/// the (first) delegated prefix. `None` when the LAN delegates nothing, or when the ISP
/// delegated a prefix too short for the pool.
pub fn dhcp6_pool(
    l: &config::Lan,
    delegated: &[dhcpv6::DelegatedPrefix],
) -> Option<dhcpv6::server::PdPool> {
    let d = l.dhcp6.as_ref()?.delegate?;
    let p = delegated.first()?;
    let bits = d.pool_length.checked_sub(p.len).filter(|b| *b > 0 && *b < 64)?;
    if u64::from(d.pool) >= 1u64 << bits {
        return None;
    }
    let base = u128::from(p.prefix) & u128::MAX.checked_shl(128 - u32::from(p.len))?;
    let net = base | (u128::from(d.pool) << (128 - u32::from(d.pool_length)));
    let prefix = ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(net), d.pool_length).ok()?;
    Some(dhcpv6::server::PdPool { prefix, delegated_len: d.length })
}

/// On the ingress: the pool the gateway's prefix comes from (all of the ISP's prefix, in
/// prefixes of `dmz.delegate_length`).
pub fn dmz_pool(
    c: &Config,
    delegated: &[dhcpv6::DelegatedPrefix],
) -> Option<dhcpv6::server::PdPool> {
    let p = delegated.first()?;
    let prefix = ipnet::Ipv6Net::new(p.prefix, p.len).ok()?.trunc();
    let len =
        c.dmz.as_ref().and_then(|d| d.get_ref().delegate_length).unwrap_or(p.len).clamp(p.len, 64);
    Some(dhcpv6::server::PdPool { prefix, delegated_len: len })
}

/// On the gateway: the DHCPv4 server on the DMZ link that gives the ingress its address
/// (`wan.static.gateway`, the only address of its pool; no router option: the ingress
/// routes to the ISP).
pub fn dmz_dhcp4(c: &Config) -> Option<dhcpv4::server::ServerConfig> {
    let st = c.wan.static_.as_ref()?.get_ref();
    let pool = dhcpv4::server::PoolRange { first: st.gateway, last: st.gateway };
    let mut sc = dhcpv4::server::ServerConfig::new(st.ipv4.addr(), st.ipv4.trunc(), pool);
    sc.routers = Vec::new();
    sc.dns_servers = Vec::new();
    sc.lease_time = 3600;
    Some(sc)
}

/// The DHCPv6 server of a LAN (its DUID comes from the interface), numbering what `site`
/// (its part of the plan, as usable now) says; `None` when the LAN runs none.
pub fn dhcp6_config(
    c: &Config,
    l: &config::Lan,
    site: &crate::plan::SitePlan,
    duid: Vec<u8>,
) -> Option<dhcpv6::server::Server6Config> {
    let mode = l.dhcp6.as_ref()?.mode;
    if mode == config::Dhcp6Mode::Off || (l.ula.is_none() && l.subnet_id.is_none()) {
        return None;
    }
    let mut sc = dhcpv6::server::Server6Config::new(duid, site.dhcp6_prefixes.clone());
    sc.pd_pool = site.dhcp6_pool;
    sc.dns_servers = l.ula.map(|u| u.addr()).into_iter().collect();
    sc.domains = vec![c.dns.domain.clone()];
    Some(sc)
}

/// The DNS server's configuration (upstreams from the WAN are set when it comes up).
pub fn dns_config(c: &Config) -> Result<dns::DnsConfig, String> {
    let upstreams = match &c.dns.upstream {
        Upstream::Wan => Vec::new(),
        Upstream::Servers(s) => s.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
    };
    let hosts = c.dns.hosts.iter().map(|h| dns::StaticHost {
        name: h.name.clone(),
        ipv4: h.ipv4.into_iter().collect(),
        ipv6: h.ipv6.into_iter().collect(),
    });
    let mut tsig_keys = Vec::new();
    for k in &c.dns.tsig_keys {
        let k = k.get_ref();
        tsig_keys.push(dns::TsigKey { name: k.name.clone(), secret: read_secret(&k.secret_file)? });
    }
    Ok(dns::DnsConfig {
        listen: dns_listen(c),
        domain: c.dns.domain.clone(),
        hosts: hosts.collect(),
        lan_v4: c.lan.iter().filter_map(|l| l.get_ref().ipv4.map(|n| n.trunc())).collect(),
        lan_v6: c.lan.iter().filter_map(|l| l.get_ref().ula.map(|n| n.trunc())).collect(),
        upstreams,
        tsig_keys,
        state_dir: c.state_dir.clone(),
        cache_size: c
            .dns
            .cache_size
            .as_ref()
            .map_or(dns::DEFAULT_CACHE_SIZE, |n| *n.get_ref() as usize),
        ..dns::DnsConfig::default()
    })
}

/// A TSIG secret file: base64 of the key, as `nsupdate -y` and BIND's key files write it.
fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{}: not base64: {e}", path.display()))
}

/// The router advertisements of one LAN, announcing what `site` (its part of the plan, as
/// usable now) says; `None` when the LAN has no IPv6.
pub fn ra_config(
    c: &Config,
    l: &config::Lan,
    site: &crate::plan::SitePlan,
    uplink: bool,
) -> Option<ra::driver::Config> {
    if l.ula.is_none() && l.subnet_id.is_none() {
        return None;
    }
    let mut rc = ra::driver::Config::new(&l.interface);
    rc.advertiser.dhcpv6 = match l.dhcp6.as_ref().map(|d| d.mode) {
        Some(config::Dhcp6Mode::Stateful) => ra::Dhcpv6Mode::Stateful,
        Some(config::Dhcp6Mode::Stateless) => ra::Dhcpv6Mode::Stateless,
        Some(config::Dhcp6Mode::Off) | None => ra::Dhcpv6Mode::Off,
    };
    // DNS listens on the ULA address; without one, hosts learn DNS by DHCPv4.
    rc.advertiser.rdnss = l.ula.map(|u| u.addr()).into_iter().collect();
    rc.advertiser.dnssl = vec![c.dns.domain.clone()];
    rc.prefixes = site.ra_prefixes.clone();
    rc.uplink = uplink;
    Some(rc)
}

/// The LAN called `name`.
pub fn lan<'a>(c: &'a Config, name: &str) -> Option<&'a config::Lan> {
    c.lan.iter().map(|l| l.get_ref()).find(|l| l.name == name)
}
