//! `routerd run`: the services wired together. What runs so far: LAN addressing, the
//! firewall (re-applied when the WAN's address or the delegated prefix changes), the DNS
//! server (upstreams from the WAN, reverse zone following the prefix), the DHCPv4 servers
//! (their leases published in DNS), the PPPoE WAN, and the DHCPv6-PD client on `ppp0` whose
//! prefix numbers each LAN's /64 by its `subnet_id`.
//!
//! Not yet: router advertisements and DHCPv6 on the LANs (so LAN hosts do not yet learn the
//! IPv6 prefix by themselves), WAN by DHCP or static address, the control socket, SIGHUP
//! reload, restart of a failed service with back-off.

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
    let mut wan_state = WanState::default();
    apply_fw(&fwc, &wan_state)?;
    set(&status, |s| {
        s.services.insert("firewall".into(), "running".into());
    });
    nc.set_forwarding("all", Family::V4, true)?;
    nc.set_forwarding("all", Family::V6, true)?;

    // LAN addressing.
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
            nc.add_address(
                &link,
                IpNet::V6(ula),
                AddrOptions { nodad: true, ..AddrOptions::default() },
            )
            .await?;
        }
        let addrs: Vec<String> = l
            .ipv4
            .iter()
            .map(ToString::to_string)
            .chain(l.ula.iter().map(ToString::to_string))
            .collect();
        set(&status, |s| {
            s.lans.insert(l.name.clone(), addrs);
        });
        info!(lan = %l.name, interface = %l.interface, ipv4 = ?l.ipv4, "lan up");
    }

    // DNS.
    let upstreams = match &c.dns.upstream {
        Upstream::Wan => Vec::new(),
        Upstream::Servers(s) => s.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
    };
    let dcfg = dns::DnsConfig {
        listen,
        domain: c.dns.domain.clone(),
        hosts: c
            .dns
            .hosts
            .iter()
            .map(|h| dns::StaticHost {
                name: h.name.clone(),
                ipv4: h.ipv4.into_iter().collect(),
                ipv6: h.ipv6.into_iter().collect(),
            })
            .collect(),
        lan_v4: c.lan.iter().filter_map(|l| l.get_ref().ipv4.map(|n| n.trunc())).collect(),
        lan_v6: c.lan.iter().filter_map(|l| l.get_ref().ula.map(|n| n.trunc())).collect(),
        upstreams,
        state_dir: c.state_dir.clone(),
        ..dns::DnsConfig::default()
    };
    if !c.dns.tsig_keys.is_empty() {
        warn!("dns.tsig_keys: RFC 2136 updates are not wired into routerd yet; keys ignored");
    }
    let (dns, dns_task) = dns::serve(dcfg).await?;
    info!(addrs = ?dns.local_addrs(), "dns serving");
    set(&status, |s| {
        s.services.insert("dns".into(), "running".into());
    });

    // DHCPv4 on each LAN that has it; leases go to DNS.
    let (lease_tx, mut lease_rx) = mpsc::channel(1024);
    let mut dhcp_tasks = Vec::new();
    for l in &c.lan {
        let l = l.get_ref();
        let (Some(net), Some(d)) = (l.ipv4, &l.dhcp4) else { continue };
        let Some((first, last)) = d
            .pool
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        else {
            continue; // validated already
        };
        let mut sc = dhcp_server::ServerConfig::new(
            net.addr(),
            net.trunc(),
            dhcp_server::PoolRange { first, last },
        );
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
        let dc = dhcp_server::driver::DriverConfig::new(
            &l.interface,
            c.state_dir.join(format!("dhcp4-{}", l.name)),
            sc,
        );
        let (tx, mut stop) = (lease_tx.clone(), shutdown.clone());
        let name = l.name.clone();
        let st = status.clone();
        set(&status, |s| {
            s.services.insert(format!("dhcp4/{name}"), "running".into());
        });
        dhcp_tasks.push(tokio::spawn(async move {
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
    drop(lease_tx);
    let dns2 = dns.clone();
    let st = status.clone();
    let lan_nets: Vec<(String, ipnet::Ipv4Net)> = c
        .lan
        .iter()
        .filter_map(|l| l.get_ref().ipv4.map(|n| (l.get_ref().name.clone(), n.trunc())))
        .collect();
    let lease_task = tokio::spawn(async move {
        while let Some(ev) = lease_rx.recv().await {
            track_lease(&st, &lan_nets, &ev);
            let update = match ev {
                dhcp_server::Event::LeaseGranted(l) => {
                    let Some(hostname) = l.hostname.clone() else { continue };
                    dns::LeaseUpdate::Granted {
                        hostname,
                        v4: Some(l.address),
                        v6: Vec::new(),
                        client_id: client_id(&l),
                    }
                }
                dhcp_server::Event::LeaseReleased(l) => {
                    dns::LeaseUpdate::Released { client_id: client_id(&l) }
                }
                dhcp_server::Event::LeaseExpired(l) => {
                    dns::LeaseUpdate::Expired { client_id: client_id(&l) }
                }
                _ => continue,
            };
            if let Err(e) = dns2.lease(update).await {
                info!(conflict = %e, "lease name not published");
            }
        }
    });

    // The PPPoE WAN: on Up, the firewall learns the public address and DNS its upstreams.
    let (wan_tx, mut wan_rx) = mpsc::unbounded_channel();
    let wan_task =
        tokio::spawn(pppoe::driver::client::run(pppoe_config(&c), wan_tx, shutdown.clone()));
    let upstream_from_wan = c.dns.upstream == Upstream::Wan;
    // The DHCPv6-PD client on ppp0: it waits for IPv6CP's link-local address itself, and
    // Rebinds when the link comes back after a redial.
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
    let mut held: Vec<dhcpv6pd::DelegatedPrefix> = Vec::new();
    loop {
        tokio::select! {
            ev = wan_rx.recv() => match ev {
                Some(pppoe::Event::Up(link)) => {
                    let v4 = link.ipv4.clone();
                    set(&status, |s| {
                        s.wan.state = "up".into();
                        s.wan.ipv4 = v4.as_ref().map(|v| v.local.to_string());
                        s.wan.peer = v4.as_ref().map(|v| v.peer.to_string());
                        s.wan.dns = v4.as_ref().map(|v| v.dns.iter().map(ToString::to_string).collect()).unwrap_or_default();
                        s.wan.mtu = Some(link.mtu);
                        s.wan.session_id = Some(link.session_id);
                    });
                    wan_state.public_ipv4 = v4.as_ref().map(|v| v.local);
                    if let Err(e) = apply_fw(&fwc, &wan_state) {
                        error!(error = %e, "firewall not re-applied; the previous ruleset stays");
                    }
                    if let (true, Some(v4)) = (upstream_from_wan, &v4) {
                        dns.set_upstreams(v4.dns.iter().map(|a| SocketAddr::new(IpAddr::V4(*a), 53)).collect());
                    }
                    info!(ipv4 = ?v4, mtu = link.mtu, "wan up");
                }
                Some(pppoe::Event::Down(reason)) => {
                    warn!(?reason, "wan down");
                    set(&status, |s| {
                        s.wan = crate::status::WanStatus { state: "down".into(), last_down: Some(format!("{reason:?}")), ..Default::default() };
                    });
                    wan_state.public_ipv4 = None;
                    if let Err(e) = apply_fw(&fwc, &wan_state) {
                        error!(error = %e, "firewall not re-applied");
                    }
                }
                None => break,
            },
            ev = pd_rx.recv(), if pd_task.is_some() => {
                let new = match ev {
                    Some(dhcpv6pd::Event::Delegated(l) | dhcpv6pd::Event::Renewed(l) | dhcpv6pd::Event::Changed { new: l, .. }) => l.prefixes,
                    Some(dhcpv6pd::Event::Lost | dhcpv6pd::Event::Released) => Vec::new(),
                    Some(_) => continue,
                    None => break,
                };
                info!(prefixes = ?new.iter().map(|p| format!("{}/{}", p.prefix, p.len)).collect::<Vec<_>>(), "delegated prefix");
                number_lans(&nc, &c, &held, &new).await;
                set(&status, |s| {
                    s.prefixes = new.iter().map(|p| format!("{}/{}", p.prefix, p.len)).collect();
                    for l in &c.lan {
                        let l = l.get_ref();
                        let mut addrs: Vec<String> = l.ipv4.iter().map(ToString::to_string).chain(l.ula.iter().map(ToString::to_string)).collect();
                        addrs.extend(l.subnet_id.iter().flat_map(|id| new.iter().filter_map(move |p| lan_address(p, *id))).map(|a| a.to_string()));
                        s.lans.insert(l.name.clone(), addrs);
                    }
                });
                let nets: Vec<ipnet::Ipv6Net> = new.iter().filter_map(|p| ipnet::Ipv6Net::new(p.prefix, p.len).ok().map(|n| n.trunc())).collect();
                if nets != wan_state.delegated {
                    wan_state.delegated = nets.clone();
                    if let Err(e) = apply_fw(&fwc, &wan_state) {
                        error!(error = %e, "firewall not re-applied");
                    }
                    dns.set_prefix(nets.first().copied()).await;
                }
                held = new;
            },
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
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
    for t in dhcp_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
    }
    lease_task.abort();
    dns_task.abort();
    control.abort();
    let _ = std::fs::remove_file(&c.control.socket);
    Ok(())
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
