//! A network-namespace lab for tests and the demo.
//!
//! A [`Lab`] makes named network namespaces (listed by `ip netns list`, under `/run/netns`),
//! veth links between them, and deletes everything it made when it is dropped, also while a
//! test panics. Namespace names are unique per process and call (`rl<pid>-<n>-<role>`), so
//! tests run in parallel; a lab also removes namespaces left by test processes that died
//! without unwinding (SIGKILL), recognised by their pid.
//!
//! Code runs inside a namespace on a dedicated thread with its own current-thread tokio
//! runtime ([`Netns::run`], [`Netns::spawn`]): `setns` changes only the calling thread, so it
//! must never be done on a shared tokio worker. Child processes are started inside one with
//! [`Netns::command`], which also gives them their own `/sys` as `ip netns exec` does.
//!
//! Everything here needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).

mod netns;

use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::mount::MsFlags;

pub use netns::{Netns, NsThread, ProcessGuard};

/// Where named namespaces live, as with iproute2.
pub const NETNS_DIR: &str = "/run/netns";

/// The prefix of every namespace a lab makes.
const PREFIX: &str = "rl";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Errors from the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Network configuration inside a namespace failed.
    #[error("in netns {netns}: {source}")]
    Netcfg {
        /// The namespace.
        netns: String,
        /// The error.
        #[source]
        source: netcfg::Error,
    },
    /// A bad argument (an address that does not parse, say).
    #[error("{0}")]
    Invalid(String),
    /// The lab must run as root.
    #[error("the network lab needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN): run the test as root")]
    NotRoot,
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }
}

/// Fails with a message that says how to run the test, unless this process is root.
pub fn require_root() -> Result<(), Error> {
    if nix::unistd::geteuid().is_root() { Ok(()) } else { Err(Error::NotRoot) }
}

/// A set of network namespaces and the links between them, removed on drop.
pub struct Lab {
    tag: String,
    made: Mutex<Vec<Netns>>,
}

impl Lab {
    /// Starts a lab. `tag` (a test name, say) goes into the namespace names for debugging.
    pub fn new(tag: &str) -> Result<Self, Error> {
        require_root()?;
        prepare_netns_dir()?;
        remove_stale();
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        Ok(Lab { tag, made: Mutex::new(Vec::new()) })
    }

    /// Makes a new named namespace with its loopback up. `role` (`isp`, `router`, `lan` ...)
    /// is part of its name.
    pub fn netns(&self, role: &str) -> Result<Netns, Error> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let role: String = role.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        let name = format!("{PREFIX}{}-{seq}-{}-{role}", std::process::id(), self.tag);
        let ns = Netns::create(&name)?;
        self.made.lock().unwrap_or_else(|p| p.into_inner()).push(ns.clone());
        ns.run(|nc| async move {
            // A known baseline: new namespaces inherit IPv4 settings (forwarding among them)
            // from the host's, which differ from machine to machine.
            for conf in ["all", "default"] {
                nc.set_forwarding(conf, netcfg::Family::V4, false)?;
            }
            let lo = nc.link_by_name("lo").await?;
            nc.set_up(&lo).await
        })?
        .map_err(|source| Error::Netcfg { netns: name, source })?;
        Ok(ns)
    }

    /// Joins two namespaces with a veth pair, `a_if` in `a` and `b_if` in `b`, both up.
    pub fn connect(&self, a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<(), Error> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        // The peer is made under a temporary name: `b_if` may already exist in `a`.
        let tmp = format!("rlt{seq}");
        let (a_name, b_fd) = (a.name().to_string(), b.clone());
        let (a_if2, tmp2) = (a_if.to_string(), tmp.clone());
        a.run(move |nc| async move {
            let (la, lb) = nc.create_veth(&a_if2, &tmp2).await?;
            nc.move_to_netns(&lb, b_fd.fd()).await?;
            nc.set_up(&la).await
        })?
        .map_err(|source| Error::Netcfg { netns: a_name, source })?;
        let b_if2 = b_if.to_string();
        b.run(move |nc| async move {
            let l = nc.link_by_name(&tmp).await?;
            nc.rename(&l, &b_if2).await?;
            nc.set_up(&l).await
        })?
        .map_err(|source| Error::Netcfg { netns: b.name().to_string(), source })
    }

    /// The names of the namespaces this lab made (and has not yet removed).
    pub fn names(&self) -> Vec<String> {
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.iter().map(|n| n.name().to_string()).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|p| p.into_inner()));
        for ns in made.iter().rev() {
            netns::remove_named(ns.name());
        }
    }
}

/// Makes `/run/netns` a shared mount point of its own, as `ip netns add` does, before any
/// namespace is bound under it. Otherwise an `ip netns add` run later (by a test, or by
/// hand) bind-mounts the directory over itself and hides the namespaces already bound
/// there, which then can no longer be unmounted or removed by name.
fn prepare_netns_dir() -> Result<(), Error> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return Ok(());
    }
    fs::create_dir_all(NETNS_DIR).map_err(|e| Error::io(format!("mkdir {NETNS_DIR}"), e))?;
    let none: Option<&str> = None;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if nix::mount::mount(none, NETNS_DIR, Some("none"), shared, none).is_err() {
        // EINVAL: not a mount point yet. Bind it onto itself, then make it shared.
        nix::mount::mount(
            Some(NETNS_DIR),
            NETNS_DIR,
            Some("none"),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )
        .map_err(|e| Error::io(format!("bind-mount {NETNS_DIR}"), e.into()))?;
        nix::mount::mount(none, NETNS_DIR, Some("none"), shared, none)
            .map_err(|e| Error::io(format!("make {NETNS_DIR} shared"), e.into()))?;
    }
    *done = true;
    Ok(())
}

/// Removes namespaces of ours whose process is gone (it was killed before it could unwind).
fn remove_stale() {
    let Ok(dir) = fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            netns::remove_named(&name);
        }
    }
}
