//! The production template with podman (`compose/router/podman.sh`), veths standing in for
//! the network cards: the router image built into a private podman store
//! (`ENGINE=podman compose/build-images.sh`), two veth pairs made in the host's namespace
//! (`rtpw<pid>`, `rtpl<pid>`) whose peers are in an ISP namespace (ispemu, PPPoE on VLAN 6,
//! the stand-in internet behind it) and a LAN namespace (busybox udhcpc). `podman.sh up`
//! moves both host ends into the container with the CNI `host-device` plugin: they leave the
//! host, are `wan0` and `lan0` inside with their own MACs, PPPoE comes up from the WAN card's
//! MAC (as ispemu saw it), the health check passes, the LAN host gets a lease and reaches the
//! internet through NAT. `podman stop` gives both cards back to the host under their names with
//! their MACs (and routerd's PADT ends the session); started again, the container takes them
//! again and redials with the DUID of its state volume; `podman.sh down -v` leaves no
//! container, network file or volume, and the image goes with the store.
//!
//! Podman runs on a configuration of the test's own (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF,
//! TMPDIR): storage (vfs), run and volume directories, events log and CNI network directory in
//! the test's directory; cgroupfs and runc (crun refuses cgroup v1 hybrid hierarchies); the
//! containers' ulimits within this process's hard limits. What podman or CNI make outside it
//! regardless (`/var/lib/containers/cache`, `/var/lib/cni`, `/run/runc`, `libpod_parent`
//! cgroups) is removed at the end when the test found it absent. Needs root, podman,
//! containernetworking-plugins and runc (scripts/install-deps.sh); no registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use netlab::Netns;
use router_tests::clients::udhcpc;
use router_tests::wan::{Isp, bin};
use router_tests::{PeerEcho, TempDir, lab, peer_seen, scenario, try_wait_for, wait_for};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A hard resource limit of this process.
fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit(2) fills the struct it is given.
    let rc = unsafe { libc::getrlimit(resource, &mut rl) };
    assert_eq!(rc, 0, "getrlimit");
    rl.rlim_max
}

