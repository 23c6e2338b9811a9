//! Answering one IA_NA or IA_PD (RFC 8415 §18.3.1, §18.3.2, §18.3.4, §18.3.5, §18.3.9):
//! choose, extend, adopt or invalidate its leases, and commit them.

use std::net::Ipv6Addr;

use crate::wire::{Repr, status_option};
use dhcproto::v6::{DhcpOption, DhcpOptions, IAAddr, IANA, IAPD, IAPrefix, Status};
use tracing::{debug, warn};

use super::table::{Binding, BindingKey, iid_of, leases_of};
use super::{Event6, Lease6};
use super::{Held, Server6, snapshot};
use crate::server::store::IaKind;
use leases::RecordState;

/// How the IAs of a message are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Advertise: say what would be leased, commit nothing (§18.3.1).
    Offer,
    /// Request, or Solicit with Rapid Commit: lease (§18.3.2).
    Commit,
    /// Renew: extend, or NoBinding (§18.3.4).
    Renew,
    /// Rebind: extend, take the client back, or invalidate (§18.3.5).
    Rebind,
}

/// One IA of a client message.
pub(super) struct IaIn<'a> {
    pub(super) kind: IaKind,
    pub(super) iaid: u32,
    pub(super) opts: &'a DhcpOptions,
}

impl IaIn<'_> {
    /// The addresses (length 128) or prefixes the client put in the IA, zeros left out.
    pub(super) fn presented(&self) -> Vec<(Ipv6Addr, u8)> {
        self.opts
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IAAddr(a) if !a.addr.is_unspecified() => Some((a.addr, 128)),
                DhcpOption::IAPrefix(p) if !p.prefix_ip.is_unspecified() => {
                    Some((p.prefix_ip, p.prefix_len))
                }
                _ => None,
            })
            .collect()
    }
}

impl Server6 {
    /// One IA of the answer (§18.3.1, §18.3.2, §18.3.4, §18.3.5, §18.3.9).
    pub(super) fn answer_ia(
        &mut self,
        t: u64,
        key: &BindingKey,
        ia: &IaIn<'_>,
        mode: Mode,
        hostname: Option<&String>,
    ) -> DhcpOption {
        let presented = ia.presented();
        let bound = self.table.get(key).is_some();
        match mode {
            // §18.3.4: "If the server cannot find a client entry for the IA, the server
            // returns the IA containing no addresses with a Status Code option set to
            // NoBinding".
            Mode::Renew if !bound => return self.no_binding(ia),
            // §18.3.5: without a binding, addresses that are appropriate for the link may be
            // given back (this server may have lost its table); others get lifetimes 0.
            Mode::Rebind if !bound && !self.adopt(t, key, &presented) => {
                if presented.is_empty() {
                    return self.no_binding(ia);
                }
                self.stats.invalidated += presented.len() as u64;
                return self.ia(ia.kind, ia.iaid, &[], &presented, None);
            }
            _ => {}
        }
        let Some((slot, leases)) = self.candidate(key, &presented) else {
            // No delegation on this link at all is not a full pool: the client asked for a
            // prefix where the LAN delegates none (no `delegate`), an everyday thing.
            let nothing = match ia.kind {
                IaKind::Pd => self.cfg.pd_pool.is_none(),
                IaKind::Na => self.cfg.prefixes.is_empty(),
            };
            if nothing {
                debug!(kind = ?ia.kind, iaid = ia.iaid, "dhcp6: nothing of this kind on this link");
            } else if let Some(more) = self.throttle.check(t) {
                warn!(
                    kind = ?ia.kind, iaid = ia.iaid, duid = ?key.duid, suppressed = more,
                    "dhcp6: pool full, nothing for this IA"
                );
            }
            let retired = self.take_retired(t, key, mode);
            let st = Some(self.unavailable(ia.kind));
            return self.ia(ia.kind, ia.iaid, &[], &retired, st);
        };
        if mode == Mode::Offer {
            return self.ia(ia.kind, ia.iaid, &leases, &[], None);
        }
        let mut retired = self.take_retired(t, key, mode);
        // §18.3.4: addresses the client holds that are not appropriate for the link (not
        // ours, or not on link any more) go back with lifetimes 0.
        for p in presented {
            if !leases.contains(&p) && !retired.contains(&p) {
                retired.push(p);
            }
        }
        self.stats.invalidated += retired.len() as u64;
        self.grant(t, key, slot, &leases, hostname);
        self.ia(ia.kind, ia.iaid, &leases, &retired, None)
    }

