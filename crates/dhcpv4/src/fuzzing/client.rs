//! Drivers shared by the fuzz target (`fuzz/fuzz_targets/dhcp4_client.rs`), the pair tests
//! and the stable corpus test: clients brought into every state by the project's own DHCPv4
//! server (`crate::server::Server`), then fed arbitrary bytes and time steps. Not part of the
//! supported API.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::server::{Meta, PoolRange, Server, ServerConfig};
use crate::wire::{BOOTREQUEST, decode_checked};

use crate::client::{Client, ClientConfig, Phase};
use crate::{CLIENT_PORT, SERVER_PORT};

/// The client's MAC in these runs.
pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];

/// The server's address (Server Identifier).
pub const SERVER_ID: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// A client config for these runs: no start delay, seeded.
pub fn client_cfg(seed: u64) -> ClientConfig {
    ClientConfig { start_delay_max: Duration::ZERO, ..ClientConfig::new(MAC, seed) }
}

/// A server for 198.51.100.0/24 (pool .100–.199, 1 h leases, DNS, domain, MTU), without
/// Rapid Commit, started at `now`.
pub fn server(now: Instant) -> Option<Server> {
    let subnet = ipnet::Ipv4Net::new(Ipv4Addr::new(198, 51, 100, 0), 24).ok()?;
    let pool = PoolRange {
        first: Ipv4Addr::new(198, 51, 100, 100),
        last: Ipv4Addr::new(198, 51, 100, 199),
    };
    let mut cfg = ServerConfig::new(SERVER_ID, subnet, pool);
    cfg.lease_time = 3600;
    cfg.rapid_commit = false;
    cfg.domain_name = Some("isp.example".into());
    cfg.mtu = Some(1500);
    Server::new(cfg, now, 1_700_000_000).ok()
}

