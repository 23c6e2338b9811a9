//! Delegating router: the DHCPv6 server side of prefix delegation (RFC 8415 §18.3), as run by
//! `ispemu` and by the split deployment's ingress.
//!
//! Call order: `handle_input` / `handle_timeout` (and the knobs `set_pool`, `reconfigure`),
//! then drain `poll_transmit` and ask `poll_timeout`.

mod pool;

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use dhcproto::v6::{DhcpOption, DhcpOptions, IANA, IAPD, MessageType, OptionCode, Status};
use tracing::debug;

pub use pool::{Binding, BindingTable, Pool};

use crate::client::msg::prefix_option;
use crate::rng::Rng;
use crate::timer::{Params, REC_MAX_RC, REC_TIMEOUT, Retransmit, lifetime_deadline};
use crate::wire::{Repr, domain_list_option, status_option};
use crate::{CLIENT_PORT, Transmit};

/// Delegating-router configuration. Lifetimes and timers in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our DUID (Server Identifier).
    pub duid: Vec<u8>,
    /// Where delegated prefixes come from.
    pub pool: Pool,
    /// Preferred lifetime of each delegated prefix.
    pub preferred: u32,
    /// Valid lifetime of each delegated prefix.
    pub valid: u32,
    /// T1 of each IA_PD (0 leaves it to the client, RFC 8415 §14.2).
    pub t1: u32,
    /// T2 of each IA_PD.
    pub t2: u32,
    /// DNS Recursive Name Servers handed out (option 23).
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain Search List handed out (option 24).
    pub domains: Vec<String>,
    /// Answer Solicit with Rapid Commit by a Reply (RFC 8415 §18.3.1).
    pub rapid_commit: bool,
    /// Preference option in Advertise (0 leaves it out).
    pub preference: u8,
    /// Agree to Reconfigure when the client offers Reconfigure Accept.
    pub reconfigure: bool,
    /// RNG seed for Reconfigure retransmission jitter.
    pub seed: u64,
}

impl ServerConfig {
    /// Defaults: preferred 3600 s, valid 7200 s, T1 1800 s, T2 2880 s, rapid commit and
    /// reconfigure on, no DNS.
    pub fn new(duid: Vec<u8>, pool: Pool) -> Self {
        Self {
            duid,
            pool,
            preferred: 3600,
            valid: 7200,
            t1: 1800,
            t2: 2880,
            dns_servers: Vec::new(),
            domains: Vec::new(),
            rapid_commit: true,
            preference: 0,
            reconfigure: true,
            seed: 0,
        }
    }
}

/// Counters for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to `handle_input`.
    pub received: u64,
    /// Datagrams that failed to parse (dropped).
    pub malformed: u64,
    /// Well-formed messages not answered (RFC 8415 §16 discards, Confirm, wrong type).
    pub ignored: u64,
    /// Messages queued for transmission.
    pub transmitted: u64,
}

/// How an IA_PD in a client message is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Advertise: say what would be delegated, commit nothing.
    Offer,
    /// Request, or Solicit with Rapid Commit: delegate.
    Commit,
    /// Renew: extend a binding or say NoBinding.
    Renew,
    /// Rebind: extend a binding, or take the prefix back with lifetimes 0.
    Rebind,
}

/// A Reconfigure being retransmitted (RFC 8415 §18.3.11).
#[derive(Debug, Clone)]
struct PendingReconf {
    duid: Vec<u8>,
    peer: SocketAddrV6,
    rtx: Retransmit,
}

/// The delegating-router state machine. Owns no socket, clock or task.
#[derive(Debug, Clone)]
pub struct Server {
    cfg: ServerConfig,
    rng: Rng,
    table: BindingTable,
    reconf: Vec<PendingReconf>,
    transmits: VecDeque<Transmit>,
    stats: Stats,
}

