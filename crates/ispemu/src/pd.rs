//! The delegating router: the one DHCPv6 server (`dhcpv6::driver::server`) on the TUN device
//! as a pure delegating router (no on-link prefixes, a PD pool), and a route into the session
//! of whoever a prefix was delegated to.
//!
//! A session is found by the client's source address: its link-local address is
//! fe80::<IPv6CP interface identifier>, which the access concentrator knows as
//! `Link.ipv6.peer_id`.

use std::time::Duration;

use dhcpv6::driver::server::{self as driver6, Driver6Config};
use dhcpv6::server::{Event6, PdPool, Server6Config};
use ipnet::Ipv6Net;
use pppoe::driver::ac::Control;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::{Config, Error};

/// The server's DUID-EN (RFC 8415 §11.3): enterprise 32473 (RFC 5612, documentation), "ispemu".
const DUID: [u8; 12] = [0x00, 0x02, 0x00, 0x00, 0x7e, 0xd9, b'i', b's', b'p', b'e', b'm', b'u'];

/// How long to wait for the TUN device and its link-local address.
const LINK_WAIT: Duration = Duration::from_secs(30);

/// What the control socket can ask of the delegating router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PdCommand {
    /// Delegate from another pool: held prefixes outside it are answered with lifetimes 0 at
    /// the client's next Renew or Rebind, beside a new one (a renumbering ISP).
    SetPool(Ipv6Net),
    /// Reconfigure to every client that agreed to it.
    ReconfigureAll,
}

/// The pool of `cfg` or `net`, in `cfg.pd_length`s.
fn pool(net: Ipv6Net, len: u8) -> PdPool {
    PdPool { prefix: net.trunc(), delegated_len: len }
}

/// Runs the delegating router on `cfg.tun` until `shutdown`, routing each delegated prefix
/// into its session through `ctl`.
pub(crate) async fn run(
    cfg: &Config,
    ctl: mpsc::UnboundedSender<Control>,
    mut commands: mpsc::UnboundedReceiver<PdCommand>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let nc = netcfg::Netcfg::new()?;
    tokio::select! {
        r = nc.wait_link_local(&cfg.tun, LINK_WAIT) => if r.is_none() {
            return Err(Error::NoLinkLocal(cfg.tun.clone()));
        },
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    }
    let mut server = Server6Config::new(DUID.to_vec(), Vec::new());
    server.pd_pool = Some(pool(cfg.pd_pool, cfg.pd_length));
    (server.preference, server.reconfigure) = (0, true);
    let dcfg = Driver6Config::new(&cfg.tun, cfg.state_dir(), server);
    let (handle, control) = driver6::control();
    let (tx, mut rx) = mpsc::channel(64);
    let mut stop = shutdown.clone();
    let server = driver6::run(dcfg, Some(tx), control, async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let commands = async move {
        while let Some(cmd) = commands.recv().await {
            let r = match cmd {
                PdCommand::SetPool(net) => {
                    let p = pool(net, cfg.pd_length);
                    handle.set_prefixes(Vec::new(), Some(p)).await.map(|()| 0)
                }
                PdCommand::ReconfigureAll => handle.reconfigure_all().await,
            };
            match r {
                Ok(n) => info!(?cmd, clients = n, "ispemu: delegating router told"),
                Err(e) => warn!(?cmd, error = %e, "ispemu: delegating router refused"),
            }
        }
        std::future::pending::<()>().await;
    };
    let route = async move {
        while let Some(ev) = rx.recv().await {
            let Event6::LeaseGranted(lease) = ev else { continue };
            let Some(peer) = lease.peer else { continue };
            for &(prefix, len) in &lease.addresses {
                let id = (u128::from(*peer.ip()) & u128::from(u64::MAX)) as u64;
                let (stx, srx) = oneshot::channel();
                if ctl.send(Control::Sessions(stx)).is_err() {
                    return;
                }
                let sessions = srx.await.unwrap_or_default();
                match sessions.iter().find(|l| l.ipv6.is_some_and(|v| v.peer_id == id)) {
                    Some(l) => {
                        info!(session = l.session_id, %prefix, len, "ispemu: prefix routed");
                        let _ =
                            ctl.send(Control::RouteV6 { session_id: l.session_id, prefix, len });
                    }
                    None => warn!(%peer, %prefix, len, "ispemu: delegated to no known session"),
                }
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        r = server => r.map_err(Error::from),
        () = commands => Ok(()),
        () = route => Ok(()),
    }
}
