//! Shared helpers for the conformance and end-to-end tests in `tests/tests/`.
//!
//! Every test here builds its own network namespaces with [`netlab`] and needs root. Root-only
//! tests are named `root_*` and fail at once with a message that says so when run without it
//! (they never pass silently). CI runs them as root.

#![allow(clippy::panic, clippy::expect_used)]

pub mod bench;
pub mod cdp;
pub mod clients;
pub mod kea;
pub mod mcast;
pub mod routerd;
pub mod running;
pub mod wan;

use std::fmt::Display;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netlab::{Lab, Netns, ProcessGuard};
pub use nix::sys::signal::Signal;

/// A lab for one test; panics with instructions when not root.
pub fn lab(test: &str) -> Lab {
    match Lab::new(test) {
        Ok(lab) => lab,
        Err(netlab::Error::NotRoot) => panic!(
            "{test} needs root: it builds network namespaces. Run the suite as root \
             (`sudo make test`); CI does."
        ),
        Err(e) => panic!("{test}: cannot start the lab: {e}"),
    }
}

/// Whether a namespace of this name exists (is listed by `ip netns list`).
pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new(netlab::NETNS_DIR).join(name).exists()
}

/// Creates a TUN device (IFF_TUN, no packet info) in the calling thread's namespace and
/// returns its open file: the device exists, with carrier, while the file is open. A stand-in
/// for the PPP data path's `ppp0`, which is a point-to-point device.
pub fn create_tun(name: &str) -> std::io::Result<OwnedFd> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    // SAFETY: plain open(2)/ioctl(2) on a zeroed, correctly sized ifreq whose name is
    // NUL-terminated (at most 15 bytes copied into 16); the fd is owned from then on.
    unsafe {
        let fd = libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        if libc::ioctl(fd, TUNSETIFF, &mut ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// A TCP server inside a namespace that tells each client the address it connected from,
/// then closes. Stops (and its thread ends) when dropped, or after 60 s at most.
pub struct PeerEcho {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<netlab::NsThread<usize>>,
}

impl PeerEcho {
    /// Listens on `addr` in `ns`; returns once the socket is bound.
    pub fn start(ns: &netlab::Netns, addr: std::net::SocketAddr) -> PeerEcho {
        use std::sync::atomic::Ordering;
        use tokio::io::AsyncWriteExt;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = ns
            .spawn(move |_| async move {
                let l = tokio::net::TcpListener::bind(addr).await.expect("bind");
                let _ = ready_tx.send(());
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
                let mut served = 0;
                while !flag.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                    let tick = std::time::Duration::from_millis(50);
                    if let Ok(Ok((mut s, peer))) = tokio::time::timeout(tick, l.accept()).await {
                        let _ = s.write_all(peer.ip().to_string().as_bytes()).await;
                        served += 1;
                    }
                }
                served
            })
            .expect("spawn server");
        ready_rx.recv_timeout(std::time::Duration::from_secs(5)).expect("server bound");
        PeerEcho { stop, thread: Some(thread) }
    }
}

impl Drop for PeerEcho {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from `ns` to `addr` and returns what a [`PeerEcho`] there said (the source
/// address it saw), or `None` if no connection was made within `timeout`.
pub fn peer_seen(
    ns: &netlab::Netns,
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    ns.run(move |_| async move {
        let mut s =
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await.ok()?.ok()?;
        let mut out = String::new();
        tokio::time::timeout(timeout, s.read_to_string(&mut out)).await.ok()?.ok()?;
        Some(out)
    })
    .expect("namespace thread")
}

/// How often [`wait_for`] polls.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// What a polled condition returns: ready, with a value, or not yet, with what it saw
/// instead (for the timeout's message; may be empty).
pub trait Ready {
    /// What the wait returns once ready.
    type Value;
    /// `Ok` when ready; otherwise `Err` with what was seen.
    fn ready(self) -> Result<Self::Value, String>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Result<(), String> {
        if self { Ok(()) } else { Err(String::new()) }
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T, E: Display> Ready for Result<T, E> {
    type Value = T;
    fn ready(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Polls `poll` every 50 ms until it is ready, for at most `limit`; `Err` with what it saw
/// last when it never was. See [`wait_for`].
pub fn try_wait_for<R: Ready>(
    limit: Duration,
    mut poll: impl FnMut() -> R,
) -> Result<R::Value, String> {
    let until = Instant::now() + limit;
    loop {
        let seen = match poll().ready() {
            Ok(v) => return Ok(v),
            Err(seen) => seen,
        };
        if Instant::now() >= until {
            return Err(seen);
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Waits up to `limit` for a condition: polls `poll` (a `bool`, an `Option` or a `Result`)
/// every 50 ms until it is ready and returns its value; panics with "timed out after LIMIT
/// waiting for WHAT" and what `poll` saw last (an `Err`'s text) when it never was.
#[track_caller]
pub fn wait_for<R: Ready>(
    limit: Duration,
    what: impl Display,
    poll: impl FnMut() -> R,
) -> R::Value {
    match try_wait_for(limit, poll) {
        Ok(v) => v,
        Err(seen) => panic!("{}", timed_out(limit, &what, &seen)),
    }
}

/// The message of a [`wait_for`] that timed out.
pub fn timed_out(limit: Duration, what: &dyn Display, seen: &str) -> String {
    if seen.is_empty() {
        format!("timed out after {limit:?} waiting for {what}")
    } else {
        format!("timed out after {limit:?} waiting for {what}; last seen: {seen}")
    }
}

/// The next message on `rx` within `timeout`: a blocking receive, `None` when none came
/// (also when the sender is gone: then it waits out the timeout, like a silent one).
pub fn recv_timeout<T>(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
    timeout: Duration,
) -> Option<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime for the receive");
    rt.block_on(async {
        let next = async {
            match rx.recv().await {
                Some(v) => v,
                None => std::future::pending().await,
            }
        };
        tokio::time::timeout(timeout, next).await.ok()
    })
}

/// Runs one scenario of a test whose scenarios share a fixture (a started router, say) and
/// run in order: prints `scenario: NAME`, and when the scenario panics panics again with
/// "scenario NAME failed: MESSAGE", so that the failure names its scenario.
#[track_caller]
pub fn scenario<T>(name: &str, f: impl FnOnce() -> T) -> T {
    // Tests run in parallel: the test's name (its thread's) tells their lines apart.
    let test = std::thread::current().name().map(|t| format!(" [{t}]")).unwrap_or_default();
    println!("scenario: {name}{test}");
    let started = Instant::now();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => {
            println!("scenario: {name} passed in {:.1?}{test}", started.elapsed());
            v
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panic!("scenario {name} failed: {msg}");
        }
    }
}

/// Sends `sig` to a child process of the test (kill(2); the pid stays ours until the child
/// is reaped, so it cannot name another process).
pub fn signal(child: &std::process::Child, sig: Signal) {
    let pid = i32::try_from(child.id()).expect("a pid fits in pid_t");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("kill(2) of our child");
}

/// Whether `ns` has a listening socket that `ss -Hl{u,t}n FILTER` shows: `proto` is `udp`
/// or `tcp`, `filter` an ss filter such as `sport = :67`.
pub fn listening(ns: &Netns, proto: &str, filter: &str) -> bool {
    let flags = if proto == "udp" { "-Hlun" } else { "-Hltn" };
    let out = ns.command("ss").args([flags, filter]).output().expect("ss (Debian iproute2)");
    !out.stdout.is_empty()
}

/// Whether the kernel takes nftables flowtables (the firewall's fast path; `nf_flow_table`),
/// asked of nft itself in `ns`: a flowtable over `device` (which must exist there) in a
/// table made and deleted in one transaction. Returns nft's refusal when the kernel refuses
/// it (panics when nft fails for any other reason).
pub fn kernel_flowtables(ns: &Netns, device: &str) -> Result<(), String> {
    let script = format!(
        "table inet flowtable_probe {{\n\tflowtable f {{\n\t\thook ingress priority filter; devices = {{ \"{device}\" }};\n\t}}\n}}\n\
         delete table inet flowtable_probe\n"
    );
    let mut nft = ns.command("nft");
    nft.args(["-f", "-"]).stdin(std::process::Stdio::piped());
    nft.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = nft.spawn().expect("nft (Debian nftables)");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin.write_all(script.as_bytes()).expect("nft reads its script");
    }
    let out = child.wait_with_output().expect("nft runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A scratch directory `TAG-PID` in the system's temporary directory, made empty on
/// creation. Removed on drop, except while the test panics: then it stays, with its logs.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it (empty).
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create the test directory");
        TempDir(d)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// tcpdump in a namespace writing every frame it captures to a pcap file (`-U`, immediate
/// mode), from the moment [`Tcpdump::start`] returns until [`Tcpdump::stop`], which fails if
/// it lost any.
pub struct Tcpdump {
    guard: ProcessGuard,
    pcap: PathBuf,
    stderr: PathBuf,
}

impl Tcpdump {
    /// Starts tcpdump on `ifname` in `ns` with the capture filter `filter`, writing `pcap`;
    /// returns once it says it is listening (its stderr goes to `pcap` + `.stderr`).
    pub fn start(ns: &Netns, ifname: &str, filter: &str, pcap: &Path) -> Tcpdump {
        let stderr = PathBuf::from(format!("{}.stderr", pcap.display()));
        let file = std::fs::File::create(&stderr).expect("tcpdump's stderr file");
        let mut cmd = ns.command("tcpdump");
        // A 32 MiB ring: it holds a whole test's worth of frames even if tcpdump falls behind
        // (the default 2 MiB lost about one frame in 40 at 800 DHCP exchanges a second).
        cmd.args(["-i", ifname, "-n", "--immediate-mode", "-B", "32768", "-U", "-s", "0", "-w"])
            .arg(pcap)
            .arg(filter)
            .stdout(std::process::Stdio::null())
            .stderr(file);
        let mut guard = ns.spawn_process(&mut cmd).expect("tcpdump (Debian tcpdump)");
        let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
        wait_for(Duration::from_secs(10), "tcpdump listening", || {
            if let Ok(Some(st)) = guard.child().try_wait() {
                panic!("tcpdump exited ({st}): {}", log());
            }
            log().contains("listening on")
        });
        Tcpdump { guard, pcap: pcap.to_owned(), stderr }
    }

    /// Stops it once the capture has caught up (the file has not grown for 300 ms: tcpdump
    /// may be descheduled for a moment on a loaded machine, and on SIGINT it leaves what is
    /// still in its ring unwritten, though counted): SIGINT, so that it writes out what it
    /// has, then waits for it to exit. Panics if it lost a frame it matched (dropped by the
    /// kernel, or matched but never written): a capture that misses frames would make a check
    /// over "everything on the wire" cover less than it says.
    pub fn stop(mut self) {
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let (mut last, mut since) = (size(&self.pcap), Instant::now());
        wait_for(Duration::from_secs(10), "the capture to catch up", || {
            let now = size(&self.pcap);
            if std::mem::replace(&mut last, now) != now {
                since = Instant::now();
            }
            since.elapsed() >= Duration::from_millis(300)
        });
        signal(self.guard.child(), Signal::SIGINT);
        let status = self.guard.child().wait();
        let report = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        // "N packet(s) captured", "N packet(s) received by filter", "N packet(s) dropped by
        // kernel".
        let count = |what: &str| {
            report.lines().find_map(|l| {
                let (n, rest) = l.trim().split_once(' ')?;
                let rest = rest.strip_prefix("packets ").or(rest.strip_prefix("packet "))?;
                (rest == what).then(|| n.parse::<u64>().ok()).flatten()
            })
        };
        let (captured, matched, dropped) =
            (count("captured"), count("received by filter"), count("dropped by kernel"));
        assert!(
            captured.is_some() && captured == matched && dropped == Some(0),
            "tcpdump lost frames ({status:?}): {report}"
        );
    }
}
