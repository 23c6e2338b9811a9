//! The PPPoE client (host) machine: discovery, then the PPP link, for one WAN session.
//!
//! Drive it in this order: feed inputs (`handle_input`, `handle_timeout`, `handle_command`,
//! `note_received`), then drain `poll_transmit`, then `poll_event`, then ask `poll_timeout`.
//! After `Down`, keep driving until `poll_timeout()` is `None` so that the Terminate exchange
//! and the PADT can finish, or drop the machine.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use splitmix::Rng;
use tracing::debug;

use crate::auth::{AuthKind, Credentials};
use crate::discovery::{HostDiscovery, HostOutcome, HostSettings, PPPOE_MAX_PAYLOAD};
use crate::event::{DownReason, Link, Stats, Transmit};
use crate::fsm::FsmConfig;
use crate::lcp::LcpSettings;
use crate::ncp::IpcpRole;
use crate::ppp::{Ppp, PppEvent, PppSettings};
use crate::wire::session::session_frame;
use crate::wire::{
    DiscoveryPacket, ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, EthernetHeader, Mac, SessionHeader,
    SessionKey, Vlan,
};

/// Configuration of a [`PppoeClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Our MAC on the WAN interface.
    pub mac: Mac,
    /// 802.1Q tag to write and expect, if any (e.g. VLAN 6).
    pub vlan: Option<Vlan>,
    /// Service-Name to ask for; empty accepts any (RFC 2516 §5.1).
    pub service_name: Vec<u8>,
    /// Only accept a PADO from this AC-Name, if set.
    pub ac_name: Option<Vec<u8>>,
    /// MTU wanted; above 1492 asks for RFC 4638 PPP-Max-Payload and that MRU.
    pub mtu: u16,
    /// Credentials for PAP/CHAP; `None` rejects any authentication request.
    pub credentials: Option<Credentials>,
    /// Protocols we agree to authenticate with, preferred first.
    pub accept_auth: Vec<AuthKind>,
    /// Address to ask for first: the previous one on redial, or 0.0.0.0.
    pub ipv4_hint: Ipv4Addr,
    /// Ask for DNS servers (RFC 1877).
    pub request_dns: bool,
    /// Run IPv6CP.
    pub ipv6: bool,
    /// Echo keepalive interval (`None` disables it).
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before the link is declared dead.
    pub echo_failures: u32,
    /// RFC 1661 §4.6 timer and counters.
    pub fsm: FsmConfig,
    /// Seed of the machine's RNG (Host-Uniq, magic number, identifiers).
    pub seed: u64,
}

impl ClientConfig {
    /// Defaults: any service, MTU 1492, PAP or CHAP, DNS, IPv6, echo every 10 s × 3.
    pub fn new(mac: Mac, credentials: Option<Credentials>, seed: u64) -> Self {
        ClientConfig {
            mac,
            vlan: None,
            service_name: Vec::new(),
            ac_name: None,
            mtu: PPPOE_MAX_PAYLOAD,
            credentials,
            accept_auth: vec![AuthKind::ChapMd5, AuthKind::Pap],
            ipv4_hint: Ipv4Addr::UNSPECIFIED,
            request_dns: true,
            ipv6: true,
            echo_interval: Some(Duration::from_secs(10)),
            echo_failures: 3,
            fsm: FsmConfig::default(),
            seed,
        }
    }
}

/// Commands to a [`PppoeClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Send LCP Terminate-Request, then PADT (RFC 1661 §5.5, RFC 2516 §5.5).
    Close,
}

/// What a client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The session carries IP: configure the TUN device from this snapshot.
    Up(Link),
    /// The session is down.
    Down(DownReason),
}

/// Where the client is.
#[derive(Debug)]
enum Phase {
    Discovery,
    Session { key: SessionKey, max_payload: u16, ppp: Box<Ppp> },
    Dead,
}

