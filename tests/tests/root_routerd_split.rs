//! The split deployment in namespaces (DESIGN.md, "Split deployment"): internet <-> ispemu
//! <-> routerd `ingress` <-> DMZ <-> routerd `gateway` <-> a LAN host. The gateway leases
//! the ingress its DMZ address; the ingress delegates the gateway a /56 of the ISP's /48
//! and passes every inbound IPv4 connection to it. The LAN host gets a lease, resolves
//! names, reaches the internet over IPv4 (NAT twice) and IPv6 (routed), is reached through a
//! port forward on the gateway, and keeps working after the ISP drops the session and after
//! the ISP renumbers. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use router_tests::wan::{Isp, bin, internet};
use router_tests::{PeerEcho, lab, peer_seen};

fn wait(secs: u64, what: &str, logs: &dyn Fn() -> String, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "{what} within {secs} s:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ctl(dir: &Path, what: &str) -> serde_json::Value {
    let out = std::process::Command::new(bin("routerctl"))
        .arg("--socket")
        .arg(dir.join("control.sock"))
        .args([what, "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// The LAN host's global IPv6 address in `within`, once DAD is done.
fn slaac(ns: &netlab::Netns, within: ipnet::Ipv6Net) -> Option<std::net::Ipv6Addr> {
    let addrs = ns
        .netcfg(|nc| async move {
            let l = nc.link_by_name("eth0").await?;
            nc.addresses(Some(&l)).await
        })
        .unwrap();
    addrs.iter().find_map(|a| match a.net {
        ipnet::IpNet::V6(n) if within.contains(&n.addr()) && !a.tentative && !a.deprecated => {
            Some(n.addr())
        }
        _ => None,
    })
}

#[test]
fn root_routerd_split_ingress_and_gateway() {
    let lab = lab("split");
    let ns = |n| lab.netns(n).unwrap();
    let (lan, gw, ing, isp, inet) = (ns("lan"), ns("gw"), ns("ing"), ns("isp"), ns("inet"));
    let _internet = internet(&lab, &isp, &inet);
    lab.connect(&ing, "eth0", &isp, "eth0").unwrap();
    lab.connect(&ing, "dmz0", &gw, "eth0").unwrap();
    lab.connect(&gw, "lan0", &lan, "eth0").unwrap();
    let dir = std::env::temp_dir().join(format!("routerd-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (di, dg) = (dir.join("ingress"), dir.join("gateway"));
    std::fs::create_dir_all(&di).unwrap();
    std::fs::create_dir_all(&dg).unwrap();
    let isp = Isp::start(&isp, &dir, "vlan = 6\n");

    std::fs::write(
        di.join("routerd.toml"),
        format!(
            "role = \"ingress\"\nstate_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nvlan = 6\nmode = \"pppoe\"\n\
             [wan.pppoe]\nusername = \"internet\"\npassword = \"internet\"\n[wan.ipv6]\npd_length = 48\n\
             [dmz]\ninterface = \"dmz0\"\ndelegate_length = 56\n[control]\nsocket = \"{0}/control.sock\"\n",
            di.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dg.join("routerd.toml"),
        format!(
            "role = \"gateway\"\nstate_dir = \"{0}/state\"\n[wan]\ninterface = \"eth0\"\nmode = \"static\"\n\
             [wan.static]\nipv4 = \"10.255.0.1/30\"\ngateway = \"10.255.0.2\"\ndns = [\"203.0.113.53\"]\n\
             [wan.ipv6]\npd_length = 56\n\
             [[lan]]\nname = \"home\"\ninterface = \"lan0\"\nipv4 = \"192.168.1.1/24\"\nsubnet_id = 1\n\
             dhcp4 = {{ pool = \"192.168.1.100-192.168.1.199\", lease_time = \"1h\" }}\n\
             [[firewall.port_forward]]\nname = \"web\"\nproto = \"tcp\"\nport = 8080\nto = \"192.168.1.100:80\"\n\
             [control]\nsocket = \"{0}/control.sock\"\n",
            dg.display()
        ),
    )
    .unwrap();
    let start = |ns: &netlab::Netns, d: &Path| {
        let log = std::fs::File::create(d.join("routerd.log")).unwrap();
        let mut cmd = ns.command(bin("routerd"));
        cmd.arg("run").arg("--config").arg(d.join("routerd.toml"));
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
        ns.spawn_process(&mut cmd).unwrap()
    };
    let started = Instant::now();
    let _gateway = start(&gw, &dg);
    let mut ingress = start(&ing, &di);
    let logs = || {
        let read = |d: &Path| std::fs::read_to_string(d.join("routerd.log")).unwrap_or_default();
        format!("--- ingress\n{}\n--- gateway\n{}", read(&di), read(&dg))
    };
    let ready = |d: &Path| {
        std::fs::read_to_string(d.join("routerd.log")).unwrap_or_default().contains("router ready")
    };
    wait(30, "both routers ready", &logs, || ready(&di) && ready(&dg));
    println!("split: both ready {:?} after start", started.elapsed());
    let public = ctl(&di, "wan")["ipv4"].as_str().unwrap().to_string();
    assert!(public.starts_with("198.51.100."), "{public}");
    let isp_prefix = ctl(&di, "prefixes")[0].as_str().unwrap().to_string();
    let gw_prefix = ctl(&dg, "prefixes")[0].as_str().unwrap().to_string();
    let isp_net: ipnet::Ipv6Net = isp_prefix.parse().unwrap();
    let gw_net: ipnet::Ipv6Net = gw_prefix.parse().unwrap();
    assert!(
        isp_net.prefix_len() == 48 && gw_net.prefix_len() == 56 && isp_net.contains(&gw_net),
        "the gateway's /56 out of the ISP's /48: {isp_prefix} {gw_prefix}"
    );
    let st = ctl(&dg, "status");
    assert_eq!(st["healthy"], true, "{st}");
    assert_eq!(ctl(&di, "status")["healthy"], true);

    // The LAN host: a lease from the gateway.
    let got = dir.join("lease.env");
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add $ip/$mask dev $interface\n  for r in $router; do ip route replace default via $r dev $interface; done\n  echo \"ip=$ip dns=$dns\" > {}\n;; esac\n",
            got.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&script).status().unwrap();
    let st = lan
        .command("busybox")
        .args(["udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-s"])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "no lease from the gateway:\n{}", logs());
    let lease = std::fs::read_to_string(&got).unwrap();
    assert!(lease.starts_with("ip=192.168.1.100 ") && lease.contains("dns=192.168.1.1"), "{lease}");

    // A name from the stand-in internet, through the gateway's DNS.
    let dig = lan
        .command("dig")
        .args(["@192.168.1.1", "+short", "+time=2", "+tries=2", "www.example.test"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), "203.0.113.10", "{}", logs());

    // IPv4 out: NATed by the gateway, then by the ingress to the public address.
    let reach4 = || {
        let _echo = PeerEcho::start(&inet, "203.0.113.10:8080".parse::<SocketAddr>().unwrap());
        peer_seen(&lan, "203.0.113.10:8080".parse().unwrap(), Duration::from_secs(5))
    };
    assert_eq!(reach4().as_deref(), Some(public.as_str()), "{}", logs());

    // IPv6: the host numbers itself in the gateway's /64 (subnet 1 of its /56) and is routed.
    let mut host = None;
    wait(20, "a SLAAC address from the gateway's prefix", &logs, || {
        host = slaac(&lan, gw_net);
        host.is_some()
    });
    let host = host.unwrap();
    let ping6 = || {
        lan.command("ping")
            .args(["-6", "-c", "2", "-W", "2", "2001:db8:ffff::10"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let debug = || {
        let r = gw.command("ip").args(["-6", "route"]).output().unwrap();
        let a = gw
            .command("sysctl")
            .args(["net.ipv6.conf.eth0.accept_ra", "net.ipv6.conf.eth0.forwarding"])
            .output()
            .unwrap();
        let i = ing.command("ip").args(["-6", "route"]).output().unwrap();
        format!(
            "gateway routes:\n{}{}ingress routes:\n{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&i.stdout)
        )
    };
    assert!(ping6(), "{host} reaches the internet over IPv6:\n{}\n{}", debug(), logs());

    // Inbound: the ingress passes the connection to the gateway, whose port forward takes it
    // to the LAN host (the source kept).
    let web = PeerEcho::start(&lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
    let fwd = peer_seen(&inet, format!("{public}:8080").parse().unwrap(), Duration::from_secs(5));
    assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "port forward through both:\n{}", logs());
    drop(web);

    // The ISP drops the session: the ingress redials, the LAN host works again untouched.
    assert!(isp.ctl("padt all").starts_with("ok"));
    wait(20, "the ingress back up", &logs, || {
        ctl(&di, "status")["healthy"] == true && reach4().is_some()
    });
    // IPv6 follows once the prefix is confirmed again and the DMZ's RA names the ingress a
    // default router again (RFC 4861 §6.2.5: router lifetime 0 while the WAN was down).
    wait(20, "IPv6 after the redial", &logs, ping6);

    // The ISP renumbers: the ingress gets a new /48, the gateway a new /56 out of it at once
    // (the ingress sends it Reconfigure; else its next Renew, T1 30 s), and the LAN host a
    // new address.
    assert_eq!(isp.ctl("pd pool 2001:db8:2000::/36").trim(), "ok");
    assert!(isp.ctl("padt all").starts_with("ok"));
    let renumbered: ipnet::Ipv6Net = "2001:db8:2000::/36".parse().unwrap();
    let mut new_host = None;
    wait(40, "the LAN host renumbered through both routers", &logs, || {
        new_host = slaac(&lan, renumbered);
        new_host.is_some()
    });
    println!("split: renumbered {host} -> {} after {:?}", new_host.unwrap(), started.elapsed());
    wait(20, "IPv6 after renumbering", &logs, ping6);

    // SIGTERM on the ingress: a clean stop.
    let pid = ingress.child().id();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    wait(8, "the ingress stopped", &logs, || ingress.child().try_wait().unwrap().is_some());
    drop(isp);
    let _ = std::fs::remove_dir_all(&dir);
}
