//! The command lines of `routerd` and `routerctl` (clap), in one place so that `routerd
//! generate` can write both their man pages and shell completions.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "routerd", about = "The router daemon", version)]
/// routerd runs the router from one TOML configuration (see the README's "Configuration").
pub struct Routerd {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
/// What routerd does.
pub enum Cmd {
    /// Validates the configuration file and exits (0 when valid).
    Check {
        /// The configuration file.
        #[arg(long, default_value = "/etc/routerd/routerd.toml")]
        config: PathBuf,
    },
    /// Runs the router (SIGTERM or SIGINT stops it cleanly; SIGHUP reloads the
    /// configuration file, applied by difference or refused as a whole).
    Run {
        /// The configuration file.
        #[arg(long, default_value = "/etc/routerd/routerd.toml")]
        config: PathBuf,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Builds the firewall the configuration gives and applies it (one atomic nftables
    /// transaction), or prints it in `nft` syntax: to see the ruleset, or to have the firewall
    /// in force before routerd starts. Port forwards match the WAN interface (no public
    /// address is known yet); a running routerd replaces the table when it starts.
    Firewall {
        /// The configuration file.
        #[arg(long, default_value = "/etc/routerd/routerd.toml")]
        config: PathBuf,
        /// Print the ruleset instead of applying it.
        #[arg(long)]
        print: bool,
    },
    /// Writes the man pages (DIR/man) and shell completions (DIR/completions) of routerd and
    /// routerctl, for packaging.
    #[command(hide = true)]
    Generate {
        /// Where to write them.
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
/// What routerctl asks for.
pub enum What {
    /// Everything: services, WAN, prefixes, LANs, leases, reloads, IPTV.
    Status,
    /// The WAN link.
    Wan,
    /// The LAN hosts' leases.
    Leases,
    /// The delegated prefixes.
    Prefixes,
    /// Follow the router's events (WAN up/down, addresses, prefixes, leases, reloads) as
    /// they happen, until interrupted.
    Events,
}

#[derive(Parser)]
#[command(name = "routerctl", about = "Ask a running routerd", version)]
/// routerctl asks a running routerd on its control socket and prints the answer.
pub struct Routerctl {
    /// What to show.
    pub what: What,
    /// routerd's control socket.
    #[arg(long, default_value = "/run/routerd/control.sock")]
    pub socket: PathBuf,
    /// Print the JSON as routerd sent it.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 unless the router is up (with `status`).
    #[arg(long)]
    pub check: bool,
}

/// Writes `DIR/man/*.1` (routerd, its subcommands, routerctl) and
/// `DIR/completions/{routerd,routerctl}.{bash,fish}` and `_routerd`/`_routerctl` (zsh).
pub fn generate(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use clap_complete::Shell;
    let (man, comp) = (dir.join("man"), dir.join("completions"));
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&comp)?;
    let mut written = Vec::new();
    for cmd in [Routerd::command(), Routerctl::command()] {
        let mut pages = vec![cmd.clone()];
        pages.extend(cmd.get_subcommands().filter(|c| !c.is_hide_set()).map(|c| {
            let name = format!("{}-{}", cmd.get_name(), c.get_name());
            c.clone().name(name)
        }));
        for page in pages {
            let path = man.join(format!("{}.1", page.get_name()));
            let mut out = Vec::new();
            clap_mangen::Man::new(page).render(&mut out)?;
            std::fs::write(&path, out)?;
            written.push(path);
        }
        let name = cmd.get_name().to_string();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut c = cmd.clone();
            let path = clap_complete::generate_to(shell, &mut c, &name, &comp)?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn man_pages_and_completions_are_written_for_both_commands() {
        let dir = std::env::temp_dir().join(format!("routerd-generate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = generate(&dir).unwrap();
        let names: Vec<String> =
            files.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        for want in [
            "routerd.1",
            "routerd-run.1",
            "routerd-check.1",
            "routerd-firewall.1",
            "routerctl.1",
            "routerd.bash",
            "_routerctl",
            "routerctl.fish",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "the hidden command has no page");
        let page = std::fs::read_to_string(dir.join("man/routerd-run.1")).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH routerd-run"), "{page}");
        assert!(page.contains("log\\-json") || page.contains("log-json"), "{page}");
        let bash = std::fs::read_to_string(dir.join("completions/routerctl.bash")).unwrap();
        assert!(bash.contains("status") && bash.contains("prefixes"), "{bash}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