/// Podman on a configuration and store of this test's own, in `dir`.
struct Podman {
    env: Vec<(&'static str, OsString)>,
    cni: PathBuf,
    store: Vec<PathBuf>,
}

impl Podman {
    fn new(dir: &TempDir) -> Podman {
        let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let store: Vec<PathBuf> =
            ["root", "run", "tmp", "volumes", "cni"].iter().map(|n| dir.join(n)).collect();
        for p in &store {
            std::fs::create_dir_all(p).unwrap();
        }
        // podman (as root) asks for 1048576 files and processes, which this process may not
        // be allowed to give (a container for a CI machine); its own process limit is at
        // most pid_max.
        let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32_768);
        let nofile = hard_limit(libc::RLIMIT_NOFILE).min(1 << 20);
        let nproc = hard_limit(libc::RLIMIT_NPROC).min(pid_max).min(1 << 20);
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 events_logfile_path = \"{}\"\nruntime = \"runc\"\ntmp_dir = \"{}\"\n\
                 volume_path = \"{}\"\n\
                 [network]\nnetwork_backend = \"cni\"\nnetwork_config_dir = \"{}\"\n",
                d("events.log"),
                d("tmp"),
                d("volumes"),
                d("cni"),
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                d("root"),
                d("run")
            ),
        )
        .unwrap();
        Podman {
            env: vec![
                ("CONTAINERS_CONF", dir.join("containers.conf").into()),
                ("CONTAINERS_STORAGE_CONF", dir.join("storage.conf").into()),
                ("TMPDIR", dir.join("tmp").into()),
            ],
            cni: dir.join("cni"),
            store,
        }
    }

    /// `PROGRAM ARGS...` with this podman's environment, bounded to `limit` seconds.
    fn command(&self, limit: u64, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("timeout");
        c.arg(limit.to_string()).arg(program).envs(self.env.iter().map(|(k, v)| (*k, v)));
        c
    }

    /// `podman ARGS...`, bounded to 60 s: (exit ok, stdout and stderr).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.command(60, "podman").args(args).output().unwrap();
        (out.status.success(), text(&out))
    }

    /// `podman ARGS...`'s stdout, trimmed.
    fn out(&self, args: &[&str]) -> String {
        let out = self.command(60, "podman").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Podman {
    /// The store goes, panic or not (a few tens of MB): what podman made in it is gone by now
    /// (vfs mounts nothing).
    fn drop(&mut self) {
        for p in &self.store {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// The router image in the private store, built by compose/build-images.sh; removed on drop
/// with its build context.
struct Image<'a> {
    podman: &'a Podman,
    tag: String,
}

impl<'a> Image<'a> {
    fn build(podman: &'a Podman, tag: &str) -> Image<'a> {
        let image = Image { podman, tag: tag.to_string() };
        let bin_dir = bin("routerd").parent().unwrap().to_path_buf();
        bin("routerctl");
        let out = podman
            .command(300, root().join("compose/build-images.sh"))
            .arg(tag)
            .env("ENGINE", "podman")
            .env("IMAGES", "router")
            .env("BIN_DIR", &bin_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "build-images: {}", text(&out));
        println!("podman image: {}", String::from_utf8_lossy(&out.stdout).trim());
        image
    }

    fn name(&self) -> String {
        format!("routerd-demo-router:{}", self.tag)
    }
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = self.podman.run(&["rmi", "-f", &self.name()]);
        let _ = std::fs::remove_dir_all(root().join("compose/.build").join(&self.tag));
    }
}

/// A veth pair standing in for a network card: `host` in the host's namespace (down, as a
/// card the host does not configure), its peer `eth0` (up) in `ns`. Deleted on drop.
struct Card {
    host: String,
    mac: String,
}

impl Card {
    fn new(host: &str, ns: &Netns) -> Card {
        let _ = Command::new("ip").args(["link", "del", host]).output();
        let out = Command::new("ip")
            .args(["link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name()])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip link add {host}: {}", text(&out));
        let mut card = Card { host: host.to_string(), mac: String::new() };
        let up = ns.command("ip").args(["link", "set", "eth0", "up"]).output().unwrap();
        assert!(up.status.success(), "{}", text(&up));
        card.mac = card.host_mac().expect("the new veth's MAC");
        card
    }

    /// Its MAC while it is in the host's namespace (`None` while it is not).
    fn host_mac(&self) -> Option<String> {
        std::fs::read_to_string(format!("/sys/class/net/{}/address", self.host))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host]).output();
    }
}

/// The router container, through compose/router/podman.sh; `down -v` on drop (after saving
/// its log to `router.log` in the test's directory, which stays, when the test failed).
struct Router<'a> {
    podman: &'a Podman,
    name: String,
    env: Vec<(&'static str, OsString)>,
    log: PathBuf,
}

impl<'a> Router<'a> {
    fn new(podman: &'a Podman, dir: &TempDir, tag: &str, wan: &Card, lan: &Card) -> Self {
        // The template's routerd.toml as it is; its password file in a secrets directory.
        let secrets = dir.join("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("pppoe"), "internet\n").unwrap();
        let name = format!("routerd-pm{}", std::process::id());
        let env = vec![
            ("NAME", name.clone().into()),
            ("TAG", tag.into()),
            ("SECRETS", secrets.into()),
            ("CNI_CONFIG_DIR", podman.cni.clone().into()),
            ("WAN_NIC", wan.host.clone().into()),
            ("LAN_NIC", lan.host.clone().into()),
        ];
        Router { podman, name, env, log: dir.join("router.log") }
    }

    /// `podman.sh ARGS...`, bounded to 120 s.
    fn script(&self, args: &[&str]) -> Output {
        self.podman
            .command(120, root().join("compose/router/podman.sh"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .output()
            .unwrap()
    }

    /// `podman.sh ARGS...`, which must succeed.
    fn must(&self, args: &[&str]) -> String {
        let out = self.script(args);
        assert!(out.status.success(), "podman.sh {args:?}: {}\n{}", text(&out), self.logs());
        text(&out)
    }

    /// `podman exec NAME ARGS...`: (exit ok, output).
    fn exec(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend_from_slice(args);
        self.podman.run(&all)
    }

    fn logs(&self) -> String {
        self.podman.run(&["logs", "--tail", "60", &self.name]).1
    }

    /// The container's init as a PID of this namespace (0 when it is not running).
    fn pid(&self) -> u32 {
        self.podman.out(&["inspect", "-f", "{{.State.Pid}}", &self.name]).parse().unwrap_or(0)
    }

    /// `ip -o link show IFNAME` in the container's network namespace (nsenter with the host's
    /// ip), or `None` when it has none of that name.
    fn link(&self, ifname: &str) -> Option<String> {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid().to_string(), "-n", "ip", "-o", "link", "show", ifname])
            .output()
            .unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Waits for `routerctl status --check` in the container.
    fn wait_up(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        try_wait_for(limit, || {
            let (ok, out) = self.exec(&["routerctl", "status", "--check"]);
            ok.then_some(()).ok_or(out)
        })
        .unwrap_or_else(|e| panic!("WAN not up within {limit:?}: {e}\n{}", self.logs()));
        started.elapsed()
    }

    /// Every DUID the DHCPv6-PD client logged (`duid=...`), over all the container's runs.
    fn duids(&self) -> Vec<String> {
        let log = strip_ansi(&self.podman.run(&["logs", &self.name]).1);
        log.split("duid=")
            .skip(1)
            .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect())
            .collect()
    }
}

impl Drop for Router<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::fs::write(&self.log, self.podman.run(&["logs", &self.name]).1);
        }
        let _ = self.script(&["down", "-v"]);
        let _ = self.podman.run(&["rm", "-f", "-t", "0", &self.name]);
        let _ = self.podman.run(&["volume", "rm", "-f", &format!("{}-state", self.name)]);
        for role in ["wan", "lan"] {
            let _ = std::fs::remove_file(
                self.podman.cni.join(format!("{}-{role}.conflist", self.name)),
            );
        }
    }
}