    /// §18.3.9: the IA with NoAddrsAvail / NoPrefixAvail and nothing in it.
    pub(super) fn refuse_ia(&mut self, ia: &IaIn<'_>) -> DhcpOption {
        let st = Some(self.unavailable(ia.kind));
        self.ia(ia.kind, ia.iaid, &[], &[], st)
    }

    /// The "none available" status of an IA of `kind`, counted.
    fn unavailable(&mut self, kind: IaKind) -> DhcpOption {
        match kind {
            IaKind::Na => {
                self.stats.no_addrs += 1;
                status_option(Status::NoAddrsAvail, "no addresses available")
            }
            IaKind::Pd => {
                self.stats.no_prefixes += 1;
                status_option(Status::NoPrefixAvail, "no prefixes available")
            }
        }
    }

    /// The slot and leases `key` has or would get; `None` when the pool is full. A client
    /// without a binding that asks for a free prefix of the pool by an IA Prefix hint gets
    /// it (RFC 8415 §18.3.1: the server "MAY" use the hint; a requesting router that asks
    /// for the prefix it had before a restart keeps its numbering, as Kea does).
    fn candidate(
        &self,
        key: &BindingKey,
        presented: &[(Ipv6Addr, u8)],
    ) -> Option<(u64, Vec<(Ipv6Addr, u8)>)> {
        let hinted = match (key.kind, presented.first(), self.table.get(key)) {
            (IaKind::Pd, Some(&(p, l)), None) => self
                .cfg
                .pd_pool
                .and_then(|pool| pool.index(p, l))
                .filter(|&i| self.table.slot_for(key, i, 1) == Some(i)),
            _ => None,
        };
        if let Some(slot) = hinted {
            let leases = leases_of(key.kind, slot, &self.cfg.prefixes, self.cfg.pd_pool);
            return Some((slot, leases));
        }
        let (base, size) = match key.kind {
            IaKind::Na => {
                let (a, b) = self.cfg.iid_range;
                (a, (b - a).saturating_add(1))
            }
            IaKind::Pd => (0, self.cfg.pd_pool.map_or(0, |p| p.size())),
        };
        let slot = self.table.slot_for(key, base, size)?;
        let leases = leases_of(key.kind, slot, &self.cfg.prefixes, self.cfg.pd_pool);
        (!leases.is_empty()).then_some((slot, leases))
    }

    /// §18.3.5 without a binding: takes the presented addresses/prefix back if they are ours
    /// to give and free. Creates the binding (committed by the caller through `grant`).
    fn adopt(&mut self, t: u64, key: &BindingKey, presented: &[(Ipv6Addr, u8)]) -> bool {
        let slot = match (key.kind, presented.first()) {
            (IaKind::Na, Some(&(a, _))) => {
                let iid = iid_of(a);
                let (lo, hi) = self.cfg.iid_range;
                let ok = (lo..=hi).contains(&iid)
                    && presented.iter().all(|&(p, _)| self.on_link(p) && iid_of(p) == iid)
                    && self.table.iid_free_for(iid, key);
                ok.then_some(iid)
            }
            (IaKind::Pd, Some(&(p, l))) => {
                let idx = self.cfg.pd_pool.and_then(|pool| pool.index(p, l));
                idx.filter(|&i| self.table.slot_for(key, i, 1) == Some(i))
            }
            _ => None,
        };
        let Some(slot) = slot else { return false };
        let leases = leases_of(key.kind, slot, &self.cfg.prefixes, self.cfg.pd_pool);
        let b = Binding { slot, leases, retired: Vec::new(), hostname: None, until: t };
        self.table.set(key.clone(), b);
        true
    }

    /// Whether `a` is in one of the on-link prefixes.
    pub(super) fn on_link(&self, a: Ipv6Addr) -> bool {
        self.cfg.prefixes.iter().any(|p| p.contains(&a))
    }

