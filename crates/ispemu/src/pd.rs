//! The delegating router: `dhcpv6pd`'s server on the TUN device, and a route into the
//! session of whoever a prefix was delegated to.
//!
//! A session is found by the client's source address: its link-local address is
//! fe80::<IPv6CP interface identifier>, which the access concentrator knows as
//! `Link.ipv6.peer_id`.

use dhcpv6pd::driver::{self, ServerCommand, ServerEvent};
use dhcpv6pd::{Pool, ServerConfig};
use pppoe::driver::ac::Control;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::{Config, Error};

/// The server's DUID-EN (RFC 8415 §11.3): enterprise 32473 (RFC 5612, documentation), "ispemu".
const DUID: [u8; 12] = [0x00, 0x02, 0x00, 0x00, 0x7e, 0xd9, b'i', b's', b'p', b'e', b'm', b'u'];

/// Runs the delegating router on `cfg.tun` until `shutdown`, routing each delegated prefix
/// into its session through `ctl`.
pub(crate) async fn run(
    cfg: &Config,
    ctl: mpsc::UnboundedSender<Control>,
    commands: mpsc::UnboundedReceiver<ServerCommand>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let pool = Pool {
        base: cfg.pd_pool.network(),
        base_len: cfg.pd_pool.prefix_len(),
        delegated_len: cfg.pd_length,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = driver::run_server_with(
        cfg.tun.clone(),
        ServerConfig::new(DUID.to_vec(), pool),
        tx,
        commands,
        shutdown,
    );
    let route = async move {
        while let Some(ServerEvent::Delegated { peer, prefix, len, .. }) = rx.recv().await {
            let id = (u128::from(*peer.ip()) & u128::from(u64::MAX)) as u64;
            let (stx, srx) = oneshot::channel();
            if ctl.send(Control::Sessions(stx)).is_err() {
                return;
            }
            let sessions = srx.await.unwrap_or_default();
            match sessions.iter().find(|l| l.ipv6.is_some_and(|v| v.peer_id == id)) {
                Some(l) => {
                    info!(session = l.session_id, %prefix, len, "ispemu: prefix routed");
                    let _ = ctl.send(Control::RouteV6 { session_id: l.session_id, prefix, len });
                }
                None => warn!(%peer, %prefix, len, "ispemu: delegated to no known session"),
            }
        }
    };
    let (result, ()) = tokio::join!(server, route);
    result.map_err(Error::from)
}
