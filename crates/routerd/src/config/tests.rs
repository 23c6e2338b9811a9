//! The configuration's parse and validation, by example.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

const EXAMPLE: &str = include_str!("../../examples/routerd.toml");

/// The DESIGN.md example, its TSIG secret in a temp dir.
pub(crate) fn example() -> (String, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "routerd-cfg-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tsig"), "c2VjcmV0c2VjcmV0c2VjcmV0\n").unwrap();
    (EXAMPLE.replace("/run/secrets/tsig", "tsig"), dir)
}

fn err(text: &str, dir: &Path) -> ConfigError {
    load(text, dir).expect_err("must be refused")
}

#[test]
fn a_delegation_pool_must_fit_and_not_hold_a_lans_subnet() {
    let (text, dir) = example();
    let with = |d: &str| {
        text.replace(
            r#"dhcp6 = { mode = "stateful" }"#,
            &format!(r#"dhcp6 = {{ mode = "stateful", delegate = {d} }}"#),
        )
    };
    let ok = load(&with("{ pool = 1, pool_length = 56, length = 60 }"), &dir).unwrap();
    let d = ok.lan[0].get_ref().dhcp6.as_ref().unwrap().delegate.unwrap();
    assert_eq!((d.pool, d.pool_length, d.length), (1, 56, 60));
    let e = err(&with("{ pool = 0, pool_length = 56, length = 60 }"), &dir);
    assert_eq!(e.key, "lan[0].dhcp6.delegate.pool", "subnet id 1 is in the first /56: {e}");
    let e = err(&with("{ pool = 256, pool_length = 56, length = 60 }"), &dir);
    assert_eq!(e.key, "lan[0].dhcp6.delegate.pool", "only 256 /56s in a /48: {e}");
    let e = err(&with("{ pool = 1, pool_length = 56, length = 52 }"), &dir);
    assert_eq!(e.key, "lan[0].dhcp6.delegate.length", "{e}");
}

#[test]
fn the_split_examples_parse_and_each_role_refuses_what_is_not_its_own() {
    let dir = std::env::temp_dir();
    let ingress = include_str!("../../examples/ingress.toml");
    let gateway = include_str!("../../examples/gateway.toml");
    let i = load(ingress, &dir).unwrap();
    assert_eq!(
        (i.role(), i.dmz.as_ref().unwrap().get_ref().delegate_length),
        (Role::Ingress, Some(48))
    );
    let g = load(gateway, &dir).unwrap();
    assert_eq!((g.role(), g.lan.len()), (Role::Gateway, 2));
    let e = err(&ingress.replace("[dmz]", "[dmz_link]"), &dir);
    assert!(e.key.starts_with("dmz"), "{e}");
    let e = err(&format!("{ingress}\n[[lan]]\nname = \"x\"\ninterface = \"eth5\"\n"), &dir);
    assert_eq!(e.key, "lan[0]", "{e}");
    let e = err(&ingress.replace("delegate_length = 48", "delegate_length = 40"), &dir);
    assert_eq!(e.key, "dmz.delegate_length", "{e}");
    let e = err(&gateway.replace("mode = \"static\"", "mode = \"dhcp\""), &dir);
    assert_eq!(e.key, "wan.mode", "{e}");
    assert!(e.line > 0, "{e}");
}

#[test]
fn every_compose_deployments_config_validates() {
    let dir = std::env::temp_dir().join(format!("routerd-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pppoe"), "internet\n").unwrap();
    for (name, text) in [
        ("demo", include_str!("../../../../compose/demo/routerd.toml")),
        ("kpn ingress", include_str!("../../../../compose/kpn/ingress.toml")),
        ("kpn gateway", include_str!("../../../../compose/kpn/gateway.toml")),
        ("kpn cluster router", include_str!("../../../../compose/kpn/cluster-router.toml")),
        ("router template", include_str!("../../../../compose/router/routerd.toml")),
    ] {
        let text = text.replace("/run/secrets/pppoe", "pppoe");
        let r = load(&text, &dir);
        assert!(r.is_ok(), "compose {name}: {r:?}");
    }
}

#[test]
fn design_example_parses_and_validates() {
    let (text, dir) = example();
    let c = load(&text, &dir).unwrap();
    assert_eq!(c.role(), Role::All);
    assert_eq!(c.wan.vlan.as_ref().map(|v| *v.get_ref()), Some(6));
    let p = c.wan.pppoe.as_ref().unwrap().get_ref();
    assert_eq!(
        (p.username.as_str(), *p.mtu.get_ref(), p.lcp_echo_interval),
        ("internet", 1492, Duration::from_secs(10))
    );
    assert_eq!(*c.wan.ipv6.pd_length.get_ref(), 48);
    let lan = c.lan[0].get_ref();
    assert_eq!(lan.dhcp4.as_ref().unwrap().lease_time, Duration::from_secs(12 * 3600));
    assert_eq!(lan.dhcp6.as_ref().unwrap().mode, Dhcp6Mode::Stateful);
    assert_eq!(c.dns.upstream, Upstream::Wan);
    assert_eq!(c.firewall.port_forward[0].get_ref().to, "192.168.1.10:443".parse().unwrap());
    assert_eq!(c.firewall.pinhole[0].get_ref().host_suffix, "::10".parse::<Ipv6Addr>().unwrap());
}

#[test]
fn unknown_key_names_key_and_line() {
    let (text, dir) = example();
    let text = text.replace("lcp_echo_failures = 3", "lcp_echo_failures = 3\nlcp_echo_failure = 4");
    let e = err(&text, &dir);
    assert_eq!(e.line, 16, "{e}");
    assert!(e.to_string().contains("lcp_echo_failure"), "{e}");
}

#[test]
fn semantic_errors_name_key_and_line() {
    let (text, dir) = example();
    let cases = [
        (
            "pool = \"192.168.1.100-192.168.1.249\"",
            "pool = \"192.168.2.100-192.168.2.249\"",
            "lan[0].dhcp4.pool",
            26,
        ),
        ("to = \"192.168.1.10:443\"", "to = \"10.9.9.9:443\"", "firewall.port_forward[0].to", 40),
        ("pd_length = 48", "pd_length = 64", "lan[0].subnet_id", 24),
        ("lan = \"lan\"", "lan = \"guest\"", "firewall.pinhole[0].lan", 44),
        ("vlan = 6", "vlan = 4095", "wan.vlan", 7),
        ("mtu = 1492", "mtu = 1600", "wan.pppoe.mtu", 13),
        (
            "algorithm = \"hmac-sha256\"",
            "algorithm = \"hmac-md5\"",
            "dns.tsig_keys[0].algorithm",
            34,
        ),
        ("ipv4 = \"192.168.1.10\"", "ipv4 = \"192.168.7.10\"", "lan[0].reservations[0].ipv4", 28),
        ("domain = \"home.arpa\"", "domain = \"home.arpa\"\ncache_size = 50", "dns.cache_size", 32),
    ];
    for (from, to, key, line) in cases {
        assert!(text.contains(from), "{from}");
        let e = err(&text.replace(from, to), &dir);
        assert_eq!((e.key.as_str(), e.line), (key, line), "{from} -> {to}: {e}");
    }
}

#[test]
fn two_forwards_of_one_port_are_refused_at_the_second() {
    let (text, dir) = example();
    let start = text.find("[[firewall.port_forward]]").unwrap();
    let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e + 1);
    let block = text[start..end].replace("name = \"", "name = \"again-");
    let doubled = format!("{}{block}{}", &text[..end], &text[end..]);
    let e = err(&doubled, &dir);
    assert_eq!(e.key, "firewall.port_forward[1].port", "{e}");
    assert!(e.to_string().contains("already forwarded by port_forward[0]"), "{e}");
    // A line of the second table.
    let second = doubled[..doubled.rfind("[[firewall.port_forward]]").unwrap()].lines().count();
    assert!((second + 1..=second + 5).contains(&e.line), "{e}");
}

