//! `stb`: a set-top box, for the demos: joins a channel (the kernel sends the IGMP), counts
//! what arrives for a while and says whether anything was missing:
//! `stb --group 239.1.1.1 [--port 5004] [--seconds 5]`. The datagrams are ispemu's head-end
//! ones (the group and a sequence number first). Exits 1 if nothing arrived or a sequence
//! number was skipped after the first.

use std::net::{Ipv4Addr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The channel's group.
    #[arg(long)]
    group: Ipv4Addr,
    /// Its UDP port.
    #[arg(long, default_value_t = 5004)]
    port: u16,
    /// How long to watch.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let sock = match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, a.port)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stb: bind :{}: {e}", a.port);
            return ExitCode::FAILURE;
        }
    };
    // The interface the route to the group leaves by (the LAN's default route).
    if let Err(e) = sock.join_multicast_v4(&a.group, &Ipv4Addr::UNSPECIFIED) {
        eprintln!("stb: join {}: {e}", a.group);
        return ExitCode::FAILURE;
    }
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let started = Instant::now();
    let (mut first, mut last, mut count, mut gaps, mut joined_in) = (None, 0u32, 0u64, 0u64, None);
    let mut buf = [0u8; 2048];
    while started.elapsed() < Duration::from_secs(a.seconds) {
        let Ok((n, _)) = sock.recv_from(&mut buf) else { continue };
        let g = buf.get(..4).and_then(|g| <[u8; 4]>::try_from(g).ok());
        let s = buf.get(4..8).and_then(|s| <[u8; 4]>::try_from(s).ok());
        let (Some(g), Some(s)) = (g, s) else { continue };
        if n < 8 || g != a.group.octets() {
            continue;
        }
        let seq = u32::from_be_bytes(s);
        if first.is_none() {
            first = Some(seq);
            joined_in = Some(started.elapsed());
        } else if seq != last.wrapping_add(1) {
            gaps += 1;
        }
        last = seq;
        count += 1;
    }
    let _ = sock.leave_multicast_v4(&a.group, &Ipv4Addr::UNSPECIFIED);
    match (first, joined_in) {
        (Some(f), Some(t)) => {
            println!(
                "stb: {}: {count} datagrams in {} s, first {f} after {} ms, last {last}, gaps {gaps}",
                a.group,
                a.seconds,
                t.as_millis()
            );
            if gaps == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        _ => {
            println!("stb: {}: nothing arrived in {} s", a.group, a.seconds);
            ExitCode::FAILURE
        }
    }
}
