//! The router's firewall and NAT: nftables over netlink, replaced atomically.
//!
//! - [`model`]: the policy. [`FwConfig`] (zones, port forwards, pinholes, open ports) and
//!   [`FwState`] (the public IPv4; pinholes match by interface-id suffix, so the delegated
//!   prefix is not an input and a renumbering does not re-apply the ruleset) in, a [`Ruleset`] out, safe by default.
//! - [`ir`]: the typed ruleset, and its `nft -f` text.
//! - [`Firewall::apply`]: one netlink transaction (nftnl + mnl) that replaces the router's
//!   `inet` table whole. The kernel applies all of it or nothing; on failure the previous
//!   ruleset stays in force and the error names the rule the kernel refused.
//!
//! The fast path ([`FwConfig::fast_path`], for Ethernet WANs) is an nftables flowtable that
//! established connections go into: their packets then pass from one interface to the other
//! at the ingress hook, past the forward and NAT chains. Where the kernel has no
//! `nf_flow_table`, [`Firewall::update_or_without_fast_path`] applies the rest without it.
//!
//! Re-applying (on a new public address or prefix) replaces the table but not the
//! connection tracking state, so established connections and their NAT mappings go on.
//!
//! Not done here: rate limits and logging (nft `limit`, `log`) are not used yet; ICMPv6 is
//! accepted by type without RFC 4890's hop-limit checks on neighbour discovery.

mod counters;
pub mod ir;
pub mod model;
mod netlink;

pub use counters::{ElementCounter, RuleCounter};

pub use ir::{Flowtable, Ruleset};
pub use model::{
    ExtraWan, FwConfig, FwState, Lan, OpenPort, Pinhole, PortForward, Proto, Split, build,
    fast_path_devices,
};

/// Errors of the firewall.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration or ruleset cannot be expressed (a bad name, a rule out of order).
    #[error("invalid firewall configuration: {0}")]
    Invalid(String),
    /// The kernel refused the transaction; nothing of it was applied.
    #[error("the kernel refused {what}: {source}")]
    Rejected {
        /// The message (table, chain or rule) it refused.
        what: String,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// Talking to the kernel failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the kernel refused the ruleset's flowtable (a kernel without `nf_flow_table`,
    /// or one of its devices not there): nothing was applied, and the rest of the ruleset
    /// was not looked at.
    pub fn refused_flowtable(&self) -> bool {
        matches!(self, Error::Rejected { what, .. } if what.starts_with(netlink::FLOWTABLE_ADD))
    }
}

/// What [`Firewall::update_or_without_fast_path`] put in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The ruleset in force: the one asked for, or that one without its flowtable.
    pub ruleset: Ruleset,
    /// What was done.
    pub update: Update,
    /// Why the kernel refused the flowtable, when it did.
    pub fast_path_refused: Option<String>,
}

/// What [`Firewall::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Nothing differed.
    Unchanged,
    /// Only port forwards changed: elements added and removed (a changed forward is both).
    Forwards {
        /// Elements added.
        added: usize,
        /// Elements removed.
        removed: usize,
    },
    /// The table was replaced whole.
    Replaced,
}

/// Applies rulesets in the calling thread's network namespace.
pub struct Firewall;

impl Firewall {
    /// Replaces the ruleset's table atomically with `rs`. Blocking (one netlink round trip;
    /// a few milliseconds for thousands of rules).
    pub fn apply(rs: &Ruleset) -> Result<(), Error> {
        netlink::apply(rs)
    }

    /// Brings the kernel from `old` (the ruleset last applied, if any) to `new`: when only
    /// port forwards changed, one transaction of map element deletions and additions (the
    /// rest of the table and every other forward's counter untouched); otherwise the table
    /// replaced whole ([`Firewall::apply`]), as also when the element update is refused
    /// (the table was changed from outside).
    pub fn update(old: Option<&Ruleset>, new: &Ruleset) -> Result<Update, Error> {
        if let Some(diff) = old.and_then(|o| netlink::element_diff(o, new)) {
            let (removed, added) =
                diff.iter().fold((0, 0), |(r, a), (_, gone, add)| (r + gone.len(), a + add.len()));
            if removed + added == 0 {
                return Ok(Update::Unchanged);
            }
            if netlink::update_elements(&new.table, &diff).is_ok() {
                return Ok(Update::Forwards { added, removed });
            }
        }
        netlink::apply(new)?;
        Ok(Update::Replaced)
    }

    /// [`Firewall::update`]; where the kernel refuses the ruleset's flowtable, the same
    /// ruleset without it (and so without the fast path): the firewall is never left
    /// unapplied for want of the fast path.
    pub fn update_or_without_fast_path(
        old: Option<&Ruleset>,
        new: Ruleset,
    ) -> Result<Applied, Error> {
        match Self::update(old, &new) {
            Ok(update) => Ok(Applied { ruleset: new, update, fast_path_refused: None }),
            Err(e) if e.refused_flowtable() => {
                let ruleset = new.without_flowtable();
                let update = Self::update(old, &ruleset)?;
                Ok(Applied { ruleset, update, fast_path_refused: Some(e.to_string()) })
            }
            Err(e) => Err(e),
        }
    }

    /// The packet and byte counters of every counted rule of the router's table (the
    /// "dropped by policy" rules, port forwards, pinholes, open ports), for `routerctl`.
    pub fn counters(table: &str) -> Result<Vec<RuleCounter>, Error> {
        counters::read(table)
    }

    /// The counter of every port forward (an element of the forward maps), by map and
    /// port: the connections each forward took. Name them with [`model::forward_of`].
    pub fn forward_counters(table: &str) -> Result<Vec<ElementCounter>, Error> {
        let mut all = counters::read_map(table, model::PORT_MAP_TCP)?;
        all.extend(counters::read_map(table, model::PORT_MAP_UDP)?);
        Ok(all)
    }
}