impl Server {
    /// A server with an empty binding table.
    pub fn new(cfg: ServerConfig) -> Self {
        Self {
            rng: Rng::new(cfg.seed),
            cfg,
            table: BindingTable::default(),
            reconf: Vec::new(),
            transmits: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The binding table, for inspection (and later persistence).
    pub fn bindings(&self) -> &BindingTable {
        &self.table
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When `handle_timeout` must be called next: a binding expiry or a Reconfigure.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let expiries = self.table.bindings.iter().filter_map(|b| b.expires);
        let reconf = self.reconf.iter().map(|r| r.rtx.deadline());
        expiries.chain(reconf).min()
    }

    /// Time passed: bindings past their valid lifetime end; Reconfigures are retransmitted.
    pub fn handle_timeout(&mut self, now: Instant) {
        let n = self.table.expire(now);
        if n > 0 {
            debug!("dhcpv6pd server: {n} binding(s) expired");
        }
        self.send_reconfigures(now);
    }

    /// Replaces the pool. Bindings outside the new pool lose their prefix: the client's next
    /// Renew or Rebind gets the old prefix with lifetimes 0 and a new one (RFC 8415 §18.3.4:
    /// "the server ... includes the ... prefixes with lifetimes of 0"). Call `reconfigure` to
    /// make clients renew now.
    pub fn set_pool(&mut self, pool: Pool) {
        self.cfg.pool = pool;
        for b in &mut self.table.bindings {
            if let Some((p, l)) = b.prefix.filter(|&(p, l)| !pool.contains(p, l)) {
                b.retired.push((p, l));
                b.prefix = None;
            }
        }
    }

    /// Sends Reconfigure (msg-type Renew) to a client that agreed to it; false if none did.
    pub fn reconfigure(&mut self, now: Instant, duid: &[u8], iaid: u32) -> bool {
        let Some(peer) = self.table.get(duid, iaid).filter(|b| b.reconfigure).map(|b| b.peer)
        else {
            return false;
        };
        self.reconf.retain(|r| r.duid != duid);
        let params = Params {
            irt: REC_TIMEOUT,
            mrt: Duration::ZERO,
            mrc: REC_MAX_RC,
            first_rand_positive: false,
        };
        let rtx = Retransmit::new(params, now, None);
        self.reconf.push(PendingReconf { duid: duid.to_vec(), peer, rtx });
        self.send_reconfigures(now);
        true
    }

    /// Reconfigure to every client that agreed to it; returns how many.
    pub fn reconfigure_all(&mut self, now: Instant) -> usize {
        let ids: Vec<(Vec<u8>, u32)> =
            self.table.bindings.iter().map(|b| (b.duid.clone(), b.iaid)).collect();
        ids.iter().filter(|(d, i)| self.reconfigure(now, d, *i)).count()
    }

    /// A UDP payload from `src` (a client on port 546). Answers go to `src`.
    pub fn handle_input(&mut self, now: Instant, src: SocketAddrV6, bytes: &[u8]) {
        self.stats.received += 1;
        let msg = match Repr::parse(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                self.stats.malformed += 1;
                debug!("dhcpv6pd server: dropping malformed message from {src}: {e}");
                return;
            }
        };
        let answer = if self.acceptable(&msg) { self.answer(now, src, &msg) } else { None };
        match answer.map(|m| m.to_vec()) {
            Some(Ok(payload)) => {
                self.stats.transmitted += 1;
                self.transmits.push_back(Transmit { dst: src, payload });
            }
            Some(Err(e)) => debug!("dhcpv6pd server: cannot encode answer: {e}"),
            None => self.stats.ignored += 1,
        }
    }

    /// RFC 8415 §16 validation of Client and Server Identifier per message type.
    fn acceptable(&self, msg: &Repr) -> bool {
        let ours = msg.server_id() == Some(self.cfg.duid.as_slice());
        let has_client = msg.client_id().is_some();
        match msg.msg_type {
            MessageType::Solicit | MessageType::Rebind => has_client && msg.server_id().is_none(),
            MessageType::Request
            | MessageType::Renew
            | MessageType::Release
            | MessageType::Decline => has_client && ours,
            // §16.12: discard an Information-request with an IA option or someone else's id.
            MessageType::InformationRequest => {
                (ours || msg.server_id().is_none())
                    && !msg.has(OptionCode::IAPD)
                    && !msg.has(OptionCode::IANA)
            }
            _ => false,
        }
    }

    /// The answer to an acceptable message, if any.
    fn answer(&mut self, now: Instant, src: SocketAddrV6, msg: &Repr) -> Option<Repr> {
        let duid = msg.client_id().unwrap_or_default().to_vec();
        if matches!(
            msg.msg_type,
            MessageType::Renew | MessageType::Rebind | MessageType::InformationRequest
        ) {
            // §18.3.11: Reconfigure is retransmitted until the client answers with one of these.
            self.reconf.retain(|r| r.duid != duid);
        }
        let rapid = self.cfg.rapid_commit && msg.has(OptionCode::RapidCommit);
        let (kind, mode) = match msg.msg_type {
            MessageType::Solicit if rapid => (MessageType::Reply, Mode::Commit),
            MessageType::Solicit => (MessageType::Advertise, Mode::Offer),
            MessageType::Request => (MessageType::Reply, Mode::Commit),
            MessageType::Renew => (MessageType::Reply, Mode::Renew),
            MessageType::Rebind => (MessageType::Reply, Mode::Rebind),
            MessageType::Release => return Some(self.release(msg, &duid)),
            MessageType::Decline => {
                let mut m = self.base(MessageType::Reply, msg);
                m.push(status_option(Status::Success, "decline noted"));
                return Some(m);
            }
            _ => return Some(self.base(MessageType::Reply, msg)),
        };
        let reconf = self.cfg.reconfigure && msg.has(OptionCode::ReconfAccept);
        let mut m = self.base(kind, msg);
        for opt in msg.opts.iter() {
            match opt {
                DhcpOption::IAPD(ia) => {
                    let ia = self.answer_ia_pd(now, src, &duid, ia, mode, reconf);
                    m.push(DhcpOption::IAPD(ia));
                }
                DhcpOption::IANA(na) => {
                    let opts = [status_option(Status::NoAddrsAvail, "prefix delegation only")];
                    m.push(DhcpOption::IANA(IANA {
                        id: na.id,
                        t1: 0,
                        t2: 0,
                        opts: opts.into_iter().collect(),
                    }));
                }
                _ => {}
            }
        }
        if rapid {
            m.push(DhcpOption::RapidCommit);
        }
        if reconf {
            m.push(DhcpOption::ReconfAccept);
        }
        if kind == MessageType::Advertise && self.cfg.preference != 0 {
            m.push(DhcpOption::Preference(self.cfg.preference));
        }
        Some(m)
    }

    /// Server Identifier, Client Identifier and the requested configuration options.
    fn base(&self, kind: MessageType, req: &Repr) -> Repr {
        let mut m = Repr::new(kind, req.xid);
        m.push(DhcpOption::ServerId(self.cfg.duid.clone()));
        if let Some(cid) = req.client_id() {
            m.push(DhcpOption::ClientId(cid.to_vec()));
        }
        let requested = |code: OptionCode| match req.get(OptionCode::ORO) {
            Some(DhcpOption::ORO(oro)) => oro.opts.contains(&code),
            _ => false,
        };
        if requested(OptionCode::DomainNameServers) && !self.cfg.dns_servers.is_empty() {
            m.push(DhcpOption::DomainNameServers(self.cfg.dns_servers.clone()));
        }
        if requested(OptionCode::DomainSearchList) && !self.cfg.domains.is_empty() {
            m.push(domain_list_option(&self.cfg.domains));
        }
        m
    }

    /// One IA_PD of the answer (RFC 8415 §18.3.1, §18.3.2, §18.3.4, §18.3.5).
    fn answer_ia_pd(
        &mut self,
        now: Instant,
        src: SocketAddrV6,
        duid: &[u8],
        ia: &IAPD,
        mode: Mode,
        reconf: bool,
    ) -> IAPD {
        let bound = self.table.get(duid, ia.id).is_some();
        let prefix = match mode {
            Mode::Offer | Mode::Commit => self.candidate(duid, ia),
            Mode::Renew | Mode::Rebind if bound => self.candidate(duid, ia),
            // §18.3.4: "If the server cannot find a client entry for the IA, the server
            // returns the IA containing no leases with a Status Code option set to NoBinding".
            Mode::Renew => return self.ia_status(ia.id, Status::NoBinding, "no binding"),
            // §18.3.5: no binding, but the prefixes may be free: take the client back (this
            // server may have lost its table); else return them with lifetimes 0.
            Mode::Rebind => match presented(ia).filter(|&(p, l)| self.is_free(p, l)) {
                Some(p) => Some(p),
                None => return self.invalidate(ia),
            },
        };
        let Some((p, l)) = prefix else {
            // §18.3.9: "the server ... includes the IA_PD with no prefixes and a Status Code
            // option containing status code NoPrefixAvail".
            return self.ia_status(ia.id, Status::NoPrefixAvail, "pool exhausted");
        };
        let mut opts = vec![prefix_option(p, l, self.cfg.preferred, self.cfg.valid)];
        if mode != Mode::Offer {
            let expires = lifetime_deadline(now, self.cfg.valid);
            let retired = self.commit(duid, ia.id, (p, l), expires, src, reconf);
            opts.extend(retired.into_iter().map(|(p, l)| prefix_option(p, l, 0, 0)));
        }
        IAPD { id: ia.id, t1: self.cfg.t1, t2: self.cfg.t2, opts: opts.into_iter().collect() }
    }

    /// The prefix to give `(duid, iaid)`: its binding's, the hint if free, the one it held
    /// last if free, else the first free one.
    fn candidate(&self, duid: &[u8], ia: &IAPD) -> Option<(Ipv6Addr, u8)> {
        if let Some(p) = self.table.get(duid, ia.id).and_then(|b| b.prefix) {
            return Some(p);
        }
        let len = self.cfg.pool.delegated_len;
        presented(ia)
            .map(|(p, _)| (p, len))
            .filter(|&(p, l)| self.is_free(p, l))
            .or_else(|| self.table.last(duid, ia.id).filter(|&(p, l)| self.is_free(p, l)))
            .or_else(|| self.cfg.pool.first_free(&self.table.used()).map(|p| (p, len)))
    }

    fn is_free(&self, p: Ipv6Addr, l: u8) -> bool {
        self.cfg.pool.contains(p, l) && !self.table.used().contains(&u128::from(p))
    }

    /// Creates or extends a binding; returns the retired prefixes to send with lifetimes 0.
    fn commit(
        &mut self,
        duid: &[u8],
        iaid: u32,
        prefix: (Ipv6Addr, u8),
        expires: Option<Instant>,
        peer: SocketAddrV6,
        reconfigure: bool,
    ) -> Vec<(Ipv6Addr, u8)> {
        match self.table.get_mut(duid, iaid) {
            Some(b) => {
                b.prefix = Some(prefix);
                b.expires = expires;
                b.peer = peer;
                b.reconfigure = reconfigure;
                std::mem::take(&mut b.retired)
            }
            None => {
                let retired = Vec::new();
                self.table.bindings.push(Binding {
                    duid: duid.to_vec(),
                    iaid,
                    prefix: Some(prefix),
                    retired: Vec::new(),
                    expires,
                    reconfigure,
                    peer,
                });
                retired
            }
        }
    }

    fn ia_status(&self, iaid: u32, status: Status, text: &str) -> IAPD {
        let opts: DhcpOptions = [status_option(status, text)].into_iter().collect();
        IAPD { id: iaid, t1: 0, t2: 0, opts }
    }

    /// The client's prefixes with lifetimes 0: "not appropriate for the link".
    fn invalidate(&self, ia: &IAPD) -> IAPD {
        let opts = ia.opts.iter().filter_map(|o| match o {
            DhcpOption::IAPrefix(p) => Some(prefix_option(p.prefix_ip, p.prefix_len, 0, 0)),
            _ => None,
        });
        IAPD { id: ia.id, t1: 0, t2: 0, opts: opts.collect() }
    }

    /// RFC 8415 §18.3.7: free each IA_PD's binding; NoBinding for unknown ones; Success.
    fn release(&mut self, msg: &Repr, duid: &[u8]) -> Repr {
        let mut m = self.base(MessageType::Reply, msg);
        for ia in msg.ia_pds() {
            if !self.table.remove(duid, ia.id) {
                m.push(DhcpOption::IAPD(self.ia_status(ia.id, Status::NoBinding, "no binding")));
            }
        }
        self.reconf.retain(|r| r.duid != duid);
        m.push(status_option(Status::Success, "released"));
        m
    }

    fn send_reconfigures(&mut self, now: Instant) {
        self.reconf.retain(|r| !r.rtx.failed(now));
        let mut out = Vec::new();
        for r in &mut self.reconf {
            if !r.rtx.due(now) {
                continue;
            }
            r.rtx.on_transmit(now, &mut self.rng);
            // §18.3.11: "The server sets the transaction-id field to 0."
            let mut m = Repr::new(MessageType::Reconfigure, [0; 3]);
            m.push(DhcpOption::ServerId(self.cfg.duid.clone()));
            m.push(DhcpOption::ClientId(r.duid.clone()));
            m.push(DhcpOption::ReconfMsg(MessageType::Renew));
            let dst = SocketAddrV6::new(*r.peer.ip(), CLIENT_PORT, 0, r.peer.scope_id());
            out.push((dst, m));
        }
        for (dst, m) in out {
            if let Ok(payload) = m.to_vec() {
                self.stats.transmitted += 1;
                self.transmits.push_back(Transmit { dst, payload });
            }
        }
    }
}

/// The first non-zero prefix the client put in its IA_PD (its hint, or what it holds).
fn presented(ia: &IAPD) -> Option<(Ipv6Addr, u8)> {
    ia.opts.iter().find_map(|o| match o {
        DhcpOption::IAPrefix(p) if !p.prefix_ip.is_unspecified() => {
            Some((p.prefix_ip, p.prefix_len))
        }
        _ => None,
    })
}