/// A PPPoE client for one session: see the module doc for the calling order.
#[derive(Debug)]
pub struct PppoeClient {
    config: ClientConfig,
    rng: Rng,
    discovery: HostDiscovery,
    phase: Phase,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Session frames that came while the PADS was still awaited (at most [`EARLY_MAX`]):
    /// the driver reads discovery and session frames on two sockets, so the AC's first
    /// Configure-Request can overtake the PADS that opens its session. Replayed once the
    /// session is open when they belong to it, else dropped.
    early: Vec<(Mac, Vec<u8>)>,
}

/// Session frames kept while the PADS is awaited: the AC's first LCP frames, no more.
pub(crate) const EARLY_MAX: usize = 4;

impl PppoeClient {
    /// A client that starts discovery at `now` (the first PADI is ready to send).
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut rng = Rng::new(config.seed);
        let settings = HostSettings {
            mac: config.mac,
            vlan: config.vlan,
            service_name: config.service_name.clone(),
            ac_name: config.ac_name.clone(),
            max_payload: (config.mtu > PPPOE_MAX_PAYLOAD).then_some(config.mtu),
        };
        let discovery = HostDiscovery::new(now, settings, rng.next_u64());
        let mut client = PppoeClient {
            config,
            rng,
            discovery,
            phase: Phase::Discovery,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            early: Vec::new(),
        };
        client.flush();
        client
    }

    /// The session's addressing once PADS arrived, for [`crate::wire::session::classify`] and
    /// [`crate::wire::session::write_data_header`] on the data path.
    pub fn session_key(&self) -> Option<SessionKey> {
        match &self.phase {
            Phase::Session { key, .. } => Some(*key),
            _ => None,
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The driver saw a data frame of this session: the link is alive (echo keepalive).
    pub fn note_received(&mut self, now: Instant) {
        if let Phase::Session { ppp, .. } = &mut self.phase {
            ppp.note_received(now);
        }
    }

    /// A received Ethernet frame (discovery or session; others are counted and dropped).
    pub fn handle_input(&mut self, now: Instant, frame: &[u8]) {
        let Ok((eth, payload)) = EthernetHeader::parse(frame) else {
            self.stats.malformed += 1;
            return;
        };
        let to_us = eth.dst == self.config.mac;
        if !to_us || eth.vlan.map(|v| v.id) != self.config.vlan.map(|v| v.id) {
            self.stats.ignored += 1;
            return;
        }
        match eth.ethertype {
            ETHERTYPE_DISCOVERY => match DiscoveryPacket::parse(payload) {
                Ok(packet) => self.handle_discovery(now, &eth, &packet),
                Err(e) => {
                    debug!(%e, "malformed discovery frame");
                    self.stats.malformed += 1;
                }
            },
            ETHERTYPE_SESSION => self.handle_session(now, &eth, payload),
            _ => self.stats.ignored += 1,
        }
        self.flush();
    }

    fn handle_discovery(&mut self, now: Instant, eth: &EthernetHeader, packet: &DiscoveryPacket) {
        match self.discovery.handle_packet(now, eth, packet, &mut self.stats) {
            Some(HostOutcome::Session { ac, session_id, max_payload }) => {
                self.open_session(now, ac, session_id, max_payload)
            }
            Some(HostOutcome::Padt) => {
                if let Phase::Session { ppp, .. } = &mut self.phase {
                    ppp.lower_down(now, DownReason::Padt);
                }
            }
            Some(HostOutcome::Failed(reason)) => self.die(reason),
            None => {}
        }
    }

    fn handle_session(&mut self, now: Instant, eth: &EthernetHeader, payload: &[u8]) {
        let Phase::Session { key, ppp, .. } = &mut self.phase else {
            if matches!(self.phase, Phase::Discovery) && self.early.len() < EARLY_MAX {
                self.early.push((eth.src, payload.to_vec()));
            } else {
                self.stats.ignored += 1;
            }
            return;
        };
        match SessionHeader::parse(payload) {
            Ok((h, ppp_payload)) if h.session_id == key.session_id && eth.src == key.peer => {
                ppp.handle_frame(now, h.protocol, ppp_payload, &mut self.stats)
            }
            Ok(_) => self.stats.ignored += 1,
            Err(_) => self.stats.malformed += 1,
        }
    }

    /// PADS received: RFC 1661 Establish phase over the new session.
    fn open_session(&mut self, now: Instant, ac: Mac, session_id: u16, max_payload: u16) {
        let c = &self.config;
        let mru = c.mtu.min(max_payload);
        let settings = PppSettings {
            lcp: LcpSettings {
                mru,
                max_mru: max_payload,
                require: None,
                accept: if c.credentials.is_some() { c.accept_auth.clone() } else { vec![] },
            },
            credentials: c.credentials.clone(),
            secrets: None,
            ipcp: IpcpRole::Host { hint: c.ipv4_hint, dns: c.request_dns },
            ipv6: c.ipv6,
            echo_interval: c.echo_interval,
            echo_failures: c.echo_failures,
            fsm: c.fsm,
        };
        let key = SessionKey { local: c.mac, peer: ac, vlan: c.vlan, session_id };
        let mut ppp = Box::new(Ppp::new(settings, self.rng.fork()));
        ppp.start(now);
        self.phase = Phase::Session { key, max_payload, ppp };
        // What overtook the PADS, in the order it came: the session's own frames are handled
        // now (the AC's first Configure-Request answered at once, not after its restart
        // timer), any other session's are ignored as they would have been.
        for (src, payload) in std::mem::take(&mut self.early) {
            let eth = EthernetHeader {
                dst: self.config.mac,
                src,
                vlan: self.config.vlan,
                ethertype: ETHERTYPE_SESSION,
            };
            self.handle_session(now, &eth, &payload);
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Discovery => {
                if let Some(HostOutcome::Failed(reason)) =
                    self.discovery.handle_timeout(now, &mut self.stats)
                {
                    self.die(reason);
                }
            }
            Phase::Session { ppp, .. } => ppp.handle_timeout(now, &mut self.stats),
            Phase::Dead => {}
        }
        self.flush();
    }

    /// A command from the owner.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        match (command, &mut self.phase) {
            (Command::Close, Phase::Session { ppp, .. }) => ppp.close(now, DownReason::AdminClose),
            (Command::Close, Phase::Discovery) => self.die(DownReason::AdminClose),
            (Command::Close, Phase::Dead) => {}
        }
        self.flush();
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`PppoeClient::handle_timeout`] next; `None` once the client is dead.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Discovery => self.discovery.poll_timeout(),
            Phase::Session { ppp, .. } => ppp.poll_timeout(),
            Phase::Dead => None,
        }
    }

    fn die(&mut self, reason: DownReason) {
        if !matches!(self.phase, Phase::Dead) {
            self.phase = Phase::Dead;
            self.events.push_back(Event::Down(reason));
        }
    }

    /// Moves the sub-machines' output into our queues, wrapping PPP in PPPoE.
    fn flush(&mut self) {
        while let Some(t) = self.discovery.poll_transmit() {
            self.transmits.push_back(t);
        }
        let Phase::Session { key, max_payload, ppp } = &mut self.phase else {
            return;
        };
        while let Some((protocol, payload)) = ppp.poll_send() {
            match session_frame(key, protocol, &payload) {
                Ok(bytes) => self.transmits.push_back(Transmit { dst: key.peer, bytes }),
                Err(e) => debug!(%e, "could not frame PPP packet"),
            }
        }
        while let Some(event) = ppp.poll_event() {
            self.events.push_back(match event {
                PppEvent::Up(up) => Event::Up(Link {
                    session_id: key.session_id,
                    peer_mac: key.peer,
                    mtu: up.peer_mru.min(*max_payload),
                    ipv4: up.ipv4,
                    ipv6: up.ipv6,
                    peer_name: up.peer_name,
                }),
                PppEvent::Down(reason) => Event::Down(reason),
            });
        }
        if ppp.finished() {
            // RFC 2516 §5.5: end the session with a PADT (none if the AC sent one: discovery
            // has then left the Session state).
            self.transmits.extend(self.discovery.padt());
            self.phase = Phase::Dead;
        }
    }
}
