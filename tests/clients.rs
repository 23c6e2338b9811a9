//! Real DHCP clients run by the tests: busybox udhcpc for one lease, and dhcpcd 9, kept off
//! the host's own state.
//!
//! dhcpcd keeps its DUID, leases, pid file and control socket in fixed directories
//! (/var/lib/dhcpcd, /run/dhcpcd). Here every dhcpcd command runs in a private mount namespace
//! (`unshare -m`) where those two directories are the test's own, bind-mounted over them, so
//! nothing it writes reaches the host, and `-k`/`-x`/`-U` find the running one through the
//! same bind mounts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use netlab::{Netns, ProcessGuard};

/// busybox udhcpc on `eth0` of `ns` for one lease (`-n -q`, 5 tries), sending `hostname` if
/// given, with a script (`dir/udhcpc.sh`) that puts the address and the default route on
/// `eth0` and writes the lease to `dir/lease.env` as `ip=… dns=… domain=…`. Returns that line,
/// or `None` when udhcpc got no lease.
pub fn udhcpc(ns: &Netns, dir: &Path, hostname: Option<&str>) -> Option<String> {
    let (script, got) = (dir.join("udhcpc.sh"), dir.join("lease.env"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add $ip/$mask dev $interface\n  \
             for r in $router; do ip route replace default via $r dev $interface; done\n  \
             echo \"ip=$ip dns=$dns domain=$domain\" > {}\n;; esac\n",
            got.display()
        ),
    )
    .expect("write udhcpc.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod udhcpc.sh");
    let _ = std::fs::remove_file(&got);
    let mut c = ns.command("busybox");
    c.args(["udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-s"]).arg(&script);
    if let Some(h) = hostname {
        c.args(["-x", &format!("hostname:{h}")]);
    }
    let st = c.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("busybox udhcpc");
    st.success().then(|| std::fs::read_to_string(&got).ok()).flatten()
}

/// The address family a [`Dhcpcd`] runs for (`-4` or `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// DHCPv4 (`dhcpcd -4`).
    V4,
    /// DHCPv6 (`dhcpcd -6`).
    V6,
}

/// dhcpcd in `ns` for one interface, in the foreground (`-B`, debug log `-d` appended to
/// `dir/stderr`), with the configuration file `dir/dhcpcd.conf` and its database and run
/// directories `dir/db` and `dir/run`. The hook script is `/bin/true` unless
/// [`Dhcpcd::script`] names one. Dropping it stops the running one with `dhcpcd -x`.
pub struct Dhcpcd<'a> {
    ns: &'a Netns,
    dir: PathBuf,
    ifname: String,
    family: Family,
    script: PathBuf,
    guard: Option<ProcessGuard>,
}

impl<'a> Dhcpcd<'a> {
    /// Writes `conf` to `dir/dhcpcd.conf` and creates `dir/db` and `dir/run`.
    pub fn new(ns: &'a Netns, dir: &Path, ifname: &str, family: Family, conf: &str) -> Self {
        std::fs::write(dir.join("dhcpcd.conf"), conf).expect("write dhcpcd.conf");
        for d in ["db", "run"] {
            std::fs::create_dir_all(dir.join(d)).expect("dhcpcd db/run directory");
        }
        Dhcpcd {
            ns,
            dir: dir.to_owned(),
            ifname: ifname.to_owned(),
            family,
            script: PathBuf::from("/bin/true"),
            guard: None,
        }
    }

    /// Runs `script` as the hook script (`-c`) instead of `/bin/true`.
    pub fn script(mut self, script: &Path) -> Self {
        script.clone_into(&mut self.script);
        self
    }

    /// The dhcpcd command line with `extra` arguments, in its private mount namespace.
    pub fn command(&self, extra: &[&str]) -> Command {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let mounts = format!(
            "mkdir -p /var/lib/dhcpcd /run/dhcpcd && mount --bind '{}' /var/lib/dhcpcd && \
             mount --bind '{}' /run/dhcpcd && exec dhcpcd \"$@\"",
            d("db"),
            d("run")
        );
        let family = match self.family {
            Family::V4 => "-4",
            Family::V6 => "-6",
        };
        let stderr =
            std::fs::File::options().append(true).create(true).open(d("stderr")).expect("stderr");
        let mut c = self.ns.command("unshare");
        c.args(["-m", "sh", "-c", &mounts, "dhcpcd"])
            .args([family, "-B", "-d", "-f", &d("dhcpcd.conf"), "-c"])
            .arg(&self.script)
            .args(extra)
            .arg(&self.ifname)
            .stdout(Stdio::null())
            .stderr(stderr);
        c
    }

    /// Starts it in the foreground.
    pub fn start(&mut self) {
        self.guard = Some(self.ns.spawn_process(&mut self.command(&[])).expect("spawn dhcpcd"));
    }

    /// `dhcpcd -k`: the running one releases its leases and exits.
    pub fn release(&mut self) {
        let st = self.command(&["-k"]).status().expect("dhcpcd -k");
        assert!(st.success(), "dhcpcd -k:\n{}", self.log());
        self.reap();
    }

    /// `dhcpcd -U`: the lease in its database, as the shell variables a hook script gets
    /// (without the `new_` prefix), or an empty string without one.
    pub fn dump_lease(&self) -> String {
        let mut c = self.command(&["-U"]);
        c.stdout(Stdio::piped());
        let out = c.output().expect("dhcpcd -U");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (5 s at most) for the running one to exit, then drops the guard.
    pub fn reap(&mut self) {
        if let Some(mut g) = self.guard.take() {
            let exited = || g.child().try_wait().ok().flatten().is_some();
            let _ = crate::try_wait_for(Duration::from_secs(5), exited);
        }
    }

    /// Its debug log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for Dhcpcd<'_> {
    /// `dhcpcd -x`: stops it with its privilege-separation helpers, which a kill of the main
    /// process leaves behind.
    fn drop(&mut self) {
        if self.guard.is_some() {
            let _ = self.command(&["-x"]).status();
            self.reap();
        }
    }
}

/// The processes (pid, command name) whose network namespace is `ns`: none should be left
/// once a test's clients are stopped.
pub fn processes_in(ns: &Netns) -> Vec<(u32, String)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = std::fs::File::from(ns.fd().try_clone_to_owned().expect("dup netns fd"))
        .metadata()
        .map(|m| (m.dev(), m.ino()))
    else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| (m.dev(), m.ino()) == me)
        })
        .map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_owned())
        })
        .collect()
}
