//! PPPoE Discovery stage (RFC 2516 §5): the host's PADI/PADO/PADR/PADS exchange and the access
//! concentrator's stateless answers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use tracing::debug;

use crate::event::{DownReason, Stats, Transmit};
use crate::timer::{
    PADI_MAX_ATTEMPTS, PADI_TIMEOUT, PADI_TIMEOUT_MAX, PADR_MAX_ATTEMPTS, PADR_TIMEOUT,
};
use crate::wire::ethernet::BROADCAST;
use crate::wire::{
    DiscoveryCode, DiscoveryPacket, ETHERTYPE_DISCOVERY, EthernetHeader, Mac, Tag, Vlan,
};

/// Largest PPP payload without RFC 4638: 1500 - 8 (RFC 2516 §7: "MRU ... MUST NOT be
/// negotiated to a size larger than 1492").
pub const PPPOE_MAX_PAYLOAD: u16 = 1492;

/// Builds a discovery frame.
pub(crate) fn frame(
    src: Mac,
    dst: Mac,
    vlan: Option<Vlan>,
    packet: &DiscoveryPacket,
) -> Option<Transmit> {
    let eth = EthernetHeader { dst, src, vlan, ethertype: ETHERTYPE_DISCOVERY };
    let mut bytes = vec![0; eth.buffer_len() + packet.buffer_len()];
    let n = eth.emit(&mut bytes).ok()?;
    packet.emit(bytes.get_mut(n..)?).ok()?;
    Some(Transmit { dst, bytes })
}

/// Settings of the host side.
#[derive(Debug, Clone)]
pub(crate) struct HostSettings {
    pub mac: Mac,
    pub vlan: Option<Vlan>,
    pub service_name: Vec<u8>,
    pub ac_name: Option<Vec<u8>>,
    /// RFC 4638 PPP-Max-Payload to ask for, if above 1492.
    pub max_payload: Option<u16>,
}

/// The AC we chose from its PADO.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    ac: Mac,
    service_name: Vec<u8>,
    cookie: Option<Vec<u8>>,
    relay: Option<Vec<u8>>,
}

/// RFC 2516 §5 host states.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostState {
    /// PADI sent `sent` times; waiting for a PADO.
    Selecting { sent: u32, wait: Duration, deadline: Instant },
    /// PADR sent `sent` times to the chosen AC; waiting for its PADS.
    Requesting { offer: Offer, sent: u32, wait: Duration, deadline: Instant },
    /// PADS received.
    Session { ac: Mac, session_id: u16 },
    /// Gave up or terminated.
    Done,
}

/// What a discovery input led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostOutcome {
    /// The session exists; `max_payload` is the PPP payload it carries.
    Session { ac: Mac, session_id: u16, max_payload: u16 },
    /// Our AC sent PADT for our session.
    Padt,
    /// Discovery failed.
    Failed(DownReason),
}

/// The host side of discovery.
#[derive(Debug)]
pub(crate) struct HostDiscovery {
    settings: HostSettings,
    host_uniq: Vec<u8>,
    state: HostState,
    out: VecDeque<Transmit>,
}

