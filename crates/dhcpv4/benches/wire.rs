//! What the checked parse costs in front of dhcproto's decoder, on the captured messages of
//! `testdata/` (dhclient, dhcpcd, udhcpc, perfdhcp, Kea): per message, `wire::decode_checked`
//! (the length checks of `wire.rs`, then dhcproto) against dhcproto's `Message::decode` alone
//! (safe on these inputs). `cargo bench -p dhcpv4 --bench wire`; best of `ROUNDS` (default 7)
//! rounds of `ITERS` (default 20,000) decodes per message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use dhcproto::v4::Message;
use dhcproto::{Decodable, Decoder};
use dhcpv4::wire;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (rounds, iters) = (env("ROUNDS", 7), env("ITERS", 20_000));
    let files = testdata::all(env!("CARGO_MANIFEST_DIR"));
    let (mut sum_checked, mut sum_raw) = (0.0, 0.0);
    println!(
        "{:32} {:>5} {:>12} {:>12} {:>7}",
        "message", "bytes", "checked ns", "dhcproto ns", "guard"
    );
    for (name, bytes) in &files {
        let op = bytes[0];
        assert!(wire::decode_checked(bytes, op).is_ok(), "{name}");
        let checked = best(rounds, iters, || {
            black_box(wire::decode_checked(black_box(bytes), op).is_ok());
        });
        let raw = best(rounds, iters, || {
            black_box(Message::decode(&mut Decoder::new(black_box(bytes))).is_ok());
        });
        println!(
            "{name:32} {:>5} {checked:>12.0} {raw:>12.0} {:>6.1}%",
            bytes.len(),
            (checked - raw) / checked * 100.0
        );
        sum_checked += checked;
        sum_raw += raw;
    }
    let n = files.len() as f64;
    println!(
        "RESULT dhcpv4 wire: dhcproto alone / checked decode = {:.3} | {:.0} vs {:.0} ns per message, mean of {} captured messages",
        sum_raw / sum_checked,
        sum_raw / n,
        sum_checked / n,
        files.len()
    );
}

/// The fastest of `rounds` rounds of `iters` calls, ns per call.
fn best(rounds: u32, iters: u32, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO)
        .as_nanos() as f64
        / f64::from(iters)
}
