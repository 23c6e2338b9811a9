//! PAP (RFC 1334 §2) and CHAP-MD5 (RFC 1994), both as the peer that proves itself and as the
//! authenticator that checks it. Used by the PPP link (`ppp.rs`) in the Authenticate phase.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use splitmix::Rng;
use tracing::debug;

use crate::timer::{self, AUTH_TIMEOUT, CHAP_MAX_CHALLENGES, PAP_MAX_REQUESTS};
use crate::wire::auth::chap_md5;
use crate::wire::{AuthProtocol, ChapPacket, PapPacket, proto};

/// An authentication protocol this crate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// PAP (RFC 1334): the password crosses the wire in clear.
    Pap,
    /// CHAP with MD5 (RFC 1994).
    ChapMd5,
}

impl AuthKind {
    /// The LCP Authentication-Protocol value for it.
    pub fn to_wire(self) -> AuthProtocol {
        match self {
            AuthKind::Pap => AuthProtocol::Pap,
            AuthKind::ChapMd5 => AuthProtocol::ChapMd5,
        }
    }

    /// The kind for a wire value, if we run it.
    pub fn from_wire(p: &AuthProtocol) -> Option<Self> {
        match p {
            AuthProtocol::Pap => Some(AuthKind::Pap),
            AuthProtocol::ChapMd5 => Some(AuthKind::ChapMd5),
            AuthProtocol::Other { .. } => None,
        }
    }
}

/// A user name and password (or CHAP secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// PAP Peer-ID / CHAP Name.
    pub username: Vec<u8>,
    /// PAP Password / CHAP secret.
    pub password: Vec<u8>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &String::from_utf8_lossy(&self.username))
            .finish_non_exhaustive()
    }
}

/// The authenticator's view of its users: user name → secret, given by the caller as a table
/// or a callback.
#[derive(Clone)]
pub struct Secrets(Arc<SecretLookup>);

/// A user name → secret lookup.
type SecretLookup = dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync;

impl Secrets {
    /// Secrets from a fixed table of (user, secret) pairs.
    pub fn table<U: Into<Vec<u8>>, P: Into<Vec<u8>>>(
        users: impl IntoIterator<Item = (U, P)>,
    ) -> Self {
        let table: Vec<(Vec<u8>, Vec<u8>)> =
            users.into_iter().map(|(u, p)| (u.into(), p.into())).collect();
        Secrets(Arc::new(move |user| table.iter().find(|(u, _)| u == user).map(|(_, p)| p.clone())))
    }

    /// Secrets looked up by a callback.
    pub fn from_fn(f: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static) -> Self {
        Secrets(Arc::new(f))
    }

    fn lookup(&self, user: &[u8]) -> Option<Vec<u8>> {
        (self.0)(user)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// Compares without an early exit on the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the auth phase produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutput {
    /// Send this payload on this PPP protocol.
    Send(u16, Vec<u8>),
    /// Every direction that was negotiated succeeded; carries the peer's name if we checked it.
    Success(Option<Vec<u8>>),
    /// Authentication failed (either direction).
    Failure,
}

/// Our side proving itself.
#[derive(Debug)]
enum Peer {
    /// PAP: Authenticate-Request sent `sent` times, last with `id`.
    Pap { id: u8, sent: u32, deadline: Instant },
    /// CHAP: waiting for (more) Challenges; `deadline` only until the first one.
    Chap { deadline: Option<Instant> },
    /// Authenticated; by CHAP (`chap`), which alone allows answering a rechallenge.
    Done { chap: bool },
}

/// Our side checking the peer.
#[derive(Debug)]
enum Authenticator {
    /// PAP: waiting for the Authenticate-Request.
    Pap { deadline: Instant },
    /// CHAP: Challenge sent `sent` times.
    Chap { id: u8, challenge: [u8; 16], sent: u32, deadline: Instant },
    /// Succeeded; keeps the answer so a retransmitted request gets it again.
    Done { answer: (u16, Vec<u8>) },
}

/// The Authenticate phase of one link.
#[derive(Debug)]
pub(crate) struct Auth {
    restart: Duration,
    peer: Option<(Peer, Credentials)>,
    authenticator: Option<(Authenticator, Secrets, Vec<u8>)>,
    peer_name: Option<Vec<u8>>,
    finished: bool,
    out: VecDeque<AuthOutput>,
}

impl Auth {
    /// Starts the phase. `us` is the protocol the peer required of us (with our credentials),
    /// `them` the protocol we required of the peer (with the user table and our name).
    pub(crate) fn start(
        now: Instant,
        restart: Duration,
        us: Option<(AuthKind, Credentials)>,
        them: Option<(AuthKind, Secrets, Vec<u8>)>,
        rng: &mut Rng,
    ) -> Self {
        let mut auth = Auth {
            restart,
            peer: None,
            authenticator: None,
            peer_name: None,
            finished: false,
            out: VecDeque::new(),
        };
        if let Some((kind, creds)) = us {
            let peer = match kind {
                AuthKind::Pap => Peer::Pap { id: 0, sent: 0, deadline: now },
                AuthKind::ChapMd5 => Peer::Chap { deadline: now.checked_add(AUTH_TIMEOUT) },
            };
            auth.peer = Some((peer, creds));
            auth.send_pap_request(now);
        }
        if let Some((kind, secrets, name)) = them {
            let state = match kind {
                AuthKind::Pap => Authenticator::Pap { deadline: now + AUTH_TIMEOUT },
                AuthKind::ChapMd5 => {
                    let mut challenge = [0u8; 16];
                    rng.fill(&mut challenge);
                    let id = (rng.next_u32() & 0xff) as u8;
                    Authenticator::Chap { id, challenge, sent: 0, deadline: now }
                }
            };
            auth.authenticator = Some((state, secrets, name));
            auth.send_challenge(now);
        }
        auth.check_done();
        auth
    }

