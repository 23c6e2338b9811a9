//! The PPP link of one session (RFC 1661 §3 phases): LCP, then PAP/CHAP, then IPCP and IPv6CP,
//! with the echo keepalive. Shared by the client and the access concentrator; the PPPoE
//! headers are added by their owners.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use splitmix::Rng;
use tracing::{debug, info};

use crate::auth::{Auth, AuthOutput, Credentials, Secrets};
use crate::event::{DownReason, Ipv4Link, Ipv6Link, Stats};
use crate::fsm::{Fsm, FsmConfig, Output, Policy, State};
use crate::lcp::{Echo, EchoAction, LcpPolicy, LcpSettings};
use crate::ncp::{IpcpPolicy, IpcpRole, Ipv6cpPolicy};
use crate::timer;
use crate::wire::{ChapPacket, CpPacket, IpcpOption, Ipv6cpOption, LcpOption, PapPacket, proto};

/// Everything one end needs to run PPP.
#[derive(Debug, Clone)]
pub(crate) struct PppSettings {
    pub lcp: LcpSettings,
    /// Our credentials, if the peer may ask us to authenticate.
    pub credentials: Option<Credentials>,
    /// The user table and our CHAP name, if we require the peer to authenticate.
    pub secrets: Option<(Secrets, Vec<u8>)>,
    pub ipcp: IpcpRole,
    pub ipv6: bool,
    pub echo_interval: Option<Duration>,
    pub echo_failures: u32,
    pub fsm: FsmConfig,
}

/// The network layer came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkUp {
    pub peer_mru: u16,
    pub ipv4: Option<Ipv4Link>,
    pub ipv6: Option<Ipv6Link>,
    pub peer_name: Option<Vec<u8>>,
}

/// What the link reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PppEvent {
    Up(NetworkUp),
    Down(DownReason),
}

/// RFC 1661 §3.2 phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dead,
    Establish,
    Authenticate,
    Network,
}

/// One PPP link.
#[derive(Debug)]
pub(crate) struct Ppp {
    settings: PppSettings,
    rng: Rng,
    phase: Phase,
    lcp: Fsm<LcpPolicy>,
    echo: Echo,
    auth: Option<Auth>,
    ipcp: Fsm<IpcpPolicy>,
    ipv6cp: Option<Fsm<Ipv6cpPolicy>>,
    ncp_finished: [bool; 2],
    peer_name: Option<Vec<u8>>,
    reason: Option<DownReason>,
    up: bool,
    down_reported: bool,
    finished: bool,
    out: VecDeque<(u16, Vec<u8>)>,
    events: VecDeque<PppEvent>,
}

