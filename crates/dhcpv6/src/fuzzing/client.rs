//! Drivers shared by the fuzz targets (`fuzz/fuzz_targets/dhcpv6_client.rs`) and the stable
//! corpus test: clients brought into every state by a real delegating router, then fed
//! arbitrary bytes and time steps. Not part of the supported API.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use ipnet::Ipv6Net;

use crate::server::table::{Binding, BindingKey};
use crate::server::{Config6Error, IaKind, Meta6, PdPool, Server6, Server6Config, Transmit6};
use crate::wire::Repr;
use crate::{
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS, CLIENT_PORT, Client, ClientConfig, Command, Phase,
    SERVER_PORT,
};

/// Unix time the test servers start at.
const UNIX0: u64 = 1_700_000_000;

/// The one DHCPv6 server ([`Server6`]) as a pure delegating router, what the requesting
/// router's pair and timeline tests and its fuzz driver talk to: no on-link prefixes, a PD
/// pool, and every lease record taken as durable at once (what the driver does after its
/// `fdatasync`), so Replies leave as soon as they are made.
#[derive(Debug)]
pub struct Delegating {
    /// The machine.
    pub server: Server6,
}

/// A delegating router's configuration: `pool`, the old delegating router's defaults
/// (no Preference option, Reconfigure agreed to), no on-link prefixes.
pub fn delegating_config(duid: Vec<u8>, pool: PdPool) -> Server6Config {
    let mut cfg = Server6Config::new(duid, Vec::new());
    cfg.pd_pool = Some(pool);
    cfg.preference = 0;
    cfg.reconfigure = true;
    cfg
}

impl Delegating {
    /// A server for `cfg` started at `now`.
    pub fn new(cfg: Server6Config, now: Instant) -> Result<Self, Config6Error> {
        Ok(Delegating { server: Server6::new(cfg, now, UNIX0)? })
    }

    /// A datagram from `src`.
    pub fn handle_input(&mut self, now: Instant, src: SocketAddrV6, bytes: &[u8]) {
        self.server.handle_input(now, bytes, &Meta6 { src });
        self.commit();
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        self.commit();
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit6> {
        self.server.poll_transmit()
    }

    /// When to call [`Self::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    /// Delegates from another pool (renumbering): held prefixes go at the next Reply.
    pub fn set_pool(&mut self, now: Instant, pool: PdPool) -> Result<(), Config6Error> {
        self.server.set_prefixes(now, Vec::new(), Some(pool))?;
        self.commit();
        Ok(())
    }

    /// Reconfigure to every client that agreed to it; how many.
    pub fn reconfigure_all(&mut self, now: Instant) -> usize {
        self.server.reconfigure_all(now)
    }

    /// The IA_PD binding of `duid`/`iaid`.
    pub fn binding(&self, duid: &[u8], iaid: u32) -> Option<&Binding> {
        let key = BindingKey { kind: IaKind::Pd, duid: duid.to_vec(), iaid };
        self.server.table().get(&key)
    }

    /// The prefix delegated to `duid`/`iaid`.
    pub fn prefix_of(&self, duid: &[u8], iaid: u32) -> Option<(Ipv6Addr, u8)> {
        self.binding(duid, iaid)?.leases.first().copied()
    }

    /// Whether no client holds anything.
    pub fn is_empty(&self) -> bool {
        self.server.table().is_empty()
    }

    fn commit(&mut self) {
        let mut last = None;
        while let Some(c) = self.server.poll_commit() {
            last = Some(c.seq);
        }
        if let Some(seq) = last {
            self.server.handle_committed(seq);
        }
    }
}

/// `base`/`len` as a PD pool of /`delegated_len`s.
pub fn pd_pool(base: Ipv6Addr, len: u8, delegated_len: u8) -> PdPool {
    let prefix = Ipv6Net::new(base, len).map(|n| n.trunc()).unwrap_or_default();
    PdPool { prefix, delegated_len }
}

/// The client's link-local source address in these runs.
pub fn client_addr() -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), CLIENT_PORT, 0, 0)
}

/// A server delegating /48s out of 2001:db8:1000::/36, without Rapid Commit.
pub fn server() -> Delegating {
    let pool = pd_pool(Ipv6Addr::new(0x2001, 0xdb8, 0x1000, 0, 0, 0, 0, 0), 36, 48);
    let mut cfg = delegating_config(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1], pool);
    cfg.dns_servers = vec![Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 53)];
    cfg.domains = vec!["isp.example".into()];
    // The client offers Rapid Commit; the server declines it so every state is visited.
    cfg.rapid_commit = false;
    #[allow(clippy::expect_used)]
    Delegating::new(cfg, Instant::now()).expect("the configuration above is valid")
}