#[test]
fn missing_secret_and_overlap_are_refused() {
    let (text, dir) = example();
    let e = err(&text.replace("password = \"internet\"", "password_file = \"nosuch\""), &dir);
    assert_eq!(e.key, "wan.pppoe.password_file", "{e}");
    let e = err(&text.replace("password = \"internet\"", ""), &dir);
    assert_eq!(e.key, "wan.pppoe.password", "{e}");
    let second = "\n[[lan]]\nname = \"guest\"\ninterface = \"eth2\"\nipv4 = \"192.168.1.129/25\"\n";
    let mut two = text.clone();
    let at = two.find("[dns]").unwrap();
    two.insert_str(at, second);
    let e = err(&two, &dir);
    assert_eq!(e.key, "lan[1].ipv4", "{e}");
    assert!(e.message.contains("overlaps"), "{e}");
}

#[test]
fn syntax_error_has_a_line() {
    let (text, dir) = example();
    let e = err(&text.replace("port = 443", "port = "), &dir);
    assert_eq!(e.line, 39, "{e}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
    assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("ten"), None);
    assert_eq!(parse_duration("10"), None);
    assert_eq!(parse_duration("99999999999999999999h"), None);
}

/// A `password_file` readable at load time but gone at dial time fails the dial with an
/// error naming the file; it never dials with an empty password (as it did before).
#[test]
fn an_unreadable_password_file_at_dial_time_fails_the_wan_naming_the_file() {
    let (text, dir) = example();
    std::fs::write(dir.join("pppoe-pw"), "s3cret\n").unwrap();
    let text = text.replace("password = \"internet\"", "password_file = \"pppoe-pw\"");
    let cfg = load(&text, &dir).unwrap();
    let pc = crate::wiring::pppoe_config(&cfg).unwrap();
    assert_eq!(pc.credentials.as_ref().unwrap().password, b"s3cret");
    std::fs::remove_file(dir.join("pppoe-pw")).unwrap();
    let e = crate::wiring::pppoe_config(&cfg).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("password_file") && text.contains("pppoe-pw"), "{text}");
}