/// Moves every queued datagram between the two machines until both are quiet (bounded),
/// making the server's lease records durable at once (the server's events stay queued).
pub fn exchange(client: &mut Client, server: &mut Server, now: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(tx) = client.poll_transmit() {
            let ciaddr = decode_checked(&tx.payload, BOOTREQUEST)
                .map_or(Ipv4Addr::UNSPECIFIED, |m| m.ciaddr());
            let meta = Meta { src: SocketAddrV4::new(ciaddr, CLIENT_PORT) };
            server.handle_input(now, &tx.payload, &meta);
            while let Some(c) = server.poll_commit() {
                server.handle_committed(c.seq);
            }
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

/// A client brought into some state and the time it is at.
pub type Staged = (Client, Instant);

/// Clients in Init, Selecting, Requesting, Bound, Renewing, Rebinding, Stopped, InitReboot,
/// Rebooting, and Rebooting with a lease held (after the link came back).
pub fn clients_in_every_state(t0: Instant) -> Vec<Staged> {
    let mut out = Vec::new();
    let Some(mut s) = server(t0) else { return out };
    let mut c = Client::new(client_cfg(7), t0);
    out.push(snapshot(&c, t0)); // Init
    c.handle_timeout(t0);
    out.push(snapshot(&c, t0)); // Selecting
    let mut requesting = c.clone();
    // The OFFER only: the client sends its REQUEST, which the server never sees.
    if let Some(tx) = requesting.poll_transmit() {
        s.handle_input(
            t0,
            &tx.payload,
            &Meta { src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68) },
        );
        while let Some(tx) = s.poll_transmit() {
            requesting.handle_input(t0, &tx.payload);
        }
    }
    out.push(snapshot(&requesting, t0)); // Requesting
    exchange(&mut c, &mut s, t0);
    out.push(snapshot(&c, t0)); // Bound
    for want in [Phase::Renewing, Phase::Rebinding] {
        for _ in 0..8 {
            let Some(next) = c.poll_timeout() else { break };
            let now = next;
            c.handle_timeout(now);
            while c.poll_transmit().is_some() {} // the server stays silent
            if c.phase() == want {
                out.push(snapshot(&c, now));
                break;
            }
        }
    }
    let mut r = out.get(3).map_or_else(|| c.clone(), |(c, _)| c.clone());
    r.release(t0);
    out.push(snapshot(&r, t0)); // Stopped
    let mut cfg = client_cfg(9);
    cfg.requested_address = Some(Ipv4Addr::new(198, 51, 100, 100));
    let mut i = Client::new(cfg, t0);
    out.push(snapshot(&i, t0)); // InitReboot
    i.handle_timeout(t0);
    out.push(snapshot(&i, t0)); // Rebooting
    if let Some((b, _)) = out.get(3) {
        let mut b = b.clone();
        b.handle_link_up(t0);
        out.push(snapshot(&b, t0)); // Rebooting, lease held
    }
    out
}

/// A copy of the client with its output queues drained.
fn snapshot(c: &Client, now: Instant) -> Staged {
    let mut c = c.clone();
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    (c, now)
}

/// `data` with the client's current xid written over bytes 4..8 and its MAC over the chaddr
/// (bytes 28..34), so that a mutated reply gets past the checks of `is_ours`.
pub fn patched(client: &Client, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    if let (Some(xid), Some(dst)) = (client.xid(), d.get_mut(4..8)) {
        dst.copy_from_slice(&xid.to_be_bytes());
    }
    if let Some(dst) = d.get_mut(28..34) {
        dst.copy_from_slice(&MAC);
    }
    d
}

/// The fuzz body: `data` as one datagram to a client in every state (as is, and patched to
/// answer the client's exchange), then as a script of datagrams and time steps. Checks the
/// client's own invariants after each step.
pub fn run_client(data: &[u8]) {
    // Staged once per process: building them costs more than the run itself.
    static STAGED: std::sync::OnceLock<Vec<Staged>> = std::sync::OnceLock::new();
    for (client, now) in STAGED.get_or_init(|| clients_in_every_state(Instant::now())) {
        let now = *now;
        for bytes in [data.to_vec(), patched(client, data)] {
            let mut c = client.clone();
            c.handle_input(now, &bytes);
            check(&mut c);
            script(&mut c, now, &bytes);
        }
    }
}

/// Script: 0x80 is "the link came back"; another byte with the high bit set advances time by
/// `(b & 0x7f)` seconds squared; any other byte `n` is followed by an `n`-byte datagram
/// (patched to answer the client).
fn script(client: &mut Client, mut now: Instant, mut data: &[u8]) {
    for _ in 0..256 {
        let Some((&b, rest)) = data.split_first() else { return };
        if b == 0x80 {
            client.handle_link_up(now);
            data = rest;
        } else if b & 0x80 != 0 {
            now += Duration::from_secs(u64::from(b & 0x7f).pow(2));
            client.handle_timeout(now);
            data = rest;
        } else {
            let n = usize::from(b).min(rest.len());
            let (dgram, rest) = rest.split_at(n);
            let dgram = patched(client, dgram);
            client.handle_input(now, &dgram);
            data = rest;
        }
        check(client);
    }
}

/// Invariants: every transmit goes to port 67, broadcast or unicast to the lease's server,
/// and parses back as a BOOTREQUEST with a message type; a client in BOUND, RENEWING or
/// REBINDING has a lease, one in INIT, SELECTING, REQUESTING or stopped has none; a client
/// that is neither bound nor stopped has a deadline.
#[allow(clippy::panic)]
fn check(client: &mut Client) {
    let server = client.lease().map(|l| l.server);
    while let Some(tx) = client.poll_transmit() {
        assert_eq!(tx.dst.port(), SERVER_PORT);
        let ok_dst = tx.dst.ip().is_broadcast() || Some(*tx.dst.ip()) == server;
        assert!(ok_dst || client.phase() == Phase::Stopped, "sent to {}", tx.dst);
        let m = decode_checked(&tx.payload, BOOTREQUEST)
            .unwrap_or_else(|e| panic!("client emitted an unparseable message: {e}"));
        assert!(m.opts().msg_type().is_some(), "no message type");
    }
    while client.poll_event().is_some() {}
    let phase = client.phase();
    match phase {
        Phase::Bound | Phase::Renewing | Phase::Rebinding => {
            assert!(client.lease().is_some(), "{phase:?} without a lease");
        }
        // Verifying a held lease after the link came back, or a remembered address.
        Phase::InitReboot | Phase::Rebooting => {}
        _ => assert!(client.lease().is_none(), "{phase:?} with a lease"),
    }
    if !matches!(phase, Phase::Bound | Phase::Stopped) {
        assert!(client.poll_timeout().is_some(), "{phase:?} without a deadline");
    }
}
