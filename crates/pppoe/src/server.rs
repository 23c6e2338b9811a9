//! The access concentrator: stateless discovery answers plus one PPP link per session, with
//! addresses handed out from a pool the caller gives. Used by `ispemu` and by the tests.
//!
//! Same calling order as the client: inputs, then `poll_transmit`, `poll_event`,
//! `poll_timeout`.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use splitmix::Rng;
use tracing::debug;

use crate::auth::{AuthKind, Secrets};
use crate::discovery::{AcDiscovery, AcOutcome, AcSettings};
use crate::event::{DownReason, Link, Stats, Transmit};
use crate::fsm::FsmConfig;
use crate::lcp::LcpSettings;
use crate::ncp::IpcpRole;
use crate::ppp::{Ppp, PppEvent, PppSettings};
use crate::timer;
use crate::wire::ethernet::BROADCAST;
use crate::wire::session::session_frame;
use crate::wire::{
    DiscoveryPacket, ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, EthernetHeader, Mac, SessionHeader,
    SessionKey, Tag, Vlan,
};

/// Configuration of an [`AccessConcentrator`].
#[derive(Debug, Clone)]
pub struct AcConfig {
    /// Our MAC.
    pub mac: Mac,
    /// 802.1Q tag to write and expect, if any.
    pub vlan: Option<Vlan>,
    /// AC-Name in PADO/PADS.
    pub ac_name: Vec<u8>,
    /// Services offered; empty accepts any.
    pub service_names: Vec<Vec<u8>>,
    /// Key of the AC-Cookie hash.
    pub cookie_key: [u8; 16],
    /// Answer PADIs (false is a fault-injection knob: the AC goes silent).
    pub answer_padi: bool,
    /// Largest RFC 4638 PPP-Max-Payload granted; 1492 disables RFC 4638.
    pub max_payload: u16,
    /// Authentication required of hosts, if any.
    pub auth: Option<AuthKind>,
    /// User table for PAP/CHAP.
    pub secrets: Secrets,
    /// Our IPv4 address (the host's peer address).
    pub local_ipv4: Ipv4Addr,
    /// Addresses handed to hosts, first free first.
    pub pool: Vec<Ipv4Addr>,
    /// DNS servers offered (RFC 1877), at most two used.
    pub dns: Vec<Ipv4Addr>,
    /// Run IPv6CP (false: Protocol-Reject it, as an IPv4-only AC does).
    pub ipv6: bool,
    /// Echo keepalive interval (`None` disables it).
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before a session is declared dead.
    pub echo_failures: u32,
    /// RFC 1661 §4.6 timer and counters.
    pub fsm: FsmConfig,
    /// Seed of the RNG (session ids, magic numbers, challenges).
    pub seed: u64,
}

impl AcConfig {
    /// Defaults: AC-Name "ispemu", any service, PAP, 198.51.100.1 serving 198.51.100.2..=.254,
    /// DNS 203.0.113.53, IPv6CP on, RFC 4638 up to 1500, echo 10 s × 3.
    pub fn new(mac: Mac, secrets: Secrets, seed: u64) -> Self {
        AcConfig {
            mac,
            vlan: None,
            ac_name: b"ispemu".to_vec(),
            service_names: Vec::new(),
            cookie_key: seed.to_le_bytes().repeat(2).try_into().unwrap_or([7; 16]),
            answer_padi: true,
            max_payload: 1500,
            auth: Some(AuthKind::Pap),
            secrets,
            local_ipv4: Ipv4Addr::new(198, 51, 100, 1),
            pool: (2..=254).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
            dns: vec![Ipv4Addr::new(203, 0, 113, 53)],
            ipv6: true,
            echo_interval: Some(Duration::from_secs(10)),
            echo_failures: 3,
            fsm: FsmConfig::default(),
            seed,
        }
    }
}

/// Commands to an [`AccessConcentrator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcCommand {
    /// Close a session properly: LCP Terminate-Request, then PADT.
    Terminate {
        /// The session.
        session_id: u16,
    },
    /// Send a PADT at once and forget the session (what an AC does on a restart).
    Padt {
        /// The session.
        session_id: u16,
    },
    /// Answer PADIs or not (fault injection).
    AnswerPadi(bool),
}