impl HostDiscovery {
    /// Starts discovery: the first PADI goes out now.
    pub(crate) fn new(now: Instant, settings: HostSettings, host_uniq: u64) -> Self {
        let mut d = HostDiscovery {
            settings,
            host_uniq: host_uniq.to_be_bytes().to_vec(),
            state: HostState::Done,
            out: VecDeque::new(),
        };
        d.send_padi(now, 0, PADI_TIMEOUT);
        d
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            HostState::Selecting { deadline, .. } | HostState::Requesting { deadline, .. } => {
                Some(deadline)
            }
            _ => None,
        }
    }

    fn common_tags(&self) -> Vec<Tag> {
        let mut tags = vec![
            Tag::ServiceName(self.settings.service_name.clone()),
            Tag::HostUniq(self.host_uniq.clone()),
        ];
        tags.extend(self.settings.max_payload.map(Tag::PppMaxPayload));
        tags
    }

    fn send_padi(&mut self, now: Instant, sent: u32, wait: Duration) {
        let packet =
            DiscoveryPacket { code: DiscoveryCode::Padi, session_id: 0, tags: self.common_tags() };
        self.out.extend(frame(self.settings.mac, BROADCAST, self.settings.vlan, &packet));
        let deadline = now.checked_add(wait).unwrap_or(now);
        self.state = HostState::Selecting { sent: sent.saturating_add(1), wait, deadline };
    }

    fn send_padr(&mut self, now: Instant, offer: Offer, sent: u32, wait: Duration) {
        let mut tags = self.common_tags();
        if let Some(first) = tags.first_mut() {
            *first = Tag::ServiceName(offer.service_name.clone());
        }
        tags.extend(offer.cookie.clone().map(Tag::AcCookie));
        tags.extend(offer.relay.clone().map(Tag::RelaySessionId));
        let packet = DiscoveryPacket { code: DiscoveryCode::Padr, session_id: 0, tags };
        self.out.extend(frame(self.settings.mac, offer.ac, self.settings.vlan, &packet));
        let deadline = now.checked_add(wait).unwrap_or(now);
        self.state = HostState::Requesting { offer, sent: sent.saturating_add(1), wait, deadline };
    }

    /// RFC 2516 §5.1, §5.3: resend with the waiting period doubled, up to the bounds.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        stats: &mut Stats,
    ) -> Option<HostOutcome> {
        match self.state.clone() {
            HostState::Selecting { sent, wait, deadline } if deadline <= now => {
                if sent >= PADI_MAX_ATTEMPTS {
                    self.state = HostState::Done;
                    return Some(HostOutcome::Failed(DownReason::DiscoveryTimeout));
                }
                stats.discovery_retransmits += 1;
                self.send_padi(now, sent, (wait.saturating_mul(2)).min(PADI_TIMEOUT_MAX));
            }
            HostState::Requesting { offer, sent, wait, deadline } if deadline <= now => {
                if sent >= PADR_MAX_ATTEMPTS {
                    // RFC 2516 §5.3 says to go back to PADI; we report and the caller redials
                    // with a fresh Host-Uniq, which amounts to the same.
                    self.state = HostState::Done;
                    return Some(HostOutcome::Failed(DownReason::DiscoveryTimeout));
                }
                stats.discovery_retransmits += 1;
                self.send_padr(now, offer, sent, (wait.saturating_mul(2)).min(PADI_TIMEOUT_MAX));
            }
            _ => {}
        }
        None
    }

    /// A discovery packet addressed to us (unicast or broadcast) arrived.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        eth: &EthernetHeader,
        packet: &DiscoveryPacket,
        stats: &mut Stats,
    ) -> Option<HostOutcome> {
        let ours = packet.host_uniq() == Some(self.host_uniq.as_slice());
        match (&self.state, packet.code) {
            (HostState::Selecting { .. }, DiscoveryCode::Pado) if ours => {
                match self.select(eth.src, packet) {
                    Some(offer) => self.send_padr(now, offer, 0, PADR_TIMEOUT),
                    None => stats.ignored += 1,
                }
                None
            }
            (HostState::Requesting { offer, .. }, DiscoveryCode::Pads)
                if ours && eth.src == offer.ac =>
            {
                let ac = offer.ac;
                // RFC 2516 §5.4: an error tag or session id 0 means the AC refused.
                if packet.session_id == 0 || packet.error_tag().is_some() {
                    debug!(tag = ?packet.error_tag(), "PADS refused");
                    self.state = HostState::Done;
                    return Some(HostOutcome::Failed(DownReason::DiscoveryError));
                }
                let session_id = packet.session_id;
                self.state = HostState::Session { ac, session_id };
                Some(HostOutcome::Session { ac, session_id, max_payload: self.max_payload(packet) })
            }
            // RFC 2516 §5.5: PADT "MAY be sent anytime after a session is established"; only
            // our AC's, for our session, counts. Others are forged or stale.
            (HostState::Session { ac, session_id }, DiscoveryCode::Padt)
                if eth.src == *ac && packet.session_id == *session_id =>
            {
                self.state = HostState::Done;
                Some(HostOutcome::Padt)
            }
            (_, DiscoveryCode::Padt) => {
                stats.forged_padt += 1;
                None
            }
            _ => {
                stats.ignored += 1;
                None
            }
        }
    }

    /// RFC 2516 §5.2: choose a PADO by AC-Name and Service-Name; it must name the AC.
    fn select(&self, ac: Mac, pado: &DiscoveryPacket) -> Option<Offer> {
        if pado.error_tag().is_some() || ac == BROADCAST || ac.first().is_some_and(|b| b & 1 == 1) {
            return None;
        }
        let ac_name = pado.find(|t| match t {
            Tag::AcName(n) => Some(n),
            _ => None,
        })?;
        if self.settings.ac_name.as_ref().is_some_and(|want| want != ac_name) {
            return None;
        }
        let want = &self.settings.service_name;
        let service_name = pado.find(|t| match t {
            Tag::ServiceName(s) if want.is_empty() || s == want => Some(s.clone()),
            _ => None,
        })?;
        Some(Offer {
            ac,
            service_name,
            cookie: pado.find(|t| if let Tag::AcCookie(c) = t { Some(c.clone()) } else { None }),
            relay: pado.find(
                |t| {
                    if let Tag::RelaySessionId(r) = t { Some(r.clone()) } else { None }
                },
            ),
        })
    }

    /// RFC 4638 §4: a PADS without PPP-Max-Payload leaves the payload at 1492.
    fn max_payload(&self, pads: &DiscoveryPacket) -> u16 {
        let granted = pads.find(|t| if let Tag::PppMaxPayload(m) = t { Some(*m) } else { None });
        match (self.settings.max_payload, granted) {
            (Some(asked), Some(got)) => asked.min(got).max(PPPOE_MAX_PAYLOAD),
            _ => PPPOE_MAX_PAYLOAD,
        }
    }

    /// A PADT for our session, if we have one (RFC 2516 §5.5).
    pub(crate) fn padt(&mut self) -> Option<Transmit> {
        let HostState::Session { ac, session_id } = self.state else {
            return None;
        };
        self.state = HostState::Done;
        let packet = DiscoveryPacket { code: DiscoveryCode::Padt, session_id, tags: vec![] };
        frame(self.settings.mac, ac, self.settings.vlan, &packet)
    }
}

