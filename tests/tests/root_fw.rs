//! The firewall with real traffic between namespaces: lan <-> router <-> wan. The ruleset is
//! applied over netlink by the `fw` crate, read back from the kernel, and checked against the
//! same ruleset loaded by the nft CLI. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use fw::{Firewall, FwConfig, FwState, Lan, OpenPort, Pinhole, PortForward, Proto};
use netcfg::{Family, Route};
use netlab::{Lab, Netns};
use router_tests::{PeerEcho, kernel_flowtables, lab, peer_seen};

const SHORT: Duration = Duration::from_millis(700);
const LONG: Duration = Duration::from_secs(5);

fn config() -> FwConfig {
    FwConfig {
        table: "routerd".into(),
        wan: "wan0".into(),
        clamp_mss: true,
        lans: vec![Lan {
            name: "lan".into(),
            interface: "lan0".into(),
            ipv4: Some("192.168.1.0/24".parse().unwrap()),
        }],
        port_forwards: vec![
            PortForward {
                name: "web".into(),
                proto: Proto::Tcp,
                port: 8080,
                to: "192.168.1.10".parse().unwrap(),
                to_port: 80,
            },
            PortForward {
                name: "game".into(),
                proto: Proto::Both,
                port: 27015,
                to: "192.168.1.11".parse().unwrap(),
                to_port: 27016,
            },
        ],
        pinholes: vec![Pinhole {
            name: "nas-ssh".into(),
            lan: "lan".into(),
            host_suffix: "::10".parse().unwrap(),
            suffix_len: 64,
            proto: Proto::Tcp,
            port: 22,
        }],
        open: vec![OpenPort { name: "ssh".into(), proto: Proto::Tcp, port: 2223 }],
        lan_tcp: vec![],
        extra_wans: vec![],
        split: None,
        fast_path: false,
    }
}

fn state() -> FwState {
    FwState { public_ipv4: Some("198.51.100.2".parse().unwrap()), ..FwState::default() }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn apply_in(ns: &Netns, rs: &fw::Ruleset) -> Result<(), fw::Error> {
    let rs = rs.clone();
    ns.run(move |_| async move { Firewall::apply(&rs) }).unwrap()
}

fn nft(ns: &Netns, args: &[&str]) -> String {
    let out = ns.command("nft").args(args).output().expect("nft runs");
    assert!(out.status.success(), "nft {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

struct Net {
    _lab: Lab,
    lan: Netns,
    router: Netns,
    wan: Netns,
}

/// lan (192.168.1.10, 2001:db8:1000:1::10) - router - wan (198.51.100.1, 203.0.113.10,
/// 2001:db8:ffff:1::1), with routes both ways so that only the firewall stands between.
fn build(test: &str) -> Net {
    let lab = lab(test);
    let (lan, router, wan) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("wan").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "wan0", &wan, "eth0").unwrap();
    for (ns, ifname, addrs) in [
        (&lan, "eth0", &["192.168.1.10/24", "2001:db8:1000:1::10/64"][..]),
        (&router, "lan0", &["192.168.1.1/24", "2001:db8:1000:1::1/64"][..]),
        (&router, "wan0", &["198.51.100.2/24", "2001:db8:ffff:1::2/64"][..]),
        (&wan, "eth0", &["198.51.100.1/24", "203.0.113.10/24", "2001:db8:ffff:1::1/64"][..]),
    ] {
        for a in addrs {
            ns.add_addr(ifname, a).unwrap();
        }
    }
    lan.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "192.168.1.1".parse().unwrap()))
            .await?;
        nc.add_route(&Route::via("::/0".parse().unwrap(), "2001:db8:1000:1::1".parse().unwrap()))
            .await
    })
    .unwrap();
    wan.netcfg(|nc| async move {
        // The WAN side can route to the LAN (as a malicious neighbour on the ISP's segment
        // could): only the firewall keeps it out.
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
    })
    .unwrap();
    router
        .netcfg(|nc| async move {
            nc.add_route(&Route::via(
                "0.0.0.0/0".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
            ))
            .await?;
            nc.add_route(&Route::via(
                "::/0".parse().unwrap(),
                "2001:db8:ffff:1::1".parse().unwrap(),
            ))
            .await?;
            for ifname in ["all", "lan0", "wan0"] {
                nc.set_forwarding(ifname, Family::V4, true)?;
                nc.set_forwarding(ifname, Family::V6, true)?;
            }
            Ok(())
        })
        .unwrap();
    Net { _lab: lab, lan, router, wan }
}

