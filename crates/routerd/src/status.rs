//! What `routerctl` shows: the router's state, projected from the bus when asked and served
//! on the control socket, one JSON document per request line (`status`, `wan`, `leases`, `prefixes`), and
//! the bus's events as they happen, a JSON line each (`events`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::broadcast;

use crate::bus::{Bus, Event, HostLease, WanPhase};
use crate::service::{ServiceId, ServiceState, ServiceStatus};

/// The WAN as it is now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WanStatus {
    /// `dialing`, `dhcp: discovering`, `up` or `down` ([`WanPhase`]).
    pub state: String,
    /// Why it last went down ([`crate::bus::DownReason`]).
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
    /// Seconds since it came up (while up).
    pub uptime_s: Option<u64>,
}

/// Everything `routerctl status` shows: a projection of the bus ([`Status::of`]), made when
/// it is asked for; nothing here is kept or written anywhere else.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Each service and its state.
    pub services: BTreeMap<ServiceId, ServiceStatus>,
    /// The WAN.
    pub wan: WanStatus,
    /// Delegated prefixes.
    pub prefixes: Vec<String>,
    /// LANs and their addresses.
    pub lans: BTreeMap<String, Vec<String>>,
    /// Current leases by address.
    pub leases: BTreeMap<crate::bus::Leased, HostLease>,
    /// What the last reload (SIGHUP) did: `applied: ...`, `refused: ...` or `failed: ...`.
    pub reload: Option<String>,
    /// How many reloads were asked for (applied or refused).
    pub reloads: u32,
    /// Milliseconds from start until the WAN was up and a prefix delegated and numbered.
    pub ready_after_ms: Option<u128>,
    /// The extra WAN links (IPTV), when configured.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, crate::bus::ExtraLink>,
    /// The IGMP proxy, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub igmp: Option<IgmpStatus>,
    /// The firewall's fast path.
    pub fast_path: crate::bus::FastPath,
}

/// The IGMP proxy as `routerctl` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IgmpStatus {
    /// Per LAN, its joined groups.
    pub lans: BTreeMap<String, Vec<IgmpGroup>>,
    /// The groups joined upstream.
    pub upstream: Vec<String>,
    /// The kernel's forwarding entries that forward: `source -> group`.
    pub forwarding: Vec<String>,
}

/// A group on a LAN.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IgmpGroup {
    /// The group.
    pub group: String,
    /// The hosts that reported it.
    pub members: Vec<String>,
    /// Only these sources (a source-specific join); empty: any source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Seconds until it expires unless reported again.
    pub expires_s: u64,
}

impl IgmpStatus {
    fn of(s: &igmp::driver::Status, lans: &[String]) -> Self {
        let mut by_lan: BTreeMap<String, Vec<IgmpGroup>> =
            lans.iter().map(|l| (l.clone(), Vec::new())).collect();
        for g in &s.groups {
            let Some(lan) = lans.get(g.downstream) else { continue };
            by_lan.entry(lan.clone()).or_default().push(IgmpGroup {
                group: g.group.to_string(),
                members: g.members.iter().map(ToString::to_string).collect(),
                sources: g.sources.iter().map(ToString::to_string).collect(),
                expires_s: g.expires_in.as_secs(),
            });
        }
        IgmpStatus {
            lans: by_lan,
            upstream: s.upstream.iter().map(|(g, _)| g.to_string()).collect(),
            forwarding: s.routes.iter().map(|(src, g, _)| format!("{src} -> {g}")).collect(),
        }
    }
}

impl Status {
    /// The status as the bus has it now.
    pub fn of(bus: &Bus) -> Self {
        let (link, state) = (bus.wan.borrow().clone(), bus.wan_state.borrow().clone());
        let delegation = bus.delegation.borrow().clone();
        let config = bus.config.borrow().clone();
        let reloads = bus.reloads.borrow().clone();
        let up = state.phase == WanPhase::Up;
        let wan = WanStatus {
            state: state.phase.to_string(),
            last_down: state.last_down.map(|r| r.to_string()),
            ipv4: link.ipv4.filter(|_| up).map(|a| a.to_string()),
            peer: link.peer.filter(|_| up).map(|a| a.to_string()),
            dns: if up { link.dns.iter().map(ToString::to_string).collect() } else { Vec::new() },
            mtu: link.mtu.filter(|_| up),
            session_id: state.session_id.filter(|_| up),
            uptime_s: state.up_since.filter(|_| up).map(|t| t.elapsed().as_secs()),
        };
        // Each LAN's own addresses, and those the plan numbers it with from the delegation.
        let plan = bus.plan.borrow().clone();
        let lans = config
            .lan
            .iter()
            .map(|l| {
                let l = l.get_ref();
                let own = l
                    .ipv4
                    .iter()
                    .map(ToString::to_string)
                    .chain(l.ula.iter().map(ToString::to_string));
                let numbered = plan.sites.get(&l.name).into_iter().flat_map(|s| &s.numbered);
                (l.name.clone(), own.chain(numbered.map(|n| n.address.to_string())).collect())
            })
            .collect();
        Status {
            services: bus.services.borrow().clone(),
            wan,
            prefixes: delegation
                .prefixes
                .iter()
                .map(|p| format!("{}/{}", p.prefix, p.len))
                .collect(),
            lans,
            leases: bus.leases.borrow().clone(),
            reload: reloads.last.map(|o| o.to_string()),
            reloads: reloads.count,
            ready_after_ms: bus.ready_after.borrow().map(|d| d.as_millis()),
            extra: bus.extras.borrow().clone(),
            igmp: bus.igmp.borrow().as_ref().map(|s| {
                let lans: Vec<String> = config.igmp_lans().iter().map(|l| l.name.clone()).collect();
                IgmpStatus::of(s, &lans)
            }),
            fast_path: bus.fast_path.borrow().clone(),
        }
    }