/// `[http]`: by default each LAN's addresses on 8080; never a wildcard or a non-LAN
/// address (that is how the WAN would be served); a token file must be readable.
#[test]
fn http_listens_only_on_the_lans() {
    let (text, dir) = example();
    let c = load(&text, &dir).unwrap();
    let want: Vec<std::net::SocketAddr> =
        vec!["192.168.1.1:8080".parse().unwrap(), "[fd12:3456:789a:1::1]:8080".parse().unwrap()];
    assert_eq!(c.http_listen(), want);
    assert_eq!(crate::wiring::fw_config(&c).lan_tcp, vec![8080]);
    let lines = text.lines().count();
    for (listen, why) in [("0.0.0.0:8080", "WAN"), ("198.51.100.7:80", "not an address of a LAN")] {
        let t = format!("{text}\n[http]\nlisten = [\"{listen}\"]\n");
        let e = err(&t, &dir);
        assert_eq!((e.key.as_str(), e.line), ("http.listen", lines + 3), "{e}");
        assert!(e.message.contains(why), "{e}");
    }
    let ok = format!("{text}\n[http]\nlisten = [\"127.0.0.1:9100\", \"192.168.1.1:80\"]\n");
    assert_eq!(load(&ok, &dir).unwrap().http_listen().len(), 2);
    let off = format!("{text}\n[http]\nenabled = false\n");
    let c = load(&off, &dir).unwrap();
    assert!(c.http_listen().is_empty() && crate::wiring::fw_config(&c).lan_tcp.is_empty());
    let e = err(&format!("{text}\n[http]\ntoken_file = \"nosuch\"\n"), &dir);
    assert_eq!((e.key.as_str(), e.line), ("http.token_file", lines + 3), "{e}");
}

/// The IPTV part of a KPN line, appended to the example.
pub(crate) const IPTV: &str = r#"
[[wan.extra]]
name = "iptv"
interface = "eth0.4"
mode = "dhcp"
dhcp = { vendor_class = "IPTV_RG" }
[igmp]
upstream = "iptv"
allowed = ["224.0.251.0/24", "239.0.0.0/8"]
fast_leave = true
"#;

#[test]
fn an_iptv_link_and_the_igmp_proxy_parse_and_wire() {
    let (text, dir) = example();
    let c = load(&format!("{text}{IPTV}"), &dir).unwrap();
    assert_eq!(c.igmp_lans().iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["lan"]);
    let x = c.wan.extra[0].get_ref();
    let dc = crate::wiring::extra_dhcp_config(&c, x);
    assert_eq!(
        (dc.interface.as_str(), dc.vendor_class.as_deref()),
        ("eth0.4", Some(&b"IPTV_RG"[..]))
    );
    assert!(dc.install_routes && !dc.install_default_route, "routes only by default");
    let g = crate::wiring::igmp_config(&c).unwrap();
    assert_eq!((g.upstream.as_str(), g.downstreams.clone()), ("eth0.4", vec!["eth1".to_string()]));
    assert!(g.proxy.fast_leave && g.proxy.allows("224.0.251.1".parse().unwrap()));
    assert!(!g.proxy.allows("233.252.0.1".parse().unwrap()));
    let fw = crate::wiring::fw_config(&c);
    assert_eq!(
        fw.extra_wans,
        [fw::ExtraWan {
            name: "iptv".into(),
            interface: "eth0.4".into(),
            nat: true,
            multicast: true
        }]
    );
}

