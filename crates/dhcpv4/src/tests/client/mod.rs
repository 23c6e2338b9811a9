mod corpus;
mod pair;
mod timeline;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::wire::{BOOTREQUEST, decode_checked};
use dhcproto::Encodable;
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};

use crate::client::{Client, ClientConfig, Event, Phase};
use crate::fuzzing::{MAC, client_cfg};

pub(crate) const SERVER_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub(crate) const SERVER_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub(crate) const BCAST67: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);

pub(crate) fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(crate) fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

/// Options of an ACK: 1 h lease, /24, router, DNS, domain, MTU; the server id is added by
/// [`reply`].
pub(crate) fn lease_opts() -> Vec<DhcpOption> {
    vec![
        DhcpOption::AddressLeaseTime(3600),
        DhcpOption::SubnetMask(ip("255.255.255.0")),
        DhcpOption::Router(vec![ip("198.51.100.1")]),
        DhcpOption::DomainNameServer(vec![ip("198.51.100.53"), ip("198.51.100.54")]),
        DhcpOption::DomainName("isp.example".into()),
        DhcpOption::InterfaceMtu(1500),
    ]
}

/// A server's reply to `req`: same xid and chaddr, the given type, yiaddr and options.
pub(crate) fn reply(
    req: &Message,
    kind: MessageType,
    yiaddr: Ipv4Addr,
    server: Ipv4Addr,
    opts: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_xid(req.xid())
        .set_chaddr(req.chaddr())
        .set_yiaddr(yiaddr)
        .set_flags(req.flags());
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    for o in opts {
        m.opts_mut().insert(o);
    }
    m.to_vec().unwrap()
}

/// A client on a fake clock, with its output recorded.
pub(crate) struct Trace {
    pub c: Client,
    pub t0: Instant,
    pub now: Instant,
    pub events: Vec<Event>,
}

impl Trace {
    pub fn new(cfg: ClientConfig) -> Self {
        let t0 = Instant::now();
        Trace { c: Client::new(cfg, t0), t0, now: t0, events: vec![] }
    }

    pub fn seeded(seed: u64) -> Self {
        Self::new(client_cfg(seed))
    }

    /// Seconds since start, as f64 (for timing assertions).
    pub fn t(&self) -> f64 {
        (self.now - self.t0).as_secs_f64()
    }

    /// Advances to the next deadline and handles it; returns the time it fired at.
    pub fn next(&mut self) -> f64 {
        let at = self.c.poll_timeout().expect("a deadline");
        assert!(at >= self.now, "deadline in the past");
        self.now = at;
        self.c.handle_timeout(at);
        self.drain_events();
        self.t()
    }

    pub fn drain_events(&mut self) {
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    /// Everything sent since the last call.
    pub fn sent(&mut self) -> Vec<(SocketAddrV4, Message)> {
        std::iter::from_fn(|| self.c.poll_transmit())
            .map(|t| {
                assert!(t.payload.len() >= 300, "BOOTP minimum size");
                (t.dst, decode_checked(&t.payload, BOOTREQUEST).unwrap())
            })
            .collect()
    }

    /// Exactly one message of type `kind` was sent; returns it and where it went.
    pub fn one(&mut self, kind: MessageType) -> (SocketAddrV4, Message) {
        let mut out = self.sent();
        assert_eq!(out.len(), 1, "one {kind:?}, got {out:?}");
        let (dst, m) = out.pop().unwrap();
        assert_eq!(m.opts().msg_type(), Some(kind));
        (dst, m)
    }

    pub fn input(&mut self, bytes: &[u8]) {
        self.c.handle_input(self.now, bytes);
        self.drain_events();
    }

    /// DISCOVER → OFFER → REQUEST → ACK with server A, address .100; returns the ACKed lease.
    pub fn dora(&mut self) -> crate::client::Lease {
        self.next();
        let (_, d) = self.one(MessageType::Discover);
        self.input(&reply(&d, MessageType::Offer, ip("198.51.100.100"), SERVER_A, lease_opts()));
        let (_, r) = self.one(MessageType::Request);
        self.input(&reply(&r, MessageType::Ack, ip("198.51.100.100"), SERVER_A, lease_opts()));
        assert_eq!(self.c.phase(), Phase::Bound);
        self.c.lease().unwrap().clone()
    }
}

/// The MAC used by every test client.
pub(crate) fn mac() -> [u8; 6] {
    MAC
}
