//! What the checked parse costs in front of dhcproto's decoder, on the captured messages of
//! `testdata/` (dhclient -6, dhcpcd, Kea): per message, `wire::Repr::parse` (every option's
//! length checked against RFC 8415 §21, then dhcproto option by option) against dhcproto's
//! `Message::decode` alone (safe on these inputs). `cargo bench -p dhcpv6 --bench wire`; best of `ROUNDS` (default 7)
//! rounds of `ITERS` (default 20,000) decodes per message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use dhcproto::v6::Message;
use dhcproto::{Decodable, Decoder};
use dhcpv6::wire;

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
        assert!(wire::Repr::parse(bytes).is_ok(), "{name}");
        let checked = best(rounds, iters, || {
            black_box(wire::Repr::parse(black_box(bytes)).is_ok());
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
        "RESULT dhcpv6 wire: dhcproto alone / checked decode = {:.3} | {:.0} vs {:.0} ns per message, mean of {} captured messages",
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
