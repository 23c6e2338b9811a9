//! The control socket: one command per line, one answer per line.
//!
//! | command | answer |
//! | --- | --- |
//! | `sessions` | JSON array of sessions: id, mac, ipv4, dns, mtu, ipv6 ids, user |
//! | `padt ID` / `padt all` | PADT at once (what an AC restart does) |
//! | `terminate ID` / `terminate all` | LCP Terminate-Request, then PADT |
//! | `padi on` / `padi off` | answer PADIs or go silent |
//! | `echo on` / `echo off` | answer LCP Echo-Requests or not |
//! | `auth on` / `auth off` | accept valid credentials, or reject everyone |
//! | `pd pool PREFIX/LEN` | delegate from another pool: held prefixes outside it are ended at the client's next Renew/Rebind (a renumbering ISP) |
//! | `pd reconfigure` | send Reconfigure to every client that agreed to it |

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pppoe::AcCommand;
use pppoe::driver::ac::Control;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::pd::PdCommand;
use crate::{Error, Faults};

/// What the control socket drives.
#[derive(Clone)]
pub(crate) struct Handles {
    /// The access concentrator.
    pub ac: mpsc::UnboundedSender<Control>,
    /// The delegating router.
    pub pd: mpsc::UnboundedSender<PdCommand>,
    /// Injected faults.
    pub faults: Arc<Faults>,
    /// The delegated prefix length.
    pub pd_length: u8,
}

pub(crate) async fn serve(
    path: PathBuf,
    handles: Handles,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let err = |source| Error::Control { path: path.display().to_string(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(err)?;
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let h = handles.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let answer = handle(&line, &h).await;
                    if w.write_all(format!("{answer}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }))
}

async fn sessions(ctl: &mpsc::UnboundedSender<Control>) -> Vec<pppoe::Link> {
    let (tx, rx) = oneshot::channel();
    if ctl.send(Control::Sessions(tx)).is_err() {
        return Vec::new();
    }
    rx.await.unwrap_or_default()
}

async fn handle(line: &str, h: &Handles) -> String {
    let (ctl, faults) = (&h.ac, &h.faults);
    let words: Vec<&str> = line.split_whitespace().collect();
    let on = |w: Option<&&str>| match w {
        Some(&"on") => Some(true),
        Some(&"off") => Some(false),
        _ => None,
    };
    let send =
        |c: Control| if ctl.send(c).is_ok() { "ok".to_string() } else { "error: stopped".into() };
    match words.as_slice() {
        ["sessions"] => {
            let list: Vec<_> = sessions(ctl)
                .await
                .iter()
                .map(|l| {
                    json!({
                        "session_id": l.session_id,
                        "mac": l.peer_mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
                        "ipv4": l.ipv4.as_ref().map(|v| v.peer.to_string()),
                        "dns": l.ipv4.as_ref().map(|v| v.dns.iter().map(ToString::to_string).collect::<Vec<_>>()),
                        "mtu": l.mtu,
                        "ipv6_peer_id": l.ipv6.map(|v| format!("{:016x}", v.peer_id)),
                        "user": l.peer_name.as_deref().map(|n| String::from_utf8_lossy(n).into_owned()),
                    })
                })
                .collect();
            serde_json::Value::Array(list).to_string()
        }
        [verb @ ("padt" | "terminate"), which] => {
            let ids: Vec<u16> = if *which == "all" {
                sessions(ctl).await.iter().map(|l| l.session_id).collect()
            } else {
                match which.parse() {
                    Ok(id) => vec![id],
                    Err(_) => return format!("error: bad session id {which:?}"),
                }
            };
            for session_id in &ids {
                let cmd = if *verb == "padt" {
                    AcCommand::Padt { session_id: *session_id }
                } else {
                    AcCommand::Terminate { session_id: *session_id }
                };
                let _ = ctl.send(Control::Ac(cmd));
            }
            format!("ok {}", ids.len())
        }
        ["padi", w] => on(Some(w))
            .map_or("error: on|off".into(), |b| send(Control::Ac(AcCommand::AnswerPadi(b)))),
        ["echo", w] => on(Some(w)).map_or("error: on|off".into(), |b| send(Control::AnswerEcho(b))),
        ["auth", w] => on(Some(w)).map_or("error: on|off".into(), |b| {
            faults.reject_auth.store(!b, Ordering::Relaxed);
            "ok".into()
        }),
        ["pd", "pool", net] => match net.parse::<ipnet::Ipv6Net>() {
            Ok(n) if n.prefix_len() <= h.pd_length => {
                if h.pd.send(PdCommand::SetPool(n)).is_ok() {
                    "ok".into()
                } else {
                    "error: no delegating router".into()
                }
            }
            _ => format!("error: {net:?} is not a prefix of at most /{}", h.pd_length),
        },
        ["pd", "reconfigure"] => {
            if h.pd.send(PdCommand::ReconfigureAll).is_ok() {
                "ok".into()
            } else {
                "error: no delegating router".into()
            }
        }
        _ => {
            format!(
                "error: unknown command {line:?} (sessions, padt, terminate, padi, echo, auth, pd)"
            )
        }
    }
}