/// Loads `rs` with `nft -f` into `cli` and returns both kernels' listings of the table
/// (`ours` as applied in `netlink` before), bytecode included: they must be the same.
fn assert_same_as_nft(netlink: &Netns, cli: &Netns, rs: &fw::Ruleset) -> String {
    let script = std::env::temp_dir().join(format!("fweq-{}.nft", std::process::id()));
    std::fs::write(&script, rs.to_nft()).unwrap();
    nft(cli, &["-f", script.to_str().unwrap()]);
    let _ = std::fs::remove_file(&script);
    // The kernel's bytecode for both, expression by expression.
    // A map's elements are listed in the order of its hash table, seeded per set: sorted.
    let sorted_elements = |text: String| {
        let mut out: Vec<String> = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for line in text.lines().chain(std::iter::once("")) {
            if line.starts_with("\telement ") {
                run.push(line);
                continue;
            }
            run.sort_unstable();
            out.extend(run.drain(..).map(str::to_string));
            out.push(line.to_string());
        }
        out.join("\n")
    };
    let list = ["--debug=netlink", "list", "table", "inet", &rs.table];
    let ours = sorted_elements(nft(netlink, &list));
    let theirs = sorted_elements(nft(cli, &list));
    if ours != theirs {
        let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
        let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        let near = |v: &[&str]| {
            v.get(at.saturating_sub(3)..(at + 3).min(v.len())).unwrap_or_default().join("\n")
        };
        panic!(
            "netlink batch and nft -f disagree at line {at}:\nours:\n{}\nnft:\n{}",
            near(&a),
            near(&b)
        );
    }
    ours
}

#[test]
fn root_fw_netlink_ruleset_equals_nft_cli_ruleset() {
    let lab = lab("fweq");
    let (a, b) = (lab.netns("netlink").unwrap(), lab.netns("cli").unwrap());
    let rs = fw::build(&config(), &state()).unwrap();
    apply_in(&a, &rs).unwrap();
    let ours = assert_same_as_nft(&a, &b, &rs);
    assert!(ours.contains("exthdr write tcpopt"), "MSS clamping present");

    // And the JSON read-back matches the model, chain by chain and rule by rule.
    let json: serde_json::Value =
        serde_json::from_str(&nft(&a, &["-j", "list", "ruleset"])).unwrap();
    let items = json["nftables"].as_array().unwrap();
    for chain in &rs.chains {
        let got = items
            .iter()
            .filter(|i| {
                i["rule"]["chain"] == chain.name.as_str() && i["rule"]["table"] == "routerd"
            })
            .count();
        assert_eq!(got, chain.rules.len(), "rules in chain {}", chain.name);
        let policy = items
            .iter()
            .find(|i| i["chain"]["name"] == chain.name.as_str())
            .map(|i| i["chain"]["policy"].clone());
        let want = chain.base.map(|b| format!("{:?}", b.policy).to_lowercase());
        assert_eq!(policy.and_then(|p| p.as_str().map(String::from)), want);
    }
    let comments: Vec<&str> = items.iter().filter_map(|i| i["rule"]["comment"].as_str()).collect();
    for c in ["forwards tcp", "forwards udp", "pinhole nas-ssh", "open ssh", "reflection lan"] {
        assert!(comments.contains(&c), "comment {c:?} read back: {comments:?}");
    }
    // The forwards as maps, each element with its counter.
    for (map, n) in [("forwards_tcp", 2), ("forwards_udp", 1)] {
        let m = items.iter().find(|i| i["map"]["name"] == map).unwrap_or_else(|| panic!("{map}"));
        let elems = m["map"]["elem"].as_array().unwrap_or_else(|| panic!("{m}"));
        assert_eq!(elems.len(), n, "{m}");
        assert!(elems.iter().all(|e| e.to_string().contains("counter")), "{m}");
    }
}