/// `s` without its ANSI colour sequences (ESC [ ... m).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What podman and CNI make outside the test's directory whatever their configuration says;
/// those the test found absent are removed on drop (cgroup directories by rmdir, deepest
/// first: they go once empty).
struct Leftovers {
    absent: Vec<PathBuf>,
    cgroups: Vec<PathBuf>,
}

impl Leftovers {
    const PATHS: [&'static str; 4] =
        ["/var/lib/containers/cache", "/var/lib/cni", "/run/runc", "/run/crun"];

    fn cgroup_parents() -> Vec<PathBuf> {
        let mut all = vec![PathBuf::from("/sys/fs/cgroup/libpod_parent")];
        if let Ok(dir) = std::fs::read_dir("/sys/fs/cgroup") {
            all.extend(dir.filter_map(Result::ok).map(|e| e.path().join("libpod_parent")));
        }
        all
    }

    fn record() -> Leftovers {
        let mut absent: Vec<PathBuf> =
            Self::PATHS.iter().map(PathBuf::from).filter(|p| !p.exists()).collect();
        // Its parent too, when podman would make it.
        if !Path::new("/var/lib/containers").exists() {
            absent.push(PathBuf::from("/var/lib/containers"));
        }
        let cgroups = Self::cgroup_parents().into_iter().filter(|p| !p.exists()).collect();
        Leftovers { absent, cgroups }
    }

    /// Everything it removes on drop.
    fn watched(&self) -> Vec<PathBuf> {
        self.absent.iter().chain(&self.cgroups).cloned().collect()
    }
}

fn rmdir_tree(p: &Path) {
    if let Ok(dir) = std::fs::read_dir(p) {
        for e in dir.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(p);
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for p in &self.absent {
            let _ = std::fs::remove_dir_all(p);
        }
        for p in &self.cgroups {
            rmdir_tree(p);
        }
    }
}

/// The entries of /run/netns.
fn netns_entries() -> Vec<String> {
    std::fs::read_dir(netlab::NETNS_DIR)
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string())).collect())
        .unwrap_or_default()
}

