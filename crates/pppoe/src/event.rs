//! What the machines hand back: frames to send, events with full snapshots, counters.

use std::net::Ipv4Addr;

use crate::wire::Mac;

/// An Ethernet frame to send, headers included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination MAC (also the first six bytes of `bytes`).
    pub dst: Mac,
    /// The whole frame.
    pub bytes: Vec<u8>,
}

/// The IPv4 side of an Up link (IPCP, RFC 1332 + RFC 1877).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Link {
    /// Our address.
    pub local: Ipv4Addr,
    /// The peer's address.
    pub peer: Ipv4Addr,
    /// DNS servers learnt (host) or granted (AC), in order; may be empty.
    pub dns: Vec<Ipv4Addr>,
}

/// The IPv6 side of an Up link (IPv6CP, RFC 5072): link-local interface identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Link {
    /// Our interface identifier (fe80::/64 + this).
    pub local_id: u64,
    /// The peer's interface identifier.
    pub peer_id: u64,
}

/// A snapshot of an Up session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// PPPoE SESSION_ID.
    pub session_id: u16,
    /// The peer's MAC (the AC for a client, the host for an AC).
    pub peer_mac: Mac,
    /// MTU for the TUN device: the peer's MRU, capped by what PPPoE carries (1492, or the
    /// RFC 4638 PPP-Max-Payload).
    pub mtu: u16,
    /// IPv4, if IPCP opened.
    pub ipv4: Option<Ipv4Link>,
    /// IPv6 interface identifiers, if IPv6CP opened (`None` if the peer rejected it).
    pub ipv6: Option<Ipv6Link>,
    /// The name the peer authenticated with (AC side), if it did.
    pub peer_name: Option<Vec<u8>>,
}

/// Why a session went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DownReason {
    /// No acceptable PADO, or no PADS, after the bounded retries (RFC 2516 §5).
    DiscoveryTimeout,
    /// The PADS carried an error tag or session id 0 (RFC 2516 §5.4).
    DiscoveryError,
    /// The peer sent a PADT for our session (RFC 2516 §5.5).
    Padt,
    /// LCP could not be negotiated (Max-Configure exhausted, RFC 1661 §4.6).
    LcpNegotiationFailed,
    /// The peer sent an LCP Terminate-Request (RFC 1661 §5.5).
    LcpTerminated,
    /// `echo_failures` Echo-Requests went unanswered on an otherwise silent link.
    EchoTimeout,
    /// Authentication failed: our credentials were refused, the peer's were wrong, or the
    /// peer would not run the protocol required.
    AuthFailed,
    /// Neither IPCP nor IPv6CP could be opened.
    NcpFailed,
    /// We were told to close ([`crate::Command::Close`]).
    AdminClose,
}

/// Counters of a machine, for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames that failed to parse.
    pub malformed: u64,
    /// Well-formed frames not for us: wrong MAC, session id, Host-Uniq, state.
    pub ignored: u64,
    /// PADTs ignored because they did not come from our AC for our session.
    pub forged_padt: u64,
    /// PADI or PADR retransmissions.
    pub discovery_retransmits: u64,
    /// LCP Echo-Requests sent by the keepalive.
    pub echo_requests: u64,
    /// LCP Protocol-Rejects sent for protocols we do not run.
    pub protocol_rejects: u64,
    /// Code-Rejects and Protocol-Rejects dropped: malformed, or naming a packet or protocol
    /// we did not send (or an NCP that is open): not credible, a forged frame at worst.
    pub ignored_rejects: u64,
    /// CHAP Challenges not answered: CHAP was not the protocol the peer required of us (PAP,
    /// none), or the authentication phase had not begun.
    pub ignored_challenges: u64,
    /// Round trips of the LCP echo keepalive (Echo-Request to its Echo-Reply).
    pub echo_rtt: RttHistogram,
}

impl Stats {
    /// These counters and `other`'s together (a driver's sessions one after another).
    pub fn plus(&self, other: &Stats) -> Stats {
        let mut echo_rtt = self.echo_rtt;
        for (a, b) in echo_rtt.buckets.iter_mut().zip(other.echo_rtt.buckets) {
            *a += b;
        }
        echo_rtt.count += other.echo_rtt.count;
        echo_rtt.sum_us = echo_rtt.sum_us.saturating_add(other.echo_rtt.sum_us);
        Stats {
            malformed: self.malformed + other.malformed,
            ignored: self.ignored + other.ignored,
            forged_padt: self.forged_padt + other.forged_padt,
            discovery_retransmits: self.discovery_retransmits + other.discovery_retransmits,
            echo_requests: self.echo_requests + other.echo_requests,
            protocol_rejects: self.protocol_rejects + other.protocol_rejects,
            ignored_rejects: self.ignored_rejects + other.ignored_rejects,
            ignored_challenges: self.ignored_challenges + other.ignored_challenges,
            echo_rtt,
        }
    }
}

/// Round trips counted in fixed buckets (a Prometheus histogram's shape): how many took at
/// most each of [`RttHistogram::BOUNDS`], their count and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RttHistogram {
    /// Round trips at most `BOUNDS[i]` (not cumulative: each falls in its first bucket).
    pub buckets: [u64; 8],
    /// All round trips (those above the last bound included).
    pub count: u64,
    /// Their sum, in microseconds.
    pub sum_us: u64,
}

impl RttHistogram {
    /// The buckets' upper bounds.
    pub const BOUNDS: [std::time::Duration; 8] = {
        use std::time::Duration;
        [
            Duration::from_millis(1),
            Duration::from_millis(2),
            Duration::from_millis(5),
            Duration::from_millis(10),
            Duration::from_millis(25),
            Duration::from_millis(50),
            Duration::from_millis(100),
            Duration::from_millis(250),
        ]
    };

    /// Counts one round trip.
    pub fn observe(&mut self, rtt: std::time::Duration) {
        if let Some(i) = Self::BOUNDS.iter().position(|b| rtt <= *b) {
            if let Some(b) = self.buckets.get_mut(i) {
                *b += 1;
            }
        }
        self.count += 1;
        self.sum_us =
            self.sum_us.saturating_add(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX));
    }
}
