//! Routes: add, replace, remove, list; a default route through a point-to-point device.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::RouteMessageBuilder;

use crate::{Error, Link, Netcfg, Op};

/// Who installed a route (`rtm_protocol`), as far as the router cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteProto {
    /// Installed by the kernel (prefix routes of addresses).
    Kernel,
    /// Installed at boot or by `ip route` without a protocol.
    Boot,
    /// Installed by an administrator or daemon (what [`Netcfg::add_route`] uses).
    Static,
    /// Learned from a router advertisement.
    Ra,
    /// Learned by DHCP.
    Dhcp,
    /// Any other protocol number.
    Other(u8),
}

impl From<RouteProtocol> for RouteProto {
    fn from(p: RouteProtocol) -> Self {
        match p {
            RouteProtocol::Kernel => RouteProto::Kernel,
            RouteProtocol::Boot => RouteProto::Boot,
            RouteProtocol::Static => RouteProto::Static,
            RouteProtocol::Ra => RouteProto::Ra,
            RouteProtocol::Dhcp => RouteProto::Dhcp,
            other => RouteProto::Other(u8::from(other)),
        }
    }
}

/// A unicast route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination prefix (`0.0.0.0/0` or `::/0` for a default route).
    pub dst: IpNet,
    /// The next hop; `None` for a route straight out of a device (point-to-point, on-link).
    pub gateway: Option<IpAddr>,
    /// The output interface index.
    pub oif: Option<u32>,
    /// The metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// The routing table; [`Route::MAIN`] unless set.
    pub table: u32,
    /// Who installed it; ignored when adding (we always add as `static`).
    pub proto: RouteProto,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev #{oif}")?;
        }
        Ok(())
    }
}

impl Route {
    /// The main routing table.
    pub const MAIN: u32 = RouteHeader::RT_TABLE_MAIN as u32;

    /// A route to `dst` via a gateway.
    pub fn via(dst: IpNet, gateway: IpAddr) -> Self {
        Route {
            dst,
            gateway: Some(gateway),
            oif: None,
            metric: None,
            table: Self::MAIN,
            proto: RouteProto::Static,
        }
    }

    /// A route to `dst` straight out of `link`, with no gateway.
    pub fn dev(dst: IpNet, link: &Link) -> Self {
        Route {
            dst,
            gateway: None,
            oif: Some(link.index),
            metric: None,
            table: Self::MAIN,
            proto: RouteProto::Static,
        }
    }

    /// The IPv4 default route out of a point-to-point device such as `ppp0`.
    pub fn default_v4_dev(link: &Link) -> Self {
        Self::dev(IpNet::V4(ipnet::Ipv4Net::default()), link)
    }

    /// The IPv6 default route out of a point-to-point device such as `ppp0`.
    pub fn default_v6_dev(link: &Link) -> Self {
        Self::dev(IpNet::V6(ipnet::Ipv6Net::default()), link)
    }

    /// With a metric.
    pub fn with_metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    /// With the link it goes out of.
    pub fn with_oif(mut self, link: &Link) -> Self {
        self.oif = Some(link.index);
        self
    }

    fn message(&self, op: Op) -> Result<RouteMessage, Error> {
        let invalid = |reason: String| Error::Invalid { op, target: self.to_string(), reason };
        let dst = self.dst.trunc();
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(dst.addr(), dst.prefix_len())
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(gw) = self.gateway {
            if gw.is_ipv4() != dst.addr().is_ipv4() {
                return Err(invalid("gateway and destination are of different families".into()));
            }
            b = b.gateway(gw).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(oif) = self.oif {
            b = b.output_interface(oif);
        }
        if let Some(m) = self.metric {
            b = b.priority(m);
        }
        b = b.table_id(self.table);
        if op == Op::DeleteRoute {
            // As iproute2 does for `ip route del`: match any protocol and scope.
            b = b.protocol(RouteProtocol::Unspec).scope(RouteScope::NoWhere);
        } else if self.gateway.is_none() && dst.addr().is_ipv4() {
            // A device route with no next hop is on-link (iproute2 picks the same scope).
            b = b.scope(RouteScope::Link);
        }
        if self.gateway.is_none() && self.oif.is_none() && op != Op::DeleteRoute {
            return Err(invalid("a route needs a gateway or an output interface".into()));
        }
        Ok(b.build())
    }

    pub(crate) fn from_message(msg: &RouteMessage) -> Option<Self> {
        if msg.header.kind != RouteType::Unicast {
            return None;
        }
        let v4 = match msg.header.address_family {
            netlink_packet_route::AddressFamily::Inet => true,
            netlink_packet_route::AddressFamily::Inet6 => false,
            _ => return None,
        };
        let mut dst: IpAddr =
            if v4 { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        let mut route = Route {
            dst: IpNet::from(dst),
            gateway: None,
            oif: None,
            metric: None,
            table: u32::from(msg.header.table),
            proto: msg.header.protocol.into(),
        };
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(a) => dst = route_addr(a)?,
                RouteAttribute::Gateway(a) => route.gateway = route_addr(a),
                RouteAttribute::Oif(i) => route.oif = Some(*i),
                RouteAttribute::Priority(p) => route.metric = Some(*p),
                RouteAttribute::Table(t) => route.table = *t,
                _ => {}
            }
        }
        route.dst = IpNet::new(dst, msg.header.destination_prefix_length).ok()?;
        Some(route)
    }
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some((*v4).into()),
        RouteAddress::Inet6(v6) => Some((*v6).into()),
        _ => None,
    }
}

impl Netcfg {
    /// Adds a route; fails with `EEXIST` if an equal route is there.
    pub async fn add_route(&self, route: &Route) -> Result<(), Error> {
        let msg = route.message(Op::AddRoute)?;
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| Error::netlink(Op::AddRoute, route, e))
    }

    /// Adds a route or replaces the one to the same destination (and metric, table).
    pub async fn replace_route(&self, route: &Route) -> Result<(), Error> {
        let msg = route.message(Op::ReplaceRoute)?;
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| Error::netlink(Op::ReplaceRoute, route, e))
    }

    /// Removes a route.
    pub async fn delete_route(&self, route: &Route) -> Result<(), Error> {
        let msg = route.message(Op::DeleteRoute)?;
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(|e| Error::netlink(Op::DeleteRoute, route, e))
    }

    /// Lists the unicast routes of one family (`v6 = false` for IPv4), in all tables.
    pub async fn routes(&self, v6: bool) -> Result<Vec<Route>, Error> {
        let query = if v6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(|e| Error::netlink(Op::GetRoute, if v6 { "ipv6" } else { "ipv4" }, e))?;
        Ok(msgs.iter().filter_map(Route::from_message).collect())
    }
}
