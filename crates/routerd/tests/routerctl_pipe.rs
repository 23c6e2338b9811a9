//! `routerctl ... | head`: a reader that goes away must not make routerctl panic (as
//! `println!` does on EPIPE); it stops quietly. A stand-in control socket serves it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};

#[test]
fn routerctl_exits_quietly_when_its_reader_goes_away() {
    let dir = std::env::temp_dir().join(format!("routerctl-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("control.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // `events`: an endless stream (bounded here), the way `routerctl events | head` reads it.
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let mut w = s;
        for i in 0..200_000 {
            let ev = format!("{{\"time\":{i},\"event\":\"lease_granted\",\"detail\":null}}\n");
            if w.write_all(ev.as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_routerctl"))
        .args(["--socket", sock.to_str().unwrap(), "events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `head -1` does.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("lease_granted"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    server.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
