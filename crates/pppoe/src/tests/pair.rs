//! `Pair`: a client against an access concentrator in memory, on a fake clock, with loss knobs
//! and a bounded `drive`; and the end-to-end scenarios run on it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::{DiscoveryCode, DiscoveryPacket, ETHERTYPE_DISCOVERY, EthernetHeader};
use crate::{
    AcCommand, AcConfig, AcEvent, AccessConcentrator, AuthKind, ClientConfig, Command, Credentials,
    DownReason, Event, PppoeClient, Secrets, Transmit,
};

pub(crate) const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub(crate) const AC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xac];

/// A frame filter: return true to drop.
type Loss = Box<dyn FnMut(&Transmit) -> bool>;

pub(crate) struct Pair {
    pub client: PppoeClient,
    pub ac: AccessConcentrator,
    pub now: Instant,
    pub start: Instant,
    pub client_events: Vec<Event>,
    pub ac_events: Vec<AcEvent>,
    /// Frames the client sent, as delivered or not.
    pub client_sent: Vec<Transmit>,
    /// Frames the AC sent.
    pub ac_sent: Vec<Transmit>,
    pub drop_to_ac: Loss,
    pub drop_to_client: Loss,
}

pub(crate) fn creds(user: &str, pass: &str) -> Credentials {
    Credentials { username: user.into(), password: pass.into() }
}

pub(crate) fn client_config() -> ClientConfig {
    ClientConfig::new(CLIENT_MAC, Some(creds("alice", "secret")), 11)
}

pub(crate) fn ac_config(auth: Option<AuthKind>) -> AcConfig {
    let mut c = AcConfig::new(AC_MAC, Secrets::table([("alice", "secret")]), 22);
    c.auth = auth;
    c
}

/// The discovery code of a frame, if it is one.
pub(crate) fn discovery_code(t: &Transmit) -> Option<DiscoveryCode> {
    let (eth, payload) = EthernetHeader::parse(&t.bytes).ok()?;
    (eth.ethertype == ETHERTYPE_DISCOVERY).then_some(())?;
    DiscoveryPacket::parse(payload).ok().map(|p| p.code)
}

impl Pair {
    pub(crate) fn new(client: ClientConfig, ac: AcConfig) -> Self {
        let start = Instant::now();
        Pair {
            client: PppoeClient::new(client, start),
            ac: AccessConcentrator::new(ac),
            now: start,
            start,
            client_events: Vec::new(),
            ac_events: Vec::new(),
            client_sent: Vec::new(),
            ac_sent: Vec::new(),
            drop_to_ac: Box::new(|_| false),
            drop_to_client: Box::new(|_| false),
        }
    }

    /// Milliseconds since the start.
    pub(crate) fn elapsed_ms(&self) -> u128 {
        (self.now - self.start).as_millis()
    }

    /// Delivers every queued frame both ways until both are quiet; true if anything moved.
    pub(crate) fn exchange(&mut self) -> bool {
        let mut moved = false;
        loop {
            let mut progress = false;
            while let Some(t) = self.client.poll_transmit() {
                progress = true;
                if !(self.drop_to_ac)(&t) {
                    self.ac.handle_input(self.now, &t.bytes);
                }
                self.client_sent.push(t);
            }
            while let Some(t) = self.ac.poll_transmit() {
                progress = true;
                if !(self.drop_to_client)(&t) {
                    self.client.handle_input(self.now, &t.bytes);
                }
                self.ac_sent.push(t);
            }
            self.client_events.extend(std::iter::from_fn(|| self.client.poll_event()));
            self.ac_events.extend(std::iter::from_fn(|| self.ac.poll_event()));
            if !progress {
                return moved;
            }
            moved = true;
        }
    }

