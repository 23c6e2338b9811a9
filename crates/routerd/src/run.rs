//! `routerd run`: the services wired together. What runs so far: LAN addressing, the
//! firewall (re-applied when the WAN's address or the delegated prefix changes), the DNS
//! server (upstreams from the WAN, reverse zone following the prefix), the DHCPv4 servers
//! (their leases published in DNS), the PPPoE WAN, and the DHCPv6-PD client on `ppp0` whose
//! prefix numbers each LAN's /64 by its `subnet_id`.
//!
//! Router advertisements on each LAN announce its /64s (ULA and delegated), with RDNSS and
//! DNSSL, and a router lifetime of 0 while there is no IPv6 uplink; a replaced prefix is
//! deprecated (RFC 9096).
//!
//! Not yet: DHCPv6 on the LANs (the M/O flags follow the config, but hosts get addresses by
//! SLAAC only), WAN by DHCP or static address, SIGHUP reload, restarting a failed service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use netcfg::{AddrOptions, Family, Netcfg};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::{self, Config, Upstream, WanMode};
use crate::status::{LeaseStatus, Shared, Status};

fn set(status: &Shared, f: impl FnOnce(&mut Status)) {
    f(&mut status.lock().unwrap_or_else(|p| p.into_inner()));
}

/// What the firewall's ruleset depends on, re-applied whenever it changes.
#[derive(Default)]
struct WanState {
    public_ipv4: Option<Ipv4Addr>,
    delegated: Vec<ipnet::Ipv6Net>,
}