    /// The binding's retired leases, committed as released; empty for an Advertise.
    fn take_retired(&mut self, t: u64, key: &BindingKey, mode: Mode) -> Vec<(Ipv6Addr, u8)> {
        if mode == Mode::Offer {
            return Vec::new();
        }
        let Some(mut b) = self.table.get(key).cloned() else {
            return Vec::new();
        };
        let retired = std::mem::take(&mut b.retired);
        for &(a, l) in &retired {
            self.commit(key, a, l, RecordState::Released, t, None);
        }
        self.table.set(key.clone(), b);
        retired
    }

    /// Binds `leases` to `key` until the valid lifetime ends, commits them, and holds the
    /// Reply and the event until they are durable.
    fn grant(
        &mut self,
        t: u64,
        key: &BindingKey,
        slot: u64,
        leases: &[(Ipv6Addr, u8)],
        hostname: Option<&String>,
    ) {
        let old = self.table.get(key).cloned();
        let hostname = hostname.cloned().or_else(|| old.as_ref().and_then(|b| b.hostname.clone()));
        let until = t + u64::from(self.cfg.valid);
        let retired = old.map(|b| b.retired).unwrap_or_default();
        let b = Binding { slot, leases: leases.to_vec(), retired, hostname, until };
        let mut seq = 0;
        for &(a, l) in leases {
            seq = self.commit(key, a, l, RecordState::Bound, until, b.hostname.clone());
        }
        let lease = Lease6 { peer: self.peer, ..snapshot(key, &b) };
        self.table.set(key.clone(), b);
        self.stats.granted += 1;
        self.held.push_back((seq, Held::Event(Event6::LeaseGranted(lease))));
    }

    /// An IA_NA or IA_PD: `leases` with the configured lifetimes and T1/T2, `zero` with
    /// lifetimes 0, and a status.
    fn ia(
        &self,
        kind: IaKind,
        iaid: u32,
        leases: &[(Ipv6Addr, u8)],
        zero: &[(Ipv6Addr, u8)],
        status: Option<DhcpOption>,
    ) -> DhcpOption {
        let (t1, t2) = if leases.is_empty() { (0, 0) } else { (self.cfg.t1, self.cfg.t2) };
        let (pref, valid) = (self.cfg.preferred, self.cfg.valid);
        let live = leases.iter().map(|&(a, l)| lease_option(kind, a, l, pref, valid));
        let dead = zero.iter().map(|&(a, l)| lease_option(kind, a, l, 0, 0));
        let opts: DhcpOptions = live.chain(dead).chain(status).collect();
        match kind {
            IaKind::Na => DhcpOption::IANA(IANA { id: iaid, t1, t2, opts }),
            IaKind::Pd => DhcpOption::IAPD(IAPD { id: iaid, t1, t2, opts }),
        }
    }

    pub(super) fn no_binding(&mut self, ia: &IaIn<'_>) -> DhcpOption {
        self.stats.no_binding += 1;
        let st = Some(status_option(Status::NoBinding, "no binding"));
        self.ia(ia.kind, ia.iaid, &[], &[], st)
    }
}

/// The IA_NA and IA_PD options of `msg`, in wire order.
pub(super) fn ias(msg: &Repr) -> Vec<IaIn<'_>> {
    msg.opts
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IANA(ia) => Some(IaIn { kind: IaKind::Na, iaid: ia.id, opts: &ia.opts }),
            DhcpOption::IAPD(ia) => Some(IaIn { kind: IaKind::Pd, iaid: ia.id, opts: &ia.opts }),
            _ => None,
        })
        .collect()
}

/// An IA Address (IA_NA) or IA Prefix (IA_PD) option.
fn lease_option(kind: IaKind, a: Ipv6Addr, len: u8, preferred: u32, valid: u32) -> DhcpOption {
    match kind {
        IaKind::Na => DhcpOption::IAAddr(IAAddr {
            addr: a,
            preferred_life: preferred,
            valid_life: valid,
            opts: DhcpOptions::new(),
        }),
        IaKind::Pd => DhcpOption::IAPrefix(IAPrefix {
            preferred_lifetime: preferred,
            valid_lifetime: valid,
            prefix_len: len,
            prefix_ip: a,
            opts: DhcpOptions::new(),
        }),
    }
}
