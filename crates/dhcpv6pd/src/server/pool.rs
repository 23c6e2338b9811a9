//! The delegating router's prefix pool and binding table: plain data, so a later issue can
//! persist them.

use std::collections::BTreeSet;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Instant;

/// A pool of prefixes: `base/base_len` cut into `/delegated_len`s (e.g. 2001:db8:1000::/36 in
/// /48s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Start of the pool.
    pub base: Ipv6Addr,
    /// Length of the pool prefix.
    pub base_len: u8,
    /// Length of each delegated prefix (≥ `base_len`, ≤ 128).
    pub delegated_len: u8,
}

impl Pool {
    /// How many prefixes the pool holds (saturating at `u128::MAX`); 0 if misconfigured.
    pub fn size(&self) -> u128 {
        if self.delegated_len < self.base_len || self.delegated_len > 128 {
            return 0;
        }
        1u128.checked_shl(u32::from(self.delegated_len - self.base_len)).unwrap_or(u128::MAX)
    }

    /// The `i`th prefix of the pool.
    pub fn nth(&self, i: u128) -> Option<Ipv6Addr> {
        if i >= self.size() {
            return None;
        }
        let shift = 128 - u32::from(self.delegated_len);
        let offset = i.checked_shl(shift).unwrap_or(0);
        Some(Ipv6Addr::from(mask(self.base, self.base_len) | offset))
    }

    /// `prefix/len` is one of the pool's prefixes (exact length, host bits clear).
    pub fn contains(&self, prefix: Ipv6Addr, len: u8) -> bool {
        len == self.delegated_len
            && self.size() > 0
            && mask(prefix, self.base_len) == mask(self.base, self.base_len)
            && mask(prefix, len) == u128::from(prefix)
    }

    /// The index of `prefix` in the pool, if it belongs to it.
    fn index(&self, prefix: Ipv6Addr) -> Option<u128> {
        let shift = 128 - u32::from(self.delegated_len);
        let rel = u128::from(prefix) ^ mask(self.base, self.base_len);
        self.contains(prefix, self.delegated_len).then(|| rel.checked_shr(shift).unwrap_or(0))
    }

    /// The first prefix of the pool not in `used`.
    pub(crate) fn first_free(&self, used: &BTreeSet<u128>) -> Option<Ipv6Addr> {
        let mut i = 0u128;
        for idx in used.iter().filter_map(|&p| self.index(Ipv6Addr::from(p))) {
            if idx == i {
                i += 1;
            } else if idx > i {
                break;
            }
        }
        self.nth(i)
    }
}

/// `addr` with all but the first `len` bits cleared.
fn mask(addr: Ipv6Addr, len: u8) -> u128 {
    let bits = u128::from(addr);
    match len {
        0 => 0,
        1..=127 => bits & !(u128::MAX >> len),
        _ => bits,
    }
}

/// One client's IA_PD binding (RFC 8415 §4.2 "binding").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The client's DUID.
    pub duid: Vec<u8>,
    /// The IA_PD's IAID.
    pub iaid: u32,
    /// The delegated prefix; `None` after a pool change until the client renews.
    pub prefix: Option<(Ipv6Addr, u8)>,
    /// Prefixes taken away by a pool change, sent once more with lifetimes 0.
    pub retired: Vec<(Ipv6Addr, u8)>,
    /// When the valid lifetime ends (`None`: infinite).
    pub expires: Option<Instant>,
    /// Both sides agreed to Reconfigure (RFC 8415 §21.20).
    pub reconfigure: bool,
    /// Where the client's last message came from (Reconfigure goes there).
    pub peer: SocketAddrV6,
}

/// Every binding, plus which prefix each client held last so it gets it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingTable {
    /// Active bindings.
    pub bindings: Vec<Binding>,
    /// `(duid, iaid) → prefix` of bindings that ended (released or expired).
    pub history: Vec<(Vec<u8>, u32, Ipv6Addr, u8)>,
}

impl BindingTable {
    /// The binding of `(duid, iaid)`.
    pub fn get(&self, duid: &[u8], iaid: u32) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.duid == duid && b.iaid == iaid)
    }

    pub(crate) fn get_mut(&mut self, duid: &[u8], iaid: u32) -> Option<&mut Binding> {
        self.bindings.iter_mut().find(|b| b.duid == duid && b.iaid == iaid)
    }

    /// Every prefix bound now, as integers.
    pub(crate) fn used(&self) -> BTreeSet<u128> {
        self.bindings.iter().filter_map(|b| b.prefix).map(|(p, _)| u128::from(p)).collect()
    }

    /// The prefix `(duid, iaid)` held last.
    pub(crate) fn last(&self, duid: &[u8], iaid: u32) -> Option<(Ipv6Addr, u8)> {
        self.history.iter().rev().find(|h| h.0 == duid && h.1 == iaid).map(|h| (h.2, h.3))
    }

    /// Removes the binding of `(duid, iaid)`, remembering its prefix.
    pub(crate) fn remove(&mut self, duid: &[u8], iaid: u32) -> bool {
        let before = self.bindings.len();
        let mut gone = Vec::new();
        self.bindings.retain(|b| {
            let hit = b.duid == duid && b.iaid == iaid;
            if hit {
                gone.push(b.clone());
            }
            !hit
        });
        self.remember(gone);
        self.bindings.len() != before
    }

    /// Removes every binding whose valid lifetime ended.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let (gone, kept): (Vec<Binding>, Vec<Binding>) =
            self.bindings.drain(..).partition(|b| b.expires.is_some_and(|e| e <= now));
        self.bindings = kept;
        let n = gone.len();
        self.remember(gone);
        n
    }

    fn remember(&mut self, gone: Vec<Binding>) {
        for b in gone {
            if let Some((p, l)) = b.prefix {
                self.history.retain(|h| !(h.0 == b.duid && h.1 == b.iaid));
                self.history.push((b.duid, b.iaid, p, l));
            }
        }
    }
}
