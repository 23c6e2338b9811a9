//! The container deployments end to end, through Docker: builds the FROM-scratch images from
//! this build's binaries once, then brings up `compose/demo` (ispemu, routerd, a client) and
//! then `compose/kpn` (the split deployment: upstream, isp-kpn, ingress, gateway with two
//! LANs, a client on each and a downstream router), waits for the routers' health checks
//! (`routerctl status --check`), checks from the client containers the DHCP lease, the IPv6
//! address in the delegated prefix, names through the router and the stand-in internet over
//! IPv4 and IPv6; then the ISP drops the session (PADT) and the clients work again. Takes
//! everything down: no container, network, volume or image is left. Needs root (or the
//! docker group), Docker Engine and docker-compose; no registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use router_tests::wan::bin;

/// One deployment under its own compose project, with this run's image tag and subnets.
struct Deployment {
    root: PathBuf,
    file: &'static str,
    project: String,
    tag: String,
    env: Vec<(&'static str, String)>,
}

impl Deployment {
    fn new(root: &Path, file: &'static str, name: &str, env: Vec<(&'static str, String)>) -> Self {
        let pid = std::process::id();
        Deployment {
            root: root.to_path_buf(),
            file,
            project: format!("routerd-{name}{pid}"),
            tag: format!("ci{pid}"),
            env,
        }
    }

    fn command(&self, limit: &str) -> Command {
        let mut c = Command::new("timeout");
        c.arg(limit)
            .arg("docker-compose")
            .arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(self.root.join(self.file))
            .env("TAG", &self.tag)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        c
    }

    fn compose(&self) -> Command {
        self.command("120")
    }

