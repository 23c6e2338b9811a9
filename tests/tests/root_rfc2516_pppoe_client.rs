//! PPPoE end to end: the router's WAN client against `ispemu` in namespaces
//! (router <-> isp <-> internet), real sockets, real TUN devices. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netcfg::Route;
use netlab::{Lab, Netns};
use pppoe::driver::client::Config;
use pppoe::{Credentials, DownReason, Event};
use router_tests::wan::{Isp, Wan, bin, kpn_credentials};
use router_tests::{lab, wait_for};

struct Net {
    _lab: Lab,
    router: Netns,
    isp: Netns,
    inet: Netns,
    dir: std::path::PathBuf,
}

/// router (eth0) <-> (eth0) isp (up0) <-> (eth0) internet: 203.0.113.10, 2001:db8:ffff::10.
fn net(test: &str) -> Net {
    let lab = lab(test);
    let (router, isp, inet) =
        (lab.netns("router").unwrap(), lab.netns("isp").unwrap(), lab.netns("inet").unwrap());
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    lab.connect(&isp, "up0", &inet, "eth0").unwrap();
    isp.add_addr("up0", "203.0.113.1/24").unwrap();
    isp.add_addr("up0", "2001:db8:ffff::1/64").unwrap();
    inet.add_addr("eth0", "203.0.113.10/24").unwrap();
    inet.add_addr("eth0", "2001:db8:ffff::10/64").unwrap();
    inet.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "203.0.113.1".parse().unwrap()))
            .await?;
        nc.add_route(&Route::via("::/0".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap()))
            .await
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("pppoe-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Net { _lab: lab, router, isp, inet, dir }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn isp(n: &Net, extra: &str) -> Isp {
    Isp::start(&n.isp, &n.dir, extra)
}

fn wan(n: &Net, cfg: Config) -> Wan {
    Wan::start(&n.router, cfg)
}

fn kpn_client(password: &str) -> Config {
    let creds = Credentials { password: password.as_bytes().to_vec(), ..kpn_credentials() };
    let mut c = Config::new("eth0", Some(creds));
    c.vlan = Some(6);
    c.mtu = 1500;
    c
}

/// `mb` MiB from the router to the internet host and back over TCP, every byte checked.
fn transfer(n: &Net, mb: usize) {
    router_tests::wan::transfer(&n.router, &n.inet, mb, "198.51.100.");
}

#[test]
fn root_rfc2516_kpn_vlan6_pap_rfc4638_traffic_and_dns() {
    let n = net("kpn");
    let _isp = isp(&n, "vlan = 6\nauth = \"pap\"\n");
    let mut w = wan(&n, kpn_client("internet"));
    let link = w.up(Duration::from_secs(10));
    let v4 = link.ipv4.clone().expect("IPCP opened");
    assert!(v4.local.to_string().starts_with("198.51.100."), "{v4:?}");
    assert_eq!(v4.peer, Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(v4.dns, vec![Ipv4Addr::new(203, 0, 113, 53)], "DNS servers learned by IPCP");
    assert_eq!(link.mtu, 1500, "RFC 4638 PPP-Max-Payload");
    assert!(link.ipv6.is_some(), "IPv6CP opened");
    // ppp0 as the kernel sees it.
    let (mtu, has_addr, parent_mtu) = n
        .router
        .netcfg(move |nc| async move {
            let ppp = nc.link_by_name("ppp0").await?;
            let addrs = nc.addresses(Some(&ppp)).await?;
            let eth = nc.link_by_name("eth0").await?;
            Ok((
                ppp.mtu,
                addrs.iter().any(|a| a.net.addr() == std::net::IpAddr::V4(v4.local)),
                eth.mtu,
            ))
        })
        .unwrap();
    assert_eq!((mtu, has_addr, parent_mtu), (1500, true, 1508));
    transfer(&n, 4);
    let ping =
        n.router.command("ping").args(["-c", "2", "-W", "2", "203.0.113.10"]).output().unwrap();
    assert!(ping.status.success());
    let c = w.stop();
    assert!(
        c.tx_packets.load(std::sync::atomic::Ordering::Relaxed) > 2000,
        "data went through the path"
    );
}

/// RFC 1661 §4.6: the peer's first Configure-Request is answered, not lost: each of five
/// dials comes up before the restart timer (3 s) could have resent anything. (The session
/// socket's receive ring was once set up by its thread while the dial had begun: the AC's
/// first Configure-Request could land in the socket's queue, which nothing reads once the ring
/// is there, and every such dial took 3 s longer.)
#[test]
fn root_rfc1661_4_6_the_peers_first_configure_request_is_not_lost() {
    let n = net("firstcr");
    let _isp = isp(&n, "vlan = 6\n");
    for dial in 0..5 {
        let started = Instant::now();
        let mut w = wan(&n, kpn_client("internet"));
        w.up(Duration::from_secs(10));
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2900),
            "dial {dial} up after {took:?}: a frame was lost"
        );
        w.stop();
    }
}

