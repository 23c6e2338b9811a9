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

/// What a DHCP client's hook script logged: each call a block of `--- REASON`, the
/// environment, `=== end`, appended to one file. [`HookLog::script`] writes such a script.
#[derive(Debug, Clone)]
pub struct HookLog(PathBuf);

/// One hook call: its reason and variables.
pub type Hook = (String, std::collections::HashMap<String, String>);

impl HookLog {
    /// The log at `log`.
    pub fn new(log: &Path) -> HookLog {
        HookLog(log.to_owned())
    }

    /// Writes `dir/NAME`, a hook script for dhclient, udhcpc or dhcpcd (reason from `$reason`
    /// or `$1`) that logs each call here and configures the address it was given in the
    /// client's own namespace (renewals are unicast from it): IPv4 for `Some(Family::V4)`,
    /// the IA_NA address with its lifetimes for `Some(Family::V6)`, nothing for `None` (a
    /// client that configures itself, as dhcpcd does).
    pub fn script(&self, dir: &Path, name: &str, configure: Option<Family>) -> PathBuf {
        let p = dir.join(name);
        let configure = match configure {
            None => "",
            Some(Family::V4) => {
                r#"case "${reason:-$1}" in
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
  RELEASE|EXPIRE|STOP|deconfig) ip addr flush dev "$interface" ;;
esac
"#
            }
            Some(Family::V6) => {
                r#"case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6)
    [ -n "$old_ip6_address" ] && [ "$old_ip6_address" != "$new_ip6_address" ] &&
      ip -6 addr del "$old_ip6_address/$new_ip6_prefixlen" dev "$interface"
    [ -n "$new_ip6_address" ] && ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" \
      dev "$interface" valid_lft "$new_max_life" preferred_lft "$new_preferred_life" ;;
  DEPREF6) [ -n "$cur_ip6_address" ] && ip -6 addr change "$cur_ip6_address/$cur_ip6_prefixlen" \
      dev "$interface" preferred_lft 0 ;;
  EXPIRE6|RELEASE6|STOP6) [ -n "$old_ip6_address" ] &&
      ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface" ;;
esac
"#
            }
        };
        // dhclient clears the environment, so the log's path is written into the script.
        let body = format!("#!/bin/sh\nLOG='{}'\n", self.0.display())
            + r#"{ echo "--- ${reason:-$1}"; env | sort; echo "=== end"; } >> "$LOG"
"# + configure
            + "exit 0\n";
        std::fs::write(&p, body).expect("hook script");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod hook script");
        p
    }

    /// The whole blocks so far: a block the hook is still writing (no `=== end` line yet) is
    /// left for the next look.
    pub fn blocks(&self) -> Vec<Hook> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        text.split("--- ")
            .filter(|b| !b.is_empty() && b.lines().any(|l| l == "=== end"))
            .map(|b| {
                let mut lines = b.lines();
                let reason = lines.next().unwrap_or_default().to_owned();
                let vars = lines
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (reason, vars)
            })
            .collect()
    }

    /// How many whole blocks there are.
    pub fn len(&self) -> usize {
        self.blocks().len()
    }

    /// Whether there is none yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The variables of the first block after the first `after` with one of `reasons` (and
    /// the variable `var` set, if given).
    pub fn find(
        &self,
        reasons: &[&str],
        var: Option<&str>,
        after: usize,
    ) -> Option<std::collections::HashMap<String, String>> {
        self.blocks()
            .into_iter()
            .skip(after)
            .find(|(r, v)| reasons.contains(&r.as_str()) && var.is_none_or(|k| v.contains_key(k)))
            .map(|(_, v)| v)
    }

    /// The reasons logged so far, for a failure message.
    pub fn reasons(&self) -> Vec<String> {
        self.blocks().into_iter().map(|b| b.0).collect()
    }
}

/// ISC dhclient in `ns` on `eth0`, its files in `dir` (`dhclient.conf`, the lease file
/// `leases` or `leases6`, `pid`, the hook script `dhclient-script` logging to
/// `dhclient.log`, `stderr` appended), for one family (`-4` or `-6`) with `args` (for
/// DHCPv6 `-N`, `-P` or both).
pub struct Dhclient<'a> {
    ns: &'a Netns,
    dir: PathBuf,
    family: Family,
    args: Vec<String>,
    /// What its hook logged.
    pub hooks: HookLog,
}

impl<'a> Dhclient<'a> {
    /// Writes `conf` as its configuration file and the hook script.
    pub fn new(ns: &'a Netns, dir: &Path, family: Family, conf: &str, args: &[&str]) -> Self {
        std::fs::write(dir.join("dhclient.conf"), conf).expect("dhclient.conf");
        let hooks = HookLog::new(&dir.join("dhclient.log"));
        hooks.script(dir, "dhclient-script", Some(family));
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Dhclient { ns, dir: dir.to_owned(), family, args, hooks }
    }

    /// Its lease file.
    pub fn lease_file(&self) -> PathBuf {
        self.dir.join(if self.family == Family::V4 { "leases" } else { "leases6" })
    }

    /// The command with `extra` arguments (`-d`, `-r`).
    pub fn command(&self, extra: &[&str]) -> Command {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let stderr = std::fs::File::options().append(true).create(true).open(d("stderr"));
        let mut c = self.ns.command("dhclient");
        c.arg(if self.family == Family::V4 { "-4" } else { "-6" })
            .args([
                "-v",
                "-cf",
                &d("dhclient.conf"),
                "-pf",
                &d("pid"),
                "-sf",
                &d("dhclient-script"),
            ])
            .arg("-lf")
            .arg(self.lease_file())
            .args(&self.args)
            .args(extra)
            .arg("eth0")
            .stdout(Stdio::null())
            .stderr(stderr.expect("dhclient stderr"));
        c
    }

    /// Runs in the foreground (`-d`) until the guard is dropped.
    pub fn spawn(&self) -> ProcessGuard {
        self.ns.spawn_process(&mut self.command(&["-d"])).expect("dhclient")
    }

    /// `dhclient -r`: releases the lease.
    pub fn release(&self) {
        let st = self.command(&["-r"]).status().expect("dhclient -r");
        assert!(st.success(), "dhclient -r: {}", self.stderr());
    }

    /// What it wrote to stderr (`-v`: each message sent and received).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Waits up to `secs` for a hook call with one of `reasons` after the first `after` (and
    /// with `var` set, if given); panics with dhclient's log when none comes.
    pub fn wait(
        &self,
        secs: u64,
        reasons: &[&str],
        var: Option<&str>,
        after: usize,
    ) -> std::collections::HashMap<String, String> {
        let limit = Duration::from_secs(secs);
        match crate::try_wait_for(limit, || self.hooks.find(reasons, var, after)) {
            Ok(v) => v,
            Err(_) => panic!(
                "no {reasons:?} (with {var:?}) from dhclient within {limit:?}:\n{}\n{:?}",
                self.stderr(),
                self.hooks.reasons()
            ),
        }
    }
}
