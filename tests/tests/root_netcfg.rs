//! Every netcfg operation against the real kernel, inside namespaces made by the lab, each
//! result read back over netlink (or procfs for sysctls), never assumed. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use netcfg::{AddrGenMode, AddrOptions, Family, Lifetimes, NetEvent, Netcfg, Route};
use router_tests::{create_tun, lab};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn root_links_find_up_down_mtu_rename() {
    let lab = lab("links");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "eth0", &b, "eth0").unwrap();
    a.netcfg(|nc| async move {
        let l = nc.link_by_name("eth0").await?;
        assert_eq!(l.kind.as_deref(), Some("veth"));
        assert!(l.admin_up, "the lab brings both ends up");
        assert!(l.mac.is_some());
        assert_eq!(nc.link_by_index(l.index).await?, l);
        assert!(nc.links().await?.iter().any(|x| x.name == "lo"));

        nc.set_down(&l).await?;
        assert!(!nc.link_by_index(l.index).await?.admin_up);
        nc.set_mtu(&l, 1400).await?;
        assert_eq!(nc.link_by_index(l.index).await?.mtu, 1400);
        nc.rename(&l, "wan0").await?;
        assert_eq!(nc.link_by_index(l.index).await?.name, "wan0");
        nc.set_up(&l).await?;
        let back = nc.link_by_name("wan0").await?;
        assert!(back.admin_up);
        assert!(back.lower_up, "the peer is up, so carrier is on");

        let missing = nc.link_by_name("nosuch0").await.unwrap_err();
        assert!(matches!(missing, netcfg::Error::NoSuchLink { .. }), "{missing}");
        assert!(missing.to_string().contains("nosuch0"), "error names the interface: {missing}");
        let bad = nc.set_mtu(&back, 10).await.unwrap_err();
        assert_eq!(bad.op(), netcfg::Op::SetMtu);
        assert!(bad.to_string().contains("wan0"), "error names the interface: {bad}");
        assert!(nc.rename(&back, "a-name-that-is-too-long").await.is_err());
        Ok(())
    })
    .unwrap();
}

#[test]
fn root_veth_create_move_delete() {
    let lab = lab("veth");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    let b2 = b.clone();
    a.netcfg(move |nc| async move {
        let (x, y) = nc.create_veth("vx", "vy").await?;
        assert_ne!(x.index, y.index);
        assert_eq!(nc.link_by_name("vy").await?.kind.as_deref(), Some("veth"));
        nc.move_to_netns(&y, b2.fd()).await?;
        assert!(matches!(nc.link_by_name("vy").await, Err(netcfg::Error::NoSuchLink { .. })));
        Ok(())
    })
    .unwrap();
    b.netcfg(|nc| async move {
        let y = nc.link_by_name("vy").await?;
        assert_eq!(y.kind.as_deref(), Some("veth"));
        nc.delete_link(&y).await?;
        assert!(nc.link_by_name("vy").await.is_err());
        Ok(())
    })
    .unwrap();
    a.netcfg(|nc| async move {
        assert!(nc.link_by_name("vx").await.is_err(), "deleting one end deletes the pair");
        Ok(())
    })
    .unwrap();
}

