//! The DNS server (`crates/dns`) against real tools, in namespaces: lan (dig, kdig,
//! nsupdate), router (our server on 192.168.1.1 and 203.0.113.2), isp (dnsmasq as the
//! upstream on 203.0.113.1 and .3, and the WAN side that must be REFUSED). Needs root.
//!
//! RFC 1035 §4.2 (UDP/TCP), RFC 2308 (NXDOMAIN/NODATA), RFC 2136 + RFC 8945 (UPDATE/TSIG),
//! RFC 5358 (not an open resolver).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dns::{DnsConfig, DnsHandle, LeaseUpdate, StaticHost, TsigKey};
use netlab::{Lab, Netns, NsThread, ProcessGuard};
use router_tests::{lab, listening, wait_for};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const SECRET_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const WRONG_B64: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";

struct Net {
    lab: Lab,
    lan: Netns,
    router: Netns,
    isp: Netns,
}

/// lan 192.168.1.10 -- router 192.168.1.1 / 203.0.113.2 -- isp 203.0.113.1, 203.0.113.3.
fn build(test: &str) -> Net {
    let lab = lab(test);
    let (lan, router, isp) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "wan0", &isp, "eth0").unwrap();
    lan.add_addr("eth0", "192.168.1.10/24").unwrap();
    router.add_addr("lan0", "192.168.1.1/24").unwrap();
    router.add_addr("wan0", "203.0.113.2/24").unwrap();
    isp.add_addr("eth0", "203.0.113.1/24").unwrap();
    isp.add_addr("eth0", "203.0.113.3/24").unwrap();
    Net { lab, lan, router, isp }
}