/// Why the router stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Network configuration failed.
    #[error(transparent)]
    Netcfg(#[from] netcfg::Error),
    /// The firewall could not be applied.
    #[error(transparent)]
    Fw(#[from] fw::Error),
    /// The DNS server could not start.
    #[error(transparent)]
    Dns(#[from] dns::Error),
    /// The control socket could not be opened.
    #[error("control socket: {0}")]
    Control(#[source] std::io::Error),
    /// Something the configuration asks for that this version cannot do yet.
    #[error("not implemented yet: {0}")]
    Unsupported(String),
}

fn fw_config(c: &Config) -> Result<fw::FwConfig, Error> {
    let proto = |p: config::Proto| match p {
        config::Proto::Tcp => fw::Proto::Tcp,
        config::Proto::Udp => fw::Proto::Udp,
        config::Proto::Both => fw::Proto::Both,
    };
    Ok(fw::FwConfig {
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
    })
}

fn apply_fw(cfg: &fw::FwConfig, st: &WanState) -> Result<(), Error> {
    let state = fw::FwState { public_ipv4: st.public_ipv4, delegated: st.delegated.clone() };
    let rs = fw::build(cfg, &state)?;
    fw::Firewall::apply(&rs)?;
    info!(rules = rs.rule_count(), public_ipv4 = ?st.public_ipv4, delegated = ?st.delegated, "firewall applied");
    Ok(())
}

/// `<prefix>:<subnet_id>::1/64`, the router's address on a LAN numbered from a delegated
/// prefix (config validation made sure the subnet id fits).
fn lan_address(p: &dhcpv6pd::DelegatedPrefix, subnet_id: u16) -> Option<ipnet::Ipv6Net> {
    let base = u128::from(p.prefix) & u128::MAX.checked_shl(128 - u32::from(p.len))?;
    let net = base | (u128::from(subnet_id) << 64);
    ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(net | 1), 64).ok()
}

/// Numbers each LAN with a `subnet_id` from the delegated prefix (addresses with the
/// prefix's lifetimes), and takes the previous prefix's addresses away.
async fn number_lans(
    nc: &Netcfg,
    c: &Config,
    old: &[dhcpv6pd::DelegatedPrefix],
    new: &[dhcpv6pd::DelegatedPrefix],
) {
    for l in &c.lan {
        let l = l.get_ref();
        let Some(id) = l.subnet_id else { continue };
        let Ok(link) = nc.link_by_name(&l.interface).await else { continue };
        for p in old.iter().filter(|p| !new.iter().any(|n| n.prefix == p.prefix && n.len == p.len))
        {
            if let Some(a) = lan_address(p, id) {
                let _ = nc.delete_address(&link, IpNet::V6(a)).await;
            }
        }
        for p in new {
            let Some(a) = lan_address(p, id) else { continue };
            let lifetimes = netcfg::Lifetimes { preferred: p.preferred, valid: p.valid };
            let opts =
                AddrOptions { lifetimes: Some(lifetimes), nodad: true, noprefixroute: false };
            match nc.add_address(&link, IpNet::V6(a), opts).await {
                Ok(()) => {
                    info!(lan = %l.name, address = %a, "lan numbered from the delegated prefix")
                }
                Err(e) => warn!(lan = %l.name, error = %e, "cannot number the lan"),
            }
        }
    }
}

/// Runs the router until `shutdown` turns true.
pub async fn run(c: Config, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    if c.wan.mode != WanMode::Pppoe {
        return Err(Error::Unsupported(format!(
            "wan.mode = {:?} (only pppoe runs so far)",
            c.wan.mode
        )));
    }
    let nc = Netcfg::new()?;
    let status: Shared = std::sync::Arc::new(std::sync::Mutex::new(Status::default()));
    let control =
        crate::status::serve(&c.control.socket, status.clone()).map_err(Error::Control)?;
    // Firewall first: safe defaults before any interface forwards anything.
    let fwc = fw_config(&c)?;
    apply_fw(&fwc, &WanState::default())?;
    set(&status, |s| {
        s.services.insert("firewall".into(), "running".into());
    });
    nc.set_forwarding("all", Family::V4, true)?;
    nc.set_forwarding("all", Family::V6, true)?;
    let listen = setup_lans(&nc, &c, &status).await?;
    let (dns, dns_task) = start_dns(&c, listen, &status).await?;
    let (dhcp_tasks, lease_task) = start_dhcp(&c, &status, &dns, &shutdown);
    let (ra, ra_tasks) = start_ra(&c, &status, &shutdown);

    // The PPPoE WAN, and the DHCPv6-PD client on ppp0 (it waits for IPv6CP's link-local
    // address itself, and Rebinds when the link comes back after a redial).
    let (wan_tx, mut wan_rx) = mpsc::unbounded_channel();
    let wan_task =
        tokio::spawn(pppoe::driver::client::run(pppoe_config(&c), wan_tx, shutdown.clone()));
    set(&status, |s| {
        s.services.insert("wan".into(), "running".into());
        s.wan.state = "dialing".into();
    });
    let (pd_tx, mut pd_rx) = mpsc::unbounded_channel();
    let pd_task = c.wan.ipv6.enabled.then(|| {
        let mut pc = dhcpv6pd::driver::Config::new("ppp0");
        pc.state_dir = Some(c.state_dir.clone());
        pc.prefix_len_hint = *c.wan.ipv6.pd_length.get_ref();
        set(&status, |s| {
            s.services.insert("dhcpv6pd".into(), "running".into());
        });
        tokio::spawn(dhcpv6pd::driver::run_client(pc, pd_tx, shutdown.clone()))
    });

    let mut r =
        Router { c: &c, nc, fwc, status, dns, ra, wan: WanState::default(), held: Vec::new() };
    loop {
        tokio::select! {
            ev = wan_rx.recv() => match ev {
                Some(ev) => r.on_wan(ev),
                None => break,
            },
            ev = pd_rx.recv(), if pd_task.is_some() => match ev {
                Some(ev) => r.on_pd(ev).await,
                None => break,
            },
            res = shutdown.changed() => if res.is_err() || *shutdown.borrow() { break },
        }
    }
    info!("shutting down");
    match tokio::time::timeout(Duration::from_secs(5), wan_task).await {
        Ok(Ok(Err(e))) => error!(error = %e, "wan"),
        Err(_) => warn!("wan did not stop within 5 s"),
        _ => {}
    }
    if let Some(t) = pd_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    for t in dhcp_tasks.into_iter().chain(ra_tasks) {
        let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
    }
    lease_task.abort();
    dns_task.abort();
    control.abort();
    let _ = std::fs::remove_file(&c.control.socket);
    Ok(())
}

/// Brings each LAN up with its addresses; returns where DNS listens (loopback and each LAN).
async fn setup_lans(nc: &Netcfg, c: &Config, status: &Shared) -> Result<Vec<SocketAddr>, Error> {
    let mut listen = vec![SocketAddr::from(([127, 0, 0, 1], 53))];
    for l in &c.lan {
        let l = l.get_ref();
        let link = nc.link_by_name(&l.interface).await?;
        nc.set_up(&link).await?;
        if let Some(v4) = l.ipv4 {
            nc.add_address(&link, IpNet::V4(v4), AddrOptions::default()).await?;
            listen.push(SocketAddr::new(IpAddr::V4(v4.addr()), 53));
        }
        if let Some(ula) = l.ula {
            let opts = AddrOptions { nodad: true, ..AddrOptions::default() };
            nc.add_address(&link, IpNet::V6(ula), opts).await?;
        }
        let addrs = lan_addresses(l, &[]);
        set(status, |s| {
            s.lans.insert(l.name.clone(), addrs);
        });
        info!(lan = %l.name, interface = %l.interface, ipv4 = ?l.ipv4, "lan up");
    }
    Ok(listen)
}

/// A LAN's addresses as `routerctl` shows them: its own, and one per delegated prefix.
fn lan_addresses(l: &config::Lan, delegated: &[dhcpv6pd::DelegatedPrefix]) -> Vec<String> {
    let own = l.ipv4.iter().map(ToString::to_string).chain(l.ula.iter().map(ToString::to_string));
    let numbered = l
        .subnet_id
        .iter()
        .flat_map(|id| delegated.iter().filter_map(move |p| lan_address(p, *id)))
        .map(|a| a.to_string());
    own.chain(numbered).collect()
}

async fn start_dns(
    c: &Config,
    listen: Vec<SocketAddr>,
    status: &Shared,
) -> Result<(dns::DnsHandle, tokio::task::JoinHandle<()>), Error> {
    let upstreams = match &c.dns.upstream {
        Upstream::Wan => Vec::new(),
        Upstream::Servers(s) => s.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
    };
    let hosts = c.dns.hosts.iter().map(|h| dns::StaticHost {
        name: h.name.clone(),
        ipv4: h.ipv4.into_iter().collect(),
        ipv6: h.ipv6.into_iter().collect(),
    });
    let dcfg = dns::DnsConfig {
        listen,
        domain: c.dns.domain.clone(),
        hosts: hosts.collect(),
        lan_v4: c.lan.iter().filter_map(|l| l.get_ref().ipv4.map(|n| n.trunc())).collect(),
        lan_v6: c.lan.iter().filter_map(|l| l.get_ref().ula.map(|n| n.trunc())).collect(),
        upstreams,
        state_dir: c.state_dir.clone(),
        ..dns::DnsConfig::default()
    };
    if !c.dns.tsig_keys.is_empty() {
        warn!("dns.tsig_keys: RFC 2136 updates are not wired into routerd yet; keys ignored");
    }
    let (dns, task) = dns::serve(dcfg).await?;
    info!(addrs = ?dns.local_addrs(), "dns serving");
    set(status, |s| {
        s.services.insert("dns".into(), "running".into());
    });
    Ok((dns, task))
}

/// The prefixes a LAN announces: its ULA /64 (forever) and one /64 per delegated prefix.
fn lan_prefixes(l: &config::Lan, delegated: &[dhcpv6pd::DelegatedPrefix]) -> Vec<ra::PrefixInfo> {
    let ula = l.ula.map(|u| ra::PrefixInfo {
        prefix: u.network(),
        len: 64,
        preferred: None,
        valid: None,
    });
    let from_pd = l.subnet_id.iter().flat_map(|id| {
        delegated.iter().filter_map(move |p| {
            let a = lan_address(p, *id)?;
            let secs = |s: u32| Some(Duration::from_secs(u64::from(s)));
            Some(ra::PrefixInfo {
                prefix: a.network(),
                len: 64,
                preferred: secs(p.preferred),
                valid: secs(p.valid),
            })
        })
    });
    ula.into_iter().chain(from_pd).collect()
}

/// A LAN's name and the commands to its router advertisements.
type RaChannel = (String, mpsc::UnboundedSender<ra::driver::Command>);

/// Router advertisements on each LAN with IPv6 (a ULA or a subnet id); returns the channels
/// that carry prefix and uplink changes to them.
fn start_ra(
    c: &Config,
    status: &Shared,
    shutdown: &watch::Receiver<bool>,
) -> (Vec<RaChannel>, Vec<tokio::task::JoinHandle<()>>) {
    let (mut chans, mut tasks) = (Vec::new(), Vec::new());
    for l in &c.lan {
        let l = l.get_ref();
        if l.ula.is_none() && l.subnet_id.is_none() {
            continue;
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
        rc.prefixes = lan_prefixes(l, &[]);
        let (tx, rx) = mpsc::unbounded_channel();
        let (name, st) = (l.name.clone(), status.clone());
        set(status, |s| {
            s.services.insert(format!("ra/{name}"), "running".into());
        });
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = ra::driver::run(rc, rx, stop).await {
                error!(lan = %name, error = %e, "router advertisements stopped");
                set(&st, |s| {
                    s.services.insert(format!("ra/{name}"), format!("failed: {e}"));
                });
            }
        }));
        chans.push((l.name.clone(), tx));
    }
    (chans, tasks)
}

