//! The WAN side of the namespace tests: `ispemu` in the ISP's namespace and the router's
//! PPPoE client, each on a namespace thread, with handles that stop them on drop.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use netlab::Netns;
use pppoe::driver::client;
use pppoe::{Credentials, Event};

/// The KPN-style account every test ISP knows.
pub fn kpn_credentials() -> Credentials {
    Credentials { username: b"internet".to_vec(), password: b"internet".to_vec() }
}

/// `ispemu` running in a namespace.
pub struct Isp {
    _running: crate::running::Running<(), Result<(), ispemu::Error>>,
    /// Its control socket.
    pub socket: PathBuf,
}

impl Isp {
    /// Starts ispemu on `eth0` of `ns` with the account `internet`/`internet`, its control
    /// socket in `dir`, and `extra` configuration lines; returns once it listens.
    pub fn start(ns: &Netns, dir: &Path, extra: &str) -> Isp {
        let socket = dir.join("ispemu.sock");
        let text = format!(
            "interface = \"eth0\"\ncontrol_socket = \"{}\"\nusers = [{{ name = \"internet\", password = \"internet\" }}]\n{extra}",
            socket.display()
        );
        let cfg = ispemu::Config::parse(&text).expect("test ispemu config");
        let running = crate::running::Running::start(ns, move |_, stop| ispemu::run(cfg, stop));
        crate::wait_for(Duration::from_secs(5), "ispemu's control socket", || socket.exists());
        Isp { _running: running, socket }
    }

    /// One `ispemu ctl` command and its answer.
    pub fn ctl(&self, cmd: &str) -> String {
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).expect("control socket");
        s.write_all(format!("{cmd}\n").as_bytes()).expect("ctl write");
        let mut line = String::new();
        std::io::BufReader::new(s).read_line(&mut line).expect("ctl read");
        line
    }
}

type WanResult = Result<Arc<pppoe::driver::Counters>, pppoe::driver::Error>;

/// The router's PPPoE client running in a namespace.
pub struct Wan(crate::running::Running<Event, WanResult>);

impl Wan {
    /// Starts the client in `ns`.
    pub fn start(ns: &Netns, cfg: client::Config) -> Wan {
        Wan(crate::running::Running::start(ns, move |tx, stop| client::run(cfg, tx, stop)))
    }

    /// The next event within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Event> {
        self.0.next(timeout)
    }

    /// Waits for `Up`; panics on anything else.
    pub fn up(&mut self, timeout: Duration) -> pppoe::Link {
        match self.next(timeout) {
            Some(Event::Up(l)) => l,
            other => panic!("expected Up within {timeout:?}, got {other:?}"),
        }
    }

    /// Stops the client (Terminate-Request, PADT) and returns its data path counters.
    pub fn stop(self) -> Arc<pppoe::driver::Counters> {
        self.0.stop().0.expect("client")
    }
}

/// A binary of this workspace's build (`target/debug/NAME`), which `make test` builds.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let p = exe.parent().and_then(|d| d.parent()).expect("target dir").join(name);
    assert!(
        p.exists(),
        "{} not built (make test builds it: cargo build --workspace --bins)",
        p.display()
    );
    p
}

