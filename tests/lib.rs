//! Shared helpers for the conformance and end-to-end tests in `tests/tests/`.
//!
//! Every test here builds its own network namespaces with [`netlab`] and needs root. Root-only
//! tests are named `root_*` and fail at once with a message that says so when run without it
//! (they never pass silently). CI runs them as root.

#![allow(clippy::panic, clippy::expect_used)]

pub mod bench;
pub mod clients;
pub mod kea;
pub mod wan;

use std::os::fd::{FromRawFd, OwnedFd};

use netlab::Lab;

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