/// Settings of the AC side.
#[derive(Debug, Clone)]
pub(crate) struct AcSettings {
    pub mac: Mac,
    pub vlan: Option<Vlan>,
    pub ac_name: Vec<u8>,
    /// Services offered; empty offers the empty ("any") service.
    pub service_names: Vec<Vec<u8>>,
    pub cookie_key: [u8; 16],
    /// Largest RFC 4638 PPP-Max-Payload granted (1492 grants nothing above the default).
    pub max_payload: u16,
}

/// What the AC's discovery half decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcOutcome {
    /// Send this.
    Reply(Transmit),
    /// A valid PADR: create a session for `host` (and answer with `pads_tags` in the PADS).
    Request { host: Mac, host_uniq: Option<Vec<u8>>, pads_tags: Vec<Tag>, max_payload: u16 },
    /// The host ended `session_id`.
    Padt { host: Mac, session_id: u16 },
    /// Not answered.
    Ignore,
}

/// The AC's stateless discovery answers: PADO with an AC-Cookie that is a keyed hash of the
/// host MAC, verified again on PADR (RFC 2516 §5.2 "AC-Cookie ... to aid in protecting against
/// denial of service attacks").
#[derive(Debug)]
pub(crate) struct AcDiscovery {
    pub settings: AcSettings,
}

impl AcDiscovery {
    fn cookie(&self, host: &Mac) -> Vec<u8> {
        let mut h = Md5::new();
        h.update(self.settings.cookie_key);
        h.update(host);
        h.update(self.settings.cookie_key);
        h.finalize().to_vec()
    }

    /// The service we give for the host's request, or `None` if we do not offer it.
    fn service(&self, packet: &DiscoveryPacket) -> Option<Vec<u8>> {
        let asked = packet.find(|t| if let Tag::ServiceName(s) = t { Some(s) } else { None })?;
        let offered = &self.settings.service_names;
        if offered.is_empty() || asked.is_empty() || offered.contains(asked) {
            Some(asked.clone())
        } else {
            None
        }
    }

