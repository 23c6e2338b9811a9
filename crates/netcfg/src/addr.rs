//! IPv4 and IPv6 addresses, IPv6 with preferred and valid lifetimes.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, CacheInfo,
};
use rtnetlink::AddressMessageBuilder;

use crate::{Error, Link, Netcfg, Op};

/// Address lifetimes in seconds, as the kernel keeps them; [`Lifetimes::INFINITE`] is forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Seconds the address stays preferred (new connections may use it).
    pub preferred: u32,
    /// Seconds the address stays valid (after which the kernel removes it).
    pub valid: u32,
}

impl Lifetimes {
    /// The kernel's "forever" (`INFINITY_LIFE_TIME`).
    pub const INFINITE: u32 = u32::MAX;
    /// A permanent address.
    pub const FOREVER: Lifetimes = Lifetimes { preferred: Self::INFINITE, valid: Self::INFINITE };
}

/// How to add an address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrOptions {
    /// Lifetimes (IPv6 addresses from a delegated prefix); `None` is permanent.
    pub lifetimes: Option<Lifetimes>,
    /// Skip IPv6 duplicate address detection (`IFA_F_NODAD`): usable at once.
    pub nodad: bool,
    /// Do not add the prefix route for the address's subnet (`IFA_F_NOPREFIXROUTE`).
    pub noprefixroute: bool,
}

/// An address as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The interface index it is on.
    pub index: u32,
    /// The address and its prefix length.
    pub net: IpNet,
    /// Remaining lifetimes in seconds (IPv4 and permanent addresses report infinite).
    pub lifetimes: Lifetimes,
    /// IPv6 duplicate address detection has not finished yet.
    pub tentative: bool,
    /// The preferred lifetime has run out.
    pub deprecated: bool,
    /// Duplicate address detection failed.
    pub dad_failed: bool,
}

impl Address {
    pub(crate) fn from_message(msg: &AddressMessage) -> Option<Self> {
        let mut local = None;
        let mut address = None;
        let mut lifetimes = Lifetimes::FOREVER;
        let mut flags = AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits()));
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(a) => local = Some(*a),
                AddressAttribute::Address(a) => address = Some(*a),
                AddressAttribute::CacheInfo(ci) => {
                    lifetimes = Lifetimes { preferred: ci.ifa_preferred, valid: ci.ifa_valid };
                }
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links.
        let ip: IpAddr = local.or(address)?;
        let net = IpNet::new(ip, msg.header.prefix_len).ok()?;
        Some(Address {
            index: msg.header.index,
            net,
            lifetimes,
            tentative: flags.contains(AddressFlags::Tentative),
            deprecated: flags.contains(AddressFlags::Deprecated),
            dad_failed: flags.contains(AddressFlags::Dadfailed),
        })
    }
}

fn message(link: &Link, net: IpNet) -> AddressMessage {
    match net {
        IpNet::V4(n) => AddressMessageBuilder::<std::net::Ipv4Addr>::new()
            .index(link.index)
            .address(n.addr(), n.prefix_len())
            .build(),
        IpNet::V6(n) => AddressMessageBuilder::<std::net::Ipv6Addr>::new()
            .index(link.index)
            .address(n.addr(), n.prefix_len())
            .build(),
    }
}

impl Netcfg {
    /// Adds an address to a link, or updates it (its lifetimes, say) when it is already there.
    pub async fn add_address(
        &self,
        link: &Link,
        net: IpNet,
        opts: AddrOptions,
    ) -> Result<(), Error> {
        let target = format!("{net} on {link}");
        if net.addr().is_multicast() || net.addr().is_unspecified() {
            return Err(Error::Invalid {
                op: Op::AddAddress,
                target,
                reason: "not a unicast address".into(),
            });
        }
        let mut req = self.handle.address().add(link.index, net.addr(), net.prefix_len()).replace();
        let msg = req.message_mut();
        let mut flags = AddressFlags::empty();
        if opts.nodad {
            flags |= AddressFlags::Nodad;
            msg.header.flags |= AddressHeaderFlags::Nodad;
        }
        if opts.noprefixroute {
            flags |= AddressFlags::Noprefixroute;
        }
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        if let Some(l) = opts.lifetimes {
            // CacheInfo is #[non_exhaustive]: build it from Default, then set the lifetimes.
            let mut ci = CacheInfo::default();
            ci.ifa_preferred = l.preferred.min(l.valid);
            ci.ifa_valid = l.valid;
            msg.attributes.push(AddressAttribute::CacheInfo(ci));
        }
        req.execute().await.map_err(|e| Error::netlink(Op::AddAddress, target, e))
    }

    /// Removes an address from a link.
    pub async fn delete_address(&self, link: &Link, net: IpNet) -> Result<(), Error> {
        self.handle
            .address()
            .del(message(link, net))
            .execute()
            .await
            .map_err(|e| Error::netlink(Op::DeleteAddress, format!("{net} on {link}"), e))
    }

    /// Lists the addresses of one link, or of every link when `link` is `None`.
    pub async fn addresses(&self, link: Option<&Link>) -> Result<Vec<Address>, Error> {
        let mut req = self.handle.address().get();
        if let Some(l) = link {
            req = req.set_link_index_filter(l.index);
        }
        let target = link.map_or_else(|| "(all)".to_string(), ToString::to_string);
        let msgs: Vec<AddressMessage> = req
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink(Op::GetAddress, target, e))?;
        Ok(msgs
            .iter()
            .filter(|m| matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6))
            .filter_map(Address::from_message)
            .collect())
    }
}

impl Netcfg {
    /// Waits (polling every 100 ms, at most `timeout`) until `ifname` exists and has a usable
    /// IPv6 link-local address (DAD finished and passed): what DHCPv6 and router
    /// advertisements are sent from. `None` if that did not happen in time.
    pub async fn wait_link_local(
        &self,
        ifname: &str,
        timeout: std::time::Duration,
    ) -> Option<(Link, std::net::Ipv6Addr)> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(link) = self.link_by_name(ifname).await {
                let addrs = self.addresses(Some(&link)).await.unwrap_or_default();
                let ll = addrs.iter().find_map(|a| match a.net.addr() {
                    IpAddr::V6(v6)
                        if v6.is_unicast_link_local() && !a.tentative && !a.dad_failed =>
                    {
                        Some(v6)
                    }
                    _ => None,
                });
                if let Some(ll) = ll {
                    return Some((link, ll));
                }
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