#[test]
fn iptv_mistakes_name_key_and_line() {
    let (text, dir) = example();
    let base = text.lines().count();
    // IPTV's lines: 1 blank, 2 [[wan.extra]], 3 name, 4 interface, 5 mode, 6 dhcp, 7 [igmp],
    // 8 upstream, 9 allowed, 10 fast_leave.
    let cases = [
        (IPTV.replace("upstream = \"iptv\"", "upstream = \"tv\""), "igmp.upstream", 8),
        (
            IPTV.replace("interface = \"eth0.4\"", "interface = \"eth0\""),
            "wan.extra[0].interface",
            4,
        ),
        (IPTV.replace("fast_leave = true", "version = 4"), "igmp.version", 10),
        (IPTV.replace("\"239.0.0.0/8\"", "\"10.0.0.0/8\""), "igmp.allowed", 9),
        (IPTV.replace("mode = \"dhcp\"", "vlan = 4"), "vlan", 5),
    ];
    for (iptv, key, line) in cases {
        let e = err(&format!("{text}{iptv}"), &dir);
        assert!(e.key.starts_with(key), "{key}: {e}");
        assert_eq!(e.line, base + line, "{key}: {e}");
    }
}

/// `dns.cache_size` reaches the DNS server; without it the cache keeps its default.
#[test]
fn the_dns_cache_size_is_configurable() {
    let (text, dir) = example();
    let c = load(&text, &dir).unwrap();
    assert_eq!(crate::wiring::dns_config(&c).unwrap().cache_size, dns::DEFAULT_CACHE_SIZE);
    let sized =
        text.replace("domain = \"home.arpa\"", "domain = \"home.arpa\"\ncache_size = 200000");
    let c = load(&sized, &dir).unwrap();
    assert_eq!(crate::wiring::dns_config(&c).unwrap().cache_size, 200_000);
}

/// The fast path: on by default with an Ethernet WAN (the gateway's static DMZ link), off
/// with `firewall.fast_path = false`, never with a PPPoE WAN; a value that is not a boolean
/// is refused naming the key and line.
#[test]
fn the_fast_path_is_on_with_an_ethernet_wan_unless_turned_off() {
    use crate::bus::FastPath;
    let dir = std::env::temp_dir();
    let gateway = include_str!("../../examples/gateway.toml");
    let g = load(gateway, &dir).unwrap();
    assert_eq!(crate::wiring::fast_path(&g), FastPath::Pending);
    assert!(crate::wiring::fw_config(&g).fast_path);
    let off = format!("{gateway}\n[firewall]\nfast_path = false\n");
    let g = load(&off, &dir).unwrap();
    assert_eq!(crate::wiring::fast_path(&g), FastPath::Off);
    assert!(!crate::wiring::fw_config(&g).fast_path);
    let (text, dir) = example();
    let c = load(&text, &dir).unwrap();
    assert_eq!(crate::wiring::fast_path(&c), FastPath::NotWithPppoe);
    assert!(!crate::wiring::fw_config(&c).fast_path);
    let lines = text.lines().count();
    let e = err(&format!("{text}\n[firewall]\nfast_path = \"yes\"\n"), &dir);
    assert_eq!((e.key.as_str(), e.line), ("firewall.fast_path", lines + 3), "{e}");
}

/// A value of the wrong type (which toml reports without its key) is named by its key and
/// line like every other error: in a table, in an array of tables, at the top level.
#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    let (text, dir) = example();
    let lines = text.lines().count();
    for (extra, key, line) in [
        ("[firewall]\nfast_path = 1\n", "firewall.fast_path", lines + 3),
        ("[[lan]]\nname = \"guest\"\ninterface = 7\n", "lan[1].interface", lines + 4),
    ] {
        let e = err(&format!("{text}\n{extra}"), &dir);
        assert_eq!((e.key.as_str(), e.line), (key, line), "{e}");
    }
    let e = err(&text.replace("state_dir = \"/var/lib/routerd\"", "state_dir = 5"), &dir);
    assert_eq!(e.key, "state_dir", "{e}");
}