fn state_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("root-dns-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(state: &Path, upstreams: &[&str]) -> DnsConfig {
    DnsConfig {
        listen: vec![sa("192.168.1.1:53"), sa("203.0.113.2:53")],
        hosts: vec![StaticHost {
            name: "nas".into(),
            ipv4: vec![Ipv4Addr::new(192, 168, 1, 5)],
            ipv6: vec!["fd00:1::5".parse().unwrap()],
        }],
        lan_v4: vec!["192.168.1.0/24".parse().unwrap()],
        lan_v6: vec!["fd00:1::/64".parse().unwrap()],
        upstreams: upstreams.iter().map(|s| sa(s)).collect(),
        upstream_timeout: Duration::from_millis(700),
        tsig_keys: vec![TsigKey { name: "ddns".into(), secret: SECRET.to_vec() }],
        rebind_allow: vec!["corp.example".into()],
        state_dir: state.to_path_buf(),
        ..DnsConfig::default()
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Our server, running on a thread of its own inside the router namespace.
struct Dns {
    handle: DnsHandle,
    ns: Netns,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<NsThread<()>>,
}

impl Dns {
    fn start(ns: &Netns, config: DnsConfig) -> Dns {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = ns
            .spawn(move |_| async move {
                let (handle, task) = dns::serve(config).await.expect("dns serves");
                tx.send(handle).unwrap();
                let _ = stopped.await;
                task.abort();
            })
            .unwrap();
        let handle = rx.recv_timeout(Duration::from_secs(10)).expect("server started");
        Dns { handle, ns: ns.clone(), stop: Some(stop), thread: Some(thread) }
    }

    fn lease(&self, update: LeaseUpdate) -> Result<bool, dns::Conflict> {
        let h = self.handle.clone();
        self.ns.run(move |_| async move { h.lease(update).await }).unwrap()
    }

    fn set_prefix(&self, p: &str) {
        let (h, p) = (self.handle.clone(), Some(p.parse().unwrap()));
        self.ns.run(move |_| async move { h.set_prefix(p).await }).unwrap();
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn grant(name: &str, id: u8, v4: [u8; 4], v6: &[&str]) -> LeaseUpdate {
    LeaseUpdate::Granted {
        hostname: name.into(),
        v4: Some(Ipv4Addr::from(v4)),
        v6: v6.iter().map(|a| a.parse().unwrap()).collect(),
        client_id: vec![1, id],
    }
}

/// `dig` from `ns`: (status, answer rdata).
fn dig(ns: &Netns, args: &[&str]) -> (String, Vec<String>) {
    let out = ns
        .command("dig")
        .args(["+time=2", "+tries=1", "+noall", "+comments", "+answer"])
        .args(args)
        .output()
        .expect("dig runs (package bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO-REPLY")
        .to_string();
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect();
    (status, answers)
}

fn dig_ok(ns: &Netns, args: &[&str]) -> Vec<String> {
    let (status, a) = dig(ns, args);
    assert_eq!(status, "NOERROR", "dig {args:?}");
    a
}

fn nsupdate(ns: &Netns, key: Option<&str>, script: &str) -> (bool, String) {
    let mut cmd = ns.command("nsupdate");
    if let Some(k) = key {
        cmd.arg("-y").arg(format!("hmac-sha256:ddns:{k}"));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsupdate runs (package bind9-dnsutils)");
    let full = format!("server 192.168.1.1 53\nzone home.arpa\n{script}\nsend\nquit\n");
    child.stdin.take().unwrap().write_all(full.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// dnsmasq as a stand-in internet resolver on `addr` (authoritative for a few names only).
fn upstream(ns: &Netns, addr: &str, records: &[&str]) -> ProcessGuard {
    let mut cmd = ns.command("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--bind-interfaces",
        "--port=53",
        "--local-ttl=300",
        "--pid-file",
        "--user=root",
    ])
    .arg(format!("--listen-address={addr}"))
    .args(records)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let g = ns.spawn_process(&mut cmd).expect("dnsmasq runs (package dnsmasq-base)");
    let what = format!("dnsmasq listening on {addr}:53");
    wait_for(Duration::from_secs(5), what, || listening(ns, "udp", &format!("src {addr}:53")));
    g
}

#[test]
fn root_rfc1035_4_2_local_zone_and_leases_over_udp_and_tcp() {
    let n = build("dnslocal");
    let state = state_dir("local");
    let d = Dns::start(&n.router, config(&state, &[]));
    for tcp in ["+notcp", "+tcp"] {
        assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", tcp, "nas.home.arpa", "A"]), ["192.168.1.5"]);
        assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", tcp, "NAS.Home.Arpa", "AAAA"]), ["fd00:1::5"]);
        assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", tcp, "-x", "192.168.1.5"]), ["nas.home.arpa."]);
    }
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "laptop.home.arpa"]).0, "NXDOMAIN");

    // A lease: A, AAAA, both PTRs; then release: NXDOMAIN, PTR gone.
    assert_eq!(d.lease(grant("laptop", 1, [192, 168, 1, 100], &["fd00:1::64"])), Ok(true));
    for tcp in ["+notcp", "+tcp"] {
        let args = ["@192.168.1.1", tcp, "laptop.home.arpa"];
        assert_eq!(dig_ok(&n.lan, &args), ["192.168.1.100"]);
        let aaaa = dig_ok(&n.lan, &["@192.168.1.1", tcp, "laptop.home.arpa", "AAAA"]);
        assert_eq!(aaaa, ["fd00:1::64"]);
        let ptr = dig_ok(&n.lan, &["@192.168.1.1", tcp, "-x", "fd00:1::64"]);
        assert_eq!(ptr, ["laptop.home.arpa."]);
    }
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "-x", "192.168.1.100"]), ["laptop.home.arpa."]);
    // NODATA for a type the name does not have; NXDOMAIN inside the reverse zone.
    let (status, a) = dig(&n.lan, &["@192.168.1.1", "laptop.home.arpa", "TXT"]);
    assert_eq!((status.as_str(), a.len()), ("NOERROR", 0));
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "-x", "192.168.1.99"]).0, "NXDOMAIN");

    // Conflicts: a static name, a name held by another client.
    assert!(matches!(
        d.lease(grant("nas", 2, [192, 168, 1, 101], &[])),
        Err(dns::Conflict::Static(_))
    ));
    assert!(matches!(
        d.lease(grant("laptop", 3, [192, 168, 1, 102], &[])),
        Err(dns::Conflict::HeldBy(_))
    ));
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "nas.home.arpa"]), ["192.168.1.5"]);

    assert_eq!(d.lease(LeaseUpdate::Released { client_id: vec![1, 1] }), Ok(true));
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "laptop.home.arpa"]).0, "NXDOMAIN");
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "+tcp", "laptop.home.arpa"]).0, "NXDOMAIN");
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "-x", "192.168.1.100"]).0, "NXDOMAIN");
    assert_eq!(d.lease(grant("phone", 4, [192, 168, 1, 103], &[])), Ok(true));
    assert_eq!(d.lease(LeaseUpdate::Expired { client_id: vec![1, 4] }), Ok(true));
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "phone.home.arpa"]).0, "NXDOMAIN");

    // kdig, if installed, as a second client implementation.
    if n.lan.command("kdig").arg("-V").output().is_ok() {
        for tcp in ["+notcp", "+tcp"] {
            let out = n
                .lan
                .command("kdig")
                .args(["@192.168.1.1", tcp, "+short", "nas.home.arpa"])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "192.168.1.5");
        }
    }

    // The delegated prefix: its reverse zone follows it.
    d.set_prefix("2001:db8:1200::/56");
    d.lease(grant("tv", 5, [192, 168, 1, 104], &["2001:db8:1200:1::50"])).unwrap();
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "-x", "2001:db8:1200:1::50"]), ["tv.home.arpa."]);
    d.set_prefix("2001:db8:1300::/56");
    d.lease(grant("tv", 5, [192, 168, 1, 104], &["2001:db8:1300:1::50"])).unwrap();
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "-x", "2001:db8:1300:1::50"]), ["tv.home.arpa."]);
    let (status, a) = dig(&n.lan, &["@192.168.1.1", "-x", "2001:db8:1200:1::50"]);
    assert!(a.is_empty(), "old prefix's PTR is gone: {status} {a:?}");

    drop(d);
    drop(n.lab);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn root_rfc2136_rfc8945_update_with_tsig_survives_restart() {
    let n = build("dnsupdate");
    let state = state_dir("update");
    let d = Dns::start(&n.router, config(&state, &[]));
    let add = "update add printer2.home.arpa 300 A 192.168.1.30";

    let (ok, out) = nsupdate(&n.lan, None, add);
    assert!(!ok && out.contains("REFUSED"), "unsigned: {out}");
    let (ok, out) = nsupdate(&n.lan, Some(WRONG_B64), add);
    // RFC 8945 §5.2.2: NOTAUTH with TSIG error BADSIG (nsupdate: "NOTAUTH(BADSIG)").
    assert!(!ok && out.contains("NOTAUTH"), "wrong key accepted: {out}");
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "printer2.home.arpa"]).0, "NXDOMAIN");

    let (ok, out) = nsupdate(&n.lan, Some(SECRET_B64), add);
    assert!(ok, "signed update failed: {out}");
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "printer2.home.arpa"]), ["192.168.1.30"]);
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "+tcp", "printer2.home.arpa"]), ["192.168.1.30"]);
    let (ok, _) =
        nsupdate(&n.lan, Some(SECRET_B64), "update add gone.home.arpa 300 A 192.168.1.31");
    assert!(ok);
    let (ok, _) = nsupdate(&n.lan, Some(SECRET_B64), "update delete gone.home.arpa A");
    assert!(ok);
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "gone.home.arpa"]).0, "NXDOMAIN");

    // The conflict policy: a static name may not be updated; a lease may not take an
    // updated name.
    let (ok, out) =
        nsupdate(&n.lan, Some(SECRET_B64), "update add nas.home.arpa 300 A 192.168.1.66");
    assert!(!ok && out.contains("REFUSED"), "{out}");
    assert!(matches!(
        d.lease(grant("printer2", 9, [192, 168, 1, 120], &[])),
        Err(dns::Conflict::Dynamic(_))
    ));

    // Restart on the same state directory: the update is still there.
    drop(d);
    let d = Dns::start(&n.router, config(&state, &[]));
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "printer2.home.arpa"]), ["192.168.1.30"]);
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "gone.home.arpa"]).0, "NXDOMAIN");
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "nas.home.arpa"]), ["192.168.1.5"]);
    drop(d);
    drop(n.lab);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn root_rfc5358_forwarding_cache_upstream_change_acl_rebinding() {
    let n = build("dnsfwd");
    let state = state_dir("fwd");
    let big: Vec<String> =
        (0..6).map(|i| format!("\"{}\"", char::from(b'a' + i).to_string().repeat(250))).collect();
    let up1 = upstream(
        &n.isp,
        "203.0.113.1",
        &[
            "--address=/www.example.com/203.0.113.80",
            "--address=/rebind.example.com/192.168.5.5",
            "--address=/ok.corp.example/10.9.9.9",
            &format!("--txt-record=big.example.com,{}", big.join(",")),
        ],
    );
    let _up2 = upstream(&n.isp, "203.0.113.3", &["--address=/new.example.com/203.0.113.90"]);
    // The first upstream is dead (nobody has 203.0.113.9): the second must answer in time.
    let d = Dns::start(&n.router, config(&state, &["203.0.113.9:53", "203.0.113.1:53"]));

    for tcp in ["+notcp", "+tcp"] {
        assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", tcp, "www.example.com"]), ["203.0.113.80"]);
    }
    // Truncation: the upstream's UDP answer is cut, we ask it over TCP; the client then
    // gets TC over UDP and dig retries over TCP itself.
    let txt = dig_ok(&n.lan, &["@192.168.1.1", "+tcp", "big.example.com", "TXT"]);
    assert_eq!(txt.len(), 1);
    assert!(txt[0].contains(&"f".repeat(250)), "{txt:?}");
    let txt = dig_ok(&n.lan, &["@192.168.1.1", "big.example.com", "TXT"]);
    assert_eq!(txt.len(), 1, "dig retried over TCP after TC");

    // Rebinding: a private address under a public name is dropped (SERVFAIL), the allow list
    // exempts corp.example.
    assert_eq!(dig(&n.lan, &["@192.168.1.1", "rebind.example.com"]).0, "SERVFAIL");
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "ok.corp.example"]), ["10.9.9.9"]);

    // Not an open resolver: the WAN side is refused, for forwarded and local names.
    assert_eq!(dig(&n.isp, &["@203.0.113.2", "www.example.com"]).0, "REFUSED");
    assert_eq!(dig(&n.isp, &["@203.0.113.2", "+tcp", "nas.home.arpa"]).0, "REFUSED");

    // The cache answers after the upstream is gone.
    drop(up1);
    let gone = || !listening(&n.isp, "udp", "src 203.0.113.1:53");
    wait_for(Duration::from_secs(5), "the upstream on 203.0.113.1 gone", gone);
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "www.example.com"]), ["203.0.113.80"]);
    assert_ne!(dig(&n.lan, &["@192.168.1.1", "new.example.com"]).0, "NOERROR");

    // New upstreams from the WAN: forwarding moves there.
    d.handle.set_upstreams(vec![sa("203.0.113.3:53")]);
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "new.example.com"]), ["203.0.113.90"]);
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "+tcp", "new.example.com"]), ["203.0.113.90"]);
    drop(d);
    drop(n.lab);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn root_rfc1035_4_1_malformed_queries_do_not_stop_the_server() {
    let n = build("dnsmalformed");
    let state = state_dir("malformed");
    let _d = Dns::start(&n.router, config(&state, &[]));
    let answered = n
        .lan
        .run(|_| async {
            let s = tokio::net::UdpSocket::bind("192.168.1.10:0").await.unwrap();
            let junk: [&[u8]; 5] = [
                &[0x12],
                &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1],
                &[0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
                &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'a'],
                &[0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
            ];
            let mut formerr = 0;
            for j in junk {
                s.send_to(j, "192.168.1.1:53").await.unwrap();
                let mut buf = [0; 512];
                let r = tokio::time::timeout(Duration::from_millis(300), s.recv(&mut buf)).await;
                if let Ok(Ok(n)) = r {
                    assert!(n >= 12 && buf[3] & 0x0f == 1, "FORMERR expected");
                    formerr += 1;
                }
            }
            formerr
        })
        .unwrap();
    assert_eq!(answered, 3, "three FORMERRs, the 1-byte message and the response dropped");
    assert_eq!(dig_ok(&n.lan, &["@192.168.1.1", "nas.home.arpa"]), ["192.168.1.5"]);
    let _ = std::fs::remove_dir_all(&state);
}