    /// `docker-compose exec -T SERVICE ARGS...`, bounded to 30 s.
    fn exec(&self, service: &str, args: &[&str]) -> (bool, String) {
        let out = self.command("30").args(["exec", "-T", service]).args(args).output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn logs(&self) -> String {
        let out = self.compose().args(["logs", "--no-color", "--tail", "60"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn health(&self, service: &str) -> String {
        let id = self.compose().args(["ps", "-q", service]).output().unwrap();
        let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
        if id.is_empty() {
            return "absent".into();
        }
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Health.Status}}", &id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Polls `f` every 500 ms until it holds, or panics after `limit` with the logs.
    fn until(&self, limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < limit, "{what}: not within {limit:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(500));
        }
        start.elapsed()
    }

    fn up(&self) {
        let up = self.compose().args(["up", "-d"]).output().unwrap();
        assert!(ok(&up), "up: {}", String::from_utf8_lossy(&up.stderr));
    }

    /// The client's lease file, once udhcpc wrote it.
    fn lease(&self, client: &str) -> String {
        let mut lease = String::new();
        self.until(Duration::from_secs(30), &format!("{client} lease"), || {
            let (got, text) = self.exec(client, &["cat", "/tmp/lease"]);
            lease = text;
            got
        });
        lease
    }

    /// The client's global IPv6 address in `prefix` (text match on the first hextets), by
    /// SLAAC from the router's advertisement.
    fn ipv6(&self, client: &str, prefix: &str) -> String {
        let mut addr = String::new();
        self.until(Duration::from_secs(30), &format!("{client} IPv6 in {prefix}"), || {
            let (_, text) = self.exec(client, &["ip", "-6", "-o", "addr", "show", "dev", "eth0"]);
            addr = text
                .split_whitespace()
                .find(|w| w.starts_with(prefix) && w.contains('/'))
                .unwrap_or_default()
                .to_string();
            !addr.is_empty()
        });
        addr
    }

    /// From `client`: a ping and a web page by name over IPv4, and a ping over IPv6.
    fn reaches_internet(&self, client: &str) -> bool {
        let (pinged, _) = self.exec(client, &["ping", "-c", "1", "-W", "2", "203.0.113.10"]);
        let (fetched, page) =
            self.exec(client, &["wget", "-q", "-O", "-", "http://www.example.test/"]);
        let (pinged6, _) = self.exec(client, &["ping", "-c", "1", "-W", "2", "2001:db8:ffff::10"]);
        pinged && fetched && page.contains("stand-in internet") && pinged6
    }

    /// The ISP (`isp` service) drops every session; waits for a new one.
    fn padt(&self, isp: &str) {
        let (_, before) = self.exec(isp, &["ispemu", "ctl", "sessions"]);
        let (sent, answer) = self.exec(isp, &["ispemu", "ctl", "padt", "all"]);
        assert!(sent && answer.starts_with("ok"), "{answer}");
        self.until(Duration::from_secs(30), "a new PPPoE session", || {
            let (_, now) = self.exec(isp, &["ispemu", "ctl", "sessions"]);
            now.contains("\"session_id\"") && now != before
        });
    }

    /// Takes it down and checks that nothing of it is left.
    fn down(self) {
        let project = self.project.clone();
        drop(self);
        let left = |args: &[&str]| {
            let out = Command::new("docker").args(args).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let filter = format!("label=com.docker.compose.project={project}");
        assert_eq!(left(&["ps", "-aq", "--filter", &filter]), "", "containers left");
        assert_eq!(left(&["network", "ls", "-q", "--filter", &filter]), "", "networks left");
        assert_eq!(left(&["volume", "ls", "-q", "--filter", &filter]), "", "volumes left");
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.compose().args(["down", "-v", "--remove-orphans"]).output();
    }
}

/// This run's images; removed on drop.
struct Images {
    root: PathBuf,
    tag: String,
}

impl Drop for Images {
    fn drop(&mut self) {
        for img in ["router", "isp", "client"] {
            let _ = Command::new("docker")
                .args(["image", "rm", "-f", &format!("routerd-demo-{img}:{}", self.tag)])
                .output();
        }
        let _ = std::fs::remove_dir_all(self.root.join("compose/.build").join(&self.tag));
    }
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

#[test]
fn root_compose_demo_and_kpn_clients_get_leases_ipv6_names_internet_and_survive_padt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let docker = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    assert!(
        docker.as_ref().is_ok_and(ok),
        "root_compose needs Docker Engine (and docker-compose) and access to it: {docker:?}"
    );
    let bin_dir = bin("routerd").parent().unwrap().to_path_buf();
    for b in ["routerctl", "ispemu", "stb"] {
        bin(b);
    }
    // The production template is only checked (bringing it up would take real NICs).
    let template = Command::new("docker-compose")
        .arg("-f")
        .arg(root.join("compose/router/docker-compose.yml"))
        .args(["config", "-q"])
        .env("WAN_NIC", "eth0")
        .env("LAN_NIC", "eth1")
        .output()
        .unwrap();
    assert!(ok(&template), "compose/router: {}", String::from_utf8_lossy(&template.stderr));

    let pid = std::process::id();
    let images = Images { root: root.clone(), tag: format!("ci{pid}") };

    // Images from this build's binaries (compose/build-images.sh, no registry).
    let build = Command::new("timeout")
        .arg("300")
        .arg(root.join("compose/build-images.sh"))
        .arg(&images.tag)
        .env("BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    assert!(
        ok(&build),
        "build-images: {}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    println!("compose images: {}", String::from_utf8_lossy(&build.stdout).trim());

    // Subnets apart from the deployments' own defaults, so a running `make demo` is no bother.
    let n = 100 + pid % 100;
    demo(
        &root,
        vec![
            ("DEMO_WAN", format!("10.66.{n}")),
            ("DEMO_LAN", format!("192.168.{n}")),
            ("DEMO_HTTP", format!("{}", 18_000 + pid % 1_000)),
        ],
    );
    kpn(&root, vec![("KPN_NET", format!("10.{}", 68 + pid % 100))]);

    drop(images);
    let out = Command::new("docker")
        .args(["image", "ls", "-q", "--filter", &format!("reference=routerd-demo-*:ci{pid}")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "images left");
}

/// compose/demo: ispemu, routerd (role all), a client.
fn demo(root: &Path, env: Vec<(&'static str, String)>) {
    let demo = Deployment::new(root, "compose/demo/docker-compose.yml", "ci", env);
    let started = Instant::now();
    demo.up();
    demo.until(Duration::from_secs(60), "router healthy", || demo.health("router") == "healthy");
    let healthy = started.elapsed();
    let lease = demo.lease("client");
    println!(
        "compose demo: router healthy {healthy:?} and client leased {:?} after `up`",
        started.elapsed()
    );
    assert!(
        lease.starts_with("ip=192.168.1.1")
            && lease.contains("router=192.168.1.1")
            && lease.contains("dns=192.168.1.1")
            && lease.contains("domain=home.arpa"),
        "{lease}"
    );
    let ip = lease.split_whitespace().next().unwrap().trim_start_matches("ip=").to_string();
    let (_, addr) = demo.exec("client", &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addr.contains(&format!("inet {ip}/24")), "only the lease on eth0: {addr}");
    // IPv6 by SLAAC in the LAN's /64 of the ISP's /48 (ispemu's pool 2001:db8:1000::/36).
    let v6 = demo.ipv6("client", "2001:db8:1");
    println!("compose demo: client {ip} and {v6}");

    // Names through the router: its own, and one forwarded to the ISP's resolver.
    let (_, printer) =
        demo.exec("client", &["nslookup", "-type=a", "printer.home.arpa", "192.168.1.1"]);
    assert!(printer.contains("192.168.1.20"), "{printer}");
    let (_, www) = demo.exec("client", &["nslookup", "-type=a", "www.example.test", "192.168.1.1"]);
    assert!(www.contains("203.0.113.10"), "{www}");

    // The stand-in internet, through PPPoE: NATed IPv4 and routed IPv6.
    demo.until(Duration::from_secs(15), "client reaches the stand-in internet", || {
        demo.reaches_internet("client")
    });

    // The status page from the host, as `make demo` prints it: published on 127.0.0.1 only.
    let port = demo.env.iter().find(|(k, _)| *k == "DEMO_HTTP").unwrap().1.clone();
    let host_get = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').map_or((String::new(), 0), |(b, c)| {
            (b.to_string(), c.trim().parse::<u16>().unwrap_or(0))
        });
        (code, body)
    };
    let mut status = (0, String::new());
    demo.until(Duration::from_secs(15), "the status page published on the host", || {
        status = host_get("/api/status");
        status.0 == 200
    });
    let json: serde_json::Value = serde_json::from_str(&status.1).unwrap();
    assert_eq!(json["status"]["wan"]["state"], "up", "{json}");
    let (code, page) = host_get("/");
    assert!(code == 200 && page.contains("<title>"), "{code} {page}");
    let (code, metrics) = host_get("/metrics");
    assert!(code == 200 && metrics.contains("\nrouterd_wan_up 1.0\n"), "{code} {metrics}");
    let published = Command::new("docker")
        .args(["ps", "--filter", &format!("label=com.docker.compose.project={}", demo.project)])
        .args(["--format", "{{.Ports}}"])
        .output()
        .unwrap();
    let published = String::from_utf8_lossy(&published.stdout).to_string();
    assert!(
        published.contains(&format!("127.0.0.1:{port}->8080/tcp"))
            && !published.contains("0.0.0.0:"),
        "published on the host's loopback only: {published}"
    );
    println!("compose demo: the status page on http://127.0.0.1:{port}/ from the host");

    // The ISP drops the session; routerd redials and the client works again, untouched.
    demo.padt("isp");
    demo.until(Duration::from_secs(30), "router healthy after the PADT", || {
        demo.exec("router", &["routerctl", "status", "--check"]).0
    });
    demo.until(Duration::from_secs(30), "client reaches the internet after the PADT", || {
        demo.reaches_internet("client")
    });
    demo.down();
}

/// compose/kpn: the split deployment.
fn kpn(root: &Path, mut env: Vec<(&'static str, String)>) {
    // On a kernel without multicast routing the gateway runs without its IGMP proxy (which
    // would fail, and the gateway with it, for good), and the set-top box is not tried.
    let multicast = router_tests::mcast::kernel_routes_multicast();
    let no_igmp = router_tests::TempDir::new("kpn-gateway");
    if !multicast {
        let text = std::fs::read_to_string(root.join("compose/kpn/gateway.toml")).unwrap();
        let mut out = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.starts_with('[') {
                skipping = line.trim() == "[igmp]";
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        let path = no_igmp.join("gateway.toml");
        std::fs::write(&path, out).unwrap();
        env.push(("GATEWAY_CONFIG", path.display().to_string()));
        println!(
            "compose kpn: this kernel has no multicast routing: the gateway runs without [igmp]"
        );
    }
    let kpn = Deployment::new(root, "compose/kpn/docker-compose.yml", "kpn", env);
    let started = Instant::now();
    kpn.up();
    let routers = ["ingress", "gateway", "cluster-router"];
    kpn.until(Duration::from_secs(90), "ingress, gateway and cluster-router healthy", || {
        routers.iter().all(|r| kpn.health(r) == "healthy")
    });
    let healthy = started.elapsed();
    let lease = kpn.lease("client-home");
    assert!(lease.starts_with("ip=192.168.1.1") && lease.contains("dns=192.168.1.1"), "{lease}");
    let cluster = kpn.lease("client-cluster");
    assert!(cluster.starts_with("ip=192.168.20.1"), "{cluster}");
    let v6 = kpn.ipv6("client-home", "2001:db8:1");
    println!("compose kpn: routers healthy {healthy:?} after `up`; client-home {lease} {v6}");
    let (_, www) =
        kpn.exec("client-home", &["nslookup", "-type=a", "www.example.test", "192.168.1.1"]);
    assert!(www.contains("203.0.113.10"), "{www}");
    kpn.until(Duration::from_secs(20), "client-home reaches the stand-in internet", || {
        kpn.reaches_internet("client-home")
    });
    // The downstream router in the cluster LAN got a /60 from the gateway's pool.
    kpn.until(Duration::from_secs(60), "a /60 for the cluster router", || {
        kpn.exec("cluster-router", &["routerctl", "prefixes"]).1.contains("/60")
    });

    // Television: the set-top box on the home LAN tunes to a channel of the IPTV VLAN (the
    // gateway's DHCP with the vendor class, its IGMP proxy, ispemu's head-end); `stb` exits
    // 0 only if datagrams arrived with no sequence number missing after the first.
    kpn.lease("stb-home");
    if multicast {
        let mut tv = String::new();
        kpn.until(Duration::from_secs(30), "the set-top box receives channel 1", || {
            let (ok, out) =
                kpn.exec("stb-home", &["stb", "--group", "239.1.1.1", "--seconds", "3"]);
            tv = out;
            ok
        });
        println!("compose kpn: {}", tv.trim());
    } else {
        println!("compose kpn: the set-top box NOT RUN: no multicast routing in this kernel");
    }
    let (_, status) = kpn.exec("gateway", &["routerctl", "status", "--json"]);
    assert!(status.contains("\"iptv\""), "the gateway's IPTV link: {status}");

    // The ISP drops the session: the ingress redials, the home client works again.
    kpn.padt("isp-kpn");
    kpn.until(Duration::from_secs(30), "ingress healthy after the PADT", || {
        kpn.exec("ingress", &["routerctl", "status", "--check"]).0
    });
    kpn.until(Duration::from_secs(30), "client-home reaches the internet after the PADT", || {
        kpn.reaches_internet("client-home")
    });
    kpn.down();
}
