//! What `routerctl` shows: the router's state, kept by `run` and served on the control
//! socket, one JSON document per request line (`status`, `wan`, `leases`, `prefixes`), and
//! the bus's events as they happen, a JSON line each (`events`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::broadcast;

use crate::bus::Event;

/// The WAN as it is now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WanStatus {
    /// `dialing`, `up` or `down`.
    pub state: String,
    /// Why it last went down.
    pub last_down: Option<String>,
    /// The public IPv4 address.
    pub ipv4: Option<String>,
    /// The ISP's end.
    pub peer: Option<String>,
    /// DNS servers learned.
    pub dns: Vec<String>,
    /// The session's MTU.
    pub mtu: Option<u16>,
    /// PPPoE session id.
    pub session_id: Option<u16>,
}

/// One DHCP lease.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseStatus {
    /// The LAN.
    pub lan: String,
    /// The address.
    pub address: String,
    /// The client's host name.
    pub hostname: Option<String>,
    /// Seconds since the epoch when it ends.
    pub expires: u64,
}

/// Where a supervised service is in its life (`routerctl status` shows it in lower case).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Spawned, not started yet.
    #[default]
    Starting,
    /// Its future runs.
    Running,
    /// Stopped on purpose by a reload, starting again at once.
    Restarting,
    /// It failed (or ended on its own) and waits out its back-off before starting again.
    Backoff,
    /// Shut down with routerd.
    Stopped,
}

impl std::fmt::Display for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServiceState::Starting => "starting",
            ServiceState::Running => "running",
            ServiceState::Restarting => "restarting",
            ServiceState::Backoff => "backoff",
            ServiceState::Stopped => "stopped",
        })
    }
}

/// One supervised service.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Where it is in its life.
    pub state: ServiceState,
    /// How often it was started again after a failure or a reload.
    pub restarts: u32,
    /// Why it last failed.
    pub last_error: Option<String>,
}

/// Everything `routerctl status` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Each service and its state.
    pub services: BTreeMap<String, ServiceStatus>,
    /// The WAN.
    pub wan: WanStatus,
    /// Delegated prefixes.
    pub prefixes: Vec<String>,
    /// LANs and their addresses.
    pub lans: BTreeMap<String, Vec<String>>,
    /// Current leases by address.
    pub leases: BTreeMap<String, LeaseStatus>,
    /// What the last reload (SIGHUP) did: `applied: ...` or `refused: ...`.
    pub reload: Option<String>,
    /// How many reloads were asked for (applied or refused).
    pub reloads: u32,
    /// Milliseconds from start until the WAN was up and a prefix delegated and numbered.
    pub ready_after_ms: Option<u128>,
}

impl Status {
    /// Up: the WAN carries IPv4 and no service failed (what a container health check asks).
    pub fn healthy(&self) -> bool {
        self.wan.state == "up" && self.services.values().all(|s| s.state == ServiceState::Running)
    }
}

/// The shared state.
pub type Shared = Arc<Mutex<Status>>;

/// Serves the control socket at `path` until the task is aborted. `events` streams the bus's
/// events, one JSON line each, until the client goes away.
pub fn serve(
    path: &Path,
    status: Shared,
    events: broadcast::Sender<Event>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (status, events) = (status.clone(), events.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.trim() == "events" {
                        stream_events(events.subscribe(), &mut w).await;
                        break;
                    }
                    let answer = answer(line.trim(), &status);
                    if w.write_all(format!("{answer}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }))
}

/// Writes every event as a JSON line until the client closes (or falls behind by more than
/// the channel holds: then a `lagged` line says how many were missed).
async fn stream_events(
    mut rx: broadcast::Receiver<Event>,
    w: &mut tokio::net::unix::OwnedWriteHalf,
) {
    loop {
        let line = match rx.recv().await {
            Ok(ev) => event_json(&ev),
            Err(broadcast::error::RecvError::Lagged(n)) => serde_json::json!({ "lagged": n }),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

/// An event as `routerctl events --json` shows it.
pub fn event_json(ev: &Event) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (kind, detail) = match ev {
        Event::WanUp => ("wan_up", serde_json::Value::Null),
        Event::WanDown(why) => ("wan_down", serde_json::json!({ "reason": why })),
        Event::Ipv4Acquired(a) => ("ipv4_acquired", serde_json::json!({ "address": a })),
        Event::Ipv4Lost => ("ipv4_lost", serde_json::Value::Null),
        Event::PrefixDelegated(p) => {
            let p: Vec<String> = p.iter().map(|p| format!("{}/{}", p.prefix, p.len)).collect();
            ("prefix_delegated", serde_json::json!({ "prefixes": p }))
        }
        Event::PrefixLost => ("prefix_lost", serde_json::Value::Null),
        Event::LeaseGranted { lan, address, hostname } => (
            "lease_granted",
            serde_json::json!({ "lan": lan, "address": address, "hostname": hostname }),
        ),
        Event::LeaseReleased { lan, address } => {
            ("lease_released", serde_json::json!({ "lan": lan, "address": address }))
        }
        Event::ConfigReloaded => ("config_reloaded", serde_json::Value::Null),
    };
    serde_json::json!({ "time": now, "event": kind, "detail": detail })
}

fn answer(cmd: &str, status: &Shared) -> String {
    let s = status.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let v = match cmd {
        "status" => serde_json::json!({ "healthy": s.healthy(), "status": s }),
        "wan" => serde_json::to_value(&s.wan).unwrap_or_default(),
        "leases" => serde_json::to_value(s.leases.values().collect::<Vec<_>>()).unwrap_or_default(),
        "prefixes" => serde_json::to_value(&s.prefixes).unwrap_or_default(),
        other => {
            serde_json::json!({ "error": format!("unknown command {other:?}: status, wan, leases, prefixes, events") })
        }
    };
    v.to_string()
}
