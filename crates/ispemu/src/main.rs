//! `ispemu --config FILE` runs the emulated ISP; `ispemu ctl CMD...` talks to a running one.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "An emulated ISP: PPPoE access concentrator for tests and demos")]
struct Cli {
    /// The configuration file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sends one command to a running ispemu and prints the answer.
    Ctl {
        /// The control socket.
        #[arg(long, default_value = "/run/ispemu/control.sock")]
        socket: PathBuf,
        /// sessions | padt ID|all | terminate ID|all | padi on|off | echo on|off | auth on|off
        words: Vec<String>,
    },
}

fn ctl(socket: &PathBuf, words: &[String]) -> ExitCode {
    let run = || -> std::io::Result<String> {
        let mut s = std::os::unix::net::UnixStream::connect(socket)?;
        s.write_all(format!("{}\n", words.join(" ")).as_bytes())?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        Ok(line)
    };
    match run() {
        Ok(line) => {
            print!("{line}");
            if line.starts_with("error") { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("ispemu ctl: {}: {e}", socket.display());
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Ctl { socket, words }) = &cli.cmd {
        return ctl(socket, words);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Some(path) = cli.config else {
        eprintln!("ispemu: --config FILE is required");
        return ExitCode::FAILURE;
    };
    let cfg = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| ispemu::Config::parse(&t))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ispemu: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let rt =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("ispemu: runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
            }
            let _ = tx.send(true);
        });
        match ispemu::run(cfg, rx).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("ispemu: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