#[test]
fn root_rfc1994_chap_without_vlan_mtu_1492() {
    let n = net("chap");
    let _isp = isp(&n, "auth = \"chap\"\n");
    let mut c = kpn_client("internet");
    c.vlan = None;
    c.mtu = 1492;
    let mut w = wan(&n, c);
    let link = w.up(Duration::from_secs(10));
    assert_eq!(link.mtu, 1492);
    transfer(&n, 1);
}

#[test]
fn root_rfc2516_5_5_padt_from_isp_then_redial() {
    let n = net("padt");
    let isp = isp(&n, "vlan = 6\n");
    let mut w = wan(&n, kpn_client("internet"));
    let first = w.up(Duration::from_secs(10));
    assert_eq!(isp.ctl("padt all").trim(), "ok 1");
    assert_eq!(w.next(Duration::from_secs(5)), Some(Event::Down(DownReason::Padt)));
    let second = w.up(Duration::from_secs(10));
    assert_ne!(first.session_id, second.session_id, "a new session");
    assert_eq!(
        first.ipv4.map(|v| v.local),
        second.ipv4.map(|v| v.local),
        "same address asked again"
    );
    transfer(&n, 1);
}

#[test]
fn root_rfc1661_5_8_echo_loss_detected_within_interval_times_failures() {
    let n = net("echo");
    let isp = isp(&n, "echo_interval = \"0s\"\n");
    let mut c = kpn_client("internet");
    c.vlan = None;
    c.echo_interval = Some(Duration::from_secs(1));
    c.echo_failures = 3;
    let mut w = wan(&n, c);
    w.up(Duration::from_secs(10));
    assert!(isp.ctl("echo off").starts_with("ok"));
    let t = Instant::now();
    assert_eq!(w.next(Duration::from_secs(8)), Some(Event::Down(DownReason::EchoTimeout)));
    let took = t.elapsed();
    assert!(
        took <= Duration::from_millis(4500),
        "detected in {took:?}: at most interval x (failures + 1)"
    );
    assert!(isp.ctl("echo on").starts_with("ok"));
    w.up(Duration::from_secs(10));
}

#[test]
fn root_rfc1334_2_2_wrong_password_backs_off() {
    let n = net("badpw");
    let isp = isp(&n, "vlan = 6\n");
    let mut w = wan(&n, kpn_client("wrong"));
    assert_eq!(w.next(Duration::from_secs(10)), Some(Event::Down(DownReason::AuthFailed)));
    // Back-off of at least 10 s: no second attempt right away.
    assert_eq!(w.next(Duration::from_secs(6)), None, "no tight redial loop");
    assert_eq!(isp.ctl("sessions").trim(), "[]");
}

#[test]
fn root_rfc2516_5_5_forged_padt_is_ignored() {
    use pppoe::driver::sys::PacketSocket;
    use pppoe::wire::{DiscoveryCode, DiscoveryPacket, ETHERTYPE_DISCOVERY, EthernetHeader};
    let n = net("forged");
    let isp = isp(&n, "");
    let mut c = kpn_client("internet");
    c.vlan = None;
    let mut w = wan(&n, c);
    let link = w.up(Duration::from_secs(10));
    let client_mac: [u8; 6] = n
        .router
        .netcfg(|nc| async move { Ok(nc.link_by_name("eth0").await?.mac.unwrap()) })
        .unwrap();
    let ac_mac = link.peer_mac;
    // From the ISP's segment: a PADT with the wrong session id from the AC's MAC, and one with
    // the right session id from another MAC.
    let frames: Vec<Vec<u8>> =
        [(ac_mac, link.session_id.wrapping_add(1)), ([2, 0, 0, 0, 0, 9], link.session_id)]
            .iter()
            .map(|(src, sid)| {
                let eth = EthernetHeader {
                    dst: client_mac,
                    src: *src,
                    vlan: None,
                    ethertype: ETHERTYPE_DISCOVERY,
                };
                let mut f = vec![0u8; 14];
                eth.emit(&mut f).unwrap();
                f.extend(
                    DiscoveryPacket { code: DiscoveryCode::Padt, session_id: *sid, tags: vec![] }
                        .to_vec()
                        .unwrap(),
                );
                f
            })
            .collect();
    n.isp
        .run(move |nc| async move {
            let eth = nc.link_by_name("eth0").await.unwrap();
            let s = PacketSocket::open(eth.index, Duration::from_millis(100)).unwrap();
            for f in &frames {
                s.send(f).unwrap();
            }
        })
        .unwrap();
    assert_eq!(w.next(Duration::from_secs(2)), None, "forged PADTs ignored");
    assert!(isp.ctl("sessions").contains(&format!("\"session_id\":{}", link.session_id)));
    transfer(&n, 1);
}

