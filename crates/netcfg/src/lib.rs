//! The kernel's network configuration, over rtnetlink.
//!
//! `netcfg` is what `routerd` and the test lab need from the kernel: links (find, up/down,
//! MTU, rename, veth pairs, move into another network namespace, delete), IPv4 and IPv6
//! addresses (IPv6 with preferred and valid lifetimes), routes (add, replace, remove; a default
//! route through a point-to-point device with no gateway), the per-interface sysctls a router
//! needs, and a stream of link and address events. It never runs `ip`.
//!
//! Every operation works in the network namespace of the thread that created the [`Netcfg`]
//! handle (the netlink socket is bound there), so a handle made inside a namespace thread (see
//! the `netlab` crate) configures that namespace only.
//!
//! Errors are typed ([`Error`]): each names the operation ([`Op`]) and the interface (or the
//! route) it was about, and keeps the kernel's errno where there is one.
//!
//! ```no_run
//! # async fn demo() -> Result<(), netcfg::Error> {
//! let nc = netcfg::Netcfg::new()?;
//! let wan = nc.link_by_name("eth0").await?;
//! nc.set_up(&wan).await?;
//! nc.add_address(&wan, "198.51.100.2/24".parse().unwrap(), netcfg::AddrOptions::default())
//!     .await?;
//! # Ok(()) }
//! ```

mod addr;
mod error;
mod events;
mod link;
mod route;
mod sysctl;

pub use addr::{AddrOptions, Address, Lifetimes};
pub use error::{Error, Op};
pub use events::{Events, NetEvent};
pub use link::Link;
pub use route::{Route, RouteProto};
pub use sysctl::{AddrGenMode, Family};

/// A handle on the rtnetlink socket of the calling thread's network namespace.
///
/// Cheap to clone. Must be created inside a tokio runtime: the netlink connection runs as a
/// task on it, and stops when the runtime does.
#[derive(Clone)]
pub struct Netcfg {
    handle: rtnetlink::Handle,
}

impl Netcfg {
    /// Opens a netlink connection in the current thread's network namespace.
    pub fn new() -> Result<Self, Error> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|source| Error::Io {
            op: Op::Connect,
            target: String::new(),
            source,
        })?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }
}