#[test]
fn root_podman_host_device_moves_the_cards_in_and_back_and_routes() {
    let lab = lab("podman");
    let version = Command::new("podman").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "root_podman needs podman, containernetworking-plugins and runc \
         (scripts/install-deps.sh): {version:?}"
    );
    assert!(
        Path::new("/usr/lib/cni/host-device").exists(),
        "root_podman needs the CNI host-device plugin (Debian containernetworking-plugins)"
    );
    let leftovers = Leftovers::record();
    let netns_before = netns_entries();
    let pid = std::process::id();
    let dir = TempDir::new("routerd-podman");
    let podman = Podman::new(&dir);
    let tag = format!("pm{pid}");
    let started = Instant::now();
    let image = Image::build(&podman, &tag);
    println!("podman: image built in {:?}", started.elapsed());

    let (isp_ns, lan_ns, inet) =
        (lab.netns("isp").unwrap(), lab.netns("lan").unwrap(), lab.netns("inet").unwrap());
    let wan = Card::new(&format!("rtpw{pid}"), &isp_ns);
    let lan = Card::new(&format!("rtpl{pid}"), &lan_ns);
    let _internet = router_tests::wan::internet(&lab, &isp_ns, &inet);
    let isp = Isp::start(&isp_ns, dir.path(), "vlan = 6\n");
    let sessions = || -> Vec<serde_json::Value> {
        serde_json::from_str(&isp.ctl("sessions")).unwrap_or_default()
    };
    let router = Router::new(&podman, &dir, &tag, &wan, &lan);

    let up_at = Instant::now();
    scenario("up: the cards leave the host", || {
        let said = router.must(&["up"]);
        assert!(said.contains("runs with"), "{said}");
        for card in [&wan, &lan] {
            assert_eq!(card.host_mac(), None, "{} still on the host", card.host);
        }
        let host = Command::new("ip").args(["-o", "link"]).output().unwrap();
        let host = String::from_utf8_lossy(&host.stdout).to_string();
        assert!(!host.contains(&wan.host) && !host.contains(&lan.host), "{host}");
    });

    scenario("inside: wan0 and lan0 with the cards' MACs, nothing else", || {
        for (ifname, card) in [("wan0", &wan), ("lan0", &lan)] {
            let link = router.link(ifname).unwrap_or_else(|| panic!("no {ifname} inside"));
            assert!(link.contains(&format!("link/ether {}", card.mac)), "{ifname}: {link}");
        }
        let (ok, links) = router.exec(&["ip", "-o", "link"]);
        assert!(ok, "{links}");
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .collect();
        assert!(
            names.iter().all(|n| ["lo", "wan0", "lan0", "ppp0"].contains(n)),
            "only the cards (and routerd's ppp0): {names:?}"
        );
    });

    scenario("PPPoE up from the WAN card's MAC, healthy", || {
        let took = router.wait_up(secs(60));
        println!("podman: WAN up {:?} after up ({took:?} of waiting)", up_at.elapsed());
        let s = sessions();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0]["mac"].as_str(), Some(wan.mac.as_str()), "the card's own MAC: {s:?}");
        let (ok, out) = podman.run(&["healthcheck", "run", &router.name]);
        assert!(ok, "health check: {out}");
    });

    scenario("the LAN host gets a lease and reaches the internet", || {
        let lease = udhcpc(&lan_ns, dir.path(), Some("laptop"))
            .unwrap_or_else(|| panic!("no lease\n{}", router.logs()));
        assert!(
            lease.starts_with("ip=192.168.1.")
                && lease.contains("dns=192.168.1.1")
                && lease.contains("domain=home.arpa"),
            "{lease}"
        );
        let addr: SocketAddr = "203.0.113.10:8080".parse().unwrap();
        let server = PeerEcho::start(&inet, addr);
        let seen = peer_seen(&lan_ns, addr, secs(5));
        assert!(seen.as_deref().is_some_and(|s| s.starts_with("198.51.100.")), "NAT: {seen:?}");
        drop(server);
        println!("podman: {} leased, NATed to {}", lease.trim(), seen.unwrap_or_default());
    });

    // The /48 by DHCPv6-PD (it may follow the IPv4 lease by a moment).
    let prefixes = wait_for(secs(20), "a delegated /48", || {
        let p = router.exec(&["routerctl", "prefixes", "--json"]).1;
        if p.contains("/48") { Ok(p) } else { Err(p) }
    });

    scenario("stop: the cards come back with their names and MACs, PADT", || {
        let stopped = Instant::now();
        router.must(&["stop"]);
        for card in [&wan, &lan] {
            let mac =
                wait_for(secs(20), format!("{} back on the host", card.host), || card.host_mac());
            assert_eq!(mac, card.mac, "{} keeps its MAC", card.host);
        }
        println!("podman: the cards back on the host {:?} after stop", stopped.elapsed());
        wait_for(secs(10), "the ISP to drop the session", || sessions().is_empty());
    });

    scenario("start again: the cards move in again, same DUID and prefix", || {
        let said = router.must(&["up"]);
        assert!(said.contains("starting it"), "{said}");
        assert_eq!(wan.host_mac(), None, "{} still on the host", wan.host);
        router.wait_up(secs(60));
        let s = sessions();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0]["mac"].as_str(), Some(wan.mac.as_str()), "{s:?}");
        let again = wait_for(secs(20), "the delegated prefix again", || {
            let p = router.exec(&["routerctl", "prefixes", "--json"]).1;
            p.contains("/48").then_some(p)
        });
        assert_eq!(again, prefixes, "the same prefix");
        let duids = router.duids();
        assert!(
            duids.len() >= 2 && duids.iter().all(|d| !d.is_empty() && *d == duids[0]),
            "the DUID from the state volume: {duids:?}"
        );
    });

    scenario("down -v: nothing left of the deployment", || {
        router.must(&["down", "-v"]);
        for card in [&wan, &lan] {
            let mac = wait_for(secs(20), format!("{} back", card.host), || card.host_mac());
            assert_eq!(mac, card.mac);
        }
        assert_eq!(podman.out(&["ps", "-aq"]), "", "containers left");
        assert_eq!(podman.out(&["volume", "ls", "-q"]), "", "volumes left");
        let files: Vec<_> = std::fs::read_dir(&podman.cni)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
            .filter(|n| n.ends_with(".conflist"))
            .collect();
        assert!(files.is_empty(), "network files left: {files:?}");
        let mine = lab.names();
        let new: Vec<_> = netns_entries()
            .into_iter()
            .filter(|n| !netns_before.contains(n) && !mine.contains(n))
            .collect();
        assert!(new.is_empty(), "network namespaces left: {new:?}");
    });

    drop(router);
    drop(image);
    assert_eq!(podman.out(&["images", "-q"]), "", "images left");
    drop(isp);
    drop(wan);
    drop(lan);
    drop(lab);
    drop(podman);
    for host in [format!("rtpw{pid}"), format!("rtpl{pid}")] {
        assert!(!Path::new("/sys/class/net").join(&host).exists(), "{host} left");
    }
    let watched = leftovers.watched();
    drop(leftovers);
    let still: Vec<_> = watched.into_iter().filter(|p| p.exists()).collect();
    assert!(still.is_empty(), "left outside the test's directory: {still:?}");
    println!("podman: whole test {:?}", started.elapsed());
}