impl Ppp {
    pub(crate) fn new(settings: PppSettings, mut rng: Rng) -> Self {
        let first_id = |rng: &mut Rng| (rng.next_u32() & 0xff) as u8;
        let lcp = Fsm::new(
            settings.fsm,
            LcpPolicy::new(settings.lcp.clone(), rng.fork()),
            first_id(&mut rng),
        );
        let ipcp =
            Fsm::new(settings.fsm, IpcpPolicy::new(settings.ipcp.clone()), first_id(&mut rng));
        let ipv6cp = settings
            .ipv6
            .then(|| Fsm::new(settings.fsm, Ipv6cpPolicy::new(rng.fork()), first_id(&mut rng)));
        Ppp {
            echo: Echo::new(settings.echo_interval, settings.echo_failures),
            settings,
            rng,
            phase: Phase::Dead,
            lcp,
            auth: None,
            ipcp,
            ipv6cp,
            ncp_finished: [false; 2],
            peer_name: None,
            reason: None,
            up: false,
            down_reported: false,
            finished: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The PPPoE session exists: LCP Open + Up (RFC 1661 §3.2 Establish phase).
    pub(crate) fn start(&mut self, now: Instant) {
        self.phase = Phase::Establish;
        self.lcp.open(now);
        self.lcp.up(now);
        self.pump(now);
    }

    /// Administrative close: LCP Terminate-Request, then Finished.
    pub(crate) fn close(&mut self, now: Instant, reason: DownReason) {
        self.reason.get_or_insert(reason);
        self.lcp.close(now);
        self.pump(now);
    }

    /// The PPPoE session is gone (PADT): LCP Down, without any more packets.
    pub(crate) fn lower_down(&mut self, now: Instant, reason: DownReason) {
        self.reason.get_or_insert(reason);
        self.lcp.down(now);
        self.pump(now);
        self.report_down();
        self.finished = true;
    }

    /// LCP has finished (closed, stopped or lower layer gone): the session can end.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    pub(crate) fn note_received(&mut self, now: Instant) {
        self.echo.note_received(now);
    }

    pub(crate) fn poll_send(&mut self) -> Option<(u16, Vec<u8>)> {
        self.out.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<PppEvent> {
        self.events.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        timer::earliest([
            self.lcp.poll_timeout(),
            self.echo.poll_timeout(),
            self.auth.as_ref().and_then(Auth::poll_timeout),
            self.ipcp.poll_timeout(),
            self.ipv6cp.as_ref().and_then(Fsm::poll_timeout),
        ])
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, stats: &mut Stats) {
        self.lcp.handle_timeout(now);
        if let Some(auth) = &mut self.auth {
            auth.handle_timeout(now);
        }
        self.ipcp.handle_timeout(now);
        if let Some(ipv6cp) = &mut self.ipv6cp {
            ipv6cp.handle_timeout(now);
        }
        match self.echo.handle_timeout(now) {
            Some(EchoAction::Send(id)) => {
                stats.echo_requests += 1;
                let magic = self.lcp.policy.magic();
                self.send(
                    proto::LCP,
                    CpPacket::<LcpOption>::EchoRequest { id, magic, data: vec![] },
                );
            }
            Some(EchoAction::Dead) => {
                debug!("LCP echo: peer not responding");
                self.reason.get_or_insert(DownReason::EchoTimeout);
                self.lcp.close(now);
            }
            None => {}
        }
        self.pump(now);
    }

    /// A PPP frame of this session arrived (`payload` after the protocol field).
    pub(crate) fn handle_frame(
        &mut self,
        now: Instant,
        protocol: u16,
        payload: &[u8],
        stats: &mut Stats,
    ) {
        if self.finished {
            stats.ignored += 1;
            return;
        }
        self.echo.note_received(now);
        let lcp_open = self.lcp.state() == State::Opened;
        let ok = match protocol {
            proto::LCP => self.handle_lcp(now, payload, stats),
            proto::PAP if self.auth.is_none() => {
                stats.ignored += 1;
                true
            }
            proto::PAP => {
                PapPacket::parse(payload).map(|p| self.auth_mut(|a| a.handle_pap(p))).is_ok()
            }
            // A Challenge is answered only while CHAP is the protocol the peer required of us
            // (and as a rechallenge after a CHAP Success): after PAP, after the phase, or with
            // no authentication, answering would hand anyone on the segment an MD5 of the
            // password to attack offline.
            proto::CHAP => ChapPacket::parse(payload)
                .map(|p| {
                    let challenge = matches!(p, ChapPacket::Challenge { .. });
                    let answered = self.auth.as_mut().is_some_and(|a| a.handle_chap(p));
                    if challenge && !answered {
                        debug!("CHAP Challenge while CHAP is not ours to answer: ignored");
                        stats.ignored_challenges += 1;
                    }
                })
                .is_ok(),
            // RFC 1661 §3.5: NCP packets before the Network phase are silently discarded.
            proto::IPCP | proto::IPV6CP if self.phase != Phase::Network => {
                stats.ignored += 1;
                true
            }
            proto::IPCP => CpPacket::<IpcpOption>::parse(payload)
                .map(|p| self.ipcp.handle_packet(now, p))
                .is_ok(),
            proto::IPV6CP if self.ipv6cp.is_some() => CpPacket::<Ipv6cpOption>::parse(payload)
                .map(|p| self.ipv6cp.as_mut().map(|f| f.handle_packet(now, p)))
                .is_ok(),
            // Data is the driver's business; it only reaches us if the driver forwards it.
            proto::IPV4 | proto::IPV6 => {
                stats.ignored += 1;
                true
            }
            // RFC 1661 §5.7: an unknown protocol in the Opened state gets a Protocol-Reject.
            protocol if lcp_open => {
                stats.protocol_rejects += 1;
                let max = usize::from(self.lcp.policy.peer_mru).saturating_sub(6);
                let rejected = payload.get(..max).unwrap_or(payload).to_vec();
                let id = (self.rng.next_u32() & 0xff) as u8;
                self.send(
                    proto::LCP,
                    CpPacket::<LcpOption>::ProtocolReject { id, protocol, rejected },
                );
                true
            }
            _ => {
                stats.ignored += 1;
                true
            }
        };
        if !ok {
            stats.malformed += 1;
        }
        self.pump(now);
    }

    fn auth_mut(&mut self, f: impl FnOnce(&mut Auth)) {
        if let Some(auth) = &mut self.auth {
            f(auth);
        }
    }

    fn handle_lcp(&mut self, now: Instant, payload: &[u8], stats: &mut Stats) -> bool {
        let Ok(packet) = CpPacket::<LcpOption>::parse(payload) else {
            return false;
        };
        if let CpPacket::ProtocolReject { protocol, .. } = &packet {
            // RFC 1661 §5.7: the peer does not run `protocol`. Credible only for an NCP we
            // have sent on and that is not Opened (a peer that acknowledged our configuration
            // runs it); anything else is a forged or confused frame, counted and dropped, so
            // that the state and the kernel's address never disagree.
            let credible = match *protocol {
                proto::IPCP => self.ipcp.has_sent() && self.ipcp.state() != State::Opened,
                proto::IPV6CP => {
                    self.ipv6cp.as_ref().is_some_and(|f| f.has_sent() && f.state() != State::Opened)
                }
                _ => false,
            };
            if !credible {
                debug!(protocol, "Protocol-Reject of nothing we run or of an opened NCP: dropped");
                stats.ignored_rejects += 1;
                return true;
            }
            info!(protocol, "peer rejected the protocol; it stops");
            match *protocol {
                proto::IPCP => self.ipcp.protocol_rejected(now),
                _ => self.ipv6cp.iter_mut().for_each(|f| f.protocol_rejected(now)),
            }
        }
        if let CpPacket::EchoReply { id, .. } = &packet {
            if let Some(rtt) = self.echo.handle_reply(*id, now) {
                stats.echo_rtt.observe(rtt);
            }
        }
        let before = self.lcp.ignored_rejects();
        self.lcp.handle_packet(now, packet);
        stats.ignored_rejects += self.lcp.ignored_rejects() - before;
        true
    }

    fn send<O: crate::wire::ConfigOption>(&mut self, protocol: u16, packet: CpPacket<O>) {
        match packet.to_vec() {
            Ok(bytes) => self.out.push_back((protocol, bytes)),
            Err(e) => debug!(protocol, %e, "could not emit control packet"),
        }
    }

    /// Runs every sub-machine's outputs until none has any.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(o) = self.lcp.poll_output() {
                progress = true;
                self.on_lcp(now, o);
            }
            if self.lcp.policy.auth_refused && self.reason.is_none() {
                debug!("peer refuses the authentication we require");
                self.close(now, DownReason::AuthFailed);
            }
            while let Some(o) = self.auth.as_mut().and_then(Auth::poll_output) {
                progress = true;
                self.on_auth(now, o);
            }
            while let Some(o) = self.ipcp.poll_output() {
                progress = true;
                self.on_ncp(now, 0, proto::IPCP, o);
            }
            while let Some(o) = self.ipv6cp.as_mut().and_then(Fsm::poll_output) {
                progress = true;
                self.on_ncp(now, 1, proto::IPV6CP, o);
            }
            if !progress {
                return;
            }
        }
    }

    fn on_lcp(&mut self, now: Instant, output: Output<LcpOption>) {
        match output {
            Output::Send(packet) => self.send(proto::LCP, packet),
            Output::Up => self.authenticate(now),
            Output::Down => {
                self.echo.stop();
                self.auth = None;
                self.phase = Phase::Establish;
                self.ipcp.down(now);
                self.ipv6cp.iter_mut().for_each(|f| f.down(now));
                self.report_down();
            }
            Output::Started => {}
            Output::Finished => {
                self.phase = Phase::Dead;
                self.reason.get_or_insert(DownReason::LcpNegotiationFailed);
                self.report_down();
                self.finished = true;
            }
        }
    }

    /// RFC 1661 §3.5 Authenticate phase, or straight to Network if nothing was negotiated.
    fn authenticate(&mut self, now: Instant) {
        self.echo.start(now);
        self.down_reported = false;
        self.phase = Phase::Authenticate;
        let policy = &self.lcp.policy;
        let us = policy.auth_us.zip(self.settings.credentials.clone());
        let them = policy.auth_them.zip(self.settings.secrets.clone()).map(|(k, (s, n))| (k, s, n));
        self.auth = Some(Auth::start(now, self.settings.fsm.restart, us, them, &mut self.rng));
    }

    fn on_auth(&mut self, now: Instant, output: AuthOutput) {
        match output {
            AuthOutput::Send(protocol, bytes) => self.out.push_back((protocol, bytes)),
            AuthOutput::Success(peer_name) => {
                self.peer_name = peer_name;
                self.phase = Phase::Network;
                self.ncp_finished = [false; 2];
                self.ipcp.open(now);
                self.ipcp.up(now);
                if let Some(f) = &mut self.ipv6cp {
                    f.open(now);
                    f.up(now);
                }
            }
            AuthOutput::Failure => self.close(now, DownReason::AuthFailed),
        }
    }

    fn on_ncp<O: crate::wire::ConfigOption>(
        &mut self,
        now: Instant,
        slot: usize,
        protocol: u16,
        o: Output<O>,
    ) {
        match o {
            Output::Send(packet) => self.send(protocol, packet),
            Output::Up => self.check_network(now),
            Output::Finished => {
                if let Some(f) = self.ncp_finished.get_mut(slot) {
                    *f = true;
                }
                self.check_network(now);
            }
            Output::Down | Output::Started => {}
        }
    }

    /// Reports Up once every NCP has opened or finished, or closes if none opened.
    fn check_network(&mut self, now: Instant) {
        let ipv4 = self.ipcp.state() == State::Opened;
        let ipv6 = self.ipv6cp.as_ref().is_some_and(|f| f.state() == State::Opened);
        let [v4_done, v6_done] = self.ncp_finished;
        let settled = (ipv4 || v4_done) && (ipv6 || v6_done || self.ipv6cp.is_none());
        if !settled || self.up || self.phase != Phase::Network {
            return;
        }
        if !ipv4 && !ipv6 {
            self.close(now, DownReason::NcpFailed);
            return;
        }
        let ip = &self.ipcp.policy;
        let ipv4 = ipv4.then(|| Ipv4Link { local: ip.local, peer: ip.peer, dns: ip.dns_servers() });
        let ipv6 = self
            .ipv6cp
            .as_ref()
            .filter(|_| ipv6)
            .map(|f| Ipv6Link { local_id: f.policy.local, peer_id: f.policy.peer });
        self.up = true;
        self.events.push_back(PppEvent::Up(NetworkUp {
            peer_mru: self.lcp.policy.peer_mru,
            ipv4,
            ipv6,
            peer_name: self.peer_name.clone(),
        }));
    }

    fn report_down(&mut self) {
        if !self.down_reported {
            self.down_reported = true;
            self.up = false;
            let reason = self.reason.unwrap_or(DownReason::LcpTerminated);
            self.events.push_back(PppEvent::Down(reason));
        }
    }
}
