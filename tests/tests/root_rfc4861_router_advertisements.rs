//! Router advertisements end to end: the `ra` driver in a router namespace, the Linux kernel's
//! own SLAAC and default-router handling in a LAN host namespace. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use netcfg::{Address, Family};
use netlab::{Lab, Netns};
use ra::advertiser::{
    ALL_ROUTERS, MAX_INITIAL_RTR_ADVERT_INTERVAL, MAX_RA_DELAY_TIME, MIN_DELAY_BETWEEN_RAS,
};
use ra::driver::{self, Command, Config};
use ra::wire::{FLAG_OTHER, NdOption, RouterAdvertisement, RouterSolicitation};
use ra::{Dhcpv6Mode, PrefixInfo};
use router_tests::running::Running;
use router_tests::{lab, wait_for};
use tokio::sync::mpsc;

const P1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);
const P2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0);
const DNS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x53);
const WAIT: Duration = Duration::from_secs(30);

fn prefix(p: Ipv6Addr) -> PrefixInfo {
    PrefixInfo {
        prefix: p,
        len: 64,
        preferred: Some(Duration::from_secs(1800)),
        valid: Some(Duration::from_secs(3600)),
    }
}

/// The advertiser running in the router namespace (it reports no events).
struct Ra {
    commands: mpsc::UnboundedSender<Command>,
    running: Running<(), Result<(), driver::Error>>,
}

impl Ra {
    fn stop(self) {
        self.running.stop().0.unwrap();
    }
}

/// router (eth0) <-> (eth0) host, the advertiser on the router's eth0 announcing P1.
struct Net {
    _lab: Lab,
    router: Netns,
    host: Netns,
    ra: Option<Ra>,
}

fn net(test: &str) -> Net {
    net_with(test, Duration::from_secs(3), Duration::from_secs(4))
}

/// [`net`] with MinRtrAdvInterval / MaxRtrAdvInterval of choice.
fn net_with(test: &str, min: Duration, max: Duration) -> Net {
    let lab = lab(test);
    let (router, host) = (lab.netns("router").unwrap(), lab.netns("host").unwrap());
    lab.connect(&router, "eth0", &host, "eth0").unwrap();
    // The host is a plain SLAAC host: check (and set) what the kernel needs for that.
    host.netcfg(|nc| async move {
        nc.set_forwarding("all", Family::V6, false)?;
        nc.set_forwarding("eth0", Family::V6, false)?;
        nc.set_accept_ra("eth0", 1)?;
        nc.set_sysctl(Family::V6, "eth0", "autoconf", "1")?;
        for key in ["accept_ra", "autoconf", "accept_ra_defrtr", "accept_ra_pinfo"] {
            assert_eq!(nc.sysctl(Family::V6, "eth0", key)?, "1", "host eth0 {key}");
        }
        assert_eq!(nc.sysctl(Family::V6, "eth0", "forwarding")?, "0");
        Ok(())
    })
    .unwrap();
    let mut cfg = Config::new("eth0");
    cfg.advertiser.min_interval = min;
    cfg.advertiser.max_interval = max;
    cfg.advertiser.dhcpv6 = Dhcpv6Mode::Stateless;
    cfg.advertiser.rdnss = vec![DNS];
    cfg.advertiser.dnssl = vec!["lan.example".into()];
    cfg.advertiser.mtu = Some(1500);
    cfg.prefixes = vec![prefix(P1)];
    cfg.uplink = true;
    let (commands, rx) = mpsc::unbounded_channel();
    let running = Running::start(&router, move |_, stop| driver::run(cfg, rx, stop));
    let ra = Ra { commands, running };
    Net { _lab: lab, router, host, ra: Some(ra) }
}

fn addresses(ns: &Netns) -> Vec<Address> {
    ns.netcfg(|nc| async move {
        let l = nc.link_by_name("eth0").await?;
        nc.addresses(Some(&l)).await
    })
    .unwrap()
}

/// Waits for a usable SLAAC address of the host in `p`/64.
fn wait_slaac(host: &Netns, p: Ipv6Addr) -> Address {
    wait_for(WAIT, format!("a SLAAC address in {p}/64"), || {
        let addrs = addresses(host);
        let found = addrs.iter().find(|a| match a.net.addr() {
            IpAddr::V6(v6) => v6.segments()[..4] == p.segments()[..4] && a.net.prefix_len() == 64,
            IpAddr::V4(_) => false,
        });
        found.filter(|a| !a.tentative).cloned().ok_or_else(|| format!("{addrs:?}"))
    })
}

fn router_link_local(router: &Netns) -> Ipv6Addr {
    addresses(router)
        .iter()
        .find_map(|a| match a.net.addr() {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(v6),
            _ => None,
        })
        .unwrap()
}

/// The host's default route's gateway, if any.
fn default_gateway(host: &Netns) -> Option<IpAddr> {
    let routes = host.netcfg(|nc| async move { nc.routes(true).await }).unwrap();
    routes.iter().find(|r| r.dst.prefix_len() == 0).and_then(|r| r.gateway)
}

/// Listens on the host for the next RA from the router, parsed with our wire module.
fn capture_ra(host: &Netns) -> RouterAdvertisement {
    solicit_ra(host, None, WAIT).expect("an RA")
}

