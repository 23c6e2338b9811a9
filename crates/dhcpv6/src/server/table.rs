//! The DHCPv6 binding table (RFC 8415 §4.2 "binding"): one binding per (DUID, IAID, IA type),
//! indexed by slot (interface id or pool index) and deadline.
//!
//! Allocation is stable: an IA_NA's interface id is a hash of DUID and IAID into the
//! configured range, probed linearly on collision, and used in every on-link prefix; an
//! IA_PD's slot is the same hash into the pool. A returning client (after a release, an
//! expiry, a restart without its record) gets the same address or prefix while nobody else
//! took it, and renumbering keeps the interface id or the pool index.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::config::PdPool;
use crate::server::store::IaKind;

/// Slots probed for a free one before giving up (all of them in a smaller range).
const MAX_PROBES: u64 = 1024;

/// The slot of a PD binding whose prefix renumbering took away (none in the new pool).
pub const NO_SLOT: u64 = u64::MAX;

/// Who a binding belongs to: the client's DUID, the IAID, and the IA type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingKey {
    /// IA_NA or IA_PD.
    pub kind: IaKind,
    /// Client Identifier (DUID).
    pub duid: Vec<u8>,
    /// IAID.
    pub iaid: u32,
}

/// One IA's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The interface id (IA_NA) or pool index (IA_PD).
    pub slot: u64,
    /// What is leased: one address per on-link prefix (length 128), or one prefix.
    pub leases: Vec<(Ipv6Addr, u8)>,
    /// Addresses or prefixes taken back by renumbering, sent with lifetimes 0 in the next
    /// Reply (RFC 8415 §18.3.4, §18.3.5).
    pub retired: Vec<(Ipv6Addr, u8)>,
    /// The sanitised host name (Client FQDN).
    pub hostname: Option<String>,
    /// Unix seconds: end of the valid lifetime.
    pub until: u64,
}

/// Who holds an interface id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    Client(BindingKey),
    /// Declined (RFC 8415 §18.3.8) until this Unix time.
    Declined(u64),
}

/// The table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    bindings: HashMap<BindingKey, Binding>,
    iids: HashMap<u64, Holder>,
    pd_slots: HashMap<u64, BindingKey>,
    deadlines: BTreeSet<(u64, BindingKey)>,
    declined: BTreeSet<(u64, u64)>,
}

impl Table {
    /// The binding of `key`.
    pub fn get(&self, key: &BindingKey) -> Option<&Binding> {
        self.bindings.get(key)
    }

