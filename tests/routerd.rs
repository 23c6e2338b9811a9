//! routerd as the end-to-end tests run it: a process in the router's namespace started from
//! `DIR/routerd.toml`, logging to `DIR/routerd.log`, asked with `routerctl` on
//! `DIR/control.sock` (the configuration's `[control] socket` must name it).

use std::cell::RefCell;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use netlab::{Netns, ProcessGuard};

use crate::wan::bin;
use crate::{Ready, Signal, signal, timed_out, try_wait_for};

/// Writes `text` to `DIR/routerd.toml` and checks it with `routerd check` (panics with what
/// it said when it refuses it): a test's configuration is valid before routerd runs it.
pub fn write_config(dir: &Path, text: &str) {
    let path = dir.join("routerd.toml");
    std::fs::write(&path, text).expect("routerd.toml");
    let check = std::process::Command::new(bin("routerd"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("routerd check");
    assert!(check.status.success(), "routerd check: {}", String::from_utf8_lossy(&check.stderr));
}

/// A running routerd, which a test may kill and start again. Dropping it kills it.
pub struct Routerd {
    ns: Netns,
    dir: PathBuf,
    process: RefCell<ProcessGuard>,
    env: Vec<(String, String)>,
}

impl Routerd {
    /// Starts `routerd run --config DIR/routerd.toml` in `ns`, its output to a new
    /// `DIR/routerd.log`.
    pub fn start(ns: &Netns, dir: &Path) -> Routerd {
        Self::start_with_env(ns, dir, &[])
    }

    /// The same with these environment variables set (`NOTIFY_SOCKET`, `WATCHDOG_USEC`: as
    /// systemd starts it).
    pub fn start_with_env(ns: &Netns, dir: &Path, env: &[(&str, String)]) -> Routerd {
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
        let process = RefCell::new(spawn(ns, dir, &env));
        Routerd { ns: ns.clone(), dir: dir.to_owned(), process, env }
    }

    /// Its configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("routerd.toml")
    }

    /// What it logged since it was (re)started.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("routerd.log")).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.borrow_mut().child().id()
    }

    /// Sends it `sig`.
    pub fn signal(&self, sig: Signal) {
        signal(self.process.borrow_mut().child(), sig);
    }

    /// SIGKILL, and reaped: it cleans up nothing (the ISP still holds the session).
    pub fn kill(&self) {
        let mut p = self.process.borrow_mut();
        let _ = p.child().kill();
        let _ = p.child().wait();
    }

    /// Starts it again on the same configuration and state (a new log).
    pub fn restart(&self) {
        let new = spawn(&self.ns, &self.dir, &self.env);
        *self.process.borrow_mut() = new;
    }

    /// How it exited, if it did.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.process.borrow_mut().child().try_wait().ok().flatten()
    }

    /// `routerctl ARGS` on its control socket: whether it succeeded, and what it printed.
    pub fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(bin("routerctl"))
            .arg("--socket")
            .arg(self.dir.join("control.sock"))
            .args(args)
            .output()
            .expect("run routerctl");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `routerctl WHAT --json`, parsed (`Null` when it answered nothing parsable).
    pub fn json(&self, what: &str) -> serde_json::Value {
        serde_json::from_str(&self.ctl(&[what, "--json"]).1).unwrap_or(serde_json::Value::Null)
    }

    /// `routerctl status --check`: the WAN is up and no service failed.
    pub fn healthy(&self) -> bool {
        self.ctl(&["status", "--check"]).0
    }

    /// Its resident set (VmRSS) now, in KiB; 0 if it is gone.
    pub fn rss_kib(&self) -> u64 {
        crate::bench::rss_kib(self.pid())
    }

    /// [`crate::wait_for`] with routerd's log in the panic, which comes at once if routerd
    /// exits meanwhile.
    #[track_caller]
    pub fn wait_for<R: Ready>(
        &self,
        limit: Duration,
        what: impl Display,
        mut poll: impl FnMut() -> R,
    ) -> R::Value {
        let r = try_wait_for(limit, || {
            if let Some(st) = self.exited() {
                panic!("routerd exited ({st}) while waiting for {what}:\n{}", self.logs());
            }
            poll()
        });
        match r {
            Ok(v) => v,
            Err(seen) => {
                panic!("{}\n--- routerd log\n{}", timed_out(limit, &what, &seen), self.logs())
            }
        }
    }

    /// SIGTERM, then waits (8 s at most) until it has exited.
    #[track_caller]
    pub fn stop(&self) {
        self.signal(Signal::SIGTERM);
        let limit = Duration::from_secs(8);
        if let Err(seen) = try_wait_for(limit, || self.exited().is_some()) {
            panic!("{}\n{}", timed_out(limit, &"routerd to stop on SIGTERM", &seen), self.logs());
        }
    }
}

fn spawn(ns: &Netns, dir: &Path, env: &[(String, String)]) -> ProcessGuard {
    let log = std::fs::File::create(dir.join("routerd.log")).expect("routerd.log");
    let mut cmd = ns.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(dir.join("routerd.toml"));
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stdout(log.try_clone().expect("routerd.log")).stderr(log);
    ns.spawn_process(&mut cmd).expect("spawn routerd")
}
