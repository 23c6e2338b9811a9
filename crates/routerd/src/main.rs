//! `routerd check --config FILE`: validates a configuration and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "The router daemon")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validates the configuration file and exits (0 when valid).
    Check {
        /// The configuration file.
        #[arg(long, default_value = "/etc/routerd/routerd.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let Cmd::Check { config } = Cli::parse().cmd;
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", config.display());
            return ExitCode::FAILURE;
        }
    };
    let dir = config.parent().map(PathBuf::from).unwrap_or_default();
    match routerd::config::load(&text, &dir) {
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
            eprintln!("{}:{e}", config.display());
            ExitCode::FAILURE
        }
    }
}
