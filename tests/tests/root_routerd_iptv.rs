//! routerd with a KPN-style line and its television: internet by PPPoE on VLAN 6 (ispemu),
//! and an IPTV link (`[[wan.extra]]`, DHCP with a vendor class and option 121 routes, no
//! default route) with a head-end multicasting channels; the IGMP proxy (`[igmp]`) brings a
//! channel to a set-top box on the LAN (the kernel's own IGMP host stack). Needs root.
//!
//! ```text
//!  inet -- ispemu (PPPoE, VLAN 6)  --eth0--  routerd --lan0-- set-top box (udhcpc lease)
//!          ispemu [iptv] (DHCP for vendor   --iptv0--'
//!          class IPTV_RG only, a querier,
//!          head-end 10.10.0.1 sending only
//!          the channels someone joined)
//! ```
//!
//! The box joins and receives with no gap; `routerctl status` lists the group with the box
//! as member and the IPTV link's lease; the route of option 121 is on `iptv0` and no default
//! route is; the box reaches the head-end by unicast NATed to the router's IPTV address and
//! the head-end side cannot reach the LAN; a PADT on the internet line does not interrupt
//! the channel (the two links are independent); the box leaves and the kernel stops.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use netlab::Netns;
use router_tests::clients::udhcpc;
use router_tests::mcast::{Stb, a, no_gap};
use router_tests::routerd::{Routerd, write_config};
use router_tests::wan::{Isp, Line};
use router_tests::{PeerEcho, TempDir, peer_seen};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn config(dir: &TempDir) -> String {
    format!(
        r#"state_dir = "{}"
[wan]
interface = "eth0"
vlan = 6
mode = "pppoe"
[wan.pppoe]
username = "internet"
password = "internet"
[[wan.extra]]
name = "iptv"
interface = "iptv0"
mode = "dhcp"
dhcp = {{ vendor_class = "IPTV_RG" }}
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
subnet_id = 1
dhcp4 = {{ pool = "192.168.1.100-192.168.1.199", lease_time = "1h" }}
[igmp]
upstream = "iptv"
allowed = ["239.0.0.0/8"]
[control]
socket = "{}"
"#,
        dir.join("state").display(),
        dir.join("control.sock").display()
    )
}

