//! LCP option policy (RFC 1661 §6: MRU, Authentication-Protocol, Magic-Number) and the echo
//! keepalive (RFC 1661 §5.8).

use std::time::{Duration, Instant};

use splitmix::Rng;
use tracing::debug;

use crate::auth::AuthKind;
use crate::fsm::{Judgement, Policy};
use crate::wire::LcpOption;

/// RFC 1661 §6.1 default MRU, in force when the option is not negotiated.
pub const DEFAULT_MRU: u16 = 1500;
/// The smallest MRU we accept from a peer (pppd's MINMRU).
pub const MIN_MRU: u16 = 128;

/// How one end runs LCP.
#[derive(Debug, Clone)]
pub(crate) struct LcpSettings {
    /// The MRU we ask for.
    pub mru: u16,
    /// The largest MRU we let the peer ask for (what the PPPoE session can carry).
    pub max_mru: u16,
    /// As authenticator: the protocol we require of the peer.
    pub require: Option<AuthKind>,
    /// As peer: the protocols we can do when asked (PAP, CHAP); empty if we have no
    /// credentials.
    pub accept: Vec<AuthKind>,
}

/// LCP's [`Policy`]: what we request, what we accept, and what was negotiated.
#[derive(Debug)]
pub(crate) struct LcpPolicy {
    settings: LcpSettings,
    rng: Rng,
    mru: Option<u16>,
    magic: Option<u32>,
    require: Option<AuthKind>,
    /// The peer's MRU: the largest frame we may send.
    pub peer_mru: u16,
    /// The protocol the peer requires of us (we acked its Authentication-Protocol).
    pub auth_us: Option<AuthKind>,
    /// The protocol the peer accepted to do for us (it acked ours).
    pub auth_them: Option<AuthKind>,
    /// The peer would not do the authentication we require.
    pub auth_refused: bool,
}

impl LcpPolicy {
    pub(crate) fn new(settings: LcpSettings, rng: Rng) -> Self {
        LcpPolicy {
            require: settings.require,
            settings,
            rng,
            mru: None,
            magic: None,
            peer_mru: DEFAULT_MRU,
            auth_us: None,
            auth_them: None,
            auth_refused: false,
        }
    }

    fn new_magic(&mut self) -> u32 {
        loop {
            let m = self.rng.next_u32();
            if m != 0 && Some(m) != self.magic {
                return m;
            }
        }
    }
}

impl Policy for LcpPolicy {
    type Option = LcpOption;

    fn reset(&mut self) {
        self.mru = Some(self.settings.mru);
        self.magic = Some(self.new_magic());
        self.require = self.settings.require;
        self.peer_mru = DEFAULT_MRU;
        self.auth_us = None;
        self.auth_them = None;
        self.auth_refused = false;
    }

    fn request(&mut self) -> Vec<LcpOption> {
        let mut options = Vec::new();
        options.extend(self.mru.map(LcpOption::Mru));
        options.extend(self.require.map(|k| LcpOption::AuthProtocol(k.to_wire())));
        options.extend(self.magic.map(LcpOption::MagicNumber));
        options
    }

    fn judge(&mut self, option: &LcpOption) -> Judgement<LcpOption> {
        match option {
            LcpOption::Mru(mru) if *mru > self.settings.max_mru || *mru < MIN_MRU => {
                Judgement::Nak(LcpOption::Mru(self.settings.max_mru))
            }
            LcpOption::Mru(_) => Judgement::Ack,
            LcpOption::AuthProtocol(p) => {
                let accept = &self.settings.accept;
                match (AuthKind::from_wire(p), accept.first()) {
                    (Some(kind), _) if accept.contains(&kind) => Judgement::Ack,
                    // RFC 1661 §6.2: Nak with the protocol we would rather use.
                    (_, Some(ours)) => Judgement::Nak(LcpOption::AuthProtocol(ours.to_wire())),
                    (_, None) => Judgement::Reject,
                }
            }
            // RFC 1661 §6.4: the peer's Magic-Number equal to ours suggests a looped-back
            // link: Nak with a different value and choose a new one of our own.
            LcpOption::MagicNumber(m) if Some(*m) == self.magic => {
                debug!(magic = m, "peer magic equals ours; link may be looped back");
                let suggestion = self.new_magic();
                self.magic = Some(self.new_magic());
                Judgement::Nak(LcpOption::MagicNumber(suggestion))
            }
            LcpOption::MagicNumber(_) => Judgement::Ack,
            LcpOption::Unknown { .. } => Judgement::Reject,
        }
    }