    /// Echoed tags (RFC 2516 §5.2: Host-Uniq and Relay-Session-Id MUST be echoed).
    fn echoed(packet: &DiscoveryPacket) -> impl Iterator<Item = Tag> + '_ {
        packet
            .tags
            .iter()
            .filter(|t| matches!(t, Tag::HostUniq(_) | Tag::RelaySessionId(_)))
            .cloned()
    }

    fn granted(&self, packet: &DiscoveryPacket) -> Option<u16> {
        let asked = packet.find(|t| if let Tag::PppMaxPayload(m) = t { Some(*m) } else { None })?;
        (self.settings.max_payload > PPPOE_MAX_PAYLOAD)
            .then(|| asked.min(self.settings.max_payload))
    }

    pub(crate) fn handle_packet(
        &self,
        eth: &EthernetHeader,
        packet: &DiscoveryPacket,
        answer_padi: bool,
    ) -> AcOutcome {
        let s = &self.settings;
        match packet.code {
            DiscoveryCode::Padi if answer_padi => {
                let Some(service) = self.service(packet) else {
                    return AcOutcome::Ignore;
                };
                let mut tags = vec![Tag::AcName(s.ac_name.clone()), Tag::ServiceName(service)];
                tags.push(Tag::AcCookie(self.cookie(&eth.src)));
                tags.extend(Self::echoed(packet));
                tags.extend(self.granted(packet).map(Tag::PppMaxPayload));
                let pado = DiscoveryPacket { code: DiscoveryCode::Pado, session_id: 0, tags };
                frame(s.mac, eth.src, s.vlan, &pado).map_or(AcOutcome::Ignore, AcOutcome::Reply)
            }
            DiscoveryCode::Padr if eth.dst == s.mac => {
                let cookie = packet.find(|t| if let Tag::AcCookie(c) = t { Some(c) } else { None });
                if cookie != Some(&self.cookie(&eth.src)) {
                    debug!(host = ?eth.src, "PADR with a bad AC-Cookie dropped");
                    return AcOutcome::Ignore;
                }
                let Some(service) = self.service(packet) else {
                    let mut tags = vec![Tag::ServiceNameError(Vec::new())];
                    tags.extend(Self::echoed(packet));
                    let pads = DiscoveryPacket { code: DiscoveryCode::Pads, session_id: 0, tags };
                    return frame(s.mac, eth.src, s.vlan, &pads)
                        .map_or(AcOutcome::Ignore, AcOutcome::Reply);
                };
                let granted = self.granted(packet);
                let mut pads_tags = vec![Tag::ServiceName(service), Tag::AcName(s.ac_name.clone())];
                pads_tags.extend(Self::echoed(packet));
                pads_tags.extend(granted.map(Tag::PppMaxPayload));
                AcOutcome::Request {
                    host: eth.src,
                    host_uniq: packet.host_uniq().map(<[u8]>::to_vec),
                    pads_tags,
                    max_payload: granted.unwrap_or(PPPOE_MAX_PAYLOAD).max(PPPOE_MAX_PAYLOAD),
                }
            }
            DiscoveryCode::Padt if eth.dst == s.mac => {
                AcOutcome::Padt { host: eth.src, session_id: packet.session_id }
            }
            _ => AcOutcome::Ignore,
        }
    }

    /// The PADS for a new session.
    pub(crate) fn pads(&self, host: Mac, session_id: u16, tags: Vec<Tag>) -> Option<Transmit> {
        let pads = DiscoveryPacket { code: DiscoveryCode::Pads, session_id, tags };
        frame(self.settings.mac, host, self.settings.vlan, &pads)
    }

    /// A PADT for a session.
    pub(crate) fn padt(&self, host: Mac, session_id: u16) -> Option<Transmit> {
        let padt = DiscoveryPacket { code: DiscoveryCode::Padt, session_id, tags: vec![] };
        frame(self.settings.mac, host, self.settings.vlan, &padt)
    }
}