/// The DHCPv4 server of one LAN, from its configuration (validated already).
fn dhcp_config(c: &Config, l: &config::Lan) -> Option<dhcp_server::ServerConfig> {
    let (net, d) = (l.ipv4?, l.dhcp4.as_ref()?);
    let (first, last) = config::parse_pool(&d.pool)?;
    let pool = dhcp_server::PoolRange { first, last };
    let mut sc = dhcp_server::ServerConfig::new(net.addr(), net.trunc(), pool);
    sc.lease_time = u32::try_from(d.lease_time.as_secs()).unwrap_or(u32::MAX).max(60);
    sc.domain_name = Some(c.dns.domain.clone());
    sc.domain_search = vec![c.dns.domain.clone()];
    sc.protected_names = c.dns.hosts.iter().map(|h| h.name.clone()).collect();
    for r in &l.reservations {
        let mac: Vec<u8> =
            r.mac.split(':').filter_map(|x| u8::from_str_radix(x, 16).ok()).collect();
        if let Ok(mac) = <[u8; 6]>::try_from(mac.as_slice()) {
            sc.reservations.push(dhcp_server::Reservation {
                client: dhcp_server::ClientKey::Hw(dhcp_server::HwAddr::ethernet(mac)),
                address: r.ipv4,
                hostname: r.hostname.clone(),
            });
        }
    }
    Some(sc)
}

