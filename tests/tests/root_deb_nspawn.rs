//! The Debian package, booted (root): `make deb`'s package installed with `dpkg -i` into a
//! Debian bookworm root (debootstrap `minbase`, cached in `/var/cache/router-tests`), booted
//! with `systemd-nspawn` in the router's namespace of a lab: `eth0` to ispemu (PPPoE on VLAN
//! 6), `lan0` to a LAN host. Then, as an admin would use it: the unit enabled by the package,
//! `systemctl is-active routerd` once routerd said READY=1, the WAN up and a lease for the LAN
//! host, the service's capabilities as the unit says (`/proc/PID/status`), its lines in the
//! journal with their priorities, `systemctl reload` applying a new port forward and showing a
//! refused one, a hung routerd (SIGSTOP) killed and restarted by the watchdog with the LAN host
//! keeping its address, and `systemctl stop` ending the PPPoE session (PADT).
//!
//! The container is systemd-nspawn without machined (`--register=no --keep-unit`: this
//! machine has no systemd as PID 1); commands run in it through `nsenter`. nspawn mounts
//! `/proc/sys` read-only here, so the namespace's forwarding sysctls are set from outside
//! first, as for the Docker images (routerd writes a sysctl only when it differs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use netlab::Netns;
use router_tests::clients::udhcpc;
use router_tests::wan::{Isp, Line};
use router_tests::{PeerEcho, TempDir, peer_seen, scenario, try_wait_for, wait_for};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The Debian release and what the root holds beyond `minbase`: systemd to boot, and the
/// libraries routerd links (the package's `Depends`). Bump `ROOT_VERSION` when this changes:
/// the cached root is named after it.
const SUITE: &str = "bookworm";
const INCLUDE: &str = "systemd,systemd-sysv,dbus,procps,libnftnl11,libmnl0";
const ROOT_VERSION: u32 = 2;

/// The cached Debian root, made by debootstrap on first use (about 1.5 minutes, 260 MB;
/// `ROUTER_TESTS_CACHE` moves the cache, `DEBIAN_MIRROR` picks the mirror).
fn debian_root() -> PathBuf {
    let cache = std::env::var_os("ROUTER_TESTS_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/router-tests"), PathBuf::from);
    let root = cache.join(format!("{SUITE}-minbase-v{ROOT_VERSION}"));
    if root.join(".complete").exists() {
        return root;
    }
    let building = cache.join(format!(".{SUITE}-building"));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&cache).unwrap();
    let mirror =
        std::env::var("DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let started = Instant::now();
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
        .arg(&building)
        .arg(&mirror)
        .output()
        .expect("debootstrap (Debian debootstrap)");
    assert!(
        out.status.success(),
        "debootstrap {SUITE} from {mirror}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(building.join(".complete"), INCLUDE).unwrap();
    std::fs::rename(&building, &root).unwrap();
    println!("debootstrap {SUITE}: {:?}", started.elapsed());
    root
}

/// The newest `routerd_*.deb` that `make deb` wrote.
fn package() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    let dir = target.join("debian");
    let newest = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("routerd_") && n.ends_with(".deb")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    newest.map(|e| e.path()).unwrap_or_else(|| {
        panic!("no routerd_*.deb in {} (make test builds it: make deb)", dir.display())
    })
}

/// A copy of the cached root for one test, removed on drop (panic or not: it is 260 MB).
struct Root(PathBuf);

impl Root {
    fn copy_of(base: &Path, dir: &TempDir) -> Root {
        let root = dir.join("root");
        let st = Command::new("cp").arg("-a").arg(base).arg(&root).status().unwrap();
        assert!(st.success(), "cp -a {}", base.display());
        Root(root)
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.0.join(inside.trim_start_matches('/'))
    }

