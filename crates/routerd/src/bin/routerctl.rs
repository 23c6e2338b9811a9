//! `routerctl [--socket PATH] status|wan|leases|prefixes|events [--json] [--check]`: asks a running
//! routerd. `status --check` exits non-zero unless the router is up (a container health
//! check).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use routerd::cli::{Routerctl as Cli, What};
use serde_json::Value;

fn ask(socket: &PathBuf, cmd: &str) -> std::io::Result<Value> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}

fn text(v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::Object(services) if k == "services" => {
                    let lines =
                        services.iter().map(|(name, s)| format!("{pad}  {name}: {}", service(s)));
                    std::iter::once(format!("{pad}{k}:"))
                        .chain(lines)
                        .collect::<Vec<_>>()
                        .join("\n")
                }
                Value::Object(_) | Value::Array(_) => format!("{pad}{k}:\n{}", text(v, indent + 2)),
                _ => format!("{pad}{k}: {}", scalar(v)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Array(a) if a.is_empty() => format!("{pad}(none)"),
        Value::Array(a) => a
            .iter()
            .map(|v| match v {
                Value::Object(_) => format!("{pad}-\n{}", text(v, indent + 2)),
                _ => format!("{pad}- {}", scalar(v)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => format!("{pad}{}", scalar(v)),
    }
}

/// One service on one line: `running`, `backoff (3 restarts; last error: ...)`, `waiting
/// for wan`.
fn service(s: &Value) -> String {
    let mut state = scalar(s.get("state").unwrap_or(&Value::Null));
    if state == "waiting" {
        let needs: Vec<String> =
            s.get("needs").and_then(Value::as_array).into_iter().flatten().map(scalar).collect();
        state = format!("waiting for {}", needs.join(", "));
    }
    let restarts = s.get("restarts").and_then(Value::as_u64).unwrap_or(0);
    match (restarts, s.get("last_error").and_then(Value::as_str)) {
        (0, None) => state,
        (n, None) => format!("{state} ({n} restarts)"),
        (n, Some(e)) => format!("{state} ({n} restarts; last error: {e})"),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `routerctl events`: one line per event until the router goes away.
fn follow(socket: &PathBuf, json: bool) -> std::io::Result<()> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.write_all(b"events\n")?;
    for line in BufReader::new(s).lines() {
        let line = line?;
        if json {
            if !out(&line) {
                return Ok(());
            }
            continue;
        }
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let detail = match field("detail") {
            Value::Null => String::new(),
            d => d.to_string(),
        };
        if !out(format!("{} {} {detail}", scalar(&field("time")), scalar(&field("event")))) {
            return Ok(());
        }
    }
    Ok(())
}

/// Writes a line to stdout; `false` once the reader is gone (`routerctl events | head`):
/// then routerctl stops quietly instead of panicking on the closed pipe as `println!` does.
fn out(line: impl std::fmt::Display) -> bool {
    writeln!(std::io::stdout().lock(), "{line}").is_ok()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let What::Events = cli.what {
        return match follow(&cli.socket, cli.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("routerctl: {}: {e}", cli.socket.display());
                ExitCode::FAILURE
            }
        };
    }
    let cmd = match cli.what {
        What::Status => "status",
        What::Wan => "wan",
        What::Leases => "leases",
        What::Prefixes => "prefixes",
        What::Events => "events",
    };
    let v = match ask(&cli.socket, cmd) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("routerctl: {}: {e}", cli.socket.display());
            return ExitCode::FAILURE;
        }
    };
    // A closed pipe (`| head`) is no failure; the health check still decides the exit code.
    let _ = if cli.json { out(&v) } else { out(text(&v, 0)) };
    if cli.check && v.get("healthy") != Some(&Value::Bool(true)) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