/// Sends a Router Solicitation to ff02::2 with IPv6 Hop Limit `hops` (none when `None`), then
/// waits up to `wait` for an RA from a link-local source, parsed with our wire module.
fn solicit_ra(host: &Netns, hops: Option<u32>, wait: Duration) -> Option<RouterAdvertisement> {
    host.run(move |nc| async move {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).unwrap();
        s.bind_device(Some(b"eth0")).unwrap();
        if let Some(hops) = hops {
            let index = nc.link_by_name("eth0").await.unwrap().index;
            s.set_multicast_if_v6(index).unwrap();
            s.set_multicast_hops_v6(hops).unwrap();
            let rs = RouterSolicitation::default().to_vec();
            let dst = SocketAddrV6::new(ALL_ROUTERS, 0, 0, index);
            s.send_to(&rs, &SocketAddr::V6(dst).into()).unwrap();
        }
        let s = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(s));
        let until = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let Ok((n, SocketAddr::V6(src))) = s.recv_from(&mut buf) else { return None };
            if let Ok(ra) = RouterAdvertisement::parse(&buf[..n]) {
                assert!(src.ip().is_unicast_link_local(), "RA from {src}");
                return Some(ra);
            }
        }
    })
    .unwrap()
}

#[test]
fn root_rfc4861_6_3_4_slaac_address_and_default_route() {
    let n = net("raslaac");
    let a = wait_slaac(&n.host, P1);
    assert!(!a.deprecated);
    let ll = router_link_local(&n.router);
    wait_for(WAIT, "default route via the router", || default_gateway(&n.host) == Some(ll.into()));
}

#[test]
fn root_rfc8106_rdnss_dnssl_and_rfc4861_4_2_flags_arrive() {
    let n = net("radns");
    let ra = capture_ra(&n.host);
    assert_eq!(ra.flags, FLAG_OTHER, "stateless DHCPv6: O only");
    assert_eq!(ra.router_lifetime, 1800);
    assert!(ra.options.contains(&NdOption::Mtu(1500)));
    assert!(
        ra.options
            .iter()
            .any(|o| matches!(o, NdOption::Rdnss { servers, lifetime } if servers == &[DNS] && *lifetime > 0)),
        "{ra:?}"
    );
    assert!(
        ra.options
            .iter()
            .any(|o| matches!(o, NdOption::Dnssl { domains, .. } if domains == &["lan.example"])),
        "{ra:?}"
    );
    assert!(ra.options.iter().any(|o| matches!(o, NdOption::SourceLinkLayerAddress(_))));
}

#[test]
fn root_rfc9096_prefix_change_deprecates_old_address() {
    let n = net("raprefix");
    let old = wait_slaac(&n.host, P1);
    let ra = n.ra.as_ref().unwrap();
    ra.commands.send(Command::SetPrefixes(vec![prefix(P2)])).unwrap();
    let new = wait_slaac(&n.host, P2);
    assert!(!new.deprecated);
    wait_for(WAIT, "the old address deprecated", || {
        addresses(&n.host).iter().any(|a| a.net == old.net && a.deprecated)
    });
    let now_old = addresses(&n.host).into_iter().find(|a| a.net == old.net).unwrap();
    assert!(now_old.lifetimes.valid <= 7200, "{now_old:?}");
}

#[test]
fn root_rfc4861_6_2_5_shutdown_and_uplink_loss_remove_default_route() {
    let mut n = net("rastop");
    wait_slaac(&n.host, P1);
    let ll = router_link_local(&n.router);
    wait_for(WAIT, "default route via the router", || default_gateway(&n.host) == Some(ll.into()));
    // No uplink: router lifetime 0, the host drops the default route but keeps the address.
    let ra = n.ra.take().unwrap();
    ra.commands.send(Command::SetUplink(false)).unwrap();
    wait_for(WAIT, "default route gone (no uplink)", || default_gateway(&n.host).is_none());
    ra.commands.send(Command::SetUplink(true)).unwrap();
    wait_for(WAIT, "default route back", || default_gateway(&n.host) == Some(ll.into()));
    // Shutdown: a final RA with router lifetime 0 (RFC 4861 §6.2.5).
    ra.stop();
    wait_for(WAIT, "default route gone (shutdown)", || default_gateway(&n.host).is_none());
}

#[test]
fn root_rfc4861_6_2_6_solicitation_answered() {
    // Long intervals: after the first RA the next unsolicited one is 16 s away
    // (MAX_INITIAL_RTR_ADVERT_INTERVAL), so an RA within a few seconds answers an RS. When the
    // answer comes (a random delay, rate-limited by MIN_DELAY_BETWEEN_RAS) is the fake-clock
    // test's to check (crates/ra, solicitation_answered_after_random_delay); this one checks
    // what only the kernel can show: an RS with Hop Limit 255 is answered, another is not.
    let n = net_with("rars", Duration::from_secs(100), Duration::from_secs(120));
    wait_slaac(&n.host, P1);
    let answer_within = MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME + Duration::from_secs(1);
    let sent = Instant::now();
    let ra = solicit_ra(&n.host, Some(255), answer_within).expect("an answer");
    let took = sent.elapsed();
    assert!(took < MAX_INITIAL_RTR_ADVERT_INTERVAL, "answer after {took:?}");
    assert_eq!(ra.router_lifetime, 1800);
    // RFC 4861 §6.1.1: an RS whose Hop Limit is not 255 is dropped. Listened for as long as an
    // answer could take after the one just sent; the next unsolicited RA is 16 s away.
    let dropped = solicit_ra(&n.host, Some(64), answer_within);
    assert!(dropped.is_none(), "RS with hop limit 64 answered: {dropped:?}");
}
