//! The container demo (compose/demo) end to end, through Docker: builds the FROM-scratch
//! images from this build's binaries, brings the deployment up, waits for the router's health
//! check (`routerctl status --check`), and from the client container checks the DHCP lease,
//! names through the router and the stand-in internet; then the ISP drops the session (PADT)
//! and the client works again. Takes everything down: no container, network, volume or image
//! is left. Needs root (or the docker group), Docker Engine and docker-compose; no registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use router_tests::wan::bin;

/// One run of the demo under its own compose project and image tag.
struct Demo {
    root: PathBuf,
    project: String,
    tag: String,
}

impl Demo {
    fn compose(&self) -> Command {
        let mut c = Command::new("timeout");
        c.arg("120")
            .arg("docker-compose")
            .arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(self.root.join("compose/demo/docker-compose.yml"))
            .env("TAG", &self.tag)
            .envs(self.subnets());
        c
    }

    /// Docker's subnets for this run, apart from the demo's own (10.66.6, 192.168.77).
    fn subnets(&self) -> [(&'static str, String); 2] {
        let n = 100 + std::process::id() % 100;
        [("DEMO_WAN", format!("10.66.{n}")), ("DEMO_LAN", format!("192.168.{n}"))]
    }

    /// `docker-compose exec -T SERVICE ARGS...`, bounded to 30 s.
    fn exec(&self, service: &str, args: &[&str]) -> (bool, String) {
        let mut c = Command::new("timeout");
        c.arg("30")
            .arg("docker-compose")
            .arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(self.root.join("compose/demo/docker-compose.yml"))
            .env("TAG", &self.tag)
            .envs(self.subnets())
            .args(["exec", "-T", service])
            .args(args);
        let out = c.output().unwrap();
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

    fn health(&self) -> String {
        let id = self.compose().args(["ps", "-q", "router"]).output().unwrap();
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
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.compose().args(["down", "-v", "--remove-orphans"]).output();
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
fn root_compose_demo_client_gets_lease_names_internet_and_survives_padt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let docker = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    assert!(
        docker.as_ref().is_ok_and(ok),
        "root_compose needs Docker Engine (and docker-compose) and access to it: {docker:?}"
    );
    let bin_dir = bin("routerd").parent().unwrap().to_path_buf();
    for b in ["routerctl", "ispemu"] {
        bin(b);
    }
    let demo = Demo {
        root: root.clone(),
        project: format!("routerd-ci{}", std::process::id()),
        tag: format!("ci{}", std::process::id()),
    };

    // Images from this build's binaries (compose/build-images.sh, no registry).
    let build = Command::new("timeout")
        .arg("300")
        .arg(root.join("compose/build-images.sh"))
        .arg(&demo.tag)
        .env("BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    assert!(
        ok(&build),
        "build-images: {}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );

    let started = Instant::now();
    let up = demo.compose().args(["up", "-d"]).output().unwrap();
    assert!(ok(&up), "up: {}", String::from_utf8_lossy(&up.stderr));
    demo.until(Duration::from_secs(60), "router healthy", || demo.health() == "healthy");
    let healthy = started.elapsed();

    // The client's lease, from routerd's DHCPv4 server.
    let mut lease = String::new();
    demo.until(Duration::from_secs(30), "client lease", || {
        let (got, text) = demo.exec("client", &["cat", "/tmp/lease"]);
        lease = text;
        got
    });
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

    // Names through the router: its own, and one forwarded to the ISP's resolver.
    let (_, printer) =
        demo.exec("client", &["nslookup", "-type=a", "printer.home.arpa", "192.168.1.1"]);
    assert!(printer.contains("192.168.1.20"), "{printer}");
    let (_, www) = demo.exec("client", &["nslookup", "-type=a", "www.example.test", "192.168.1.1"]);
    assert!(www.contains("203.0.113.10"), "{www}");

    // The stand-in internet, through PPPoE and NAT: ping and a web page by name.
    let reach = || {
        let (pinged, _) = demo.exec("client", &["ping", "-c", "1", "-W", "2", "203.0.113.10"]);
        let (fetched, page) =
            demo.exec("client", &["wget", "-q", "-O", "-", "http://www.example.test/"]);
        pinged && fetched && page.contains("stand-in internet")
    };
    demo.until(Duration::from_secs(10), "client reaches the stand-in internet", reach);

    // The ISP drops the session; routerd redials and the client works again, untouched.
    let (_, before) = demo.exec("isp", &["ispemu", "ctl", "sessions"]);
    let (sent, answer) = demo.exec("isp", &["ispemu", "ctl", "padt", "all"]);
    assert!(sent && answer.starts_with("ok"), "{answer}");
    demo.until(Duration::from_secs(30), "a new PPPoE session", || {
        let (_, now) = demo.exec("isp", &["ispemu", "ctl", "sessions"]);
        now.contains("\"session_id\"") && now != before
    });
    demo.until(Duration::from_secs(30), "router healthy after the PADT", || {
        demo.exec("router", &["routerctl", "status", "--check"]).0
    });
    demo.until(Duration::from_secs(30), "client reaches the internet after the PADT", reach);

    // Everything goes: containers, networks, the state volume, the images.
    drop(demo);
    let left = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let pid = std::process::id();
    let project = format!("routerd-ci{pid}");
    let filter = format!("label=com.docker.compose.project={project}");
    assert_eq!(left(&["ps", "-aq", "--filter", &filter]), "", "containers left");
    assert_eq!(left(&["network", "ls", "-q", "--filter", &filter]), "", "networks left");
    assert_eq!(left(&["volume", "ls", "-q", "--filter", &filter]), "", "volumes left");
    let images =
        left(&["image", "ls", "-q", "--filter", &format!("reference=routerd-demo-*:ci{pid}")]);
    assert_eq!(images, "", "images left");
}