/// The fast path (an Ethernet WAN). Where nft can load the flowtable, our batch builds the
/// same flowtable and the same rules that add to it; where the kernel refuses it (no
/// `nf_flow_table`, as on the machines this was written on, or a device that is not there),
/// the rest of the ruleset is applied without it, the same as nft applies that, and the
/// refusal is reported. A device that is missing is refused by every kernel, so that branch
/// runs everywhere.
#[test]
fn root_fw_fast_path_as_nft_builds_it_or_the_rest_without_it() {
    let lab = lab("fwfast");
    let (a, b) = (lab.netns("netlink").unwrap(), lab.netns("cli").unwrap());
    // The flowtable's devices must exist in both.
    lab.connect(&a, "wan0", &b, "wan0").unwrap();
    lab.connect(&a, "lan0", &b, "lan0").unwrap();
    let mut c = config();
    c.clamp_mss = false;
    c.fast_path = true;
    let mut missing = c.clone();
    missing.lans[0].interface = "nosuch0".into();
    for (what, c) in [("lan0 and wan0", c), ("a device missing", missing)] {
        let rs = fw::build(&c, &state()).unwrap();
        assert!(rs.flowtable.is_some(), "{what}");
        let kernel = kernel_flowtables(&b, &c.lans[0].interface);
        let asked = rs.clone();
        let applied = a
            .run(move |_| async move { Firewall::update_or_without_fast_path(None, asked) })
            .unwrap()
            .unwrap_or_else(|e| panic!("{what}: applied with or without the fast path: {e}"));
        println!("{what}: nft: {kernel:?}; ours: {:?}", applied.fast_path_refused);
        match kernel {
            Ok(()) => {
                assert_eq!(applied.fast_path_refused, None, "{what}: nft loads it, so must we");
                assert_eq!(applied.ruleset, rs);
                let listing = assert_same_as_nft(&a, &b, &rs);
                assert!(listing.contains("flowtable fastpath"), "{listing}");
                assert!(listing.contains("flow add @fastpath"), "{listing}");
            }
            Err(nft_says) => {
                let refused = applied.fast_path_refused.unwrap_or_else(|| {
                    panic!("{what}: nft was refused ({nft_says}) and ours was not")
                });
                assert!(refused.contains("add flowtable fastpath"), "{refused}");
                // Our text of it is what nft parses (the kernel refuses it, not nft's parser).
                let script =
                    std::env::temp_dir().join(format!("fwfast-{}.nft", std::process::id()));
                std::fs::write(&script, rs.to_nft()).unwrap();
                let out = b.command("nft").arg("-c").arg("-f").arg(&script).output().unwrap();
                let _ = std::fs::remove_file(&script);
                let said = String::from_utf8_lossy(&out.stderr);
                assert!(!out.status.success() && said.contains("Could not process rule"), "{said}");
                assert!(!said.contains("syntax error"), "{said}");
                assert_eq!(applied.ruleset, rs.without_flowtable());
                let listing = assert_same_as_nft(&a, &b, &applied.ruleset);
                assert!(!listing.contains("flow"), "{listing}");
                assert!(listing.contains("forwards_tcp"), "the rest is in force: {listing}");
            }
        }
    }
}