    /// Every binding.
    pub fn iter(&self) -> impl Iterator<Item = (&BindingKey, &Binding)> {
        self.bindings.iter()
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Whether interface id `iid` is free for `key` (unused, or already its own).
    pub fn iid_free_for(&self, iid: u64, key: &BindingKey) -> bool {
        match self.iids.get(&iid) {
            None => true,
            Some(Holder::Client(k)) => k == key,
            Some(Holder::Declined(_)) => false,
        }
    }

    fn slot_free_for(&self, slot: u64, key: &BindingKey) -> bool {
        match key.kind {
            IaKind::Na => self.iid_free_for(slot, key),
            IaKind::Pd => self.pd_slots.get(&slot).is_none_or(|k| k == key),
        }
    }

    /// The slot `key` has or would get: its binding's, else its hash probed in `0..size`
    /// from `base`; `None` when every probed slot is taken.
    pub fn slot_for(&self, key: &BindingKey, base: u64, size: u64) -> Option<u64> {
        if let Some(b) = self.bindings.get(key).filter(|b| b.slot != NO_SLOT) {
            return Some(b.slot);
        }
        if size == 0 {
            return None;
        }
        let start = hash(key) % size;
        (0..size.min(MAX_PROBES))
            .map(|i| base + (start + i) % size)
            .find(|&s| self.slot_free_for(s, key))
    }

    /// Sets the binding of `key`, keeping every index right.
    pub fn set(&mut self, key: BindingKey, b: Binding) {
        self.remove(&key);
        self.deadlines.insert((b.until, key.clone()));
        match key.kind {
            IaKind::Na => {
                self.iids.insert(b.slot, Holder::Client(key.clone()));
            }
            IaKind::Pd if b.slot != NO_SLOT => {
                self.pd_slots.insert(b.slot, key.clone());
            }
            IaKind::Pd => {}
        }
        self.bindings.insert(key, b);
    }

    /// Removes the binding of `key` and frees its slot.
    pub fn remove(&mut self, key: &BindingKey) -> Option<Binding> {
        let b = self.bindings.remove(key)?;
        self.deadlines.remove(&(b.until, key.clone()));
        match key.kind {
            IaKind::Na => {
                if self.iids.get(&b.slot) == Some(&Holder::Client(key.clone())) {
                    self.iids.remove(&b.slot);
                }
            }
            IaKind::Pd => {
                if self.pd_slots.get(&b.slot) == Some(key) {
                    self.pd_slots.remove(&b.slot);
                }
            }
        }
        Some(b)
    }

    /// Keeps interface id `iid` out of use until `until` (a declined address).
    pub fn decline(&mut self, iid: u64, until: u64) {
        if let Some(Holder::Declined(old)) = self.iids.get(&iid) {
            self.declined.remove(&(*old, iid));
        }
        self.iids.insert(iid, Holder::Declined(until));
        self.declined.insert((until, iid));
    }

    /// Renumbering: every binding moves to `prefixes` / `pool`, keeping its slot; what it
    /// leased outside them is retired. A PD slot the new pool lacks leaves the binding empty.
    pub fn renumber(&mut self, prefixes: &[Ipv6Net], pool: Option<PdPool>) {
        let mut emptied = Vec::new();
        for (key, b) in &mut self.bindings {
            let new = leases_of(key.kind, b.slot, prefixes, pool);
            for old in std::mem::take(&mut b.leases) {
                if !new.contains(&old) && !b.retired.contains(&old) {
                    b.retired.push(old);
                }
            }
            b.retired.retain(|r| !new.contains(r));
            if new.is_empty() && key.kind == IaKind::Pd {
                emptied.push((key.clone(), b.slot));
            }
            b.leases = new;
        }
        for (key, slot) in emptied {
            if self.pd_slots.get(&slot) == Some(&key) {
                self.pd_slots.remove(&slot);
            }
            if let Some(b) = self.bindings.get_mut(&key) {
                b.slot = NO_SLOT;
            }
        }
    }

    /// The earliest binding or decline deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        let a = self.deadlines.first().map(|(t, _)| *t);
        let b = self.declined.first().map(|(t, _)| *t);
        a.into_iter().chain(b).min()
    }

    /// Removes and returns a binding whose valid lifetime ended at or before `now`.
    pub fn pop_expired(&mut self, now: u64) -> Option<(BindingKey, Binding)> {
        let key = self.deadlines.first().filter(|(t, _)| *t <= now).map(|(_, k)| k.clone())?;
        let b = self.remove(&key)?;
        Some((key, b))
    }

    /// Returns declined interface ids whose hold ended to the pool; how many.
    pub fn release_declined(&mut self, now: u64) -> usize {
        let mut n = 0;
        while let Some(&(t, iid)) = self.declined.first().filter(|(t, _)| *t <= now) {
            self.declined.remove(&(t, iid));
            if self.iids.get(&iid) == Some(&Holder::Declined(t)) {
                self.iids.remove(&iid);
            }
            n += 1;
        }
        n
    }
}

/// What a binding of `kind` in `slot` leases under `prefixes` / `pool`.
pub fn leases_of(
    kind: IaKind,
    slot: u64,
    prefixes: &[Ipv6Net],
    pool: Option<PdPool>,
) -> Vec<(Ipv6Addr, u8)> {
    match kind {
        IaKind::Na => prefixes.iter().map(|p| (with_iid(*p, slot), 128)).collect(),
        IaKind::Pd => {
            pool.and_then(|p| p.nth(slot).map(|a| (a, p.delegated_len))).into_iter().collect()
        }
    }
}

/// The address with `prefix`'s upper 64 bits and interface id `iid`.
pub fn with_iid(prefix: Ipv6Net, iid: u64) -> Ipv6Addr {
    Ipv6Addr::from((u128::from(prefix.network()) & !u128::from(u64::MAX)) | u128::from(iid))
}

/// The interface id (low 64 bits) of `a`.
pub fn iid_of(a: Ipv6Addr) -> u64 {
    u128::from(a) as u64
}

/// FNV-1a (64 bits) of the key: stable across runs and builds, unlike `DefaultHasher`.
fn hash(key: &BindingKey) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = key.duid.iter().copied().chain(key.iaid.to_be_bytes()).chain([key.kind as u8]);
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