/// Starts DHCPv4 on each LAN that has it, and the task that publishes its leases in DNS.
fn start_dhcp(
    c: &Config,
    status: &Shared,
    dns: &dns::DnsHandle,
    shutdown: &watch::Receiver<bool>,
) -> (Vec<tokio::task::JoinHandle<()>>, tokio::task::JoinHandle<()>) {
    let (lease_tx, mut lease_rx) = mpsc::channel(1024);
    let mut tasks = Vec::new();
    for l in &c.lan {
        let l = l.get_ref();
        let Some(sc) = dhcp_config(c, l) else { continue };
        let dir = c.state_dir.join(format!("dhcp4-{}", l.name));
        let dc = dhcp_server::driver::DriverConfig::new(&l.interface, dir, sc);
        let (tx, mut stop, st, name) =
            (lease_tx.clone(), shutdown.clone(), status.clone(), l.name.clone());
        set(status, |s| {
            s.services.insert(format!("dhcp4/{name}"), "running".into());
        });
        tasks.push(tokio::spawn(async move {
            let until = async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            if let Err(e) = dhcp_server::driver::run(dc, Some(tx), until).await {
                error!(lan = %name, error = %e, "dhcp4 stopped");
                set(&st, |s| {
                    s.services.insert(format!("dhcp4/{name}"), format!("failed: {e}"));
                });
            }
        }));
    }
    let (dns, st) = (dns.clone(), status.clone());
    let lan_nets: Vec<(String, ipnet::Ipv4Net)> = c
        .lan
        .iter()
        .filter_map(|l| l.get_ref().ipv4.map(|n| (l.get_ref().name.clone(), n.trunc())))
        .collect();
    let leases = tokio::spawn(async move {
        while let Some(ev) = lease_rx.recv().await {
            track_lease(&st, &lan_nets, &ev);
            let Some(update) = lease_update(ev) else { continue };
            if let Err(e) = dns.lease(update).await {
                info!(conflict = %e, "lease name not published");
            }
        }
    });
    (tasks, leases)
}