#[test]
fn root_fw_traffic_policy_nat_forwards_pinholes() {
    let n = build("fwtraffic");
    // Before any ruleset the WAN reaches the LAN host directly: the check below can fail.
    let lan_http = PeerEcho::start(&n.lan, sa("0.0.0.0:80"));
    assert!(peer_seen(&n.wan, sa("192.168.1.10:80"), LONG).is_some(), "no firewall yet");

    apply_in(&n.router, &fw::build(&config(), &state()).unwrap()).unwrap();

    // LAN -> WAN over IPv4 is masqueraded; over IPv6 it is routed as is.
    let wan_v4 = PeerEcho::start(&n.wan, sa("203.0.113.10:9000"));
    assert_eq!(peer_seen(&n.lan, sa("203.0.113.10:9000"), LONG).as_deref(), Some("198.51.100.2"));
    let wan_v6 = PeerEcho::start(&n.wan, sa("[2001:db8:ffff:1::1]:9001"));
    assert_eq!(
        peer_seen(&n.lan, sa("[2001:db8:ffff:1::1]:9001"), LONG).as_deref(),
        Some("2001:db8:1000:1::10")
    );

    // The WAN cannot open connections to the LAN, nor to the router's closed services.
    assert_eq!(peer_seen(&n.wan, sa("192.168.1.10:80"), SHORT), None);
    let lan_v6 = PeerEcho::start(&n.lan, sa("[::]:23"));
    assert_eq!(peer_seen(&n.wan, sa("[2001:db8:1000:1::10]:23"), SHORT), None);
    let router_closed = PeerEcho::start(&n.router, sa("0.0.0.0:2222"));
    assert_eq!(peer_seen(&n.wan, sa("198.51.100.2:2222"), SHORT), None);
    assert_eq!(peer_seen(&n.lan, sa("192.168.1.1:2222"), SHORT), None, "LAN reaches only DHCP/DNS");
    // ... except through what the config opens.
    let router_open = PeerEcho::start(&n.router, sa("0.0.0.0:2223"));
    assert!(peer_seen(&n.wan, sa("198.51.100.2:2223"), LONG).is_some(), "open port");
    let fwd = peer_seen(&n.wan, sa("198.51.100.2:8080"), LONG);
    assert_eq!(fwd.as_deref(), Some("198.51.100.1"), "port forward keeps the source");
    let lan_ssh = PeerEcho::start(&n.lan, sa("[::]:22"));
    assert!(peer_seen(&n.wan, sa("[2001:db8:1000:1::10]:22"), LONG).is_some(), "pinhole");

    // NAT reflection: the LAN host reaches its own forward through the public address.
    let refl = peer_seen(&n.lan, sa("198.51.100.2:8080"), LONG);
    assert_eq!(refl.as_deref(), Some("192.168.1.1"), "reflected, source is the router");

    // ICMPv6 echo crosses; an ICMP too-big error comes back for a packet over the WAN MTU.
    let ok = |ns: &Netns, args: &[&str]| ns.command("ping").args(args).output().unwrap();
    assert!(ok(&n.wan, &["-c1", "-W2", "2001:db8:1000:1::10"]).status.success());
    assert!(ok(&n.lan, &["-c1", "-W2", "2001:db8:ffff:1::1"]).status.success());
    n.router
        .netcfg(|nc| async move {
            let l = nc.link_by_name("wan0").await?;
            nc.set_mtu(&l, 1400).await
        })
        .unwrap();
    let big = ok(&n.lan, &["-c2", "-W2", "-M", "do", "-s", "1420", "2001:db8:ffff:1::1"]);
    let text = String::from_utf8_lossy(&big.stdout) + String::from_utf8_lossy(&big.stderr);
    assert!(text.contains("mtu=1400") || text.contains("mtu = 1400"), "PMTU error seen: {text}");
    // The counters a status command shows, read back over netlink.
    let counters = n.router.run(|_| async { Firewall::counters("routerd") }).unwrap().unwrap();
    let get = |chain: &str, comment: &str| {
        counters
            .iter()
            .find(|c| c.chain == chain && c.comment.as_deref() == Some(comment))
            .map_or(0, |c| c.packets)
    };
    assert!(get("forward", "pinhole nas-ssh") > 0, "{counters:?}");
    assert!(get("forward", "port forwards") > 0, "{counters:?}");
    assert!(get("forward", "dropped by policy") > 0, "the blocked attempts: {counters:?}");
    assert!(get("input", "open ssh") > 0, "{counters:?}");
    // Each forward's own counter (its map element): the NAT chain sees each connection's
    // first packet only, so it counts connections: the one from the WAN and the reflected.
    let per = n.router.run(|_| async { Firewall::forward_counters("routerd") }).unwrap().unwrap();
    let conns = |map: &str, port: u16| {
        per.iter().find(|e| e.map == map && e.port == port).map(|e| e.packets)
    };
    assert_eq!(conns("forwards_tcp", 8080), Some(2), "{per:?}");
    assert_eq!(conns("forwards_tcp", 27015), Some(0), "{per:?}");
    assert_eq!(conns("forwards_udp", 27015), Some(0), "{per:?}");
    assert_eq!(per.len(), 3, "{per:?}");
    // MSS clamping: a SYN from the LAN (MSS 1460 for its 1500 MTU) reaches the WAN side
    // clamped to the WAN route's MTU of 1400 (MSS 1360).
    assert_eq!(syn_mss_seen_on_wan(&n), 1360);
    drop((lan_http, wan_v4, wan_v6, lan_v6, router_closed, router_open, lan_ssh));
}