/// The stand-in internet behind the ISP's `up0`: `inet` holds 203.0.113.10 and
/// 2001:db8:ffff::10 (the hosts tests reach) and 203.0.113.53, a DNS server (dnsmasq) that
/// answers `www.example.test` with 203.0.113.10 — ispemu's default resolver. The ISP routes
/// (203.0.113.1, 2001:db8:ffff::1). Links `isp` and `inet` in `lab`; the guard stops dnsmasq.
pub fn internet(lab: &netlab::Lab, isp: &Netns, inet: &Netns) -> netlab::ProcessGuard {
    use netcfg::Route;
    lab.connect(isp, "up0", inet, "eth0").expect("isp <-> inet");
    for (ns, ifname, addr) in [
        (isp, "up0", "203.0.113.1/24"),
        (isp, "up0", "2001:db8:ffff::1/64"),
        (inet, "eth0", "203.0.113.10/24"),
        (inet, "eth0", "203.0.113.53/24"),
        (inet, "eth0", "2001:db8:ffff::10/64"),
    ] {
        ns.add_addr(ifname, addr).expect("internet address");
    }
    for (dst, via) in [("::/0", "2001:db8:ffff::1"), ("0.0.0.0/0", "203.0.113.1")] {
        let route = Route::via(dst.parse().expect("dst"), via.parse().expect("via"));
        inet.netcfg(|nc| async move { nc.add_route(&route).await }).expect("internet route");
    }
    let mut dnsmasq = inet.command("dnsmasq");
    dnsmasq
        .args(["-k", "--no-resolv", "--no-hosts", "--bind-interfaces"])
        .args(["--listen-address=203.0.113.53", "--address=/www.example.test/203.0.113.10"])
        .arg("--pid-file=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    inet.spawn_process(&mut dnsmasq).expect("dnsmasq")
}

/// The line of the end-to-end tests, in namespaces of a new lab: a LAN host `lan` (`eth0`) to
/// the router `r` (`lan0`), the router's `eth0` to the ISP's `eth0`, and the stand-in
/// internet ([`internet`]) behind the ISP, running. The ISP itself (PPPoE, or Kea) is the
/// test's to start.
pub struct Line {
    /// The LAN host (`eth0`).
    pub lan: Netns,
    /// The router (`lan0`, `eth0`).
    pub router: Netns,
    /// The ISP (`eth0` to the router, `up0` to the internet).
    pub isp: Netns,
    /// The stand-in internet (203.0.113.10, .53, 2001:db8:ffff::10).
    pub inet: Netns,
    _internet: netlab::ProcessGuard,
    /// Last: the namespaces go when it drops.
    pub lab: netlab::Lab,
}

impl Line {
    /// Builds it in a new lab named after `tag`.
    pub fn new(tag: &str) -> Line {
        let lab = crate::lab(tag);
        let ns = |name| lab.netns(name).expect("a namespace");
        let (lan, router, isp, inet) = (ns("lan"), ns("r"), ns("isp"), ns("inet"));
        lab.connect(&lan, "eth0", &router, "lan0").expect("lan <-> router");
        lab.connect(&router, "eth0", &isp, "eth0").expect("router <-> isp");
        let internet = internet(&lab, &isp, &inet);
        Line { lan, router, isp, inet, _internet: internet, lab }
    }
}

/// Sends `mb` MiB from `router` to the internet host (203.0.113.10, port 5001) over TCP and
/// gets them echoed back, every byte checked both ways (the upload and the download path of
/// the router's WAN); the connection must come from an address starting with `from`.
pub fn transfer(router: &Netns, inet: &Netns, mb: usize, from: &str) {
    use std::io::Read;
    let (tx, rx) = std::sync::mpsc::channel();
    let echo = inet
        .spawn(move |_| async move {
            let l = std::net::TcpListener::bind("203.0.113.10:5001").expect("bind 5001");
            tx.send(()).expect("ready");
            let (mut s, peer) = l.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("read the upload");
            s.write_all(&got).expect("echo it back");
            peer.ip()
        })
        .expect("echo thread");
    rx.recv_timeout(Duration::from_secs(5)).expect("the echo listening");
    let data: Vec<u8> = (0..mb * 1024 * 1024).map(|i| (i * 7 + i / 4096) as u8).collect();
    let sent = data.clone();
    let back = router
        .run(move |_| async move {
            let mut s = std::net::TcpStream::connect("203.0.113.10:5001").expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            s.write_all(&sent).expect("upload");
            s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            let mut back = Vec::new();
            s.read_to_end(&mut back).expect("download");
            back
        })
        .expect("router thread");
    let peer = echo.join().expect("echo");
    assert!(peer.to_string().starts_with(from), "sent from the WAN address: {peer}");
    assert_eq!(back.len(), data.len(), "bytes echoed back");
    assert!(back == data, "bytes differ");
}
