mod corpus;
mod rfc2131;
mod store;
mod wire;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use crate::server::{Event, LeaseRecord, Meta, PoolRange, Server, ServerConfig};

pub(crate) const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
pub(crate) const UNIX0: u64 = 1_700_000_000;

pub(crate) fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub(crate) fn mac(n: u8) -> [u8; 6] {
    [0x52, 0x54, 0x00, 0x00, 0x00, n]
}

/// 192.168.1.0/24, pool .100–.109, 1 h leases.
pub(crate) fn cfg() -> ServerConfig {
    let pool = PoolRange { first: ip("192.168.1.100"), last: ip("192.168.1.109") };
    let mut c = ServerConfig::new(SERVER, "192.168.1.0/24".parse().unwrap(), pool);
    c.lease_time = 3600;
    c.domain_name = Some("home.arpa".into());
    c
}

/// A request from a client, built as the client would.
pub(crate) fn msg(kind: MessageType, m: [u8; 6], xid: u32) -> Message {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(xid, z, z, z, z, &m);
    msg.set_opcode(Opcode::BootRequest);
    msg.opts_mut().insert(DhcpOption::MessageType(kind));
    msg
}

pub(crate) fn with(mut m: Message, opt: DhcpOption) -> Message {
    m.opts_mut().insert(opt);
    m
}

pub(crate) fn selecting(m: [u8; 6], a: Ipv4Addr) -> Message {
    let r = with(msg(MessageType::Request, m, 2), DhcpOption::ServerIdentifier(SERVER));
    with(r, DhcpOption::RequestedIpAddress(a))
}

pub(crate) fn init_reboot(m: [u8; 6], a: Ipv4Addr) -> Message {
    with(msg(MessageType::Request, m, 3), DhcpOption::RequestedIpAddress(a))
}

pub(crate) fn renewing(m: [u8; 6], a: Ipv4Addr) -> Message {
    let mut r = msg(MessageType::Request, m, 4);
    r.set_ciaddr(a);
    r
}

pub(crate) fn broadcast(mut m: Message) -> Message {
    m.set_flags(Flags::default().set_broadcast());
    m
}

/// A server with an in-memory store, on a fake clock.
pub(crate) struct Sim {
    pub s: Server,
    pub now: Instant,
    pub store: Vec<LeaseRecord>,
    pub events: Vec<Event>,
}

impl Sim {
    pub fn new(c: ServerConfig) -> Self {
        let t0 = Instant::now();
        Sim { s: Server::new(c, t0, UNIX0).unwrap(), now: t0, store: vec![], events: vec![] }
    }

    /// Feeds one datagram, commits everything, returns (destination, reply) pairs.
    pub fn send(&mut self, m: &Message) -> Vec<(SocketAddrV4, Message)> {
        self.raw(&m.to_vec().unwrap())
    }

    pub fn raw(&mut self, bytes: &[u8]) -> Vec<(SocketAddrV4, Message)> {
        let meta = Meta { src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68) };
        self.s.handle_input(self.now, bytes, &meta);
        self.commit_all();
        self.drain()
    }

    pub fn commit_all(&mut self) {
        while let Some(c) = self.s.poll_commit() {
            self.store.push(c.record);
            self.s.handle_committed(c.seq);
        }
    }

    pub fn drain(&mut self) -> Vec<(SocketAddrV4, Message)> {
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
        std::iter::from_fn(|| self.s.poll_transmit())
            .map(|t| {
                assert!(t.payload.len() >= 300, "BOOTP minimum size");
                (t.dst, Message::decode(&mut Decoder::new(&t.payload)).unwrap())
            })
            .collect()
    }

    /// Advances the clock by `secs` and runs the timers.
    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.s.handle_timeout(self.now);
        self.drain();
    }

    /// DISCOVER → OFFER → REQUEST → ACK; returns the address.
    pub fn dora(&mut self, m: [u8; 6]) -> Ipv4Addr {
        let offer = self.one(&msg(MessageType::Discover, m, 1), MessageType::Offer);
        let ack = self.one(&selecting(m, offer.yiaddr()), MessageType::Ack);
        assert_eq!(ack.yiaddr(), offer.yiaddr());
        ack.yiaddr()
    }

    /// Sends `m` and expects exactly one reply of type `kind`.
    pub fn one(&mut self, m: &Message, kind: MessageType) -> Message {
        let mut out = self.send(m);
        assert_eq!(out.len(), 1, "one reply to {:?}, got {out:?}", m.opts().msg_type());
        let (_, r) = out.pop().unwrap();
        assert_eq!(r.opts().msg_type(), Some(kind));
        r
    }
}

pub(crate) fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}