    pub(crate) fn poll_output(&mut self) -> Option<AuthOutput> {
        self.out.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let peer = match self.peer {
            Some((Peer::Pap { deadline, .. }, _)) => Some(deadline),
            Some((Peer::Chap { deadline }, _)) => deadline,
            _ => None,
        };
        let auth = match self.authenticator {
            Some((Authenticator::Pap { deadline } | Authenticator::Chap { deadline, .. }, ..)) => {
                Some(deadline)
            }
            _ => None,
        };
        timer::earliest([peer, auth])
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match &self.peer {
            Some((Peer::Pap { deadline, .. }, _)) if *deadline <= now => self.send_pap_request(now),
            Some((Peer::Chap { deadline: Some(d) }, _)) if *d <= now => {
                self.fail("no CHAP Challenge")
            }
            _ => {}
        }
        match &self.authenticator {
            Some((Authenticator::Pap { deadline }, ..)) if *deadline <= now => {
                self.fail("no PAP Authenticate-Request")
            }
            Some((Authenticator::Chap { deadline, .. }, ..)) if *deadline <= now => {
                self.send_challenge(now)
            }
            _ => {}
        }
    }

    /// (Re)sends the PAP Authenticate-Request, or fails after `PAP_MAX_REQUESTS`.
    fn send_pap_request(&mut self, now: Instant) {
        let Some((Peer::Pap { id, sent, deadline }, creds)) = &mut self.peer else {
            return;
        };
        if *sent >= PAP_MAX_REQUESTS {
            self.fail("PAP: no answer");
            return;
        }
        *id = id.wrapping_add(1);
        *sent += 1;
        *deadline = now + self.restart;
        let packet = PapPacket::AuthenticateRequest {
            id: *id,
            peer_id: creds.username.clone(),
            password: creds.password.clone(),
        };
        if let Ok(bytes) = packet.to_vec() {
            self.out.push_back(AuthOutput::Send(proto::PAP, bytes));
        }
    }

    /// (Re)sends the CHAP Challenge, or fails after `CHAP_MAX_CHALLENGES`.
    fn send_challenge(&mut self, now: Instant) {
        let Some((Authenticator::Chap { id, challenge, sent, deadline }, _, name)) =
            &mut self.authenticator
        else {
            return;
        };
        if *sent >= CHAP_MAX_CHALLENGES {
            self.fail("CHAP: no Response");
            return;
        }
        *sent += 1;
        *deadline = now + self.restart;
        let packet =
            ChapPacket::Challenge { id: *id, value: challenge.to_vec(), name: name.clone() };
        if let Ok(bytes) = packet.to_vec() {
            self.out.push_back(AuthOutput::Send(proto::CHAP, bytes));
        }
    }

    pub(crate) fn handle_pap(&mut self, packet: PapPacket) {
        match packet {
            PapPacket::AuthenticateAck { id, .. } => {
                if matches!(self.peer, Some((Peer::Pap { id: sent, .. }, _)) if sent == id) {
                    self.peer_done();
                }
            }
            PapPacket::AuthenticateNak { id, message } => {
                if matches!(self.peer, Some((Peer::Pap { id: sent, .. }, _)) if sent == id) {
                    debug!(message = %String::from_utf8_lossy(&message), "PAP Authenticate-Nak");
                    self.fail("PAP: Authenticate-Nak");
                }
            }
            PapPacket::AuthenticateRequest { id, peer_id, password } => {
                self.check_pap(id, peer_id, &password)
            }
        }
    }

