//! Reconfigure (RFC 8415 §18.3.11), opt-in (`Server6Config::reconfigure`): after
//! renumbering, clients that agreed to it with Reconfigure Accept (§21.20) are told to Renew
//! at once instead of at T1. Meant for the split deployment, where the client is our own
//! requesting router (`crate::client`) on the DMZ.
//!
//! Not conformant: no Authentication option is sent (§20.4, the Reconfiguration Key
//! Authentication Protocol is not implemented), so clients that follow §18.2.11 ("MUST
//! discard any Reconfigure message that does not include an Authentication option") drop it
//! and renew at T1 as without Reconfigure; our client accepts it from the server
//! that holds its binding. No RAND jitter on the retransmissions (one server, few clients).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use crate::wire::Repr;
use dhcproto::v6::{DhcpOption, MessageType, OptionCode};
use tracing::debug;

use super::Server6;
use super::Transmit6;

/// REC_TIMEOUT (RFC 8415 §7.6): the first retransmission interval.
pub const REC_TIMEOUT: Duration = Duration::from_secs(2);

/// REC_MAX_RC (RFC 8415 §7.6): transmissions of one Reconfigure at most.
pub const REC_MAX_RC: u32 = 8;

/// UDP port clients listen on (RFC 8415 §7.2).
const CLIENT_PORT: u16 = 546;

/// Who agreed to Reconfigure, and the Reconfigures being retransmitted.
#[derive(Debug, Clone, Default)]
pub(super) struct Reconf {
    /// DUID → where its last message came from, for clients that sent Reconfigure Accept.
    accepted: HashMap<Vec<u8>, SocketAddrV6>,
    pending: Vec<Pending>,
}

/// One client's Reconfigure.
#[derive(Debug, Clone)]
struct Pending {
    duid: Vec<u8>,
    peer: SocketAddrV6,
    due: Instant,
    rt: Duration,
    sent: u32,
}

impl Server6 {
    /// Notes whether the client of `msg` (from `src`) agrees to Reconfigure, as of this
    /// message; true when the answer carries Reconfigure Accept (§21.20: the server includes
    /// it "to indicate ... the server" will send Reconfigure).
    pub(super) fn note_reconfigure_accept(&mut self, msg: &Repr, src: SocketAddrV6) -> bool {
        let duid = msg.client_id().unwrap_or_default();
        if self.cfg.reconfigure && msg.has(OptionCode::ReconfAccept) {
            self.reconf.accepted.insert(duid.to_vec(), src);
            true
        } else {
            self.reconf.accepted.remove(duid);
            false
        }
    }

    /// §18.3.11: the server stops retransmitting when the client answers with a Renew,
    /// Rebind or Information-request.
    pub(super) fn reconfigure_answered(&mut self, duid: &[u8]) {
        self.reconf.pending.retain(|p| p.duid != duid);
    }

    /// Sends Reconfigure (msg-type Renew) to every client that agreed to it and holds a
    /// binding; returns how many. [`Self::set_prefixes`] calls it when `reconfigure` is on.
    pub fn reconfigure_all(&mut self, now: Instant) -> usize {
        let holders: HashSet<&[u8]> = self.table.iter().map(|(k, _)| k.duid.as_slice()).collect();
        let targets: Vec<(Vec<u8>, SocketAddrV6)> = self
            .reconf
            .accepted
            .iter()
            .filter(|(d, _)| holders.contains(d.as_slice()))
            .map(|(d, p)| (d.clone(), *p))
            .collect();
        let n = targets.len();
        for (duid, peer) in targets {
            self.reconf.pending.retain(|p| p.duid != duid);
            self.reconf.pending.push(Pending { duid, peer, due: now, rt: REC_TIMEOUT, sent: 0 });
        }
        self.send_reconfigures(now);
        n
    }

    /// The next Reconfigure retransmission.
    pub(super) fn reconfigure_deadline(&self) -> Option<Instant> {
        self.reconf.pending.iter().map(|p| p.due).min()
    }

    /// Sends the Reconfigures that are due; gives up after [`REC_MAX_RC`] transmissions.
    pub(super) fn send_reconfigures(&mut self, now: Instant) {
        let mut out = Vec::new();
        self.reconf.pending.retain_mut(|p| {
            if p.due > now {
                return true;
            }
            if p.sent >= REC_MAX_RC {
                debug!("dhcp6: {:02x?} never answered its Reconfigure", p.duid);
                return false;
            }
            out.push((p.duid.clone(), p.peer));
            p.sent += 1;
            p.due = now + p.rt;
            p.rt = p.rt.saturating_mul(2);
            true
        });
        for (duid, peer) in out {
            // §18.3.11: "The server sets the transaction-id field to 0".
            let mut m = Repr::new(MessageType::Reconfigure, [0; 3]);
            m.push(DhcpOption::ServerId(self.cfg.duid.clone()));
            m.push(DhcpOption::ClientId(duid));
            m.push(DhcpOption::ReconfMsg(MessageType::Renew));
            if let Ok(payload) = m.to_vec() {
                let dst = SocketAddrV6::new(*peer.ip(), CLIENT_PORT, 0, peer.scope_id());
                self.stats.reconfigures += 1;
                self.transmits.push_back(Transmit6 { dst, payload });
            }
        }
    }
}
