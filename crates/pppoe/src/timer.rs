//! Timers and retransmission constants, named as in the RFCs.

use std::time::{Duration, Instant};

/// RFC 1661 §4.6 Restart timer: "The Restart timer is used to time transmissions of
/// Configure-Request and Terminate-Request packets ... default value ... three seconds".
pub const RESTART_TIMER: Duration = Duration::from_secs(3);
/// RFC 1661 §4.6 Max-Terminate: "a default value of 2".
pub const MAX_TERMINATE: u32 = 2;
/// RFC 1661 §4.6 Max-Configure: "a default value of 10".
pub const MAX_CONFIGURE: u32 = 10;
/// RFC 1661 §4.6 Max-Failure: "a default value of 5".
pub const MAX_FAILURE: u32 = 5;

/// RFC 2516 §5.1 gives no number for the first PADI wait; rp-pppoe and pppd's plugin wait a few
/// seconds. We start at 2 s and double (RFC 2516 §5.1: "double the waiting period").
pub const PADI_TIMEOUT: Duration = Duration::from_secs(2);
/// Cap on the doubled PADI wait, so back-off stays bounded.
pub const PADI_TIMEOUT_MAX: Duration = Duration::from_secs(16);
/// PADIs sent before discovery is reported failed (the caller redials).
pub const PADI_MAX_ATTEMPTS: u32 = 5;
/// First wait for a PADS; doubled on each retry (RFC 2516 §5.3).
pub const PADR_TIMEOUT: Duration = Duration::from_secs(2);
/// PADRs sent before discovery is reported failed.
pub const PADR_MAX_ATTEMPTS: u32 = 3;

/// PAP Authenticate-Request retransmissions (pppd's `pap-max-authreq` default is 10).
pub const PAP_MAX_REQUESTS: u32 = 10;
/// CHAP Challenge retransmissions (pppd's `chap-max-challenge` default is 10).
pub const CHAP_MAX_CHALLENGES: u32 = 10;
/// How long a peer waits for the authenticator's first CHAP Challenge or PAP answer.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// The earliest of a set of optional deadlines.
pub fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// True when `deadline` is set and has passed at `now`.
pub fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}