/// What a DHCP event means for the local zone.
fn lease_update(ev: dhcp_server::Event) -> Option<dns::LeaseUpdate> {
    Some(match ev {
        dhcp_server::Event::LeaseGranted(l) => dns::LeaseUpdate::Granted {
            hostname: l.hostname.clone()?,
            v4: Some(l.address),
            v6: Vec::new(),
            client_id: client_id(&l),
        },
        dhcp_server::Event::LeaseReleased(l) => {
            dns::LeaseUpdate::Released { client_id: client_id(&l) }
        }
        dhcp_server::Event::LeaseExpired(l) => {
            dns::LeaseUpdate::Expired { client_id: client_id(&l) }
        }
        dhcp_server::Event::AddressDeclined(_) => return None,
    })
}

/// The state the WAN's events change, and what follows each change.
struct Router<'a> {
    c: &'a Config,
    nc: Netcfg,
    fwc: fw::FwConfig,
    status: Shared,
    dns: dns::DnsHandle,
    /// Each LAN's router advertisements.
    ra: Vec<RaChannel>,
    wan: WanState,
    held: Vec<dhcpv6pd::DelegatedPrefix>,
}

impl Router<'_> {
    fn reapply(&self) {
        if let Err(e) = apply_fw(&self.fwc, &self.wan) {
            error!(error = %e, "firewall not re-applied; the previous ruleset stays");
        }
    }

    /// WAN up: the firewall learns the public address and DNS its upstreams. Down: both go.
    fn on_wan(&mut self, ev: pppoe::Event) {
        match ev {
            pppoe::Event::Up(link) => {
                let v4 = link.ipv4.clone();
                set(&self.status, |s| {
                    s.wan = crate::status::WanStatus {
                        state: "up".into(),
                        last_down: s.wan.last_down.take(),
                        ipv4: v4.as_ref().map(|v| v.local.to_string()),
                        peer: v4.as_ref().map(|v| v.peer.to_string()),
                        dns: v4
                            .iter()
                            .flat_map(|v| v.dns.iter().map(ToString::to_string))
                            .collect(),
                        mtu: Some(link.mtu),
                        session_id: Some(link.session_id),
                    };
                });
                self.wan.public_ipv4 = v4.as_ref().map(|v| v.local);
                self.reapply();
                if let (Upstream::Wan, Some(v4)) = (&self.c.dns.upstream, &v4) {
                    let servers = v4.dns.iter().map(|a| SocketAddr::new(IpAddr::V4(*a), 53));
                    self.dns.set_upstreams(servers.collect());
                }
                info!(ipv4 = ?v4, mtu = link.mtu, "wan up");
            }
            pppoe::Event::Down(reason) => {
                warn!(?reason, "wan down");
                set(&self.status, |s| {
                    let last_down = Some(format!("{reason:?}"));
                    s.wan = crate::status::WanStatus {
                        state: "down".into(),
                        last_down,
                        ..Default::default()
                    };
                });
                self.wan.public_ipv4 = None;
                self.reapply();
                // No IPv6 uplink until the prefix is confirmed again (RFC 4861 §6.2.5).
                for (_, tx) in &self.ra {
                    let _ = tx.send(ra::driver::Command::SetUplink(false));
                }
            }
        }
    }

    /// A new, renewed or lost delegation: renumber the LANs; on a different prefix, re-apply
    /// the firewall and move the reverse zone.
    async fn on_pd(&mut self, ev: dhcpv6pd::Event) {
        let new = match ev {
            dhcpv6pd::Event::Delegated(l)
            | dhcpv6pd::Event::Renewed(l)
            | dhcpv6pd::Event::Changed { new: l, .. } => l.prefixes,
            dhcpv6pd::Event::Lost | dhcpv6pd::Event::Released => Vec::new(),
            _ => return,
        };
        let shown: Vec<String> = new.iter().map(|p| format!("{}/{}", p.prefix, p.len)).collect();
        info!(prefixes = ?shown, "delegated prefix");
        number_lans(&self.nc, self.c, &self.held, &new).await;
        set(&self.status, |s| {
            s.prefixes = shown;
            for l in &self.c.lan {
                s.lans.insert(l.get_ref().name.clone(), lan_addresses(l.get_ref(), &new));
            }
        });
        for (name, tx) in &self.ra {
            if let Some(l) = self.c.lan.iter().map(|l| l.get_ref()).find(|l| &l.name == name) {
                let _ = tx.send(ra::driver::Command::SetPrefixes(lan_prefixes(l, &new)));
                let _ = tx.send(ra::driver::Command::SetUplink(!new.is_empty()));
            }
        }
        let nets: Vec<ipnet::Ipv6Net> = new
            .iter()
            .filter_map(|p| ipnet::Ipv6Net::new(p.prefix, p.len).ok().map(|n| n.trunc()))
            .collect();
        if nets != self.wan.delegated {
            self.wan.delegated = nets;
            self.reapply();
            self.dns.set_prefix(self.wan.delegated.first().copied()).await;
        }
        self.held = new;
    }
}