#[test]
fn root_fw_reapply_keeps_running_transfer() {
    use std::io::{Read, Write};
    let n = build("fwreapply");
    let mut st = state();
    apply_in(&n.router, &fw::build(&config(), &st).unwrap()).unwrap();
    // A sink on the WAN that counts bytes; the LAN host streams 24 MiB to it while the
    // ruleset is replaced ten times. It listens before the sender starts.
    let l = n.wan.run(|_| async { std::net::TcpListener::bind("203.0.113.10:9100") }).unwrap();
    let l = l.unwrap();
    let sink = n
        .wan
        .spawn(move |_| async move {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut total = 0usize;
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break total,
                    Ok(k) => total += k,
                    Err(e) => panic!("transfer broke after {total} bytes: {e}"),
                }
            }
        })
        .unwrap();
    let sender = n
        .lan
        .spawn(|_| async {
            let mut s = std::net::TcpStream::connect("203.0.113.10:9100").unwrap();
            s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            let chunk = vec![0x5au8; 65536];
            for _ in 0..384 {
                s.write_all(&chunk).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
        .unwrap();
    for i in 0..10u8 {
        st.public_ipv4 = Some(std::net::Ipv4Addr::new(198, 51, 100, 2 + (i % 2)));
        apply_in(&n.router, &fw::build(&config(), &st).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    sender.join().unwrap();
    assert_eq!(sink.join().unwrap(), 384 * 65536, "every byte arrived");
}

#[test]
fn root_fw_rejected_ruleset_leaves_previous_in_force() {
    let n = build("fwreject");
    let good = fw::build(&config(), &state()).unwrap();
    apply_in(&n.router, &good).unwrap();
    let before = nft(&n.router, &["list", "table", "inet", "routerd"]);

    let mut bad = good.clone();
    bad.chains[0].rules.insert(3, fw::ir::Rule::new(vec![], fw::ir::Action::Jump("nosuch".into())));
    let err = apply_in(&n.router, &bad).unwrap_err();
    assert!(matches!(err, fw::Error::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("jump nosuch"), "names the refused rule: {err}");

    assert_eq!(nft(&n.router, &["list", "table", "inet", "routerd"]), before);
    // And it still works: the forward reaches the LAN host, direct access does not.
    let _srv = PeerEcho::start(&n.lan, sa("0.0.0.0:80"));
    assert!(peer_seen(&n.wan, sa("198.51.100.2:8080"), LONG).is_some());
    assert_eq!(peer_seen(&n.wan, sa("192.168.1.10:80"), SHORT), None);
    let _ = Command::new("true").status();
}

/// The MSS option of the SYN that a WAN server receives from the LAN host.
fn syn_mss_seen_on_wan(n: &Net) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = n
        .wan
        .spawn(move |_| async move {
            let l = std::net::TcpListener::bind("203.0.113.10:9200").unwrap();
            tx.send(()).unwrap();
            let (s, _) = l.accept().unwrap();
            let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
            // TCP_INFO: tcpi_options (byte 5, bit 0: timestamps) and tcpi_snd_mss (bytes
            // 16..20), the MSS the peer announced less 12 bytes if timestamps are on.
            let mut info = [0u8; 232];
            let mut len = info.len() as libc::socklen_t;
            // SAFETY: TCP_INFO into a buffer of the length given.
            let rc = unsafe {
                libc::getsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_INFO,
                    info.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0);
            let snd_mss = u32::from_ne_bytes(info[16..20].try_into().unwrap());
            let ts = if info[5] & 1 != 0 { 12 } else { 0 };
            (snd_mss + ts) as u16
        })
        .unwrap();
    rx.recv_timeout(LONG).unwrap();
    n.lan.run(|_| async { std::net::TcpStream::connect("203.0.113.10:9200").unwrap() }).unwrap();
    server.join().unwrap()
}

/// `routerd firewall --config FILE`: the ruleset a configuration gives, applied in one
/// process (what the benchmark times against `nft -f`), and `--print` shows the same text.
#[test]
fn root_fw_routerd_firewall_applies_a_config() {
    let lab = lab("fwcli");
    let ns = lab.netns("r").unwrap();
    let dir = router_tests::TempDir::new("fwcli");
    let cfg = dir.join("routerd.toml");
    std::fs::write(
        &cfg,
        "[wan]\ninterface = \"wan0\"\nmode = \"static\"\n[wan.static]\nipv4 = \"198.51.100.2/24\"\n\
         gateway = \"198.51.100.1\"\n[[lan]]\nname = \"lan\"\ninterface = \"lan0\"\n\
         ipv4 = \"192.168.1.1/24\"\n[[firewall.port_forward]]\nname = \"web\"\nproto = \"tcp\"\n\
         port = 8080\nto = \"192.168.1.10:80\"\n",
    )
    .unwrap();
    let routerd = router_tests::wan::bin("routerd");
    let out = ns.command(&routerd).arg("firewall").arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = nft(&ns, &["list", "map", "inet", "routerd", "forwards_tcp"]);
    assert!(listed.contains("8080") && listed.contains("192.168.1.10 . 80"), "{listed}");
    let printed = ns.command(&routerd).args(["firewall", "--print", "--config"]).arg(&cfg).output();
    let printed = String::from_utf8_lossy(&printed.unwrap().stdout).to_string();
    assert!(printed.contains("elements = { 8080 : 192.168.1.10 . 80 }"), "{printed}");
    // A bad configuration is refused with its key and line, and nothing is applied.
    let before = nft(&ns, &["list", "table", "inet", "routerd"]);
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap().replace("8080", "0")).unwrap();
    let out = ns.command(&routerd).arg("firewall").arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line"), "{out:?}");
    assert_eq!(nft(&ns, &["list", "table", "inet", "routerd"]), before);
}

/// `Firewall::update`: a change of port forwards only is one transaction of map elements
/// (the kept forward keeps its counter, the removed one is gone, the added one works, nothing
/// else of the table changes); anything else replaces the table.
#[test]
fn root_fw_forward_changes_update_elements_only() {
    let n = build("fwupd");
    let mut cfg = config();
    let st = state();
    let rs = fw::build(&cfg, &st).unwrap();
    let r1 = rs.clone();
    n.router.run(move |_| async move { Firewall::update(None, &r1) }).unwrap().unwrap();
    let web = PeerEcho::start(&n.lan, sa("0.0.0.0:80"));
    assert_eq!(peer_seen(&n.wan, sa("198.51.100.2:8080"), LONG).as_deref(), Some("198.51.100.1"));
    let chains = |ns: &Netns| {
        ["input", "forward", "prerouting", "postrouting"]
            .map(|c| nft(ns, &["-a", "list", "chain", "inet", "routerd", c]))
    };
    let before = chains(&n.router);

    // "game" goes, "mail" comes; "web" stays.
    cfg.port_forwards.retain(|f| f.name == "web");
    cfg.port_forwards.push(PortForward {
        name: "mail".into(),
        proto: Proto::Tcp,
        port: 2525,
        to: "192.168.1.10".parse().unwrap(),
        to_port: 80,
    });
    let rs2 = fw::build(&cfg, &st).unwrap();
    let (old, new) = (rs.clone(), rs2.clone());
    let how = n.router.run(move |_| async move { Firewall::update(Some(&old), &new) }).unwrap();
    assert_eq!(how.unwrap(), fw::Update::Forwards { added: 1, removed: 2 });
    assert_eq!(chains(&n.router), before, "rules and their handles untouched");
    assert_eq!(peer_seen(&n.wan, sa("198.51.100.2:2525"), LONG).as_deref(), Some("198.51.100.1"));
    let per = n.router.run(|_| async { Firewall::forward_counters("routerd") }).unwrap().unwrap();
    let conns = |map: &str, port: u16| {
        per.iter().find(|e| e.map == map && e.port == port).map(|e| e.packets)
    };
    assert_eq!(conns("forwards_tcp", 8080), Some(1), "the kept forward's counter: {per:?}");
    assert_eq!(conns("forwards_tcp", 2525), Some(1), "{per:?}");
    assert_eq!(conns("forwards_tcp", 27015), None, "{per:?}");
    assert_eq!(conns("forwards_udp", 27015), None, "{per:?}");
    drop(web);

    // The same again: nothing to do. A new public address: the table replaced.
    let (old, new) = (rs2.clone(), rs2.clone());
    let how = n.router.run(move |_| async move { Firewall::update(Some(&old), &new) }).unwrap();
    assert_eq!(how.unwrap(), fw::Update::Unchanged);
    let moved = fw::build(
        &cfg,
        &FwState { public_ipv4: Some("198.51.100.3".parse().unwrap()), ..FwState::default() },
    );
    let (old, new) = (rs2, moved.unwrap());
    let how = n.router.run(move |_| async move { Firewall::update(Some(&old), &new) }).unwrap();
    assert_eq!(how.unwrap(), fw::Update::Replaced);
}
