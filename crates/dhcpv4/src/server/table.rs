//! The lease table: one binding per address that was ever handed out, indexed by client,
//! name, deadline and free-since, so that allocation, stickiness and expiry are cheap.
//!
//! An address is *fresh* (never leased: taken from a cursor over the pool), *held* (Offered,
//! Bound or Declined, with a deadline) or *free* (released or expired, remembered for the
//! client that had it). New clients get fresh addresses first, then the address that has
//! been free the longest, so a returning client finds its old address for as long as the
//! pool allows (RFC 2131 §4.3.1: "the client's previous address as recorded in the
//! client's (now expired or released) binding, if that address is in the server's pool").

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;

use crate::server::config::PoolRange;

/// A hardware address (chaddr, `hlen` bytes of it) with its type (`htype`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HwAddr {
    /// ARP hardware type (1: Ethernet).
    pub htype: u8,
    len: u8,
    bytes: [u8; 16],
}

impl HwAddr {
    /// `None` if `addr` is longer than 16 bytes.
    pub fn new(htype: u8, addr: &[u8]) -> Option<Self> {
        let mut bytes = [0; 16];
        bytes.get_mut(..addr.len())?.copy_from_slice(addr);
        Some(HwAddr { htype, len: addr.len() as u8, bytes })
    }

    /// An Ethernet MAC address.
    pub fn ethernet(mac: [u8; 6]) -> Self {
        let mut bytes = [0; 16];
        for (d, s) in bytes.iter_mut().zip(mac) {
            *d = s;
        }
        HwAddr { htype: 1, len: 6, bytes }
    }

    /// The address bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl fmt::Debug for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Who a binding belongs to (RFC 2131 §4.2: the client identifier if the client sent one,
/// else chaddr).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// Client identifier (option 61).
    Id(Vec<u8>),
    /// Hardware address.
    Hw(HwAddr),
}

impl ClientKey {
    /// The key of a client that sent `client_id` (empty: none) from `hw`.
    pub fn of(client_id: &[u8], hw: HwAddr) -> Self {
        if client_id.is_empty() { ClientKey::Hw(hw) } else { ClientKey::Id(client_id.to_vec()) }
    }
}

/// Where an address is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Set aside for a client that was sent an OFFER, until `until`.
    Offered,
    /// Leased until `until`.
    Bound,
    /// Declined by its client: out of use until `until`.
    Declined,
    /// Released or expired at `until`; reusable, remembered for its client.
    Free,
}

/// What the table knows about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Owner.
    pub key: ClientKey,
    /// Owner's chaddr.
    pub hw: HwAddr,
    /// Owner's client identifier (empty: none).
    pub client_id: Vec<u8>,
    /// The name it was given.
    pub hostname: Option<String>,
    /// State.
    pub state: State,
    /// Unix seconds: the deadline (held states) or the time it became free.
    pub until: u64,
}

/// The table. Addresses outside the pool (reservations) live in it too, never in `free`.
#[derive(Debug, Clone)]
pub struct Table {
    pool: PoolRange,
    /// Next never-leased candidate in the pool (`u64` so it can pass the last address).
    cursor: u64,
    reserved: HashSet<Ipv4Addr>,
    /// Every binding, in the order first set (never removed: an address keeps its binding
    /// until it is reused), dense so that a big table costs the bindings and one small index.
    leases: Vec<(Ipv4Addr, Binding)>,
    /// Where each address's binding is in `leases`.
    index: HashMap<Ipv4Addr, u32>,
    by_client: HashMap<ClientKey, Ipv4Addr>,
    by_name: HashMap<String, Ipv4Addr>,
    free: BTreeSet<(u64, Ipv4Addr)>,
    deadlines: BTreeSet<(u64, Ipv4Addr)>,
}