    /// Up: the WAN carries traffic and no service failed (what a container health check
    /// asks).
    pub fn healthy(&self) -> bool {
        self.wan.state == WanPhase::Up.to_string()
            && self.services.values().all(|s| s.state == ServiceState::Running)
    }
}

/// Serves the control socket at `path` until the task is aborted. `events` streams the bus's
/// events, one JSON line each, until the client goes away.
pub fn serve(path: &Path, bus: Arc<Bus>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    let clients = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // At most MAX_CLIENTS at once: one more is closed at once (it is root-only, but a
            // stuck client must not grow routerd).
            let Ok(permit) = clients.clone().try_acquire_owned() else {
                tracing::warn!("control socket: too many clients, one refused");
                continue;
            };
            let bus = bus.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                while let Some(line) = request(&mut r).await {
                    if line == "events" {
                        stream_events(bus.events.subscribe(), &mut w).await;
                        break;
                    }
                    let answer = answer(&line, &Status::of(&bus));
                    if w.write_all(format!("{answer}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }))
}

/// Clients served at once on the control socket.
pub const MAX_CLIENTS: usize = 16;
/// The longest request line (the longest command is a few bytes).
pub const MAX_REQUEST: u64 = 256;
/// How long a client may take to send a request.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The next request line, trimmed; `None` at the end, after a line longer than
/// [`MAX_REQUEST`] or one not finished within the timeout (the connection is then closed).
async fn request<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut limited = (&mut *r).take(MAX_REQUEST);
    let read = limited.read_until(b'\n', &mut buf);
    match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(n)) if n > 0 && buf.ends_with(b"\n") => {
            Some(String::from_utf8_lossy(&buf).trim().to_string())
        }
        _ => None,
    }
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
        Event::WanDown(why) => ("wan_down", serde_json::json!({ "reason": why.to_string() })),
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

/// The answer to one control-socket command (`status` is also `/api/status`).
pub fn answer(cmd: &str, s: &Status) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::bus::{DownReason, ReloadOutcome, WanLink, WanState};
    use crate::config::tests::example;

    /// The status is what the bus holds, and nothing else: each channel moves its field.
    #[test]
    fn status_is_a_projection_of_the_bus() {
        let (text, dir) = example();
        let bus = Bus::new(crate::config::load(&text, &dir).unwrap(), Vec::new());
        let s = Status::of(&bus);
        assert_eq!((s.wan.state.as_str(), s.healthy()), ("down", false));
        assert_eq!(s.lans["lan"], vec!["192.168.1.1/24", "fd12:3456:789a:1::1/64"]);

        bus.services.send_modify(|m| {
            m.insert(ServiceId::Wan, ServiceStatus::default());
        });
        let link =
            WanLink { up: true, ipv4: Some("198.51.100.2".parse().unwrap()), ..Default::default() };
        bus.wan.send_replace(link);
        bus.wan_state.send_replace(WanState {
            phase: WanPhase::Up,
            last_down: None,
            session_id: Some(7),
            up_since: Some(std::time::Instant::now()),
            ..WanState::default()
        });
        let s = Status::of(&bus);
        assert_eq!((s.wan.state.as_str(), s.wan.ipv4.as_deref()), ("up", Some("198.51.100.2")));
        assert_eq!((s.wan.session_id, s.wan.uptime_s), (Some(7), Some(0)));
        assert!(!s.healthy(), "a service that is not running yet is not healthy");
        bus.services
            .send_modify(|m| m.get_mut(&ServiceId::Wan).unwrap().state = ServiceState::Running);
        assert!(Status::of(&bus).healthy());

        let reason = DownReason::Pppoe(pppoe::DownReason::Padt);
        bus.wan_state.send_replace(WanState {
            phase: WanPhase::Down,
            last_down: Some(reason),
            ..WanState::default()
        });
        let s = Status::of(&bus);
        assert_eq!((s.wan.state.as_str(), s.wan.last_down.as_deref()), ("down", Some("Padt")));
        assert_eq!((s.wan.ipv4, s.wan.session_id), (None, None), "nothing of a link that is down");

        bus.reloads.send_modify(|r| {
            r.count = 2;
            r.last = Some(ReloadOutcome::RestartFailed(vec![(ServiceId::Wan, "boom".into())]));
        });
        let s = Status::of(&bus);
        assert_eq!((s.reload.as_deref(), s.reloads), (Some("failed: restart of wan: boom"), 2));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["services"]["wan"]["state"], "running");
    }
}

#[cfg(test)]
mod control_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A request line is bounded: an endless line ends the connection instead of growing a
    /// buffer; ordinary ones are read, one after another.
    #[tokio::test]
    async fn requests_are_bounded_in_length() {
        let input = b"status\n wan \n".to_vec();
        let mut r = BufReader::new(&input[..]);
        assert_eq!(request(&mut r).await.as_deref(), Some("status"));
        assert_eq!(request(&mut r).await.as_deref(), Some("wan"));
        assert_eq!(request(&mut r).await, None);
        let long = vec![b'x'; 10 * 1024 * 1024];
        let mut r = BufReader::new(&long[..]);
        assert_eq!(request(&mut r).await, None, "a 10 MB line is no request");
    }
}
