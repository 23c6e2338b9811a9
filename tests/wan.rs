//! The WAN side of the namespace tests: `ispemu` in the ISP's namespace and the router's
//! PPPoE client, each on a namespace thread, with handles that stop them on drop.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use netlab::{Netns, NsThread};
use pppoe::driver::client;
use pppoe::{Credentials, Event};
use tokio::sync::{mpsc, watch};

/// The KPN-style account every test ISP knows.
pub fn kpn_credentials() -> Credentials {
    Credentials { username: b"internet".to_vec(), password: b"internet".to_vec() }
}

/// `ispemu` running in a namespace.
pub struct Isp {
    stop: watch::Sender<bool>,
    thread: Option<NsThread<Result<(), ispemu::Error>>>,
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
        let (stop, rx) = watch::channel(false);
        let thread = ns.spawn(move |_| ispemu::run(cfg, rx)).expect("ispemu thread");
        crate::wait_for(Duration::from_secs(5), "ispemu's control socket", || socket.exists());
        Isp { stop, thread: Some(thread), socket }
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

impl Drop for Isp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type WanResult = Result<Arc<pppoe::driver::Counters>, pppoe::driver::Error>;

/// The router's PPPoE client running in a namespace.
pub struct Wan {
    stop: watch::Sender<bool>,
    thread: Option<NsThread<WanResult>>,
    /// What it reported.
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl Wan {
    /// Starts the client in `ns`.
    pub fn start(ns: &Netns, cfg: client::Config) -> Wan {
        let (tx, events) = mpsc::unbounded_channel();
        let (stop, rx) = watch::channel(false);
        let thread = ns.spawn(move |_| client::run(cfg, tx, rx)).expect("client thread");
        Wan { stop, thread: Some(thread), events }
    }

    /// The next event within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Event> {
        crate::recv_timeout(&mut self.events, timeout)
    }

    /// Waits for `Up`; panics on anything else.
    pub fn up(&mut self, timeout: Duration) -> pppoe::Link {
        match self.next(timeout) {
            Some(Event::Up(l)) => l,
            other => panic!("expected Up within {timeout:?}, got {other:?}"),
        }
    }

    /// Stops the client (Terminate-Request, PADT) and returns its data path counters.
    pub fn stop(mut self) -> Arc<pppoe::driver::Counters> {
        let _ = self.stop.send(true);
        let t = self.thread.take().expect("running");
        t.join().expect("client thread").expect("client")
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