/// Moves every queued datagram between the two machines until both are quiet (bounded).
pub fn exchange(client: &mut Client, server: &mut Delegating, now: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(tx) = client.poll_transmit() {
            server.handle_input(now, client_addr(), &tx.payload);
            moved = true;
        }
        while let Some(tx) = server.poll_transmit() {
            client.handle_input(now, &tx.payload);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

/// A client brought into some state, the time it is at, and the transaction id of the last
/// message it sent (so fuzz input can be made to answer it).
pub type Staged = (Client, Instant, Option<[u8; 3]>);

/// Clients in Idle, Soliciting, Requesting, Bound, Renewing, Rebinding, Releasing,
/// InformationRequesting and Informed.
pub fn clients_in_every_state(t0: Instant) -> Vec<Staged> {
    let cfg = ClientConfig::new(vec![0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 1], 1, 7);
    let mut out = vec![(Client::new(cfg.clone()), t0, None)];
    let mut c = Client::new(cfg.clone());
    c.handle_command(t0, Command::Start);
    let mut now = c.poll_timeout().unwrap_or(t0);
    c.handle_timeout(now);
    out.push(snapshot(&c, now)); // Soliciting, Solicit sent
    let mut s = server();
    exchange(&mut c, &mut s, now);
    now = c.poll_timeout().unwrap_or(now);
    c.handle_timeout(now);
    out.push(snapshot(&c, now)); // Requesting
    exchange(&mut c, &mut s, now);
    out.push(snapshot(&c, now)); // Bound
    let mut steps = [Phase::Renewing, Phase::Rebinding].into_iter().peekable();
    while let Some(&want) = steps.peek() {
        let Some(next) = c.poll_timeout() else { break };
        now = next;
        c.handle_timeout(now);
        if c.phase() == want {
            out.push(snapshot(&c, now));
            steps.next();
        }
        while c.poll_transmit().is_some() {} // the server stays silent
        if c.phase() == Phase::Soliciting {
            break;
        }
    }
    let mut r = out.get(3).map(|(c, ..)| c.clone()).unwrap_or_else(|| Client::new(cfg.clone()));
    r.handle_command(now, Command::Release);
    out.push(snapshot(&r, now)); // Releasing
    let mut i = Client::new(ClientConfig { information_only: true, ..cfg });
    i.handle_command(t0, Command::Start);
    let at = i.poll_timeout().unwrap_or(t0);
    i.handle_timeout(at);
    out.push(snapshot(&i, at)); // InformationRequesting
    exchange(&mut i, &mut server(), at);
    out.push(snapshot(&i, at)); // Informed
    out
}

/// A copy of the client with its output queues drained, and its last transaction id.
fn snapshot(c: &Client, now: Instant) -> Staged {
    let mut c = c.clone();
    let mut xid = None;
    while let Some(tx) = c.poll_transmit() {
        xid = Repr::parse(&tx.payload).ok().map(|m| m.xid);
    }
    while c.poll_event().is_some() {}
    (c, now, xid)
}

/// The fuzz body: `data` as one datagram to a client in every state (as is, and with the
/// transaction id of the client's last message written over bytes 1..4), then as a script of
/// datagrams and time steps. Checks the client's own invariants after each step.
pub fn run_client(data: &[u8]) {
    let t0 = Instant::now();
    for (client, now, xid) in clients_in_every_state(t0) {
        let mut c = client.clone();
        c.handle_input(now, data);
        check(&mut c);
        if let (Some(xid), Some(rest)) = (xid, data.get(4..)) {
            let mut c = client.clone();
            let mut patched = data.get(..1).unwrap_or_default().to_vec();
            patched.extend_from_slice(&xid);
            patched.extend_from_slice(rest);
            c.handle_input(now, &patched);
            check(&mut c);
            script(&mut c, now, data);
        }
        let mut c = client;
        script(&mut c, now, data);
    }
}

/// Script: a byte with the high bit set advances time by `(b & 0x7f)` seconds squared; any
/// other byte `n` is followed by an `n`-byte datagram.
fn script(client: &mut Client, mut now: Instant, mut data: &[u8]) {
    while let Some((&b, rest)) = data.split_first() {
        if b & 0x80 != 0 {
            let secs = u64::from(b & 0x7f).pow(2);
            now += Duration::from_secs(secs);
            client.handle_timeout(now);
            data = rest;
        } else {
            let n = usize::from(b).min(rest.len());
            let (dgram, rest) = rest.split_at(n);
            client.handle_input(now, dgram);
            data = rest;
        }
        check(client);
    }
}

/// Invariants: every transmit goes to ff02::1:2 port 547 and parses back; a client that
/// holds prefixes has a lease; a running client always has a deadline.
fn check(client: &mut Client) {
    while let Some(tx) = client.poll_transmit() {
        assert_eq!(*tx.dst.ip(), ALL_DHCP_RELAY_AGENTS_AND_SERVERS);
        assert_eq!(tx.dst.port(), SERVER_PORT);
        assert!(Repr::parse(&tx.payload).is_ok(), "client emitted an unparseable message");
    }
    while client.poll_event().is_some() {}
    let phase = client.phase();
    if matches!(phase, Phase::Bound | Phase::Renewing | Phase::Rebinding) {
        assert!(client.lease().is_some(), "{phase:?} without a lease");
    }
    if !matches!(phase, Phase::Idle | Phase::Bound | Phase::Informed) {
        assert!(client.poll_timeout().is_some(), "{phase:?} without a deadline");
    }
}

/// The wire fuzz body: parse → emit → parse gives the same message.
pub fn run_wire(data: &[u8]) {
    if let Ok(m) = Repr::parse(data) {
        let Ok(bytes) = m.to_vec() else { return };
        assert_eq!(Repr::parse(&bytes).as_ref(), Ok(&m), "emit did not round-trip");
    }
}