#[test]
fn root_routerd_iptv_channel_reaches_the_box_through_a_ppp_redial() {
    if router_tests::mcast::skip_without_multicast_routing(
        "root_routerd_iptv_channel_reaches_the_box_through_a_ppp_redial",
    ) {
        return;
    }
    let line = Line::new("iptv");
    let (lan, router, isp_ns) = (&line.lan, &line.router, &line.isp);
    // The IPTV VLAN: a link of its own between the ISP and the router.
    line.lab.connect(isp_ns, "tv0", router, "iptv0").unwrap();
    let dir = TempDir::new("routerd-iptv");
    let isp = Isp::start(
        isp_ns,
        dir.path(),
        "vlan = 6\n[iptv]\ninterface = \"tv0\"\nvendor_class = \"IPTV_RG\"\n\
         channels = [\"239.1.1.1\", \"239.1.1.2\"]\nquery_interval = \"5s\"\n",
    );
    let iptv = isp_ns.clone();
    write_config(dir.path(), &config(&dir));
    let routerd = Routerd::start(router, dir.path());
    routerd.wait_for(secs(15), "the WAN up", || routerd.logs().contains("wan up"));
    routerd.wait_for(secs(15), "the IPTV link's lease", || {
        routerd.json("status")["status"]["extra"]["iptv"]["up"] == true
    });
    let status = routerd.json("status");
    let extra = &status["status"]["extra"]["iptv"];
    assert!(extra["ipv4"].as_str().unwrap().starts_with("10.4.0."), "{extra}");
    assert_eq!(extra["routes"], serde_json::json!(["10.10.0.0/24"]), "{extra}");
    assert_eq!(status["status"]["services"]["igmp"]["state"], "running", "{status}");
    assert_eq!(status["status"]["services"]["wan/iptv"]["state"], "running", "{status}");
    // Strict reverse-path filtering on the IPTV link from here on: the head-ends' multicast
    // (from 10.10.0.1) is accepted only through the route that option 121 gave. (Before the
    // lease it would drop the DHCP offer too: our client receives on a UDP socket.)
    let st = router.command("sysctl").args(["-qw", "net.ipv4.conf.iptv0.rp_filter=1"]).status();
    assert!(st.unwrap().success());
    let routes = router.command("ip").args(["-4", "route", "show"]).output().unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).to_string();
    assert!(routes.contains("10.10.0.0/24 via 10.4.0.1 dev iptv0"), "option 121: {routes}");
    assert!(
        routes.lines().filter(|l| l.starts_with("default")).all(|l| l.contains("ppp0")),
        "the default route stays on the internet line: {routes}"
    );

    // The set-top box: a lease from routerd, then a channel.
    let lease = udhcpc(lan, dir.path(), Some("stb")).expect("the box's lease");
    let ip = lease.split_whitespace().next().unwrap().trim_start_matches("ip=").to_string();
    let stb = Stb::new(lan, &ip);
    stb.join("239.1.1.1");
    let first = stb.first_packet("239.1.1.1", secs(5));
    assert!(first.is_some(), "channel 1: {}\nrouterd log:\n{}", diag(router), routerd.logs());
    let got = stb.receive(secs(2));
    let (n, gapless) = no_gap(&got, "239.1.1.1");
    assert!(n >= 150 && gapless, "{n} packets, gapless {gapless}");
    assert!(got.iter().all(|(g, _)| *g == a("239.1.1.1")), "only the channel joined");
    let status = routerd.json("status");
    let groups = &status["status"]["igmp"]["lans"]["lan"];
    assert_eq!(groups[0]["group"], "239.1.1.1", "{status}");
    assert_eq!(groups[0]["members"], serde_json::json!([ip]), "{status}");
    assert_eq!(
        status["status"]["igmp"]["forwarding"],
        serde_json::json!(["10.10.0.1 -> 239.1.1.1"])
    );
    // The same in /metrics, which promtool accepts.
    let m = scrape(lan);
    for (key, want) in [
        ("routerd_igmp_groups{lan=\"lan\"}", 1.0),
        ("routerd_igmp_members{lan=\"lan\"}", 1.0),
        ("routerd_igmp_forwarding", 1.0),
        ("routerd_wan_extra_up{link=\"iptv\"}", 1.0),
        ("routerd_service_up{service=\"igmp\"}", 1.0),
    ] {
        assert_eq!(sample(&m, key), Some(want), "{key}\n{m}");
    }
    let received = "routerd_igmp_messages_total{direction=\"received\",kind=\"any\"}";
    assert!(sample(&m, received).unwrap() >= 1.0, "{m}");

    // Unicast to the head-end (the box's RTSP/HTTP): NATed to the router's IPTV address.
    let echo = PeerEcho::start(&iptv, "10.10.0.1:8554".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(lan, "10.10.0.1:8554".parse().unwrap(), secs(5));
    let leased = extra_addr(&routerd);
    assert_eq!(
        seen.as_deref(),
        Some(leased.as_str()),
        "the head-end sees the router's IPTV address"
    );
    drop(echo);
    // Nothing from the IPTV side reaches the LAN.
    let st =
        iptv.command("ip").args(["route", "add", "192.168.1.0/24", "via"]).arg(&leased).status();
    assert!(st.unwrap().success());
    let ping = iptv.command("ping").args(["-c", "1", "-W", "1"]).arg(&ip).output().unwrap();
    assert!(!ping.status.success(), "the IPTV network cannot reach the box");

    // The internet line drops and redials: the channel goes on, gapless.
    // What queued while nobody read (the socket's buffer holds about a second of 1,316-octet
    // datagrams; it overflowed meanwhile): from here on the box reads all the time.
    stb.drain();
    let calm = stb.receive(secs(3));
    let seqs: Vec<u32> =
        calm.iter().filter(|(g, _)| *g == a("239.1.1.1")).map(|(_, s)| *s).collect();
    let gaps: Vec<(u32, u32)> =
        seqs.windows(2).filter(|w| w[1] != w[0] + 1).map(|w| (w[0], w[1])).collect();
    assert!(gaps.is_empty(), "before the redial: gaps {gaps:?}");
    let before = routerd.json("status")["status"]["wan"]["session_id"].clone();
    isp.ctl("padt all");
    let got = stb.receive(secs(4));
    routerd.wait_for(secs(20), "the WAN redialed", || {
        let s = routerd.json("status");
        s["status"]["wan"]["state"] == "up" && s["status"]["wan"]["session_id"] != before
    });
    let (n, gapless) = no_gap(&got, "239.1.1.1");
    let seqs: Vec<u32> =
        got.iter().filter(|(g, _)| *g == a("239.1.1.1")).map(|(_, s)| *s).collect();
    let gaps: Vec<(u32, u32)> =
        seqs.windows(2).filter(|w| w[1] != w[0] + 1).map(|w| (w[0], w[1])).collect();
    assert!(
        n >= 300 && gapless,
        "across the redial: {n} packets, gaps {gaps:?}\n{}",
        routerd.logs()
    );
    let got = stb.receive(secs(1));
    assert!(no_gap(&got, "239.1.1.1").1, "after the redial");

    // The box leaves: the proxy leaves upstream and the kernel stops forwarding.
    stb.leave("239.1.1.1");
    routerd.wait_for(secs(5), "the channel stopped", || {
        routerd.json("status")["status"]["igmp"]["forwarding"] == serde_json::json!([])
    });
    stb.drain();
    assert!(stb.receive(Duration::from_millis(500)).is_empty(), "nothing after the leave");
    routerd.stop();
}

/// The router's address on the IPTV link.
fn extra_addr(r: &Routerd) -> String {
    let s = r.json("status");
    let net = s["status"]["extra"]["iptv"]["ipv4"].as_str().unwrap().to_string();
    net.split('/').next().unwrap().to_string()
}

/// The router's multicast routing and forward chain, for a failure message.
fn diag(router: &Netns) -> String {
    let o = router
        .command("sh")
        .arg("-c")
        .arg("timeout 2 tcpdump -c 3 -ni iptv0 udp 2>&1; ip mroute show; cat /proc/net/ip_mr_vif; nft list chain inet routerd forward; nft list chain inet routerd input | grep -i igmp; ip route")
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// `/metrics` from the LAN, checked by `promtool check metrics`.
fn scrape(lan: &Netns) -> String {
    let out = lan
        .command("curl")
        .args(["-s", "--max-time", "5", "http://192.168.1.1:8080/metrics"])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let o = check.wait_with_output().unwrap();
    let why = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "promtool: {why}\n{body}");
    body
}

/// One sample (`name{labels}` as printed).
fn sample(m: &str, key: &str) -> Option<f64> {
    m.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}