/// What an access concentrator reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcEvent {
    /// A session carries IP.
    SessionUp(Link),
    /// A session ended.
    SessionDown {
        /// The session.
        session_id: u16,
        /// The host.
        host: Mac,
        /// Why.
        reason: DownReason,
    },
}

/// One host's session.
#[derive(Debug)]
struct Session {
    key: SessionKey,
    host_uniq: Option<Vec<u8>>,
    pads: Transmit,
    address: Ipv4Addr,
    max_payload: u16,
    padt_received: bool,
    ppp: Ppp,
}

/// A PPPoE access concentrator serving any number of sessions.
#[derive(Debug)]
pub struct AccessConcentrator {
    config: AcConfig,
    discovery: AcDiscovery,
    rng: Rng,
    sessions: BTreeMap<u16, Session>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<AcEvent>,
    stats: Stats,
}

impl AccessConcentrator {
    /// A new AC with no sessions.
    pub fn new(config: AcConfig) -> Self {
        let discovery = AcDiscovery {
            settings: AcSettings {
                mac: config.mac,
                vlan: config.vlan,
                ac_name: config.ac_name.clone(),
                service_names: config.service_names.clone(),
                cookie_key: config.cookie_key,
                max_payload: config.max_payload,
            },
        };
        AccessConcentrator {
            rng: Rng::new(config.seed),
            config,
            discovery,
            sessions: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Ids of the live sessions.
    pub fn sessions(&self) -> impl Iterator<Item = u16> + '_ {
        self.sessions.keys().copied()
    }

    /// The addressing of a live session, for the data path.
    pub fn session_key(&self, session_id: u16) -> Option<SessionKey> {
        self.sessions.get(&session_id).map(|s| s.key)
    }

    /// The driver saw a data frame of this session.
    pub fn note_received(&mut self, now: Instant, session_id: u16) {
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.ppp.note_received(now);
        }
    }

    /// A received Ethernet frame.
    pub fn handle_input(&mut self, now: Instant, frame: &[u8]) {
        let Ok((eth, payload)) = EthernetHeader::parse(frame) else {
            self.stats.malformed += 1;
            return;
        };
        let to_us = eth.dst == self.config.mac || eth.dst == BROADCAST;
        if !to_us || eth.vlan.map(|v| v.id) != self.config.vlan.map(|v| v.id) {
            self.stats.ignored += 1;
            return;
        }
        match eth.ethertype {
            ETHERTYPE_DISCOVERY => match DiscoveryPacket::parse(payload) {
                Ok(packet) => self.handle_discovery(now, &eth, &packet),
                Err(_) => self.stats.malformed += 1,
            },
            ETHERTYPE_SESSION => match SessionHeader::parse(payload) {
                Ok((h, ppp_payload)) => match self.sessions.get_mut(&h.session_id) {
                    Some(s) if s.key.peer == eth.src && eth.dst == self.config.mac => {
                        s.ppp.handle_frame(now, h.protocol, ppp_payload, &mut self.stats)
                    }
                    _ => self.stats.ignored += 1,
                },
                Err(_) => self.stats.malformed += 1,
            },
            _ => self.stats.ignored += 1,
        }
        self.flush();
    }

    fn handle_discovery(&mut self, now: Instant, eth: &EthernetHeader, packet: &DiscoveryPacket) {
        match self.discovery.handle_packet(eth, packet, self.config.answer_padi) {
            AcOutcome::Reply(t) => self.transmits.push_back(t),
            AcOutcome::Request { host, host_uniq, pads_tags, max_payload } => {
                self.handle_padr(now, host, host_uniq, pads_tags, max_payload)
            }
            AcOutcome::Padt { host, session_id } => match self.sessions.get_mut(&session_id) {
                Some(s) if s.key.peer == host => {
                    s.padt_received = true;
                    s.ppp.lower_down(now, DownReason::Padt);
                }
                _ => self.stats.forged_padt += 1,
            },
            AcOutcome::Ignore => self.stats.ignored += 1,
        }
    }

