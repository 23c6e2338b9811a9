//! The last hour, for the status page's graphs: every [`INTERVAL`] the WAN's byte counters
//! and the DHCP and DNS totals are sampled into a ring of [`SAMPLES`] (no database; lost on
//! restart). The page turns consecutive samples into rates.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bus::Bus;
use crate::http::metrics::{Totals, Traffic};

/// How often a sample is taken.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept: one hour.
pub const SAMPLES: usize = 720;

/// One sample: the counters at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub at_ms: u64,
    /// WAN bytes received so far.
    pub rx_bytes: u64,
    /// WAN bytes sent so far.
    pub tx_bytes: u64,
    /// DHCP answers sent so far.
    pub dhcp: u64,
    /// DNS queries received so far.
    pub dns: u64,
}

/// The ring.
#[derive(Debug, Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History(Mutex::new(VecDeque::with_capacity(SAMPLES)))
    }

    /// Adds `s`, dropping the oldest beyond [`SAMPLES`].
    pub fn push(&self, s: Sample) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= SAMPLES {
            q.pop_front();
        }
        q.push_back(s);
    }

    /// How many samples are held.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `{"interval_ms": 5000, "columns": [...], "samples": [[at_ms, rx, tx, dhcp, dns], ...]}`.
    pub fn json(&self) -> String {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let rows: Vec<[u64; 5]> =
            q.iter().map(|s| [s.at_ms, s.rx_bytes, s.tx_bytes, s.dhcp, s.dns]).collect();
        serde_json::json!({
            "interval_ms": INTERVAL.as_millis() as u64,
            "columns": ["at_ms", "wan_rx_bytes", "wan_tx_bytes", "dhcp_sent", "dns_queries"],
            "samples": rows,
        })
        .to_string()
    }
}

/// The sample of the bus now.
pub fn take(bus: &Bus) -> Sample {
    let t = Traffic::of(bus);
    let totals = Totals::of(bus);
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Sample { at_ms, rx_bytes: t.rx_bytes, tx_bytes: t.tx_bytes, dhcp: totals.dhcp, dns: totals.dns }
}

/// Samples into `history` every [`INTERVAL`] until aborted.
pub async fn sample(bus: Arc<Bus>, history: Arc<History>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        history.push(take(&bus));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_ring_keeps_the_last_hour() {
        let h = History::new();
        for i in 0..(SAMPLES as u64 + 10) {
            h.push(Sample { at_ms: i, rx_bytes: i * 10, tx_bytes: 0, dhcp: 0, dns: i });
        }
        assert_eq!(h.len(), SAMPLES);
        let v: serde_json::Value = serde_json::from_str(&h.json()).unwrap();
        let rows = v["samples"].as_array().unwrap();
        assert_eq!(rows.len(), SAMPLES);
        assert_eq!(rows[0][0], 10, "the oldest ten went");
        assert_eq!(rows[SAMPLES - 1][1], (SAMPLES as u64 + 9) * 10);
    }
}