    fn peer_acked(&mut self, options: &[LcpOption]) {
        for option in options {
            match option {
                LcpOption::Mru(mru) => self.peer_mru = *mru,
                LcpOption::AuthProtocol(p) => self.auth_us = AuthKind::from_wire(p),
                LcpOption::MagicNumber(_) | LcpOption::Unknown { .. } => {}
            }
        }
    }

    fn acked(&mut self, options: &[LcpOption]) {
        for option in options {
            if let LcpOption::AuthProtocol(p) = option {
                self.auth_them = AuthKind::from_wire(p);
            }
        }
    }

    fn naked(&mut self, options: &[LcpOption]) {
        for option in options {
            match option {
                LcpOption::Mru(mru) => {
                    self.mru = Some((*mru).clamp(MIN_MRU, self.settings.max_mru));
                }
                LcpOption::AuthProtocol(p) => {
                    // We require exactly one protocol; a different suggestion is a refusal.
                    if self.require.is_some() && AuthKind::from_wire(p) != self.require {
                        self.auth_refused = true;
                    }
                }
                LcpOption::MagicNumber(_) => self.magic = Some(self.new_magic()),
                LcpOption::Unknown { .. } => {}
            }
        }
    }

    fn rejected(&mut self, options: &[LcpOption]) {
        for option in options {
            match option {
                LcpOption::Mru(_) => self.mru = None,
                LcpOption::MagicNumber(_) => self.magic = None,
                LcpOption::AuthProtocol(_) => {
                    self.require = None;
                    self.auth_refused = self.settings.require.is_some();
                }
                LcpOption::Unknown { .. } => {}
            }
        }
    }

    fn magic(&self) -> u32 {
        self.magic.unwrap_or(0)
    }
}

/// What the echo keepalive wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EchoAction {
    /// Send an Echo-Request with this identifier.
    Send(u8),
    /// `failures` requests went unanswered: the link is dead.
    Dead,
}

/// LCP echo keepalive, pppd style: an Echo-Request only after `interval` with nothing
/// received, and the link is dead when `failures` of them in a row go unanswered, i.e. at
/// `interval × (failures + 1)` after the last frame received. Any received frame (control or
/// data, reported through `note_received`) resets it, so a busy link is never declared dead.
#[derive(Debug)]
pub(crate) struct Echo {
    interval: Option<Duration>,
    failures: u32,
    running: bool,
    last_activity: Option<Instant>,
    outstanding: u32,
    next_id: u8,
    /// The last Echo-Request sent, and when: its Echo-Reply gives the round trip.
    sent: Option<(u8, Instant)>,
}

impl Echo {
    /// A zero interval disables the keepalive (it would never let time pass).
    pub(crate) fn new(interval: Option<Duration>, failures: u32) -> Self {
        Echo {
            interval: interval.filter(|i| !i.is_zero()),
            failures,
            running: false,
            last_activity: None,
            outstanding: 0,
            next_id: 0,
            sent: None,
        }
    }

    pub(crate) fn start(&mut self, now: Instant) {
        self.running = true;
        self.note_received(now);
    }

    pub(crate) fn stop(&mut self) {
        self.running = false;
    }

    pub(crate) fn note_received(&mut self, now: Instant) {
        self.last_activity = Some(now);
        self.outstanding = 0;
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (self.running, self.interval, self.last_activity) {
            (true, Some(interval), Some(last)) => last.checked_add(interval),
            _ => None,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<EchoAction> {
        if self.poll_timeout().is_none_or(|d| d > now) {
            return None;
        }
        if self.outstanding >= self.failures {
            self.running = false;
            return Some(EchoAction::Dead);
        }
        self.outstanding += 1;
        self.last_activity = Some(now);
        self.next_id = self.next_id.wrapping_add(1);
        self.sent = Some((self.next_id, now));
        Some(EchoAction::Send(self.next_id))
    }

    /// An Echo-Reply with `id` arrived at `now`: the round trip of our last request, if it
    /// answers that one (once; a late or duplicated reply gives none).
    pub(crate) fn handle_reply(&mut self, id: u8, now: Instant) -> Option<Duration> {
        match self.sent {
            Some((sent_id, at)) if sent_id == id => {
                self.sent = None;
                Some(now.saturating_duration_since(at))
            }
            _ => None,
        }
    }
}