    fn write(&self, inside: &str, text: &str, mode: u32) {
        let p = self.path(inside);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// `chroot ROOT ARGS...` (before the boot: dpkg, routerd check).
    fn chroot(&self, args: &[&str]) -> Output {
        Command::new("chroot").arg(&self.0).args(args).output().unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One field of `/proc/PID/status`.
fn proc_status(pid: u32, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The booted container: systemd-nspawn, and its init (PID 1 inside) as seen from here.
struct Machine {
    nspawn: Child,
    init: u32,
}

impl Machine {
    fn boot(root: &Root, ns: &Netns, name: &str, console: &Path) -> Machine {
        let log = std::fs::File::create(console).unwrap();
        let nspawn = Command::new("systemd-nspawn")
            .args(["--quiet", "--boot", "--register=no", "--keep-unit"])
            .arg(format!("--directory={}", root.0.display()))
            .arg(format!("--machine={name}"))
            .arg(format!("--network-namespace-path=/run/netns/{}", ns.name()))
            .args(["--capability=CAP_NET_ADMIN,CAP_NET_RAW", "--bind=/dev/net/tun"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("systemd-nspawn (Debian systemd-container)");
        let outer = nspawn.id();
        // The container's init: a descendant of nspawn whose PID in its own namespace is 1.
        let descends = |mut p: u32| {
            for _ in 0..4 {
                match proc_status(p, "PPid").and_then(|v| v.parse::<u32>().ok()) {
                    Some(pp) if pp == outer => return true,
                    Some(pp) if pp > 1 => p = pp,
                    _ => return false,
                }
            }
            false
        };
        let init = wait_for(secs(15), "the container's init", || {
            pids().into_iter().find(|&p| {
                proc_status(p, "NSpid").is_some_and(|v| {
                    let ids: Vec<&str> = v.split_whitespace().collect();
                    ids.len() >= 2 && ids.last() == Some(&"1")
                }) && descends(p)
            })
        });
        Machine { nspawn, init }
    }

    /// A command inside the container (its mount, PID, UTS, IPC and network namespaces).
    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.init.to_string(), "-m", "-u", "-i", "-n", "-p", "--"])
            .args(args)
            .output()
            .unwrap()
    }

    /// Its stdout, trimmed.
    fn out(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.run(args).stdout).trim().to_string()
    }

    /// `systemctl show -p PROP --value routerd`.
    fn prop(&self, prop: &str) -> String {
        self.out(&["systemctl", "show", "-p", prop, "--value", "routerd"])
    }

    fn journal(&self) -> String {
        self.out(&["journalctl", "-u", "routerd", "--no-pager", "-o", "short-monotonic"])
    }

    /// routerd's main process, as a PID of this namespace.
    fn main_pid(&self) -> Option<u32> {
        let inside: u32 = self.prop("MainPID").parse().ok().filter(|&p| p != 0)?;
        let pidns = std::fs::read_link(format!("/proc/{}/ns/pid", self.init)).ok()?;
        pids().into_iter().find(|&p| {
            std::fs::read_link(format!("/proc/{p}/ns/pid")).ok().as_ref() == Some(&pidns)
                && proc_status(p, "NSpid")
                    .is_some_and(|v| v.split_whitespace().last() == Some(&inside.to_string()))
        })
    }

    /// The WAN's public IPv4 address (`routerctl wan --json`).
    fn public(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ctl(&["wan", "--json"]).1)
            .unwrap_or(serde_json::Value::Null);
        v["ipv4"].as_str().unwrap_or_else(|| panic!("no WAN address: {v}")).to_string()
    }

    /// routerctl in the container: (exit ok, stdout).
    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["routerctl"];
        all.extend_from_slice(args);
        let o = self.run(&all);
        (o.status.success(), String::from_utf8_lossy(&o.stdout).to_string())
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // SIGTERM asks nspawn for an orderly shutdown of the container; then SIGKILL.
        let pid = nix::unistd::Pid::from_raw(self.nspawn.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + secs(20);
        while Instant::now() < end {
            if self.nspawn.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// The router's configuration in the container, with a port forward to `forward` if given.
fn config(forward: Option<&str>) -> String {
    let mut c = String::from(
        r#"role = "all"
state_dir = "/var/lib/routerd"
[wan]
interface = "eth0"
vlan = 6
mode = "pppoe"
[wan.pppoe]
username = "internet"
password_file = "/etc/routerd/pppoe-password"
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
subnet_id = 1
dhcp4 = { pool = "192.168.1.100-192.168.1.199", lease_time = "1h" }
[http]
enabled = false
[control]
socket = "/run/routerd/control.sock"
"#,
    );
    if let Some(to) = forward {
        c.push_str(&format!(
            "[[firewall.port_forward]]\nname = \"web\"\nproto = \"tcp\"\nport = 8080\nto = \"{to}:80\"\n"
        ));
    }
    c
}

/// CapEff of `CAP_NET_BIND_SERVICE` (10), `CAP_NET_ADMIN` (12) and `CAP_NET_RAW` (13).
const ROUTER_CAPS: &str = "0000000000003400";

#[test]
fn root_deb_installs_boots_and_is_managed_by_systemd() {
    let deb = package();
    let base = debian_root();
    let line = Line::new("nspawn");
    let (lan, router, isp, inet) = (&line.lan, &line.router, &line.isp, &line.inet);
    let dir = TempDir::new("routerd-nspawn");
    let isp = Isp::start(isp, dir.path(), "vlan = 6\n");
    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.forwarding", "1"),
        ("net.ipv6.conf.all.forwarding", "1"),
        ("net.ipv6.conf.all.disable_ipv6", "0"),
        ("net.ipv6.conf.default.disable_ipv6", "0"),
        ("net.ipv6.conf.default.addr_gen_mode", "1"),
    ] {
        let st = router.command("sysctl").args(["-q", "-w", &format!("{key}={value}")]).status();
        assert!(st.unwrap().success(), "{key}");
    }
    let root = Root::copy_of(&base, &dir);

    scenario("dpkg -i", || {
        std::fs::copy(&deb, root.path("/tmp/routerd.deb")).unwrap();
        let o = root.chroot(&["dpkg", "-i", "/tmp/routerd.deb"]);
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "dpkg -i {}: {text}", deb.display());
        for f in [
            "/usr/sbin/routerd",
            "/usr/sbin/routerctl",
            "/usr/lib/systemd/system/routerd.service",
            "/usr/share/bash-completion/completions/routerctl",
            "/usr/share/zsh/vendor-completions/_routerd",
            "/usr/share/fish/vendor_completions.d/routerctl.fish",
            "/usr/share/doc/routerd/README.md",
        ] {
            assert!(root.path(f).exists(), "{f} after dpkg -i: {text}");
        }
        // Enabled for boot (an absolute symlink: resolved inside the root only).
        let wants = root.path("/etc/systemd/system/multi-user.target.wants/routerd.service");
        assert!(std::fs::symlink_metadata(&wants).is_ok(), "enabled: {text}");
        let man = root.path("/usr/share/man/man1");
        for page in ["routerd.1.gz", "routerd-run.1.gz", "routerctl.1.gz"] {
            assert!(man.join(page).exists(), "man page {page}");
        }
        let conf = root.chroot(&["dpkg-query", "-W", "-f", "${Conffiles}", "routerd"]);
        assert!(
            String::from_utf8_lossy(&conf.stdout).contains("/etc/routerd/routerd.toml"),
            "the configuration is a conffile"
        );
        // The shipped example is valid once its password file exists (the steps it lists).
        root.write("/etc/routerd/pppoe-password", "internet\n", 0o600);
        let check = root.chroot(&["routerd", "check"]);
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    });

    // The admin's part: the configuration (the password file is there), and (for a test that cannot
    // wait 30 s) a drop-in with a shorter watchdog.
    root.write("/etc/routerd/routerd.toml", &config(None), 0o644);
    root.write(
        "/etc/systemd/system/routerd.service.d/watchdog.conf",
        "[Service]\nWatchdogSec=3s\nRestartSec=1s\n",
        0o644,
    );

    let name = format!("routerd-nspawn-{}", std::process::id());
    let started = Instant::now();
    let machine = Machine::boot(&root, router, &name, &dir.join("console.log"));
    let console = || std::fs::read_to_string(dir.join("console.log")).unwrap_or_default();

    scenario("active after READY=1", || {
        let mut states = Vec::new();
        try_wait_for(secs(60), || {
            let s = machine.out(&["systemctl", "is-active", "routerd"]);
            if states.last() != Some(&s) {
                states.push(s.clone());
            }
            (s == "active").then_some(()).ok_or(s)
        })
        .unwrap_or_else(|e| {
            panic!("not active: {e}\nstates {states:?}\n{}\n{}", machine.journal(), console())
        });
        println!("routerd active {:?} after the boot began (states {states:?})", started.elapsed());
        let nft = router.command("nft").args(["list", "table", "inet", "routerd"]).output();
        assert!(nft.unwrap().status.success(), "the firewall in force when active");
    });

    let ip = scenario("WAN up and a lease", || {
        try_wait_for(secs(20), || {
            let (ok, text) = machine.ctl(&["status", "--check"]);
            ok.then_some(()).ok_or(text)
        })
        .unwrap_or_else(|e| panic!("not up: {e}\n{}", machine.journal()));
        wait_for(secs(5), "STATUS=WAN up in the unit", || {
            let s = machine.prop("StatusText");
            if s.starts_with("WAN up 198.51.100.") { Ok(()) } else { Err(s) }
        });
        let lease = udhcpc(lan, dir.path(), Some("laptop"))
            .unwrap_or_else(|| panic!("no lease:\n{}", machine.journal()));
        let ip = lease.split_whitespace().next().unwrap().trim_start_matches("ip=").to_string();
        let server = PeerEcho::start(inet, "203.0.113.10:8080".parse::<SocketAddr>().unwrap());
        let seen = peer_seen(lan, "203.0.113.10:8080".parse().unwrap(), secs(5));
        assert!(seen.as_deref().is_some_and(|s| s.starts_with("198.51.100.")), "NAT: {seen:?}");
        drop(server);
        ip
    });

    scenario("capabilities", || {
        let pid = machine.main_pid().expect("routerd's MainPID");
        for key in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
            assert_eq!(proc_status(pid, key).as_deref(), Some(ROUTER_CAPS), "{key}");
        }
        assert_eq!(proc_status(pid, "NoNewPrivs").as_deref(), Some("1"));
        assert_eq!(proc_status(pid, "Seccomp").as_deref(), Some("2"), "SystemCallFilter");
    });

    scenario("journal priorities", || {
        // The same lines as on stdout, each with its level as the journal's priority.
        let info = machine.out(&["journalctl", "-u", "routerd", "-p", "info..info", "-o", "cat"]);
        assert!(info.contains("wan up"), "info lines: {info}");
        let warnings = machine.out(&["journalctl", "-u", "routerd", "-p", "warning", "-o", "cat"]);
        assert!(!warnings.contains("wan up"), "an info line is not a warning: {warnings}");
    });

    scenario("reload: a new port forward", || {
        let public = machine.public();
        root.write("/etc/routerd/routerd.toml", &config(Some(&ip)), 0o644);
        let o = machine.run(&["systemctl", "reload", "routerd"]);
        assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stderr), machine.journal());
        let web = PeerEcho::start(lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
        let fwd = peer_seen(inet, format!("{public}:8080").parse().unwrap(), secs(5));
        assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "the forward after the reload");
        drop(web);
        let status = machine.prop("StatusText");
        assert!(status.contains("reload applied"), "{status}");
    });

    scenario("reload: refused, and the unit shows it", || {
        let bad = config(Some(&ip)).replace("192.168.1.100-", "192.168.7.100-");
        root.write("/etc/routerd/routerd.toml", &bad, 0o644);
        let _ = machine.run(&["systemctl", "reload", "routerd"]);
        let status = wait_for(secs(5), "the refused reload in the status", || {
            let s = machine.prop("StatusText");
            s.contains("refused").then_some(s)
        });
        assert!(status.contains("lan[0].dhcp4.pool"), "names the key: {status}");
        let errors = machine.out(&["journalctl", "-u", "routerd", "-p", "err", "-o", "cat"]);
        assert!(errors.contains("reload refused"), "an error in the journal: {errors}");
        assert_eq!(machine.out(&["systemctl", "is-active", "routerd"]), "active");
        root.write("/etc/routerd/routerd.toml", &config(Some(&ip)), 0o644);
    });

    scenario("watchdog", || {
        let hung = machine.main_pid().expect("MainPID");
        let pid = nix::unistd::Pid::from_raw(hung as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        let stopped = Instant::now();
        let again = wait_for(secs(30), "a new routerd after the watchdog", || {
            machine.main_pid().filter(|&p| p != hung)
        });
        println!("watchdog: hung routerd replaced by PID {again} after {:?}", stopped.elapsed());
        let journal = machine.journal();
        assert!(journal.contains("Watchdog timeout"), "{journal}");
        assert!(machine.prop("NRestarts").parse::<u32>().unwrap() >= 1);
        try_wait_for(secs(30), || {
            let (ok, text) = machine.ctl(&["status", "--check"]);
            ok.then_some(()).ok_or(text)
        })
        .unwrap_or_else(|e| panic!("not up: {e}\n{}", machine.journal()));
        let lease = udhcpc(lan, dir.path(), Some("laptop")).expect("a lease after the restart");
        assert!(lease.starts_with(&format!("ip={ip} ")), "the same address: {lease}");
        let web = PeerEcho::start(lan, "0.0.0.0:80".parse::<SocketAddr>().unwrap());
        let fwd = peer_seen(inet, format!("{}:8080", machine.public()).parse().unwrap(), secs(5));
        assert_eq!(fwd.as_deref(), Some("203.0.113.10"), "the forward after the restart");
        drop(web);
    });

    scenario("stop sends PADT", || {
        let sessions = || isp.ctl("sessions").matches("session_id").count();
        assert_eq!(sessions(), 1, "{}", isp.ctl("sessions"));
        let o = machine.run(&["systemctl", "stop", "routerd"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        wait_for(secs(5), "the ISP to drop the session", || (sessions() == 0).then_some(()));
        assert_eq!(machine.out(&["systemctl", "is-active", "routerd"]), "inactive");
    });

    drop(machine);
    drop(root);
    drop(line);
}
