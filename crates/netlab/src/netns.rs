//! One named network namespace: made, entered by a thread or a child process, removed.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::future::Future;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::thread::JoinHandle;

use ipnet::IpNet;
use netcfg::{AddrOptions, Netcfg};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::{Error, NETNS_DIR};

/// A named network namespace. Clones share it; the [`crate::Lab`] that made it removes it.
#[derive(Clone)]
pub struct Netns {
    name: Arc<str>,
    fd: Arc<OwnedFd>,
}

impl Netns {
    /// Makes `/run/netns/NAME`: a thread unshares its network namespace and the namespace is
    /// bind-mounted there, as `ip netns add` does.
    pub(crate) fn create(name: &str) -> Result<Self, Error> {
        let path = PathBuf::from(NETNS_DIR).join(name);
        let p = path.clone();
        let made = std::thread::spawn(move || -> Result<OwnedFd, Error> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::io("unshare(CLONE_NEWNET)", e.into()))?;
            File::create_new(&p).map_err(|e| Error::io(format!("create {}", p.display()), e))?;
            let bound = nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                &p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            );
            if let Err(e) = bound {
                let _ = fs::remove_file(&p);
                return Err(Error::io(format!("bind-mount {}", p.display()), e.into()));
            }
            File::open(&p).map(OwnedFd::from).map_err(|e| Error::io("open netns", e))
        })
        .join()
        .map_err(|_| Error::Invalid("the netns creation thread panicked".into()))??;
        Ok(Netns { name: name.into(), fd: Arc::new(made) })
    }

    /// The namespace's name (as in `ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file, for `setns` or to move a link here.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs `f` on a new thread inside this namespace, with its own current-thread tokio
    /// runtime, and waits for it. A panic in `f` is resumed in the caller.
    pub fn run<F, Fut, T>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Netcfg) -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        self.spawn(f)?.join()
    }

    /// Starts `f` on a new thread inside this namespace, with its own current-thread tokio
    /// runtime and a [`Netcfg`] handle for the namespace; [`NsThread::join`] waits for it.
    pub fn spawn<F, Fut, T>(&self, f: F) -> Result<NsThread<T>, Error>
    where
        F: FnOnce(Netcfg) -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let fd = Arc::clone(&self.fd);
        let name = self.name.to_string();
        let handle = std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || -> Result<T, Error> {
                nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::io(format!("setns {name}"), e.into()))?;
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::io("tokio runtime", e))?;
                rt.block_on(async move {
                    let nc =
                        Netcfg::new().map_err(|source| Error::Netcfg { netns: name, source })?;
                    Ok(f(nc).await)
                })
            })
            .map_err(|e| Error::io("spawn netns thread", e))?;
        Ok(NsThread { handle })
    }

    /// A command that runs inside this namespace, with its own mount namespace and a `/sys`
    /// of this network namespace (as `ip netns exec` gives it).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let fd = Arc::clone(&self.fd);
        // SAFETY: the hook runs in the forked child before exec and only makes system calls
        // (setns, unshare, mount, umount2), which are async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)?;
                if nix::sched::unshare(CloneFlags::CLONE_NEWNS).is_ok() {
                    // Best effort: keep the host's mounts from seeing ours, then a fresh /sys.
                    let none: Option<&str> = None;
                    let _ = nix::mount::mount(
                        none,
                        "/",
                        none,
                        MsFlags::MS_REC | MsFlags::MS_SLAVE,
                        none,
                    );
                    let _ = nix::mount::umount2("/sys", MntFlags::MNT_DETACH);
                    let _ = nix::mount::mount(
                        Some("sysfs"),
                        "/sys",
                        Some("sysfs"),
                        MsFlags::empty(),
                        none,
                    );
                }
                Ok(())
            });
        }
        cmd
    }

    /// Spawns `cmd` (made by [`Netns::command`]) and returns a guard that kills it on drop.
    pub fn spawn_process(&self, cmd: &mut Command) -> Result<ProcessGuard, Error> {
        let child = cmd.spawn().map_err(|e| Error::io(format!("spawn in {}", self.name), e))?;
        Ok(ProcessGuard { child })
    }

    /// Adds an address (`10.0.0.1/24`, `2001:db8::1/64`) to `ifname`; IPv6 without DAD so it
    /// is usable at once.
    pub fn add_addr(&self, ifname: &str, addr: &str) -> Result<(), Error> {
        let net: IpNet = addr.parse().map_err(|_| Error::Invalid(format!("bad address {addr}")))?;
        let ifname = ifname.to_string();
        let opts = AddrOptions { nodad: true, ..AddrOptions::default() };
        self.netcfg(move |nc| async move {
            let l = nc.link_by_name(&ifname).await?;
            nc.add_address(&l, net, opts).await
        })
    }

    /// Runs netcfg work inside this namespace, mapping its error to a lab error.
    pub fn netcfg<F, Fut, T>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Netcfg) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, netcfg::Error>>,
        T: Send + 'static,
    {
        self.run(f)?.map_err(|source| Error::Netcfg { netns: self.name.to_string(), source })
    }
}

/// A thread running inside a namespace.
pub struct NsThread<T> {
    handle: JoinHandle<Result<T, Error>>,
}

impl<T> NsThread<T> {
    /// Waits for the thread; resumes its panic in the caller if it panicked.
    pub fn join(self) -> Result<T, Error> {
        match self.handle.join() {
            Ok(r) => r,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// A child process that is killed (and reaped) when the guard is dropped.
pub struct ProcessGuard {
    child: Child,
}

impl ProcessGuard {
    /// The child process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unmounts and removes `/run/netns/NAME`. Never panics: it runs in `Drop`, also while a
/// test unwinds.
pub(crate) fn remove_named(name: &str) {
    let path = PathBuf::from(NETNS_DIR).join(name);
    let _ = nix::mount::umount2(&path, MntFlags::MNT_DETACH);
    let _ = fs::remove_file(&path);
}