    /// Jumps the clock to the next deadline of either machine and fires it; false if none.
    pub(crate) fn advance(&mut self) -> bool {
        let next = [self.client.poll_timeout(), self.ac.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        self.client.handle_timeout(self.now);
        self.ac.handle_timeout(self.now);
        true
    }

    /// Exchanges and advances until `done` holds, for at most `steps` clock jumps.
    pub(crate) fn drive(&mut self, steps: usize, done: impl Fn(&Pair) -> bool) -> bool {
        for _ in 0..steps {
            self.exchange();
            if done(self) {
                return true;
            }
            if !self.advance() {
                self.exchange();
                return done(self);
            }
        }
        false
    }

    pub(crate) fn client_up(&self) -> Option<&crate::Link> {
        self.client_events.iter().find_map(|e| if let Event::Up(l) = e { Some(l) } else { None })
    }

    pub(crate) fn client_down(&self) -> Option<DownReason> {
        self.client_events.iter().find_map(|e| if let Event::Down(r) = e { Some(*r) } else { None })
    }

    pub(crate) fn bring_up(&mut self) {
        assert!(self.drive(100, |p| p.client_up().is_some()), "no Up: {:?}", self.client_events);
    }
}

#[test]
fn bring_up_with_pap() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::Pap)));
    pair.bring_up();
    let link = pair.client_up().unwrap().clone();
    let ipv4 = link.ipv4.clone().unwrap();
    assert_eq!(ipv4.local, Ipv4Addr::new(198, 51, 100, 2));
    assert_eq!(ipv4.peer, Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(ipv4.dns, vec![Ipv4Addr::new(203, 0, 113, 53)]);
    assert_eq!(link.mtu, 1492);
    let ipv6 = link.ipv6.unwrap();
    assert_ne!(ipv6.local_id, 0);
    assert_ne!(ipv6.local_id, ipv6.peer_id);
    // Everything is negotiated on the first try with no loss: well under a second.
    assert!(pair.elapsed_ms() < 1000, "{} ms", pair.elapsed_ms());
    let ac_link = pair
        .ac_events
        .iter()
        .find_map(|e| if let AcEvent::SessionUp(l) = e { Some(l.clone()) } else { None })
        .unwrap();
    assert_eq!(ac_link.peer_name.as_deref(), Some(&b"alice"[..]));
    assert_eq!(ac_link.ipv4.unwrap().peer, Ipv4Addr::new(198, 51, 100, 2));
    assert_eq!(ac_link.ipv6.unwrap().peer_id, ipv6.local_id);
    assert_eq!(pair.client.session_key().unwrap().session_id, link.session_id);
}

#[test]
fn bring_up_with_chap() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::ChapMd5)));
    pair.bring_up();
    assert!(pair.client_up().unwrap().ipv4.is_some());
    assert!(pair.ac_sent.iter().any(|t| t.bytes.get(20..22) == Some(&[0xc2, 0x23])));
}

#[test]
fn bring_up_without_auth() {
    let mut pair = Pair::new(client_config(), ac_config(None));
    pair.bring_up();
    let ac_up =
        pair.ac_events.iter().any(|e| matches!(e, AcEvent::SessionUp(l) if l.peer_name.is_none()));
    assert!(ac_up);
}

#[test]
fn client_prefers_what_it_accepts() {
    // The client only does PAP; the AC asks for CHAP: the client NAKs, the AC cannot comply
    // and gives up with AuthFailed on both sides.
    let mut config = client_config();
    config.accept_auth = vec![AuthKind::Pap];
    let mut pair = Pair::new(config, ac_config(Some(AuthKind::ChapMd5)));
    assert!(pair.drive(100, |p| p.client_down().is_some()));
    assert!(pair.client_up().is_none());
    assert!(
        pair.ac_events
            .iter()
            .any(|e| matches!(e, AcEvent::SessionDown { reason: DownReason::AuthFailed, .. }))
    );
}

#[test]
fn wrong_password_is_auth_failed() {
    for auth in [AuthKind::Pap, AuthKind::ChapMd5] {
        let mut config = client_config();
        config.credentials = Some(creds("alice", "wrong"));
        let mut pair = Pair::new(config, ac_config(Some(auth)));
        assert!(pair.drive(100, |p| p.client_down().is_some()), "{auth:?}");
        assert_eq!(pair.client_down(), Some(DownReason::AuthFailed), "{auth:?}");
        assert!(pair.client_up().is_none());
    }
}