#[test]
fn root_addresses_v4_v6_lifetimes() {
    let lab = lab("addrs");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "eth0", &b, "eth0").unwrap();
    a.netcfg(|nc| async move {
        let l = nc.link_by_name("eth0").await?;
        nc.add_address(&l, net("192.168.77.1/24"), AddrOptions::default()).await?;
        let lt = Lifetimes { preferred: 100, valid: 200 };
        let opts = AddrOptions { lifetimes: Some(lt), nodad: true, noprefixroute: false };
        nc.add_address(&l, net("2001:db8:1:2::1/64"), opts).await?;

        let addrs = nc.addresses(Some(&l)).await?;
        let v4 = addrs.iter().find(|x| x.net == net("192.168.77.1/24")).expect("v4 there");
        assert_eq!(v4.lifetimes, Lifetimes::FOREVER);
        let v6 = addrs.iter().find(|x| x.net == net("2001:db8:1:2::1/64")).expect("v6 there");
        assert!(v6.lifetimes.valid <= 200 && v6.lifetimes.valid >= 190, "{:?}", v6.lifetimes);
        assert!(v6.lifetimes.preferred <= 100 && v6.lifetimes.preferred >= 90);
        assert!(!v6.tentative, "nodad: usable at once");

        // Adding again updates the lifetimes in place (what a renewed prefix needs).
        let opts = AddrOptions { lifetimes: Some(Lifetimes { preferred: 0, valid: 50 }), ..opts };
        nc.add_address(&l, net("2001:db8:1:2::1/64"), opts).await?;
        let addrs = nc.addresses(Some(&l)).await?;
        let v6 = addrs.iter().find(|x| x.net == net("2001:db8:1:2::1/64")).unwrap();
        assert!(v6.lifetimes.valid <= 50 && v6.lifetimes.preferred == 0);
        assert!(v6.deprecated, "preferred lifetime 0 deprecates the address");

        // The prefix route came with the address, and goes with it.
        let routes = nc.routes(false).await?;
        assert!(routes.iter().any(|r| r.dst == net("192.168.77.0/24") && r.oif == Some(l.index)));

        nc.delete_address(&l, net("192.168.77.1/24")).await?;
        nc.delete_address(&l, net("2001:db8:1:2::1/64")).await?;
        let left = nc.addresses(Some(&l)).await?;
        assert!(left.iter().all(|x| !matches!(x.net.addr(), IpAddr::V4(_))), "{left:?}");
        assert!(left.iter().all(|x| x.net != net("2001:db8:1:2::1/64")));
        let err = nc.delete_address(&l, net("192.168.77.1/24")).await.unwrap_err();
        assert!(err.to_string().contains("eth0"), "{err}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn root_routes_add_replace_delete_and_p2p_default() {
    let lab = lab("routes");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "eth0", &b, "eth0").unwrap();
    a.add_addr("eth0", "192.168.78.1/24").unwrap();
    a.add_addr("eth0", "fd00:78::1/64").unwrap();
    a.netcfg(|nc| async move {
        let r = Route::via(net("203.0.113.0/24"), "192.168.78.2".parse().unwrap());
        nc.add_route(&r).await?;
        let dup = nc.add_route(&r).await.unwrap_err();
        assert_eq!(dup.errno(), Some(libc::EEXIST));
        let got = nc.routes(false).await?;
        let found = got.iter().find(|x| x.dst == r.dst).expect("route there");
        assert_eq!(found.gateway, r.gateway);

        let r2 = Route::via(net("203.0.113.0/24"), "192.168.78.3".parse().unwrap());
        nc.replace_route(&r2).await?;
        let got = nc.routes(false).await?;
        let found: Vec<_> = got.iter().filter(|x| x.dst == r.dst).collect();
        assert_eq!(found.len(), 1, "replaced, not added: {found:?}");
        assert_eq!(found[0].gateway, r2.gateway);
        nc.delete_route(&r2).await?;
        assert!(nc.routes(false).await?.iter().all(|x| x.dst != r.dst));

        let r6 =
            Route::via(net("2001:db8:ffff::/48"), "fd00:78::2".parse().unwrap()).with_metric(42);
        nc.add_route(&r6).await?;
        let got = nc.routes(true).await?;
        let found = got.iter().find(|x| x.dst == r6.dst).expect("v6 route there");
        assert_eq!((found.gateway, found.metric), (r6.gateway, Some(42)));
        nc.delete_route(&r6).await?;

        // A default route out of a point-to-point device, with no gateway (as over ppp0).
        let _tun = create_tun("ppp0").unwrap();
        let ppp = nc.link_by_name("ppp0").await?;
        assert!(ppp.point_to_point);
        nc.set_up(&ppp).await?;
        nc.add_address(&ppp, net("198.51.100.7/32"), AddrOptions::default()).await?;
        for r in [Route::default_v4_dev(&ppp), Route::default_v6_dev(&ppp)] {
            nc.replace_route(&r).await?;
            let got = nc.routes(r.dst.addr().is_ipv6()).await?;
            let d = got.iter().find(|x| x.dst.prefix_len() == 0).expect("default route");
            assert_eq!((d.gateway, d.oif), (None, Some(ppp.index)), "{d:?}");
            nc.delete_route(&r).await?;
        }
        let bad = Route::via(net("10.9.0.0/16"), "fd00::1".parse().unwrap());
        assert!(matches!(nc.add_route(&bad).await, Err(netcfg::Error::Invalid { .. })));
        Ok(())
    })
    .unwrap();
}

#[test]
fn root_sysctls_per_interface_and_per_namespace() {
    let lab = lab("sysctl");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "eth0", &b, "eth0").unwrap();
    a.netcfg(|nc| async move {
        nc.set_forwarding("eth0", Family::V4, true)?;
        nc.set_forwarding("eth0", Family::V6, true)?;
        nc.set_accept_ra("eth0", 2)?;
        nc.set_addr_gen_mode("eth0", AddrGenMode::None)?;
        nc.set_disable_ipv6("eth0", true)?;
        assert_eq!(nc.sysctl(Family::V4, "eth0", "forwarding")?, "1");
        assert_eq!(nc.sysctl(Family::V6, "eth0", "forwarding")?, "1");
        assert_eq!(nc.sysctl(Family::V6, "eth0", "accept_ra")?, "2");
        assert_eq!(nc.sysctl(Family::V6, "eth0", "addr_gen_mode")?, "1");
        assert_eq!(nc.sysctl(Family::V6, "eth0", "disable_ipv6")?, "1");
        nc.set_disable_ipv6("eth0", false)?;
        assert_eq!(nc.sysctl(Family::V6, "eth0", "disable_ipv6")?, "0");
        assert!(nc.set_accept_ra("eth0", 3).is_err());
        let e = nc.set_forwarding("nosuch0", Family::V4, true).unwrap_err();
        assert!(e.to_string().contains("nosuch0"), "{e}");
        Ok(())
    })
    .unwrap();
    // The other namespace's interface of the same name is untouched.
    b.netcfg(|nc| async move {
        assert_eq!(nc.sysctl(Family::V4, "eth0", "forwarding")?, "0");
        assert_eq!(nc.sysctl(Family::V6, "eth0", "accept_ra")?, "1");
        Ok(())
    })
    .unwrap();
}

#[test]
fn root_events_for_links_and_addresses() {
    let lab = lab("events");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "eth0", &b, "eth0").unwrap();
    a.netcfg(|nc| async move {
        let mut events = Netcfg::events()?;
        let l = nc.link_by_name("eth0").await?;
        nc.set_mtu(&l, 1280).await?;
        nc.add_address(&l, net("192.168.79.1/24"), AddrOptions::default()).await?;
        nc.delete_address(&l, net("192.168.79.1/24")).await?;
        let (mut saw_mtu, mut saw_add, mut saw_del) = (false, false, false);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !(saw_mtu && saw_add && saw_del) {
            let ev = tokio::time::timeout_at(deadline, events.next())
                .await
                .expect("events within 5 s")
                .expect("stream open");
            match ev {
                NetEvent::LinkChanged(x) if x.index == l.index && x.mtu == 1280 => saw_mtu = true,
                NetEvent::AddressAdded(x) if x.net == net("192.168.79.1/24") => saw_add = true,
                NetEvent::AddressRemoved(x) if x.net == net("192.168.79.1/24") => {
                    assert!(saw_add, "removal after addition");
                    saw_del = true;
                }
                _ => {}
            }
        }
        Ok(())
    })
    .unwrap();
}
