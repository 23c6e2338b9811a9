//! The tokio driver (feature `driver`): AF_PACKET sockets on the WAN interface, a TUN device
//! for the session, the data path between them on two threads of its own, and the control
//! task that runs the sans-IO machines, configures the TUN device over netlink and redials.
//!
//! - [`client::run`]: the router's WAN (`ppp0`).
//! - [`ac::run`]: the access concentrator of `ispemu`, the same path in the mirror direction.

pub mod ac;
pub mod client;
pub mod datapath;
pub mod sys;

use std::time::Duration;

pub use datapath::Counters;

static RINGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the data paths started from now on receive through a mapped packet ring (the
/// default; [`sys::RxRing`]) or with batched `recvmmsg` ([`sys::RecvBatch`]): for the
/// benchmark that compares the two, and for a kernel whose rings misbehave. A kernel that
/// refuses the ring gets `recvmmsg` either way. (Frames are sent with `sendmmsg` in both:
/// a transmit ring was tried and measured no faster; see the crate README.)
pub fn set_packet_rings(on: bool) {
    RINGS.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn rings() -> bool {
    RINGS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Errors of the drivers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Configuring an interface failed.
    #[error(transparent)]
    Netcfg(#[from] netcfg::Error),
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Receive timeout of the sockets: how often the threads look at their stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// A seed from the kernel's random source, for the machines' RNGs.
pub(crate) fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom(2) into a live 8-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n == 8 {
        u64::from_ne_bytes(b)
    } else {
        // Never expected; fall back to the clock so two runs still differ.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5eed, |d| d.as_nanos() as u64)
    }
}

/// Reads discovery frames (blocking, with a timeout) into the control channel until `stop`.
pub(crate) fn spawn_discovery_reader(
    sock: std::sync::Arc<sys::PacketSocket>,
    tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("pppoe-disc".into()).spawn(move || {
        let mut batch = sys::RecvBatch::new(8);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(n) = batch.recv(&sock) {
                for i in 0..n {
                    let _ = tx.send(batch.frame(i).to_vec());
                }
            }
        }
    })
}
