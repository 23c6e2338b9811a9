//! The per-interface sysctls a router needs, under `/proc/sys/net/ipv{4,6}/conf/IFNAME/`.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens the file, so these
//! apply to the same namespace as the [`Netcfg`] handle made on that thread.

use std::path::PathBuf;

use crate::{Error, Netcfg, Op};

/// An address family, for the sysctls that exist for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `net.ipv4`.
    V4,
    /// `net.ipv6`.
    V6,
}

/// How the kernel makes IPv6 link-local (and SLAAC) interface identifiers (`addr_gen_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrGenMode {
    /// EUI-64 from the MAC address (0).
    Eui64 = 0,
    /// No link-local address at all (1): the daemon assigns one itself.
    None = 1,
    /// RFC 7217 stable privacy identifiers (2).
    StablePrivacy = 2,
    /// Random identifiers (3).
    Random = 3,
}

fn path(family: Family, ifname: &str, key: &str) -> Result<PathBuf, Error> {
    let ok = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s != "." && s != ".." && !s.contains(['/', '\0'])
    };
    if !ok(ifname) || !ok(key) {
        return Err(Error::Invalid {
            op: Op::SetSysctl,
            target: format!("{ifname}/{key}"),
            reason: "not an interface name or sysctl key".into(),
        });
    }
    let fam = match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    };
    Ok(PathBuf::from(format!("/proc/sys/net/{fam}/conf/{ifname}/{key}")))
}

impl Netcfg {
    /// Writes `net.ipv{4,6}.conf.IFNAME.KEY` unless it already holds `value`. `ifname` may also
    /// be `all` or `default`.
    pub fn set_sysctl(
        &self,
        family: Family,
        ifname: &str,
        key: &str,
        value: &str,
    ) -> Result<(), Error> {
        let p = path(family, ifname, key)?;
        // Nothing to write when it already holds the value: a container's /proc/sys is
        // read-only, and its runtime sets the sysctls a daemon needs beforehand.
        if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == value) {
            return Ok(());
        }
        std::fs::write(&p, value).map_err(|source| Error::Io {
            op: Op::SetSysctl,
            target: p.display().to_string(),
            source,
        })
    }

    /// Reads `net.ipv{4,6}.conf.IFNAME.KEY`, trimmed.
    pub fn sysctl(&self, family: Family, ifname: &str, key: &str) -> Result<String, Error> {
        let p = path(family, ifname, key)?;
        std::fs::read_to_string(&p).map(|s| s.trim().to_string()).map_err(|source| Error::Io {
            op: Op::GetSysctl,
            target: p.display().to_string(),
            source,
        })
    }

    /// Turns forwarding on or off for one interface and family.
    ///
    /// IPv4 forwards a packet when its input interface has forwarding on. IPv6 forwards only
    /// when `all` has it on; the per-interface value then chooses router behaviour (no SLAAC,
    /// no RA acceptance unless `accept_ra` is 2) on that interface.
    pub fn set_forwarding(&self, ifname: &str, family: Family, on: bool) -> Result<(), Error> {
        self.set_sysctl(family, ifname, "forwarding", if on { "1" } else { "0" })
    }

    /// Sets IPv6 `accept_ra`: 0 never, 1 unless forwarding, 2 even when forwarding (a router's
    /// WAN that learns its default route from the ISP's RA).
    pub fn set_accept_ra(&self, ifname: &str, value: u8) -> Result<(), Error> {
        if value > 2 {
            return Err(Error::Invalid {
                op: Op::SetSysctl,
                target: format!("{ifname}/accept_ra"),
                reason: format!("{value} is not 0, 1 or 2"),
            });
        }
        self.set_sysctl(Family::V6, ifname, "accept_ra", &value.to_string())
    }

    /// Turns IPv6 off (`true`) or on for one interface.
    pub fn set_disable_ipv6(&self, ifname: &str, disable: bool) -> Result<(), Error> {
        self.set_sysctl(Family::V6, ifname, "disable_ipv6", if disable { "1" } else { "0" })
    }

    /// Sets how IPv6 interface identifiers are made on one interface.
    pub fn set_addr_gen_mode(&self, ifname: &str, mode: AddrGenMode) -> Result<(), Error> {
        self.set_sysctl(Family::V6, ifname, "addr_gen_mode", &(mode as u8).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rejects_traversal() {
        assert!(path(Family::V6, "..", "forwarding").is_err());
        assert!(path(Family::V6, "eth0/../../x", "forwarding").is_err());
        assert!(path(Family::V4, "eth0", "").is_err());
        let p = path(Family::V6, "eth0", "accept_ra").ok();
        assert_eq!(p, Some(PathBuf::from("/proc/sys/net/ipv6/conf/eth0/accept_ra")));
    }
}