    fn check_pap(&mut self, id: u8, user: Vec<u8>, password: &[u8]) {
        let Some((state, secrets, _)) = &mut self.authenticator else {
            return;
        };
        match state {
            Authenticator::Done { answer } => {
                self.out.push_back(AuthOutput::Send(answer.0, answer.1.clone()));
            }
            Authenticator::Pap { .. } => {
                let good = secrets.lookup(&user).is_some_and(|s| ct_eq(&s, password));
                let packet = if good {
                    PapPacket::AuthenticateAck { id, message: b"Login ok".to_vec() }
                } else {
                    PapPacket::AuthenticateNak { id, message: b"Login incorrect".to_vec() }
                };
                let bytes = packet.to_vec().unwrap_or_default();
                self.out.push_back(AuthOutput::Send(proto::PAP, bytes.clone()));
                if good {
                    *state = Authenticator::Done { answer: (proto::PAP, bytes) };
                    self.peer_name = Some(user);
                    self.check_done();
                } else {
                    self.fail("PAP: bad credentials from peer");
                }
            }
            Authenticator::Chap { .. } => {}
        }
    }

    /// A CHAP packet from the peer; for a Challenge, whether it was answered.
    pub(crate) fn handle_chap(&mut self, packet: ChapPacket) -> bool {
        match packet {
            ChapPacket::Challenge { id, value, .. } => {
                // A Challenge after a CHAP Success is a rechallenge (RFC 1994 §2.3): answer
                // it too. Never after PAP or when the peer required nothing of us.
                let Some((state, creds)) = &mut self.peer else {
                    return false;
                };
                match state {
                    Peer::Chap { deadline } => *deadline = None,
                    Peer::Done { chap: true } => {}
                    Peer::Done { chap: false } | Peer::Pap { .. } => return false,
                }
                let value = chap_md5(id, &creds.password, &value).to_vec();
                let response = ChapPacket::Response { id, value, name: creds.username.clone() };
                if let Ok(bytes) = response.to_vec() {
                    self.out.push_back(AuthOutput::Send(proto::CHAP, bytes));
                }
                true
            }
            ChapPacket::Success { .. } => {
                if matches!(self.peer, Some((Peer::Chap { .. }, _))) {
                    self.peer_done();
                }
                false
            }
            ChapPacket::Failure { .. } => {
                if matches!(self.peer, Some((Peer::Chap { .. }, _))) {
                    self.fail("CHAP: Failure");
                }
                false
            }
            ChapPacket::Response { id, value, name } => {
                self.check_chap(id, &value, name);
                false
            }
        }
    }

    fn check_chap(&mut self, id: u8, value: &[u8], name: Vec<u8>) {
        let Some((state, secrets, _)) = &mut self.authenticator else {
            return;
        };
        match state {
            Authenticator::Done { answer } => {
                self.out.push_back(AuthOutput::Send(answer.0, answer.1.clone()));
            }
            Authenticator::Chap { id: sent, challenge, .. } if *sent == id => {
                let good = secrets
                    .lookup(&name)
                    .is_some_and(|secret| ct_eq(&chap_md5(id, &secret, challenge), value));
                let packet = if good {
                    ChapPacket::Success { id, message: b"Welcome".to_vec() }
                } else {
                    ChapPacket::Failure { id, message: b"Access denied".to_vec() }
                };
                let bytes = packet.to_vec().unwrap_or_default();
                self.out.push_back(AuthOutput::Send(proto::CHAP, bytes.clone()));
                if good {
                    *state = Authenticator::Done { answer: (proto::CHAP, bytes) };
                    self.peer_name = Some(name);
                    self.check_done();
                } else {
                    self.fail("CHAP: bad response from peer");
                }
            }
            Authenticator::Chap { .. } | Authenticator::Pap { .. } => {}
        }
    }

    fn peer_done(&mut self) {
        if let Some((state, _)) = &mut self.peer {
            *state = Peer::Done { chap: matches!(state, Peer::Chap { .. }) };
        }
        self.check_done();
    }

    fn check_done(&mut self) {
        let peer_ok = self.peer.as_ref().is_none_or(|(p, _)| matches!(p, Peer::Done { .. }));
        let auth_ok = self
            .authenticator
            .as_ref()
            .is_none_or(|(a, ..)| matches!(a, Authenticator::Done { .. }));
        if peer_ok && auth_ok && !self.finished {
            self.finished = true;
            self.out.push_back(AuthOutput::Success(self.peer_name.clone()));
        }
    }

    fn fail(&mut self, why: &str) {
        debug!(why, "authentication failed");
        self.peer = None;
        self.authenticator = None;
        if !self.finished {
            self.finished = true;
            self.out.push_back(AuthOutput::Failure);
        }
    }
}