#[test]
fn padt_from_ac_brings_client_down() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::Pap)));
    pair.bring_up();
    let session_id = pair.client.session_key().unwrap().session_id;
    pair.ac.handle_command(pair.now, AcCommand::Padt { session_id });
    pair.exchange();
    assert_eq!(pair.client_down(), Some(DownReason::Padt));
    assert_eq!(pair.client.poll_timeout(), None);
    // The client does not answer a PADT with a PADT.
    let padts = pair.client_sent.iter().filter(|t| discovery_code(t) == Some(DiscoveryCode::Padt));
    assert_eq!(padts.count(), 0);
}

#[test]
fn forged_padt_is_ignored() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::Pap)));
    pair.bring_up();
    let key = pair.client.session_key().unwrap();
    let forge = |src: [u8; 6], session_id: u16| {
        let padt = DiscoveryPacket { code: DiscoveryCode::Padt, session_id, tags: vec![] };
        crate::discovery::frame(src, CLIENT_MAC, None, &padt).unwrap().bytes
    };
    // Right session, wrong MAC; right MAC, wrong session.
    pair.client.handle_input(pair.now, &forge([0x02, 0, 0, 0, 0, 0x66], key.session_id));
    pair.client.handle_input(pair.now, &forge(AC_MAC, key.session_id.wrapping_add(1)));
    pair.exchange();
    assert_eq!(pair.client.stats().forged_padt, 2);
    assert_eq!(pair.client_down(), None);
    assert!(pair.client.session_key().is_some());
}

#[test]
fn ipv6cp_rejected_leaves_ipv4_up() {
    let mut ac = ac_config(Some(AuthKind::Pap));
    ac.ipv6 = false;
    let mut pair = Pair::new(client_config(), ac);
    pair.bring_up();
    let link = pair.client_up().unwrap();
    assert!(link.ipv4.is_some());
    assert_eq!(link.ipv6, None);
    // It came up on the Protocol-Reject, not after an IPv6CP timeout.
    assert!(pair.elapsed_ms() < 1000, "{} ms", pair.elapsed_ms());
    assert!(pair.ac.stats().protocol_rejects >= 1);
}

#[test]
fn mtu_1500_via_ppp_max_payload() {
    let mut config = client_config();
    config.mtu = 1500;
    let mut pair = Pair::new(config, ac_config(Some(AuthKind::Pap)));
    pair.bring_up();
    assert_eq!(pair.client_up().unwrap().mtu, 1500);
    let padi = &pair.client_sent[0];
    let (_, payload) = EthernetHeader::parse(&padi.bytes).unwrap();
    let padi = DiscoveryPacket::parse(payload).unwrap();
    assert!(padi.tags.contains(&crate::wire::Tag::PppMaxPayload(1500)));
    // The AC's view: the host asked for MRU 1500, so the AC may send 1500.
    let ac_mtu = pair
        .ac_events
        .iter()
        .find_map(|e| if let AcEvent::SessionUp(l) = e { Some(l.mtu) } else { None });
    assert_eq!(ac_mtu, Some(1500));
}

#[test]
fn mtu_1500_without_ac_support_stays_1492() {
    let mut config = client_config();
    config.mtu = 1500;
    let mut ac = ac_config(Some(AuthKind::Pap));
    ac.max_payload = 1492;
    let mut pair = Pair::new(config, ac);
    pair.bring_up();
    assert_eq!(pair.client_up().unwrap().mtu, 1492);
}

#[test]
fn close_sends_terminate_then_padt() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::Pap)));
    pair.bring_up();
    let sent_before = pair.client_sent.len();
    pair.client.handle_command(pair.now, Command::Close);
    assert!(pair.drive(20, |p| p.client.poll_timeout().is_none()));
    assert_eq!(pair.client_down(), Some(DownReason::AdminClose));
    let after = &pair.client_sent[sent_before..];
    let term_req = after.iter().position(|t| t.bytes.get(20..23) == Some(&[0xc0, 0x21, 0x05]));
    let padt = after.iter().position(|t| discovery_code(t) == Some(DiscoveryCode::Padt));
    assert!(term_req.unwrap() < padt.unwrap());
    assert!(
        pair.ac_events
            .iter()
            .any(|e| matches!(e, AcEvent::SessionDown { reason: DownReason::LcpTerminated, .. }))
    );
    assert_eq!(pair.ac.sessions().count(), 0);
}