    /// RFC 2516 §5.4: a fresh session id, or the same PADS again for a retransmitted PADR.
    fn handle_padr(
        &mut self,
        now: Instant,
        host: Mac,
        uniq: Option<Vec<u8>>,
        tags: Vec<Tag>,
        max_payload: u16,
    ) {
        if let Some(s) = self.sessions.values().find(|s| s.key.peer == host && s.host_uniq == uniq)
        {
            self.transmits.push_back(s.pads.clone());
            return;
        }
        let used: Vec<Ipv4Addr> = self.sessions.values().map(|s| s.address).collect();
        let free = self.config.pool.iter().copied().find(|a| !used.contains(a));
        let Some(address) = free.filter(|_| self.sessions.len() < 0xfff0) else {
            let mut tags: Vec<Tag> =
                tags.into_iter().filter(|t| matches!(t, Tag::HostUniq(_))).collect();
            tags.push(Tag::AcSystemError(b"no free address".to_vec()));
            self.transmits.extend(self.discovery.pads(host, 0, tags));
            return;
        };
        let session_id = loop {
            let id = (self.rng.next_u32() & 0xffff) as u16;
            if id != 0 && id != 0xffff && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        let Some(pads) = self.discovery.pads(host, session_id, tags) else {
            return;
        };
        self.transmits.push_back(pads.clone());
        let key =
            SessionKey { local: self.config.mac, peer: host, vlan: self.config.vlan, session_id };
        let mut ppp = Ppp::new(self.ppp_settings(address, max_payload), self.rng.fork());
        ppp.start(now);
        let session =
            Session { key, host_uniq: uniq, pads, address, max_payload, padt_received: false, ppp };
        self.sessions.insert(session_id, session);
    }

    fn ppp_settings(&self, assign: Ipv4Addr, max_payload: u16) -> PppSettings {
        let c = &self.config;
        PppSettings {
            lcp: LcpSettings {
                mru: max_payload,
                max_mru: max_payload,
                require: c.auth,
                accept: Vec::new(),
            },
            credentials: None,
            secrets: c.auth.map(|_| (c.secrets.clone(), c.ac_name.clone())),
            ipcp: IpcpRole::Ac { local: c.local_ipv4, assign, dns: c.dns.clone() },
            ipv6: c.ipv6,
            echo_interval: c.echo_interval,
            echo_failures: c.echo_failures,
            fsm: c.fsm,
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            if timer::expired(s.ppp.poll_timeout(), now) {
                s.ppp.handle_timeout(now, &mut self.stats);
            }
        }
        self.flush();
    }

    /// A command from the owner.
    pub fn handle_command(&mut self, now: Instant, command: AcCommand) {
        match command {
            AcCommand::Terminate { session_id } => {
                if let Some(s) = self.sessions.get_mut(&session_id) {
                    s.ppp.close(now, DownReason::AdminClose);
                }
            }
            AcCommand::Padt { session_id } => {
                if let Some(s) = self.sessions.get_mut(&session_id) {
                    s.ppp.lower_down(now, DownReason::AdminClose);
                }
            }
            AcCommand::AnswerPadi(answer) => self.config.answer_padi = answer,
        }
        self.flush();
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<AcEvent> {
        self.events.pop_front()
    }

    /// When to call [`AccessConcentrator::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        timer::earliest(self.sessions.values().map(|s| s.ppp.poll_timeout()))
    }

    fn flush(&mut self) {
        let mut finished = Vec::new();
        for (&id, s) in &mut self.sessions {
            while let Some((protocol, payload)) = s.ppp.poll_send() {
                match session_frame(&s.key, protocol, &payload) {
                    Ok(bytes) => self.transmits.push_back(Transmit { dst: s.key.peer, bytes }),
                    Err(e) => debug!(%e, "could not frame PPP packet"),
                }
            }
            while let Some(event) = s.ppp.poll_event() {
                self.events.push_back(match event {
                    PppEvent::Up(up) => AcEvent::SessionUp(Link {
                        session_id: id,
                        peer_mac: s.key.peer,
                        mtu: up.peer_mru.min(s.max_payload),
                        ipv4: up.ipv4,
                        ipv6: up.ipv6,
                        peer_name: up.peer_name,
                    }),
                    PppEvent::Down(reason) => {
                        AcEvent::SessionDown { session_id: id, host: s.key.peer, reason }
                    }
                });
            }
            if s.ppp.finished() {
                finished.push(id);
            }
        }
        for id in finished {
            if let Some(s) = self.sessions.remove(&id) {
                if !s.padt_received {
                    self.transmits.extend(self.discovery.padt(s.key.peer, id));
                }
            }
        }
    }
}
