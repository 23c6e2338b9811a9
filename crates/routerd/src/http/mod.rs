//! The HTTP endpoint: the status page (`/`), `/api/status` (the JSON `routerctl status
//! --json` prints), `/api/history` (the last hour, for the page's graphs), `/api/firewall`
//! (the counted rules) and Prometheus' `/metrics`. hyper on routerd's tokio runtime.
//!
//! Never on the WAN: it listens only on the LANs' own addresses (or loopback; the
//! configuration refuses anything else), and the firewall opens the port on the LAN
//! interfaces only. Bounded: [`MAX_CONNECTIONS`] at once (one more is closed at once),
//! request heads up to [`MAX_HEAD`] bytes (hyper answers 431 above), [`HEAD_TIMEOUT`] to
//! send one, [`CONNECTION_LIFETIME`] per connection, GET only (no body is ever read). With
//! `[http] token_file`, every data path needs `Authorization: Bearer <token>` (401
//! otherwise); the page itself is public (it holds no data) and takes the token from the
//! URL's fragment (`/#token=...`, never sent to the server or kept in its logs).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::bus::Bus;
use crate::service::{Ready, ServiceId};
use crate::status::Status;
use crate::supervisor::{Stop, Supervisor};

pub mod history;
pub mod metrics;

pub use history::History;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection may stay open (keep-alive included).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// The status page: one self-contained file (HTML, CSS, JS; no external assets).
const PAGE: &str = include_str!("page.html");

/// Serves HTTP on `[http]`'s addresses once the LANs are up (their addresses are on the
/// interfaces then); samples the history for the page's graphs while it runs.
pub fn spawn_http(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    let history = Arc::new(History::new());
    sup.spawn(ServiceId::Http, &[Ready::Lans], move |mut stop: Stop| {
        let (bus, history) = (bus.clone(), history.clone());
        async move {
            let c = bus.config.borrow().clone();
            let token = match &c.http.token_file {
                Some(f) => Some(
                    std::fs::read_to_string(f.get_ref())
                        .map_err(|e| format!("http.token_file {}: {e}", f.get_ref().display()))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            let mut listeners = Vec::new();
            for addr in c.http_listen() {
                let l = TcpListener::bind(addr).await.map_err(|e| format!("bind {addr}: {e}"))?;
                info!(%addr, "http: status page and /metrics");
                listeners.push(l);
            }
            let app = Arc::new(App { bus: bus.clone(), history: history.clone(), token });
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            let mut tasks = tokio::task::JoinSet::new();
            for l in listeners {
                tasks.spawn(accept(l, app.clone(), slots.clone()));
            }
            tasks.spawn(history::sample(bus.clone(), history.clone()));
            let _ = stop.wait_for(|s| *s).await;
            tasks.abort_all();
            Ok::<(), String>(())
        }
    });
}

/// What every request may read.
struct App {
    bus: Arc<Bus>,
    history: Arc<History>,
    token: Option<String>,
}

async fn accept(listener: TcpListener, app: Arc<App>, slots: Arc<Semaphore>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "http: too many connections, one closed");
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, peer, &req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                Ok(Err(e)) => debug!(%peer, error = %e, "http: connection ended"),
                Err(_) => debug!(%peer, "http: connection closed after its lifetime"),
                Ok(Ok(())) => {}
            }
        });
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, kind: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

fn text(status: StatusCode, body: &'static str) -> Reply {
    reply(status, "text/plain; charset=utf-8", body)
}

/// Whether `req` carries the token (or none is configured). Compared in constant time.
fn authorized(app: &App, req: &Request<Incoming>) -> bool {
    let Some(token) = &app.token else { return true };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    given.len() == token.len()
        && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn handle(app: &App, peer: SocketAddr, req: &Request<Incoming>) -> Reply {
    if req.method() != Method::GET {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let path = req.uri().path();
    if path == "/" {
        let mut r = reply(StatusCode::OK, "text/html; charset=utf-8", PAGE);
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
            ),
        );
        return r;
    }
    if !matches!(path, "/metrics" | "/api/status" | "/api/history" | "/api/firewall") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if !authorized(app, req) {
        debug!(%peer, path, "http: no or wrong token");
        let mut r = text(StatusCode::UNAUTHORIZED, "a bearer token is needed\n");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let json = "application/json";
    match path {
        "/metrics" => {
            let counters = firewall_counters(&app.bus).await;
            let body = metrics::Scrape::of(&app.bus, &counters).render();
            reply(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", body)
        }
        "/api/status" => {
            reply(StatusCode::OK, json, crate::status::answer("status", &Status::of(&app.bus)))
        }
        "/api/history" => reply(StatusCode::OK, json, app.history.json()),
        _ => {
            let counters = firewall_counters(&app.bus).await;
            let mut v: Vec<serde_json::Value> = counters
                .rules
                .iter()
                .filter(|r| r.comment.is_some())
                .map(|r| {
                    serde_json::json!({
                        "chain": r.chain, "rule": r.comment, "packets": r.packets, "bytes": r.bytes,
                    })
                })
                .collect();
            // Each port forward's map element: the connections it took.
            let cfg = crate::wiring::fw_config(&app.bus.config.borrow());
            v.extend(counters.forwards.iter().map(|e| {
                let name = fw::model::forward_of(&cfg, &e.map, e.port).map(|f| f.name.clone());
                serde_json::json!({
                    "chain": "prerouting",
                    "rule": format!("forward {}", name.unwrap_or_else(|| e.port.to_string())),
                    "connections": e.packets,
                })
            }));
            reply(StatusCode::OK, json, serde_json::Value::from(v).to_string())
        }
    }
}

/// The firewall's counted rules and port-forward elements, read from the kernel (netlink
/// dumps, off the runtime's threads); none when they cannot be read (logged at debug: a
/// scrape must not fail).
async fn firewall_counters(bus: &Bus) -> metrics::FirewallCounters {
    let table = crate::wiring::fw_config(&bus.config.borrow()).table;
    let read = move || -> Result<metrics::FirewallCounters, fw::Error> {
        Ok(metrics::FirewallCounters {
            rules: fw::Firewall::counters(&table)?,
            forwards: fw::Firewall::forward_counters(&table)?,
        })
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            debug!(error = %e, "http: firewall counters unreadable");
            metrics::FirewallCounters::default()
        }
        Err(_) => metrics::FirewallCounters::default(),
    }
}
