//! Retransmission (RFC 8415 §15) with the constants of RFC 8415 §7.6, named as in the RFC.

use std::time::{Duration, Instant};

use crate::rng::{Rng, RngExt};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Max delay of first Solicit.
pub const SOL_MAX_DELAY: Duration = secs(1);
/// Initial Solicit timeout.
pub const SOL_TIMEOUT: Duration = secs(1);
/// Max Solicit timeout value (default; a server may change it with option 82).
pub const SOL_MAX_RT: Duration = secs(3600);
/// Initial Request timeout.
pub const REQ_TIMEOUT: Duration = secs(1);
/// Max Request timeout value.
pub const REQ_MAX_RT: Duration = secs(30);
/// Max Request retry attempts.
pub const REQ_MAX_RC: u32 = 10;
/// Initial Renew timeout.
pub const REN_TIMEOUT: Duration = secs(10);
/// Max Renew timeout value.
pub const REN_MAX_RT: Duration = secs(600);
/// Initial Rebind timeout.
pub const REB_TIMEOUT: Duration = secs(10);
/// Max Rebind timeout value.
pub const REB_MAX_RT: Duration = secs(600);
/// Max delay of first Information-request.
pub const INF_MAX_DELAY: Duration = secs(1);
/// Initial Information-request timeout.
pub const INF_TIMEOUT: Duration = secs(1);
/// Max Information-request timeout value (default; a server may change it with option 83).
pub const INF_MAX_RT: Duration = secs(3600);
/// Initial Release timeout.
pub const REL_TIMEOUT: Duration = secs(1);
/// Max Release retry attempts.
pub const REL_MAX_RC: u32 = 4;
/// Initial Reconfigure timeout.
pub const REC_TIMEOUT: Duration = secs(2);
/// Max Reconfigure attempts.
pub const REC_MAX_RC: u32 = 8;
/// Default information refresh time (RFC 8415 §21.23).
pub const IRT_DEFAULT: Duration = secs(86_400);
/// Minimum information refresh time.
pub const IRT_MINIMUM: Duration = secs(600);

/// IRT, MRT and MRC of one kind of exchange (RFC 8415 §15). MRD is a deadline chosen per
/// exchange (T2 for Renew, lease expiry for Rebind), so it lives with the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Initial retransmission time.
    pub irt: Duration,
    /// Maximum retransmission time; zero means no limit.
    pub mrt: Duration,
    /// Maximum transmission count; zero means no limit.
    pub mrc: u32,
    /// "the first RT MUST be selected to be strictly greater than IRT by choosing RAND to be
    /// strictly greater than 0" (RFC 8415 §18.2.1, Solicit only).
    pub first_rand_positive: bool,
}

/// The state of one message exchange's retransmission (RFC 8415 §15).
#[derive(Debug, Clone)]
pub(crate) struct Retransmit {
    params: Params,
    /// When the first transmission happened (for Elapsed Time and MRD).
    first_sent: Option<Instant>,
    /// Current RT.
    rt: Duration,
    /// Transmissions so far.
    count: u32,
    /// When the next transmission (or, after the last, the failure) is due.
    next: Instant,
    /// Absolute MRD deadline.
    mrd: Option<Instant>,
}

impl Retransmit {
    /// An exchange whose first transmission is due at `first_at`.
    pub(crate) fn new(params: Params, first_at: Instant, mrd: Option<Instant>) -> Self {
        Self { params, first_sent: None, rt: Duration::ZERO, count: 0, next: first_at, mrd }
    }

    /// Transmissions so far.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The next deadline: a transmission, or the end of the exchange.
    pub(crate) fn deadline(&self) -> Instant {
        match self.mrd {
            Some(mrd) if mrd < self.next => mrd,
            _ => self.next,
        }
    }

    /// The exchange failed: MRD passed, or MRC transmissions were made and the last RT ran out
    /// ("the message exchange fails once the client has transmitted the message MRC times").
    pub(crate) fn failed(&self, now: Instant) -> bool {
        let mrd_passed = self.mrd.is_some_and(|mrd| now >= mrd);
        let mrc_spent = self.params.mrc != 0 && self.count >= self.params.mrc && now >= self.next;
        mrd_passed || mrc_spent
    }

    /// A transmission is due now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        now >= self.next && !self.failed(now)
    }

    /// Makes the next transmission due at once (after UseMulticast, RFC 8415 §18.2.10).
    pub(crate) fn expedite(&mut self, now: Instant) {
        self.next = now;
    }

    /// Elapsed Time (RFC 8415 §21.9) for a transmission at `now`, in hundredths of a second:
    /// 0 for the first, saturating at 0xffff.
    pub(crate) fn elapsed_centis(&self, now: Instant) -> u16 {
        let Some(first) = self.first_sent else {
            return 0;
        };
        let centis = now.saturating_duration_since(first).as_millis() / 10;
        u16::try_from(centis).unwrap_or(u16::MAX)
    }

    /// Records a transmission at `now` and schedules the next one (RFC 8415 §15):
    ///
    /// ```text
    /// RT = IRT + RAND*IRT                    (first)
    /// RT = 2*RTprev + RAND*RTprev            (subsequent)
    /// if (RT > MRT) RT = MRT + RAND*MRT      (MRT non-zero)
    /// ```
    pub(crate) fn on_transmit(&mut self, now: Instant, rng: &mut Rng) {
        let p = self.params;
        self.rt = if self.count == 0 {
            let rand =
                if p.first_rand_positive { rng.below(100) as i64 + 1 } else { rng.rand_permille() };
            jitter(p.irt, p.irt, rand)
        } else {
            jitter(self.rt.saturating_mul(2), self.rt, rng.rand_permille())
        };
        if !p.mrt.is_zero() && self.rt > p.mrt {
            self.rt = jitter(p.mrt, p.mrt, rng.rand_permille());
        }
        self.first_sent.get_or_insert(now);
        self.count = self.count.saturating_add(1);
        self.next = now.checked_add(self.rt).unwrap_or(now);
    }
}

/// `base + rand/1000 * scale`, in milliseconds, never negative.
fn jitter(base: Duration, scale: Duration, rand_permille: i64) -> Duration {
    let base = i128::try_from(base.as_millis()).unwrap_or(i128::MAX / 2);
    let scale = i128::try_from(scale.as_millis()).unwrap_or(i128::MAX / 2000);
    let ms = base.saturating_add(scale.saturating_mul(i128::from(rand_permille)) / 1000);
    Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(u64::MAX))
}

/// A duration after `now`; `None` when it cannot be represented (treated as never).
pub(crate) fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

/// A lifetime in seconds after `now`; 0xffffffff is infinity (RFC 8415 §7.7), i.e. `None`.
pub(crate) fn lifetime_deadline(now: Instant, secs: u32) -> Option<Instant> {
    if secs == u32::MAX { None } else { after(now, Duration::from_secs(u64::from(secs))) }
}
