//! `routerd run --config FILE` runs the router; `routerd check --config FILE` validates a
//! configuration and exits; `routerd firewall --config FILE [--print]` applies (or prints)
//! the firewall it gives. Logs go to stdout, one line per event (`--log-json` for JSON).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use routerd::cli::{Cmd, Routerd as Cli};

fn load(path: &Path) -> Result<routerd::config::Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    routerd::config::load(&text, &dir).map_err(|e| format!("{}:{e}", path.display()))
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Check { config } => match load(&config) {
            Ok(c) => {
                println!(
                    "{}: ok ({} LANs, WAN {:?} on {})",
                    config.display(),
                    c.lan.len(),
                    c.wan.mode,
                    c.wan.interface
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Firewall { config, print } => {
            let rs = load(&config).and_then(|c| {
                let cfg = routerd::wiring::fw_config(&c);
                fw::build(&cfg, &fw::FwState::default()).map_err(|e| format!("firewall: {e}"))
            });
            let done = rs.and_then(|rs| {
                if print {
                    print!("{}", rs.to_nft());
                    Ok(())
                } else {
                    let applied = fw::Firewall::update_or_without_fast_path(None, rs)
                        .map_err(|e| format!("firewall: {e}"))?;
                    if let Some(e) = applied.fast_path_refused {
                        eprintln!("firewall: applied without the fast path: {e}");
                    }
                    Ok(())
                }
            });
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Generate { dir } => match routerd::cli::generate(&dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("routerd generate {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
        Cmd::Run { config, log_json } => {
            routerd::logging::init(log_json);
            // Refused as a whole, before anything is applied.
            let c = match load(&config) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let Ok(rt) =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
            else {
                return ExitCode::FAILURE;
            };
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (tx, rx) = tokio::sync::watch::channel(false);
                let (reload_tx, reload_rx) = tokio::sync::mpsc::unbounded_channel();
                let (mut term, mut hup) =
                    (signal(SignalKind::terminate()).ok(), signal(SignalKind::hangup()).ok());
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => break,
                            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => break,
                            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                                tracing::info!(config = %config.display(), "SIGHUP: reloading the configuration");
                                let _ = reload_tx.send(load(&config));
                            }
                        }
                    }
                    let _ = tx.send(true);
                });
                match routerd::run::run(c, rx, reload_rx).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        tracing::error!("{e}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
    }
}
