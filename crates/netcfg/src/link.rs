//! Links: look-up, up/down, MTU, rename, veth pairs, namespaces.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};

use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::{Error, Netcfg, Op};

/// A snapshot of one network interface as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The interface index (`ifindex`).
    pub index: u32,
    /// The interface name.
    pub name: String,
    /// The MTU in bytes.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// The lower layer is up (`IFF_LOWER_UP`, carrier).
    pub lower_up: bool,
    /// A point-to-point device (`IFF_POINTOPOINT`), such as a PPP TUN.
    pub point_to_point: bool,
    /// The Ethernet address, for links that have one.
    pub mac: Option<[u8; 6]>,
    /// The link kind (`veth`, `tun`, `bridge` ...) when the kernel reports one.
    pub kind: Option<String>,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (#{})", self.name, self.index)
    }
}

impl Link {
    pub(crate) fn from_message(msg: &LinkMessage) -> Self {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mtu: 0,
            admin_up: msg.header.flags.contains(LinkFlags::Up),
            lower_up: msg.header.flags.contains(LinkFlags::LowerUp),
            point_to_point: msg.header.flags.contains(LinkFlags::Pointopoint),
            mac: None,
            kind: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name.clone_from(name),
                LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
                LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
                LinkAttribute::LinkInfo(infos) => {
                    link.kind = infos.iter().find_map(|i| match i {
                        LinkInfo::Kind(k) => Some(k.to_string()),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        link
    }
}

impl Netcfg {
    /// Finds a link by name.
    pub async fn link_by_name(&self, name: &str) -> Result<Link, Error> {
        let req = self.handle.link().get().match_name(name.to_string());
        self.one_link(req, name.to_string()).await
    }

    /// Finds a link by index.
    pub async fn link_by_index(&self, index: u32) -> Result<Link, Error> {
        let req = self.handle.link().get().match_index(index);
        self.one_link(req, format!("#{index}")).await
    }

    async fn one_link(
        &self,
        req: rtnetlink::LinkGetRequest,
        target: String,
    ) -> Result<Link, Error> {
        let mut stream = req.execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Link::from_message(&msg)),
            Ok(None) => Err(Error::NoSuchLink { op: Op::GetLink, target }),
            Err(e) => {
                let err = Error::netlink(Op::GetLink, &target, e);
                if err.errno() == Some(19) {
                    // ENODEV: the kernel's way of saying the name or index is unknown.
                    Err(Error::NoSuchLink { op: Op::GetLink, target })
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Lists every link in this namespace.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink(Op::GetLink, "(all)", e))?;
        Ok(msgs.iter().map(Link::from_message).collect())
    }

    async fn set_link(&self, op: Op, link: &Link, msg: LinkMessage) -> Result<(), Error> {
        self.handle.link().set(msg).execute().await.map_err(|e| Error::netlink(op, link, e))
    }

    fn builder(link: &Link) -> LinkMessageBuilder<LinkUnspec> {
        LinkUnspec::new_with_index(link.index)
    }

    /// Sets a link administratively up.
    pub async fn set_up(&self, link: &Link) -> Result<(), Error> {
        self.set_link(Op::SetUp, link, Self::builder(link).up().build()).await
    }

    /// Sets a link administratively down.
    pub async fn set_down(&self, link: &Link) -> Result<(), Error> {
        self.set_link(Op::SetDown, link, Self::builder(link).down().build()).await
    }

    /// Sets a link's MTU.
    pub async fn set_mtu(&self, link: &Link, mtu: u32) -> Result<(), Error> {
        self.set_link(Op::SetMtu, link, Self::builder(link).mtu(mtu).build()).await
    }

    /// Renames a link (the kernel wants it down while it is renamed).
    pub async fn rename(&self, link: &Link, new_name: &str) -> Result<(), Error> {
        if new_name.is_empty() || new_name.len() > 15 {
            return Err(Error::Invalid {
                op: Op::Rename,
                target: link.to_string(),
                reason: format!("interface name {new_name:?} must be 1 to 15 bytes"),
            });
        }
        self.set_link(Op::Rename, link, Self::builder(link).name(new_name).build()).await
    }

    /// Creates a veth pair and returns both ends (down, as the kernel creates them).
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<(Link, Link), Error> {
        let target = format!("{name}/{peer}");
        self.handle
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(Op::CreateVeth, &target, e))?;
        Ok((self.link_by_name(name).await?, self.link_by_name(peer).await?))
    }

    /// Moves a link into the network namespace `netns` (an open `/proc/.../ns/net` or
    /// `/run/netns/NAME` file). The link keeps its name there unless that name is taken.
    pub async fn move_to_netns(&self, link: &Link, netns: BorrowedFd<'_>) -> Result<(), Error> {
        let msg = Self::builder(link).setns_by_fd(netns.as_raw_fd()).build();
        self.set_link(Op::MoveToNetns, link, msg).await
    }

    /// Deletes a link (for a veth, both ends go).
    pub async fn delete_link(&self, link: &Link) -> Result<(), Error> {
        self.handle
            .link()
            .del(link.index)
            .execute()
            .await
            .map_err(|e| Error::netlink(Op::DeleteLink, link, e))
    }
}