/// Keeps `routerctl leases` current.
fn track_lease(status: &Shared, lans: &[(String, ipnet::Ipv4Net)], ev: &dhcp_server::Event) {
    set(status, |s| match ev {
        dhcp_server::Event::LeaseGranted(l) => {
            let lan = lans
                .iter()
                .find(|(_, n)| n.contains(&l.address))
                .map_or_else(String::new, |(n, _)| n.clone());
            let expires =
                l.expires.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            s.leases.insert(
                l.address.to_string(),
                LeaseStatus {
                    lan,
                    address: l.address.to_string(),
                    hostname: l.hostname.clone(),
                    expires,
                },
            );
        }
        dhcp_server::Event::LeaseReleased(l)
        | dhcp_server::Event::LeaseExpired(l)
        | dhcp_server::Event::AddressDeclined(l) => {
            s.leases.remove(&l.address.to_string());
        }
    });
}

fn client_id(l: &dhcp_server::Lease) -> Vec<u8> {
    if l.client_id.is_empty() { l.hw.as_bytes().to_vec() } else { l.client_id.clone() }
}

fn pppoe_config(c: &Config) -> pppoe::driver::client::Config {
    let p = c.wan.pppoe.as_ref().map(|p| p.get_ref());
    let password = p.and_then(|p| {
        p.password.clone().or_else(|| {
            p.password_file
                .as_ref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(|s| s.trim_end().to_string())
        })
    });
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
    cfg
}