#[test]
fn root_rfc2516_5_5_restart_after_sigkill_clears_stale_session() {
    let n = net("restart");
    let isp = isp(&n, "");
    let state = n.dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let dial = |n: &Net| {
        let mut cmd = n.router.command(bin("pppoe-dial"));
        cmd.args(["--interface", "eth0", "--user", "internet", "--password", "internet"])
            .arg("--state-dir")
            .arg(&state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        n.router.spawn_process(&mut cmd).unwrap()
    };
    let mut first = dial(&n);
    let s1 = wait_for(Duration::from_secs(10), "one session at the ISP", || {
        let s = isp.ctl("sessions");
        if s.matches("session_id").count() == 1 { Ok(s) } else { Err(s) }
    });
    // SIGKILL: no Terminate, no PADT; the ISP keeps the session (its echo is slow).
    first.child().kill().unwrap();
    first.child().wait().unwrap();
    // Deliberate: time for a PADT that must not come, then the session is still the same.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(isp.ctl("sessions"), s1, "the stale session is still held by the ISP");
    // The restarted client sends a PADT for it first, then dials a new one.
    let _second = dial(&n);
    wait_for(Duration::from_secs(10), format!("the stale session cleared (before: {s1})"), || {
        let s = isp.ctl("sessions");
        if s.matches("session_id").count() == 1 && s != s1 { Ok(()) } else { Err(s) }
    });
}

#[test]
fn root_rfc1661_5_1_no_authentication() {
    let n = net("noauth");
    let _isp = isp(&n, "auth = \"none\"\n");
    let mut c = Config::new("eth0", None);
    c.mtu = 1492;
    let mut w = wan(&n, c);
    let link = w.up(Duration::from_secs(10));
    assert!(link.ipv4.is_some());
    transfer(&n, 1);
}

#[test]
fn root_rfc2516_5_1_silent_isp_gets_bounded_padi_backoff() {
    use pppoe::driver::sys::{PacketSocket, RecvBatch};
    use pppoe::wire::ETHERTYPE_DISCOVERY;
    let n = net("nopadi");
    let isp = isp(&n, "");
    assert!(isp.ctl("padi off").starts_with("ok"));
    // Count the PADIs (broadcast discovery frames) the ISP's side sees for 7 s, from the
    // moment its socket is open: the client starts only then, so its first PADI is counted.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let counter = n
        .isp
        .spawn(move |nc| async move {
            let eth = nc.link_by_name("eth0").await.unwrap();
            let s = PacketSocket::open(eth.index, Duration::from_millis(100)).unwrap();
            s.filter([0x02, 0, 0, 0, 0, 0x01], ETHERTYPE_DISCOVERY, None, true).unwrap();
            let _ = ready_tx.send(());
            let mut b = RecvBatch::new(16);
            let (start, mut at) = (Instant::now(), Vec::new());
            while start.elapsed() < Duration::from_secs(7) {
                if let Ok(k) = b.recv(&s) {
                    at.extend(std::iter::repeat_n(start.elapsed(), k));
                }
            }
            at
        })
        .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(5)).expect("the PADI counter's socket open");
    let mut c = kpn_client("internet");
    c.vlan = None;
    let mut w = wan(&n, c);
    let at = counter.join().unwrap();
    // RFC 2516 §5.1 back-off: PADIs at 0, 2 and 6 s within the window, not a flood.
    assert!((2..=4).contains(&at.len()), "PADIs seen at {at:?}");
    assert_eq!(w.next(Duration::from_millis(100)), None, "still trying, not up");
    // Then the ISP answers again and the client gets through on its next PADI.
    assert!(isp.ctl("padi on").starts_with("ok"));
    w.up(Duration::from_secs(12));
}
