//! `make demo` until the container demo exists: builds `lan <-> router <-> internet` network
//! namespaces with the lab, configures them over netlink, and shows a LAN host reaching the
//! stand-in internet (203.0.113.0/24, 2001:db8:ffff::/48) through the router. Needs root;
//! everything is removed on exit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use netcfg::{Family, Route};
use netlab::{Lab, Netns};

fn step(what: &str) {
    println!("==> {what}");
}

fn ping(ns: &Netns, dst: &str) {
    let st = ns.command("ping").args(["-c", "2", "-i", "0.2", "-W", "2", dst]).status().unwrap();
    println!("    ping {dst} from {}: {}", ns.name(), if st.success() { "ok" } else { "FAILED" });
}

fn main() -> Result<(), netlab::Error> {
    let lab = Lab::new("demo")?;
    step("namespaces: lan, router, internet");
    let (lan, router, inet) = (lab.netns("lan")?, lab.netns("router")?, lab.netns("internet")?);
    lab.connect(&lan, "eth0", &router, "lan0")?;
    lab.connect(&router, "wan0", &inet, "eth0")?;

    step("addresses and routes over rtnetlink");
    lan.add_addr("eth0", "192.168.1.100/24")?;
    lan.add_addr("eth0", "2001:db8:1000:1::100/64")?;
    router.add_addr("lan0", "192.168.1.1/24")?;
    router.add_addr("lan0", "2001:db8:1000:1::1/64")?;
    router.add_addr("wan0", "198.51.100.2/24")?;
    router.add_addr("wan0", "2001:db8:ffff:1::2/64")?;
    inet.add_addr("eth0", "198.51.100.1/24")?;
    inet.add_addr("eth0", "203.0.113.10/24")?;
    inet.add_addr("eth0", "2001:db8:ffff:1::1/64")?;
    lan.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "192.168.1.1".parse().unwrap()))
            .await?;
        nc.add_route(&Route::via("::/0".parse().unwrap(), "2001:db8:1000:1::1".parse().unwrap()))
            .await
    })?;
    router.netcfg(|nc| async move {
        // IPv4 forwards per interface; IPv6 forwards only when `all` is on.
        for ifname in ["lan0", "wan0", "all"] {
            nc.set_forwarding(ifname, Family::V4, true)?;
            nc.set_forwarding(ifname, Family::V6, true)?;
        }
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "198.51.100.1".parse().unwrap()))
            .await?;
        nc.add_route(&Route::via("::/0".parse().unwrap(), "2001:db8:ffff:1::1".parse().unwrap()))
            .await
    })?;
    inet.netcfg(|nc| async move {
        nc.add_route(&Route::via(
            "192.168.1.0/24".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
        ))
        .await?;
        nc.add_route(&Route::via(
            "2001:db8:1000::/48".parse().unwrap(),
            "2001:db8:ffff:1::2".parse().unwrap(),
        ))
        .await
    })?;
    for ns in [&lan, &router, &inet] {
        let out = ns.command("ip").args(["-br", "addr"]).output().unwrap();
        println!("--- {}\n{}", ns.name(), String::from_utf8_lossy(&out.stdout).trim_end());
    }

    step("the LAN host reaches the stand-in internet through the router");
    ping(&lan, "203.0.113.10");
    ping(&lan, "2001:db8:ffff:1::1");
    step("done; the lab removes its namespaces now");
    Ok(())
}