#[test]
fn lost_frames_are_retransmitted() {
    // Drop the first PADI, the first PADR and every third session frame towards the AC.
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::ChapMd5)));
    let mut n = 0u32;
    let mut first_padi = true;
    let mut first_padr = true;
    pair.drop_to_ac = Box::new(move |t| match discovery_code(t) {
        Some(DiscoveryCode::Padi) => std::mem::replace(&mut first_padi, false),
        Some(DiscoveryCode::Padr) => std::mem::replace(&mut first_padr, false),
        _ => {
            n += 1;
            n % 3 == 0
        }
    });
    pair.bring_up();
    assert!(pair.client.stats().discovery_retransmits >= 2);
    assert!(pair.client_up().unwrap().ipv4.is_some());
}

#[test]
fn silent_ac_is_discovery_timeout() {
    let mut ac = ac_config(None);
    ac.answer_padi = false;
    let mut pair = Pair::new(client_config(), ac);
    assert!(pair.drive(100, |p| p.client_down().is_some()));
    assert_eq!(pair.client_down(), Some(DownReason::DiscoveryTimeout));
}

#[test]
fn redial_asks_for_previous_address() {
    let mut config = client_config();
    config.ipv4_hint = Ipv4Addr::new(198, 51, 100, 7);
    let mut pair = Pair::new(config, ac_config(None));
    pair.bring_up();
    // The AC assigns from its pool and NAKs the hint; the client learns from the NAK.
    assert_eq!(
        pair.client_up().unwrap().ipv4.as_ref().unwrap().local,
        Ipv4Addr::new(198, 51, 100, 2)
    );
}

#[test]
fn ac_echo_keeps_quiet_link_alive_and_client_answers() {
    let mut pair = Pair::new(client_config(), ac_config(None));
    pair.bring_up();
    // Both sides probe a silent link; each answers the other, so neither declares it dead.
    let until = pair.now + Duration::from_secs(120);
    assert!(pair.drive(200, |p| p.now >= until));
    assert_eq!(pair.client_down(), None);
    assert!(pair.client.stats().echo_requests > 0);
}

/// The driver reads discovery and session frames on two sockets and threads, so the AC's
/// first Configure-Request can reach the machine before the PADS that opens its session: it
/// is kept and answered once the session is open, and the link comes up without waiting for
/// the AC's restart timer (3 s) to resend it.
#[test]
fn a_configure_request_that_overtakes_its_pads_is_answered_at_once() {
    let mut pair = Pair::new(client_config(), ac_config(Some(AuthKind::Pap)));
    let now = pair.now;
    let padi = pair.client.poll_transmit().unwrap();
    pair.ac.handle_input(now, &padi.bytes);
    let pado = pair.ac.poll_transmit().unwrap();
    pair.client.handle_input(now, &pado.bytes);
    let padr = pair.client.poll_transmit().unwrap();
    assert_eq!(discovery_code(&padr), Some(DiscoveryCode::Padr));
    pair.ac.handle_input(now, &padr.bytes);
    let from_ac: Vec<Transmit> = std::iter::from_fn(|| pair.ac.poll_transmit()).collect();
    assert_eq!(discovery_code(&from_ac[0]), Some(DiscoveryCode::Pads), "{from_ac:?}");
    assert!(from_ac.len() >= 2, "the AC's Configure-Request follows its PADS: {from_ac:?}");
    // Swapped: the session frames first, then the PADS.
    for t in from_ac.iter().skip(1).chain(from_ac.first()) {
        pair.client.handle_input(now, &t.bytes);
    }
    pair.exchange();
    assert!(pair.client_up().is_some(), "up without a timer: {:?}", pair.client_events);
    assert_eq!(pair.elapsed_ms(), 0);
    // Without the PADS, a session frame is not kept past the bound, and never replayed for
    // another session.
    let mut c = PppoeClient::new(client_config(), now);
    let _ = c.poll_transmit();
    for _ in 0..10 {
        c.handle_input(now, &from_ac[1].bytes);
    }
    assert_eq!(c.stats().ignored, 10 - crate::client::EARLY_MAX as u64);
}
