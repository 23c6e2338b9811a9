//! `ispemu`: an emulated ISP for the conformance tests and the demo.
//!
//! It serves PPPoE on an interface (optionally on a VLAN, as KPN's VLAN 6) with the access
//! concentrator of the `pppoe` crate, authenticates subscribers (`none`, `pap`, `chap`) against
//! configured accounts, hands out IPv4 addresses and DNS servers by IPCP, runs IPv6CP, and
//! carries each session's traffic to the TUN device `isp0`, from where the kernel of the
//! ISP's namespace routes it to the stand-in internet. A control socket (`ispemu ctl`) injects
//! faults at run time.
//!
//! It is also the DHCPv6 delegating router (the one DHCPv6 server of the `dhcpv6` crate, on
//! `isp0`, with no on-link prefixes): each subscriber gets a `pd_length` prefix of `pd_pool`
//! (default a /48 of 2001:db8:1000::/36), routed into its session; the bindings are kept in
//! `state_dir`.

pub mod config;
mod control;
mod iptv;
mod pd;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use netcfg::{Family, Netcfg};
use pppoe::driver::ac::{self, Control};
use pppoe::{AcConfig, AuthKind, Secrets};
use tokio::sync::{mpsc, watch};

pub use config::Config;

/// Errors of the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PPPoE driver failed.
    #[error(transparent)]
    Driver(#[from] pppoe::driver::Error),
    /// The DHCPv6 delegating router failed.
    #[error(transparent)]
    Pd(#[from] dhcpv6::driver::server::Error),
    /// The TUN device or its link-local address did not appear in time.
    #[error("interface {0}: no usable link-local address")]
    NoLinkLocal(String),
    /// Network configuration failed.
    #[error(transparent)]
    Netcfg(#[from] netcfg::Error),
    /// The control socket failed.
    #[error("control socket {path}: {source}")]
    Control {
        /// Its path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Knobs shared with the control socket.
pub(crate) struct Faults {
    pub reject_auth: AtomicBool,
}

/// Builds the access concentrator's machine config from ours.
fn ac_config(cfg: &Config, faults: Arc<Faults>) -> AcConfig {
    let users: Vec<(Vec<u8>, Vec<u8>)> = cfg
        .users
        .iter()
        .map(|u| (u.name.as_bytes().to_vec(), u.password.as_bytes().to_vec()))
        .collect();
    let secrets = Secrets::from_fn(move |user| {
        if faults.reject_auth.load(Ordering::Relaxed) {
            return None;
        }
        users.iter().find(|(u, _)| u == user).map(|(_, p)| p.clone())
    });
    let seed = u64::from(std::process::id()) ^ 0x1559_e300;
    let mut ac = AcConfig::new([0; 6], secrets, seed);
    ac.vlan = cfg.vlan.map(pppoe::wire::Vlan::id);
    ac.ac_name = cfg.ac_name.as_bytes().to_vec();
    ac.auth = match cfg.auth {
        config::Auth::None => None,
        config::Auth::Pap => Some(AuthKind::Pap),
        config::Auth::Chap => Some(AuthKind::ChapMd5),
    };
    ac.local_ipv4 = cfg.local_ipv4();
    ac.pool = cfg.ipv4_pool.hosts().skip(1).collect();
    ac.dns = cfg.dns.clone();
    ac.ipv6 = cfg.ipv6;
    ac.max_payload = cfg.max_payload;
    ac.echo_interval = (!cfg.echo_interval.is_zero()).then_some(cfg.echo_interval);
    ac.echo_failures = cfg.echo_failures;
    ac
}

/// Runs the ISP until `shutdown` turns true (in the calling thread's network namespace).
pub async fn run(cfg: Config, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let nc = Netcfg::new()?;
    // The ISP routes between its subscribers and the internet.
    nc.set_forwarding("all", Family::V4, true)?;
    nc.set_forwarding("all", Family::V6, true)?;
    let faults = Arc::new(Faults { reject_auth: AtomicBool::new(false) });
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel::<Control>();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (pd_ctl, pd_shutdown) = (ctl_tx.clone(), shutdown.clone());
    let (pd_tx, pd_rx) = mpsc::unbounded_channel();
    let control = control::Handles {
        ac: ctl_tx,
        pd: pd_tx,
        faults: faults.clone(),
        pd_length: cfg.pd_length,
    };
    let server = control::serve(cfg.control_socket.clone(), control).await?;
    tokio::spawn(async move { while ev_rx.recv().await.is_some() {} });
    let pd_cfg = cfg.clone();
    let pd = (cfg.ipv6 && cfg.pd).then(|| {
        tokio::spawn(async move {
            if let Err(e) = pd::run(&pd_cfg, pd_ctl, pd_rx, pd_shutdown).await {
                tracing::error!(error = %e, "ispemu: delegating router stopped");
            }
        })
    });
    let iptv = cfg.iptv.clone().map(|t| {
        let (dir, stop) = (cfg.state_dir().join("iptv"), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = iptv::run(t, dir, stop).await {
                tracing::error!(error = %e, "ispemu: iptv stopped");
            }
        })
    });
    let result = ac::run(
        cfg.interface.clone(),
        cfg.tun.clone(),
        ac_config(&cfg, faults),
        ctl_rx,
        ev_tx,
        shutdown,
    )
    .await;
    server.abort();
    if let Some(pd) = pd {
        pd.abort();
    }
    if let Some(t) = iptv {
        t.abort();
    }
    let _ = std::fs::remove_file(&cfg.control_socket);
    result.map_err(Error::from)
}
