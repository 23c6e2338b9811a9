//! Typed errors that name the operation and the interface.

use std::fmt;
use std::io;

/// The operation that failed, for [`Error`] messages and matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Opening the netlink socket.
    Connect,
    /// Looking up or listing links.
    GetLink,
    /// Setting a link administratively up.
    SetUp,
    /// Setting a link administratively down.
    SetDown,
    /// Changing a link's MTU.
    SetMtu,
    /// Renaming a link.
    Rename,
    /// Creating a veth pair.
    CreateVeth,
    /// Moving a link into another network namespace.
    MoveToNetns,
    /// Deleting a link.
    DeleteLink,
    /// Adding (or updating) an address.
    AddAddress,
    /// Removing an address.
    DeleteAddress,
    /// Listing addresses.
    GetAddress,
    /// Adding a route.
    AddRoute,
    /// Adding or replacing a route.
    ReplaceRoute,
    /// Removing a route.
    DeleteRoute,
    /// Listing routes.
    GetRoute,
    /// Writing a sysctl.
    SetSysctl,
    /// Reading a sysctl.
    GetSysctl,
    /// Subscribing to link and address events.
    Subscribe,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Op::Connect => "open netlink socket",
            Op::GetLink => "get link",
            Op::SetUp => "set link up",
            Op::SetDown => "set link down",
            Op::SetMtu => "set mtu",
            Op::Rename => "rename link",
            Op::CreateVeth => "create veth pair",
            Op::MoveToNetns => "move link to netns",
            Op::DeleteLink => "delete link",
            Op::AddAddress => "add address",
            Op::DeleteAddress => "delete address",
            Op::GetAddress => "get addresses",
            Op::AddRoute => "add route",
            Op::ReplaceRoute => "replace route",
            Op::DeleteRoute => "delete route",
            Op::GetRoute => "get routes",
            Op::SetSysctl => "set sysctl",
            Op::GetSysctl => "get sysctl",
            Op::Subscribe => "subscribe to events",
        };
        f.write_str(s)
    }
}

/// An error from the kernel's network configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a netlink request.
    #[error("{op} {target}: {source}")]
    Netlink {
        /// What was being done.
        op: Op,
        /// The interface (or route, or address) it was done to.
        target: String,
        /// The kernel's answer (boxed: it can carry a whole netlink message).
        #[source]
        source: Box<rtnetlink::Error>,
    },
    /// No link has this name or index.
    #[error("{op} {target}: no such interface")]
    NoSuchLink {
        /// What was being done.
        op: Op,
        /// The name or `#index` looked for.
        target: String,
    },
    /// A value the kernel cannot take (a route prefix of the wrong family, say).
    #[error("{op} {target}: invalid: {reason}")]
    Invalid {
        /// What was being done.
        op: Op,
        /// What it was done to.
        target: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A system call or file (a sysctl) failed.
    #[error("{op} {target}: {source}")]
    Io {
        /// What was being done.
        op: Op,
        /// The interface or file concerned.
        target: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The errno behind this error, if the kernel gave one (positive, e.g. `libc::EEXIST`).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink { source, .. } => match source.as_ref() {
                rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| c.get().abs()),
                _ => None,
            },
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            Error::Netlink { op, .. }
            | Error::NoSuchLink { op, .. }
            | Error::Invalid { op, .. }
            | Error::Io { op, .. } => *op,
        }
    }

    pub(crate) fn netlink(op: Op, target: impl fmt::Display, source: rtnetlink::Error) -> Self {
        Error::Netlink { op, target: target.to_string(), source: Box::new(source) }
    }
}
