//! The requesting router's public vocabulary: configuration, commands, events, states.

use std::net::Ipv6Addr;

use crate::lease::{Information, Lease};

/// Requesting-router configuration. The RNG seed makes a run reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our DUID (RFC 8415 §11), sent in the Client Identifier option.
    pub duid: Vec<u8>,
    /// IAID of the IA_PD (and of the IA_NA, when one is requested).
    pub iaid: u32,
    /// Prefix-length hint sent as `::/len` in Solicit; 0 sends no hint.
    pub prefix_len_hint: u8,
    /// The prefix held last (e.g. from the state directory), asked for again in Solicit.
    pub last_prefix: Option<(Ipv6Addr, u8)>,
    /// Also ask for an address (IA_NA) on the WAN link.
    pub want_address: bool,
    /// Option codes for the Option Request option (default: 23 DNS servers, 24 domains).
    pub oro: Vec<u16>,
    /// Offer Rapid Commit (RFC 8415 §21.14) in Solicit.
    pub rapid_commit: bool,
    /// Send Reconfigure Accept (RFC 8415 §21.20) and act on Reconfigure.
    pub reconfigure_accept: bool,
    /// Information-only mode: Information-request, no IA (RFC 8415 §18.2.6).
    pub information_only: bool,
    /// Seed of the RNG for transaction ids and RAND.
    pub seed: u64,
    /// First wait after NoPrefixAvail (doubling up to SOL_MAX_RT); default
    /// [`crate::client::NO_PREFIX_BACKOFF`]. Shorter where the server is one's own
    /// (the split deployment's gateway asking its ingress).
    pub no_prefix_backoff: std::time::Duration,
}

impl ClientConfig {
    /// Defaults: /48 hint, ORO 23 and 24, rapid commit and reconfigure accept on.
    pub fn new(duid: Vec<u8>, iaid: u32, seed: u64) -> Self {
        Self {
            duid,
            iaid,
            prefix_len_hint: 48,
            last_prefix: None,
            want_address: false,
            oro: vec![0x17, 0x18],
            rapid_commit: true,
            reconfigure_accept: true,
            information_only: false,
            seed,
            no_prefix_backoff: crate::client::NO_PREFIX_BACKOFF,
        }
    }
}

/// Commands from the owner of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Begin: Solicit (or Information-request in information-only mode).
    Start,
    /// Give the prefixes back (RFC 8415 §18.2.7), or stop trying when none are held.
    Release,
    /// The link changed: Rebind now (RFC 8415 §18.2.12).
    Rebind,
}

/// What happened, with full snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Prefixes were delegated where none were held.
    Delegated(Lease),
    /// Renew or Rebind extended the same prefixes.
    Renewed(Lease),
    /// A Reply replaced the held prefixes with different ones.
    Changed {
        /// What was held before.
        old: Lease,
        /// What is held now.
        new: Lease,
    },
    /// The valid lifetimes ran out, or Request failed while a prefix was held.
    Lost,
    /// The server has no prefix for us (NoPrefixAvail); the client retries with back-off.
    NoPrefixAvail,
    /// The prefixes were given back on `Command::Release`; stop using them.
    Released,
    /// Information-only mode: configuration received.
    Information(Information),
}

/// The RFC 8415 state, without its data (see [`crate::Client::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started, or stopped.
    Idle,
    /// Solicit sent, collecting Advertise.
    Soliciting,
    /// Request sent.
    Requesting,
    /// Holding prefixes, waiting for T1.
    Bound,
    /// Renew sent (after T1).
    Renewing,
    /// Rebind sent (after T2 or a link change).
    Rebinding,
    /// Release sent.
    Releasing,
    /// Information-request sent.
    InformationRequesting,
    /// Information-only mode: configured, waiting for the refresh time.
    Informed,
    /// NoPrefixAvail: waiting before soliciting again.
    Backoff,
}

/// Counters for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to `handle_input`.
    pub received: u64,
    /// Datagrams that failed to parse (dropped).
    pub malformed: u64,
    /// Well-formed messages dropped: wrong type, transaction id, client id, or state.
    pub ignored: u64,
    /// Messages queued for transmission.
    pub transmitted: u64,
}
