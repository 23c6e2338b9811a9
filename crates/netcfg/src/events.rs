//! A stream of link and address events (what `ip monitor link address` shows).

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::MulticastGroup;
use rtnetlink::sys::SocketAddr;

use crate::{Address, Error, Link, Netcfg, Op};

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (up/down, carrier, MTU, name).
    LinkChanged(Link),
    /// A link went away (deleted, or moved to another namespace).
    LinkRemoved(Link),
    /// An address was added, or its lifetimes or flags changed (DAD finished, say).
    AddressAdded(Address),
    /// An address was removed (deleted, or its valid lifetime ran out).
    AddressRemoved(Address),
}

/// Receives [`NetEvent`]s for the namespace it was opened in.
pub struct Events {
    rx: futures::channel::mpsc::UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        SocketAddr,
    )>,
}

impl Events {
    /// The next event; `None` once the netlink connection is gone.
    pub async fn next(&mut self) -> Option<NetEvent> {
        use futures::StreamExt;
        while let Some((msg, _)) = self.rx.next().await {
            if let Some(ev) = decode(msg) {
                return Some(ev);
            }
        }
        None
    }
}

fn decode(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<NetEvent> {
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        return None;
    };
    match inner {
        RouteNetlinkMessage::NewLink(m) => Some(NetEvent::LinkChanged(Link::from_message(&m))),
        RouteNetlinkMessage::DelLink(m) => Some(NetEvent::LinkRemoved(Link::from_message(&m))),
        RouteNetlinkMessage::NewAddress(m) => Address::from_message(&m).map(NetEvent::AddressAdded),
        RouteNetlinkMessage::DelAddress(m) => {
            Address::from_message(&m).map(NetEvent::AddressRemoved)
        }
        _ => None,
    }
}

impl Netcfg {
    /// Subscribes to link and address events in the current thread's namespace. Call it
    /// before the changes you want to see: the kernel only sends what happens afterwards.
    pub fn events() -> Result<Events, Error> {
        let groups = [MulticastGroup::Link, MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr];
        let (conn, _handle, rx) =
            rtnetlink::new_multicast_connection(&groups).map_err(|source| Error::Io {
                op: Op::Subscribe,
                target: "link, ipv4 and ipv6 address groups".into(),
                source,
            })?;
        tokio::spawn(conn);
        Ok(Events { rx })
    }
}