impl Table {
    /// An empty table over `pool`; `reserved` addresses are never allocated dynamically.
    pub fn new(pool: PoolRange, reserved: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        Table {
            pool,
            cursor: u64::from(u32::from(pool.first)),
            reserved: reserved.into_iter().collect(),
            leases: Vec::new(),
            index: HashMap::new(),
            by_client: HashMap::new(),
            by_name: HashMap::new(),
            free: BTreeSet::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// Room for `n` more bindings in every index (a restore of `n` records grows each map
    /// once instead of doubling it twenty times).
    pub fn reserve(&mut self, n: usize) {
        self.leases.reserve(n);
        self.index.reserve(n);
        self.by_client.reserve(n);
        self.by_name.reserve(n);
    }

    /// The binding of `a`.
    pub fn get(&self, a: Ipv4Addr) -> Option<&Binding> {
        self.slot(a).map(|(_, b)| b)
    }

    fn slot(&self, a: Ipv4Addr) -> Option<&(Ipv4Addr, Binding)> {
        self.leases.get(*self.index.get(&a)? as usize)
    }

    /// The address `key` had last, and its binding.
    pub fn of_client(&self, key: &ClientKey) -> Option<(Ipv4Addr, &Binding)> {
        let a = *self.by_client.get(key)?;
        self.get(a).filter(|b| &b.key == key).map(|b| (a, b))
    }

    /// Who holds `name` (an Offered or Bound binding).
    pub fn name_holder(&self, name: &str) -> Option<&ClientKey> {
        let a = self.by_name.get(name)?;
        self.get(*a).filter(|b| b.hostname.as_deref() == Some(name)).map(|b| &b.key)
    }

    /// Whether `a` is a reservation's address.
    pub fn is_reserved(&self, a: Ipv4Addr) -> bool {
        self.reserved.contains(&a)
    }

    /// Every binding.
    pub fn iter(&self) -> impl Iterator<Item = (&Ipv4Addr, &Binding)> {
        self.leases.iter().map(|(a, b)| (a, b))
    }

    /// Number of bindings (every address ever handed out and not yet reused).
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether no address was ever handed out.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Sets the binding of `a`, keeping every index right.
    pub fn set(&mut self, a: Ipv4Addr, b: Binding) {
        self.unindex(a);
        match b.state {
            State::Free if self.pool.contains(a) && !self.reserved.contains(&a) => {
                self.free.insert((b.until, a));
            }
            State::Free => {}
            State::Offered | State::Bound | State::Declined => {
                self.deadlines.insert((b.until, a));
            }
        }
        if let (Some(n), State::Offered | State::Bound) = (&b.hostname, b.state) {
            self.by_name.insert(n.clone(), a);
        }
        self.by_client.insert(b.key.clone(), a);
        match self.index.get(&a).and_then(|&i| self.leases.get_mut(i as usize)) {
            Some(slot) => slot.1 = b,
            None => {
                self.index.insert(a, self.leases.len() as u32);
                self.leases.push((a, b));
            }
        }
    }

    /// Changes the state and deadline of `a`'s binding; false if there is none.
    pub fn set_state(&mut self, a: Ipv4Addr, state: State, until: u64) -> bool {
        let Some(mut b) = self.get(a).cloned() else {
            return false;
        };
        b.state = state;
        b.until = until;
        self.set(a, b);
        true
    }

    fn unindex(&mut self, a: Ipv4Addr) {
        let Some(old) =
            self.index.get(&a).and_then(|&i| self.leases.get(i as usize)).map(|(_, b)| b)
        else {
            return;
        };
        self.deadlines.remove(&(old.until, a));
        self.free.remove(&(old.until, a));
        if self.by_client.get(&old.key) == Some(&a) {
            self.by_client.remove(&old.key);
        }
        if let Some(n) = &old.hostname {
            if self.by_name.get(n) == Some(&a) {
                self.by_name.remove(n);
            }
        }
    }

    /// A never-leased pool address, or the one free the longest; `None`: the pool is full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        self.take_fresh().or_else(|| self.free.first().map(|&(_, a)| a))
    }

    fn take_fresh(&mut self) -> Option<Ipv4Addr> {
        let last = u64::from(u32::from(self.pool.last));
        while self.cursor <= last {
            let a = Ipv4Addr::from(u32::try_from(self.cursor).ok()?);
            self.cursor += 1;
            if !self.index.contains_key(&a) && !self.reserved.contains(&a) {
                return Some(a);
            }
        }
        None
    }

    /// The earliest deadline of a held binding.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|&(t, _)| t)
    }

    /// A held address whose deadline is at or before `now`.
    pub fn due(&self, now: u64) -> Option<Ipv4Addr> {
        self.deadlines.first().filter(|&&(t, _)| t <= now).map(|&(_, a)| a)
    }
}
