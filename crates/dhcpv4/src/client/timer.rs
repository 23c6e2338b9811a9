//! Retransmission (RFC 2131 §4.1, §4.4.5) with its constants named as in the RFC text.

use std::time::{Duration, Instant};

use crate::client::rng::Rng;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// "the delay before the first retransmission SHOULD be 4 seconds" (RFC 2131 §4.1).
pub const INITIAL_RT: Duration = secs(4);
/// "... doubled on subsequent retransmissions, up to a maximum of 64 seconds" (§4.1).
pub const MAX_RT: Duration = secs(64);
/// "randomized by the value of a uniform random number chosen from the range -1 to +1"
/// (§4.1), in milliseconds.
pub const RT_JITTER_MS: u64 = 1000;
/// REQUEST transmissions in REQUESTING before the client gives up and goes back to INIT
/// (§4.4.1: "If the client receives neither a DHCPACK or a DHCPNAK message after
/// employing the retransmission algorithm, the client reverts to INIT state").
pub const REQUEST_MAX_RC: u32 = 4;
/// REQUEST transmissions in REBOOTING before the client falls back to DISCOVER (§3.2).
pub const REBOOT_MAX_RC: u32 = 4;
/// "down to a minimum of 60 seconds, before retransmitting the DHCPREQUEST" (§4.4.5).
pub const RENEW_MIN_RT: Duration = secs(60);
/// Wait after a DHCPNAK before DISCOVER; doubles on consecutive NAKs up to [`MAX_RT`].
/// Local policy: §3.1 step 5 says only "restarts the configuration process"; a short wait
/// keeps a misconfigured server from driving the client in a tight loop.
pub const NAK_DELAY: Duration = secs(1);
/// Default upper bound of the random wait before the first DISCOVER. Local policy: §4.4.1
/// suggests one to ten seconds; a router's WAN should come up at once, as dhcpcd does.
pub const START_DELAY_MAX: Duration = secs(1);

/// One message exchange: transaction id and §4.1 retransmission state.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) xid: u32,
    /// When the next transmission (or the giving up) is due.
    pub(crate) next: Instant,
    /// Current retransmission delay, without its jitter.
    rt: Duration,
    /// Transmissions so far.
    pub(crate) count: u32,
    /// First transmission of the configuration process, for `secs` (RFC 2131 §2).
    started: Option<Instant>,
}

impl Exchange {
    /// An exchange whose first transmission is due at `first_at`.
    pub(crate) fn new(xid: u32, first_at: Instant) -> Self {
        Self { xid, next: first_at, rt: Duration::ZERO, count: 0, started: None }
    }

    /// The REQUEST that follows a DISCOVER: same xid, same start (for `secs`), due at once.
    pub(crate) fn follow(&self, now: Instant) -> Self {
        Self { xid: self.xid, next: now, rt: Duration::ZERO, count: 0, started: self.started }
    }

    pub(crate) fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Seconds since the process began, for the `secs` field.
    pub(crate) fn secs(&self, now: Instant) -> u16 {
        let s = self.started.map_or(0, |t| now.saturating_duration_since(t).as_secs());
        u16::try_from(s).unwrap_or(u16::MAX)
    }

    /// Records a transmission with the §4.1 back-off: 4, 8, 16, 32, 64, 64 ... s, ±1 s.
    pub(crate) fn on_transmit(&mut self, now: Instant, rng: &mut Rng) {
        self.rt = if self.count == 0 { INITIAL_RT } else { self.rt.saturating_mul(2).min(MAX_RT) };
        let jitter = rng.below(2 * RT_JITTER_MS + 1);
        let delay = (self.rt + Duration::from_millis(jitter))
            .saturating_sub(Duration::from_millis(RT_JITTER_MS));
        self.record(now, delay);
    }

    /// Records a RENEWING/REBINDING transmission (§4.4.5): the next one after half the time
    /// left until `until` (T2 or expiry), at least [`RENEW_MIN_RT`].
    pub(crate) fn on_transmit_until(&mut self, now: Instant, until: Option<Instant>) {
        let left = until.map_or(Duration::MAX, |u| u.saturating_duration_since(now));
        self.record(now, (left / 2).max(RENEW_MIN_RT));
    }

    fn record(&mut self, now: Instant, delay: Duration) {
        self.started.get_or_insert(now);
        self.count = self.count.saturating_add(1);
        self.next = now.checked_add(delay).unwrap_or(now);
    }
}

/// `secs` seconds after `at`; `None` (never) for the infinite lease 0xffffffff (RFC 2131
/// §3.3) or when it cannot be represented.
pub(crate) fn after_secs(at: Instant, secs: u32) -> Option<Instant> {
    if secs == u32::MAX { None } else { at.checked_add(Duration::from_secs(u64::from(secs))) }
}
