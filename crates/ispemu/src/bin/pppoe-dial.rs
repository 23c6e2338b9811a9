//! `pppoe-dial`: the router's PPPoE WAN alone, for tests and debugging until `routerd` runs
//! it: `pppoe-dial --interface eth0 --user internet --password internet [--vlan 6]
//! [--mtu 1500] [--state-dir DIR] [--echo-interval 10]`. Logs events to stdout; SIGTERM
//! closes the session (Terminate-Request, PADT).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pppoe::Credentials;
use pppoe::driver::client::{self, Config};

#[derive(Parser)]
struct Args {
    /// The WAN interface.
    #[arg(long)]
    interface: String,
    /// User name (no authentication if absent).
    #[arg(long)]
    user: Option<String>,
    /// Password.
    #[arg(long, default_value = "")]
    password: String,
    /// 802.1Q VLAN id.
    #[arg(long)]
    vlan: Option<u16>,
    /// MTU (1500 asks for RFC 4638).
    #[arg(long, default_value_t = 1492)]
    mtu: u16,
    /// Where to remember the session.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// LCP echo interval in seconds (0: off).
    #[arg(long, default_value_t = 10)]
    echo_interval: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let a = Args::parse();
    let creds =
        a.user.map(|u| Credentials { username: u.into_bytes(), password: a.password.into_bytes() });
    let mut cfg = Config::new(&a.interface, creds);
    cfg.vlan = a.vlan;
    cfg.mtu = a.mtu;
    cfg.state_dir = a.state_dir;
    cfg.echo_interval = (a.echo_interval > 0).then(|| Duration::from_secs(a.echo_interval));
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
            }
            let _ = stop_tx.send(true);
        });
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                println!("event: {ev:?}");
            }
        });
        match client::run(cfg, tx, stop_rx).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pppoe-dial: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
