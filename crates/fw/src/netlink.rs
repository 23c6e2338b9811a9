//! A [`Ruleset`] as one nftables netlink transaction (nftnl + mnl), and the kernel's answer.
//!
//! The batch creates the table if it is missing, deletes it, and builds it anew with all its
//! chains and rules: the kernel applies all of it or none of it, so there is never a moment
//! with no rules or half of them, and a batch the kernel refuses leaves the previous ruleset
//! in force. Expressions are written as `nft` 1.0 writes them for the same text (the tests
//! compare both), including those the nftnl crate has no type for (`rt`, `byteorder`,
//! `exthdr` for MSS clamping, NAT with port ranges).

use std::ffi::{CStr, CString};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

use ipnet::IpNet;
use nftnl::expr::{Expression, Verdict};
use nftnl::nftnl_sys as sys;
use nftnl::{Batch, MsgType, ProtoFamily, Table};

use crate::Error;
use crate::ir::{
    Action, ChainKind, Flowtable, Hook, IpVersion, L4, Match, Policy, PortMap, PortMapping, Rule,
    Ruleset,
};

/// Kernel constants (include/uapi/linux/netfilter/nf_tables.h) that the libc crate lacks.
mod k {
    pub const REG_1: u32 = 0x01;
    pub const REG_2: u32 = 0x02;
    pub const PAYLOAD_NETWORK: u32 = 0x01;
    pub const PAYLOAD_TRANSPORT: u32 = 0x02;
    pub const META_IIFNAME: u32 = 0x06;
    pub const META_OIFNAME: u32 = 0x07;
    pub const META_NFPROTO: u32 = 0x0f;
    pub const META_L4PROTO: u32 = 0x10;
    pub const CT_STATE: u32 = 0x00;
    pub const CT_STATUS: u32 = 0x02;
    pub const CMP_EQ: u32 = 0x00;
    pub const CMP_NEQ: u32 = 0x01;
    pub const RT_TCPMSS: u32 = 0x03;
    pub const BYTEORDER_HTON: u32 = 0x01;
    pub const EXTHDR_OP_TCPOPT: u32 = 0x01;
    pub const TCPOPT_MAXSEG: u32 = 0x02;
    pub const NAT_DNAT: u32 = 0x01;
    pub const NFPROTO_IPV4: u8 = 0x02;
    pub const NFPROTO_IPV6: u8 = 0x0a;
    /// `NF_NAT_RANGE_MAP_IPS`.
    pub const NAT_MAP_IPS: u32 = 0x01;
    /// `NF_NAT_RANGE_PROTO_SPECIFIED`.
    pub const NAT_PROTO_SPECIFIED: u32 = 0x02;
    /// `IPS_DST_NAT` in `ct status`.
    pub const CT_STATUS_DNAT: u32 = 0x20;
    pub const TCP_FLAG_SYN: u8 = 0x02;
    pub const IFNAMSIZ: usize = 16;
    /// `NFT_REG32_01`: the second 32-bit register, where a map's `ipv4_addr . inet_service`
    /// data puts the port.
    pub const REG32_01: u32 = 0x09;
    /// nft's datatype ids: `ipv4_addr`, `inet_service`, and the bits per member of a
    /// concatenation's type (`TYPE_BITS`).
    pub const TYPE_IPADDR: u32 = 7;
    pub const TYPE_INET_SERVICE: u32 = 13;
    pub const TYPE_BITS: u32 = 6;
    pub const NLMSG_ERROR: u16 = 0x02;
    /// `NFT_MSG_NEWFLOWTABLE`, `NFT_MSG_DELFLOWTABLE`.
    pub const MSG_NEWFLOWTABLE: u16 = 22;
    pub const MSG_DELFLOWTABLE: u16 = 24;
    /// `NF_NETDEV_INGRESS`: a flowtable's hook.
    pub const NETDEV_INGRESS: u32 = 0;
}

/// Any nftables expression, by name and attributes: what the nftnl crate's typed
/// expressions do, for every expression the ruleset uses.
struct Raw {
    name: &'static CStr,
    u32s: Vec<(u32, u32)>,
    data: Vec<(u32, Vec<u8>)>,
}

impl Raw {
    fn new(name: &'static CStr) -> Self {
        Raw { name, u32s: Vec::new(), data: Vec::new() }
    }

    fn u32(mut self, attr: u32, v: u32) -> Self {
        self.u32s.push((attr, v));
        self
    }

    fn data(mut self, attr: u32, v: &[u8]) -> Self {
        self.data.push((attr, v.to_vec()));
        self
    }
}

impl Expression for Raw {
    fn to_expr(&self, _rule: &nftnl::Rule<'_>) -> NonNull<sys::nftnl_expr> {
        // SAFETY: nftnl_expr_alloc returns an owned expression or NULL (handled); the setters
        // copy the values (data by pointer and length from a live Vec) into it.
        unsafe {
            let Some(e) = NonNull::new(sys::nftnl_expr_alloc(self.name.as_ptr())) else {
                // Out of memory for a few bytes: do what the nftnl crate and std do.
                std::process::abort()
            };
            for (attr, v) in &self.u32s {
                sys::nftnl_expr_set_u32(e.as_ptr(), *attr as u16, *v);
            }
            for (attr, v) in &self.data {
                sys::nftnl_expr_set(e.as_ptr(), *attr as u16, v.as_ptr().cast(), v.len() as u32);
            }
            e
        }
    }
}

fn meta(key: u32) -> Raw {
    Raw::new(c"meta").u32(sys::NFTNL_EXPR_META_KEY, key).u32(sys::NFTNL_EXPR_META_DREG, k::REG_1)
}

fn cmp(op: u32, data: &[u8]) -> Raw {
    Raw::new(c"cmp")
        .u32(sys::NFTNL_EXPR_CMP_SREG, k::REG_1)
        .u32(sys::NFTNL_EXPR_CMP_OP, op)
        .data(sys::NFTNL_EXPR_CMP_DATA, data)
}

fn payload(base: u32, offset: u32, len: u32) -> Raw {
    Raw::new(c"payload")
        .u32(sys::NFTNL_EXPR_PAYLOAD_DREG, k::REG_1)
        .u32(sys::NFTNL_EXPR_PAYLOAD_BASE, base)
        .u32(sys::NFTNL_EXPR_PAYLOAD_OFFSET, offset)
        .u32(sys::NFTNL_EXPR_PAYLOAD_LEN, len)
}

fn bitwise(mask: &[u8]) -> Raw {
    Raw::new(c"bitwise")
        .u32(sys::NFTNL_EXPR_BITWISE_SREG, k::REG_1)
        .u32(sys::NFTNL_EXPR_BITWISE_DREG, k::REG_1)
        .u32(sys::NFTNL_EXPR_BITWISE_LEN, mask.len() as u32)
        .data(sys::NFTNL_EXPR_BITWISE_MASK, mask)
        .data(sys::NFTNL_EXPR_BITWISE_XOR, &vec![0; mask.len()])
}

fn ct(key: u32) -> Raw {
    Raw::new(c"ct").u32(sys::NFTNL_EXPR_CT_KEY, key).u32(sys::NFTNL_EXPR_CT_DREG, k::REG_1)
}

fn immediate(reg: u32, data: &[u8]) -> Raw {
    Raw::new(c"immediate").u32(sys::NFTNL_EXPR_IMM_DREG, reg).data(sys::NFTNL_EXPR_IMM_DATA, data)
}

fn ifname(name: &str) -> [u8; k::IFNAMSIZ] {
    let mut b = [0u8; k::IFNAMSIZ];
    for (d, s) in b.iter_mut().zip(name.bytes().take(k::IFNAMSIZ - 1)) {
        *d = s;
    }
    b
}

/// A [`PortMap`]'s key: a port, network order (nft's `inet_service`).
struct Port(u16);

impl nftnl::set::SetKey for Port {
    const TYPE: u32 = k::TYPE_INET_SERVICE;
    const LEN: u32 = 2;

    fn data(&self) -> Box<[u8]> {
        Box::new(self.0.to_be_bytes())
    }
}

/// A [`PortMap`] as an nftnl set: a map (`NFT_SET_MAP`) from `inet_service` to
/// `ipv4_addr . inet_service` (8 bytes: the address, then the port in a 32-bit register of
/// its own), with a `counter` on every element, and its elements.
fn port_map<'t>(
    m: &PortMap,
    id: u32,
    table: &'t Table,
) -> Result<nftnl::set::Set<'t, Port>, Error> {
    port_map_with(m, &m.elements, id, table)
}

/// [`port_map`] holding only `elements` (for element messages: an update).
fn port_map_with<'t>(
    m: &PortMap,
    elements: &[PortMapping],
    id: u32,
    table: &'t Table,
) -> Result<nftnl::set::Set<'t, Port>, Error> {
    let name = cstring("map name", &m.name)?;
    let set = nftnl::set::Set::<Port>::new_named(&name, id, table, ProtoFamily::Inet);
    let p = set.as_ptr().as_ptr();
    let concat = (k::TYPE_IPADDR << k::TYPE_BITS) | k::TYPE_INET_SERVICE;
    // SAFETY: `p` is the live set `set` owns; the setters copy their values, and
    // nftnl_set_add_expr / nftnl_set_elem_add take ownership of what they are given (freed
    // with the set).
    unsafe {
        sys::nftnl_set_set_u32(p, sys::NFTNL_SET_FLAGS as u16, libc::NFT_SET_MAP as u32);
        sys::nftnl_set_set_u32(p, sys::NFTNL_SET_DATA_TYPE as u16, concat);
        sys::nftnl_set_set_u32(p, sys::NFTNL_SET_DATA_LEN as u16, 8);
        let Some(counter) = NonNull::new(sys::nftnl_expr_alloc(c"counter".as_ptr())) else {
            std::process::abort()
        };
        sys::nftnl_set_add_expr(p, counter.as_ptr());
        for e in elements {
            let Some(elem) = NonNull::new(sys::nftnl_set_elem_alloc()) else {
                std::process::abort()
            };
            let key = e.port.to_be_bytes();
            let mut data = [0u8; 8];
            data[..4].copy_from_slice(&e.to.octets());
            data[4..6].copy_from_slice(&e.to_port.to_be_bytes());
            sys::nftnl_set_elem_set(
                elem.as_ptr(),
                sys::NFTNL_SET_ELEM_KEY as u16,
                key.as_ptr().cast(),
                key.len() as u32,
            );
            sys::nftnl_set_elem_set(
                elem.as_ptr(),
                sys::NFTNL_SET_ELEM_DATA as u16,
                data.as_ptr().cast(),
                data.len() as u32,
            );
            sys::nftnl_set_elem_add(p, elem.as_ptr());
        }
    }
    Ok(set)
}

/// The protocol context of a rule so far, to add the dependencies `nft` would add.
#[derive(Default)]
struct Ctx {
    nfproto: Option<IpVersion>,
    l4: Option<L4>,
}

/// Appends the expressions of one rule.
struct RuleWriter<'r, 'c> {
    rule: &'r mut nftnl::Rule<'c>,
    ctx: Ctx,
    /// The batch's maps: name and set id.
    maps: &'r [(String, u32)],
}

impl RuleWriter<'_, '_> {
    fn put(&mut self, e: Raw) {
        self.rule.add_expr(&e);
    }

    fn need_nfproto(&mut self, v: IpVersion) {
        if self.ctx.nfproto != Some(v) {
            self.put(meta(k::META_NFPROTO));
            let p = if v == IpVersion::V4 { k::NFPROTO_IPV4 } else { k::NFPROTO_IPV6 };
            self.put(cmp(k::CMP_EQ, &[p]));
            self.ctx.nfproto = Some(v);
        }
    }

    fn need_l4(&mut self, p: L4) {
        if self.ctx.l4 != Some(p) {
            self.put(meta(k::META_L4PROTO));
            self.put(cmp(k::CMP_EQ, &[p.number()]));
            self.ctx.l4 = Some(p);
        }
    }

    /// `ip[6] saddr|daddr PREFIX`, loading only the prefix's whole bytes when it is
    /// byte-aligned, as nft does.
    fn addr(&mut self, net: &IpNet, v4_off: u32, v6_off: u32) {
        let (bytes, off): (Vec<u8>, u32) = match net.trunc().addr() {
            IpAddr::V4(a) => {
                self.need_nfproto(IpVersion::V4);
                (a.octets().to_vec(), v4_off)
            }
            IpAddr::V6(a) => {
                self.need_nfproto(IpVersion::V6);
                (a.octets().to_vec(), v6_off)
            }
        };
        let plen = usize::from(net.prefix_len());
        if plen == 0 {
            return;
        }
        if plen % 8 == 0 {
            let n = plen / 8;
            self.put(payload(k::PAYLOAD_NETWORK, off, n as u32));
            self.put(cmp(k::CMP_EQ, bytes.get(..n).unwrap_or(&bytes)));
        } else {
            let mask: Vec<u8> = match net.netmask() {
                IpAddr::V4(m) => m.octets().to_vec(),
                IpAddr::V6(m) => m.octets().to_vec(),
            };
            self.put(payload(k::PAYLOAD_NETWORK, off, bytes.len() as u32));
            self.put(bitwise(&mask));
            self.put(cmp(k::CMP_EQ, &bytes));
        }
    }

    fn matcher(&mut self, m: &Match) -> Result<(), String> {
        match m {
            Match::NfProto(v) => {
                self.ctx.nfproto = None;
                self.need_nfproto(*v);
            }
            Match::IifName(n) => {
                self.put(meta(k::META_IIFNAME));
                self.put(cmp(k::CMP_EQ, &ifname(n)));
            }
            Match::OifName(n) => {
                self.put(meta(k::META_OIFNAME));
                self.put(cmp(k::CMP_EQ, &ifname(n)));
            }
            Match::L4Proto(p) => {
                self.ctx.l4 = None;
                self.need_l4(*p);
            }
            Match::Dport(port) => {
                if !matches!(self.ctx.l4, Some(L4::Tcp | L4::Udp)) {
                    return Err("th dport without meta l4proto tcp or udp before it".into());
                }
                self.put(payload(k::PAYLOAD_TRANSPORT, 2, 2));
                self.put(cmp(k::CMP_EQ, &port.to_be_bytes()));
            }
            Match::CtState(s) => {
                self.put(ct(k::CT_STATE));
                self.put(bitwise(&s.0.to_ne_bytes()));
                self.put(cmp(k::CMP_NEQ, &[0; 4]));
            }
            Match::CtStatusDnat => {
                self.put(ct(k::CT_STATUS));
                self.put(bitwise(&k::CT_STATUS_DNAT.to_ne_bytes()));
                self.put(cmp(k::CMP_NEQ, &[0; 4]));
            }
            Match::Saddr(n) => self.addr(n, 12, 8),
            Match::Daddr(n) => self.addr(n, 16, 24),
            Match::Daddr6Suffix { suffix, mask } => {
                self.need_nfproto(IpVersion::V6);
                self.put(payload(k::PAYLOAD_NETWORK, 24, 16));
                self.put(bitwise(&mask.octets()));
                self.put(cmp(k::CMP_EQ, &suffix.octets()));
            }
            Match::IcmpType(t) | Match::Icmpv6Type(t) => {
                let (v, p) = if matches!(m, Match::IcmpType(_)) {
                    (IpVersion::V4, L4::Icmp)
                } else {
                    (IpVersion::V6, L4::Icmpv6)
                };
                self.need_nfproto(v);
                self.need_l4(p);
                self.put(payload(k::PAYLOAD_TRANSPORT, 0, 1));
                self.put(cmp(k::CMP_EQ, &[*t]));
            }
            Match::TcpSyn => {
                self.need_l4(L4::Tcp);
                self.put(payload(k::PAYLOAD_TRANSPORT, 13, 1));
                self.put(bitwise(&[k::TCP_FLAG_SYN]));
                self.put(cmp(k::CMP_NEQ, &[0]));
            }
        }
        Ok(())
    }

    fn action(&mut self, a: &Action) -> Result<(), String> {
        match a {
            Action::Accept => self.rule.add_expr(&Verdict::Accept),
            Action::Drop => self.rule.add_expr(&Verdict::Drop),
            Action::Jump(c) => {
                let chain = CString::new(c.as_str()).unwrap_or_default();
                self.rule.add_expr(&Verdict::Jump { chain });
            }
            Action::Continue => {}
            Action::Masquerade => self.put(Raw::new(c"masq")),
            Action::Dnat { addr, port } => {
                self.put(immediate(k::REG_1, &addr.octets()));
                let mut nat = Raw::new(c"nat")
                    .u32(sys::NFTNL_EXPR_NAT_TYPE, k::NAT_DNAT)
                    .u32(sys::NFTNL_EXPR_NAT_FAMILY, u32::from(k::NFPROTO_IPV4))
                    .u32(sys::NFTNL_EXPR_NAT_REG_ADDR_MIN, k::REG_1)
                    .u32(sys::NFTNL_EXPR_NAT_REG_ADDR_MAX, k::REG_1);
                let mut flags = k::NAT_MAP_IPS;
                if let Some(p) = port {
                    self.put(immediate(k::REG_2, &p.to_be_bytes()));
                    nat = nat
                        .u32(sys::NFTNL_EXPR_NAT_REG_PROTO_MIN, k::REG_2)
                        .u32(sys::NFTNL_EXPR_NAT_REG_PROTO_MAX, k::REG_2);
                    flags |= k::NAT_PROTO_SPECIFIED;
                }
                self.put(nat.u32(sys::NFTNL_EXPR_NAT_FLAGS, flags));
            }
            Action::ClampMssToPmtu => {
                self.need_l4(L4::Tcp);
                self.put(
                    Raw::new(c"rt")
                        .u32(sys::NFTNL_EXPR_RT_KEY, k::RT_TCPMSS)
                        .u32(sys::NFTNL_EXPR_RT_DREG, k::REG_1),
                );
                self.put(
                    Raw::new(c"byteorder")
                        .u32(sys::NFTNL_EXPR_BYTEORDER_SREG, k::REG_1)
                        .u32(sys::NFTNL_EXPR_BYTEORDER_DREG, k::REG_1)
                        .u32(sys::NFTNL_EXPR_BYTEORDER_OP, k::BYTEORDER_HTON)
                        .u32(sys::NFTNL_EXPR_BYTEORDER_LEN, 2)
                        .u32(sys::NFTNL_EXPR_BYTEORDER_SIZE, 2),
                );
                self.put(
                    Raw::new(c"exthdr")
                        .u32(sys::NFTNL_EXPR_EXTHDR_SREG, k::REG_1)
                        .u32(sys::NFTNL_EXPR_EXTHDR_TYPE, k::TCPOPT_MAXSEG)
                        .u32(sys::NFTNL_EXPR_EXTHDR_OFFSET, 2)
                        .u32(sys::NFTNL_EXPR_EXTHDR_LEN, 2)
                        .u32(sys::NFTNL_EXPR_EXTHDR_OP, k::EXTHDR_OP_TCPOPT),
                );
            }
            Action::DnatPortMap(name) => {
                if !matches!(self.ctx.l4, Some(L4::Tcp | L4::Udp)) {
                    return Err("dnat by port map without meta l4proto tcp or udp".into());
                }
                let Some((_, id)) = self.maps.iter().find(|(n, _)| n == name) else {
                    return Err(format!("no map {name}"));
                };
                let mut set_name = name.as_bytes().to_vec();
                set_name.push(0);
                self.need_nfproto(IpVersion::V4);
                self.put(payload(k::PAYLOAD_TRANSPORT, 2, 2));
                self.put(
                    Raw::new(c"lookup")
                        .u32(sys::NFTNL_EXPR_LOOKUP_SREG, k::REG_1)
                        .u32(sys::NFTNL_EXPR_LOOKUP_DREG, k::REG_1)
                        .data(sys::NFTNL_EXPR_LOOKUP_SET, &set_name)
                        .u32(sys::NFTNL_EXPR_LOOKUP_SET_ID, *id),
                );
                // As nft writes it: the kernel infers MAP_IPS and PROTO_SPECIFIED from the
                // registers given.
                self.put(
                    Raw::new(c"nat")
                        .u32(sys::NFTNL_EXPR_NAT_TYPE, k::NAT_DNAT)
                        .u32(sys::NFTNL_EXPR_NAT_FAMILY, u32::from(k::NFPROTO_IPV4))
                        .u32(sys::NFTNL_EXPR_NAT_REG_ADDR_MIN, k::REG_1)
                        .u32(sys::NFTNL_EXPR_NAT_REG_PROTO_MIN, k::REG32_01),
                );
            }
            Action::FlowAdd(name) => {
                let mut table = name.as_bytes().to_vec();
                table.push(0);
                self.put(Raw::new(c"flow_offload").data(sys::NFTNL_EXPR_FLOW_TABLE_NAME, &table));
            }
        }
        Ok(())
    }
}

/// How the flowtable's message is named in an error (see [`Error::refused_flowtable`]).
pub(crate) const FLOWTABLE_ADD: &str = "add flowtable";

/// A flowtable as its netlink message: the nftnl crate has no type for it.
struct FlowtableMsg(NonNull<sys::nftnl_flowtable>);

impl FlowtableMsg {
    fn new(table: &CStr, ft: &Flowtable) -> Result<Self, Error> {
        let name = cstring("flowtable name", &ft.name)?;
        let devices =
            ft.devices.iter().map(|d| cstring("device", d)).collect::<Result<Vec<_>, _>>()?;
        // A NULL-terminated array, as libnftnl takes it (it copies the strings).
        let mut ptrs: Vec<*const libc::c_char> = devices.iter().map(|d| d.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: libnftnl copies every string and the array's contents; all live here.
        unsafe {
            let Some(p) = NonNull::new(sys::nftnl_flowtable_alloc()) else {
                return Err(Error::Invalid("out of memory for a flowtable".into()));
            };
            let ft = FlowtableMsg(p);
            let p = p.as_ptr();
            sys::nftnl_flowtable_set_str(p, sys::NFTNL_FLOWTABLE_TABLE as u16, table.as_ptr());
            sys::nftnl_flowtable_set_str(p, sys::NFTNL_FLOWTABLE_NAME as u16, name.as_ptr());
            sys::nftnl_flowtable_set_u32(
                p,
                sys::NFTNL_FLOWTABLE_FAMILY as u16,
                libc::NFPROTO_INET as u32,
            );
            sys::nftnl_flowtable_set_u32(p, sys::NFTNL_FLOWTABLE_HOOKNUM as u16, k::NETDEV_INGRESS);
            sys::nftnl_flowtable_set_s32(p, sys::NFTNL_FLOWTABLE_PRIO as u16, 0);
            if sys::nftnl_flowtable_set_array(
                p,
                sys::NFTNL_FLOWTABLE_DEVICES as u16,
                ptrs.as_mut_ptr(),
            ) != 0
            {
                return Err(Error::Invalid("out of memory for a flowtable's devices".into()));
            }
            Ok(ft)
        }
    }
}

// SAFETY: `write` builds one message of the kind asked into a buffer of the size the trait
// requires; the payload of a flowtable is far below it.
unsafe impl nftnl::NlMsg for FlowtableMsg {
    unsafe fn write(&self, buf: *mut libc::c_void, seq: u32, msg_type: MsgType) {
        let (kind, flags) = match msg_type {
            MsgType::Add => (k::MSG_NEWFLOWTABLE, libc::NLM_F_ACK | libc::NLM_F_CREATE),
            MsgType::Del => (k::MSG_DELFLOWTABLE, libc::NLM_F_ACK),
        };
        // SAFETY: as the trait requires, `buf` has room for the largest message.
        unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.cast(),
                kind,
                libc::NFPROTO_INET as u16,
                flags as u16,
                seq,
            );
            sys::nftnl_flowtable_nlmsg_build_payload(header, self.0.as_ptr());
        }
    }
}

impl Drop for FlowtableMsg {
    fn drop(&mut self) {
        // SAFETY: allocated by nftnl_flowtable_alloc, freed once.
        unsafe { sys::nftnl_flowtable_free(self.0.as_ptr()) };
    }
}

fn cstring(what: &str, s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Invalid(format!("{what} {s:?} contains a NUL byte")))
}

/// Builds the batch for `rs` and a description of each message, by sequence number offset.
fn build(rs: &Ruleset) -> Result<(nftnl::FinalizedBatch, Vec<String>), Error> {
    let tname = cstring("table name", &rs.table)?;
    let table = Table::new(&tname, ProtoFamily::Inet);
    let mut batch = Batch::new();
    let mut descs = Vec::new();
    batch.add(&table, MsgType::Add);
    descs.push(format!("create table inet {}", rs.table));
    batch.add(&table, MsgType::Del);
    descs.push(format!("delete table inet {}", rs.table));
    batch.add(&table, MsgType::Add);
    descs.push(format!("add table inet {}", rs.table));
    // The flowtable first: where the kernel refuses it (no nf_flow_table, a device missing),
    // it does so before it has worked through thousands of map elements.
    if let Some(ft) = &rs.flowtable {
        // Written into the batch at once: the message may go after.
        batch.add(&FlowtableMsg::new(&tname, ft)?, MsgType::Add);
        descs.push(format!("{FLOWTABLE_ADD} {}", ft.name));
    }
    let mut maps = Vec::with_capacity(rs.maps.len());
    for (i, m) in rs.maps.iter().enumerate() {
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        maps.push((m.name.clone(), id, port_map(m, id, &table)?));
    }
    for (name, _, set) in &maps {
        batch.add(set, MsgType::Add);
        descs.push(format!("add map {name}"));
        // As many element messages as the elements need (each up to the message size).
        let mut messages = 0usize;
        batch.add_iter(set.elems_iter().inspect(|_| messages += 1), MsgType::Add);
        descs.extend(std::iter::repeat_n(format!("add elements to map {name}"), messages));
    }
    let map_ids: Vec<(String, u32)> = maps.iter().map(|(n, id, _)| (n.clone(), *id)).collect();
    let mut chains = Vec::with_capacity(rs.chains.len());
    for c in &rs.chains {
        let cname = cstring("chain name", &c.name)?;
        let mut chain = nftnl::Chain::new(&cname, &table);
        if let Some(b) = c.base {
            let hook = match b.hook {
                Hook::Prerouting => nftnl::Hook::PreRouting,
                Hook::Input => nftnl::Hook::In,
                Hook::Forward => nftnl::Hook::Forward,
                Hook::Output => nftnl::Hook::Out,
                Hook::Postrouting => nftnl::Hook::PostRouting,
            };
            chain.set_hook(hook, b.priority);
            chain.set_type(match b.kind {
                ChainKind::Filter => nftnl::ChainType::Filter,
                ChainKind::Nat => nftnl::ChainType::Nat,
            });
            chain.set_policy(match b.policy {
                Policy::Accept => nftnl::Policy::Accept,
                Policy::Drop => nftnl::Policy::Drop,
            });
        }
        batch.add(&chain, MsgType::Add);
        descs.push(format!("add chain {}", c.name));
        chains.push(chain);
    }
    for (c, chain) in rs.chains.iter().zip(&chains) {
        for (i, r) in c.rules.iter().enumerate() {
            let mut rule = nftnl::Rule::new(chain);
            write_rule(&mut rule, r, &map_ids)
                .map_err(|e| Error::Invalid(format!("chain {} rule {i} ({r}): {e}", c.name)))?;
            batch.add(&rule, MsgType::Add);
            descs.push(format!("chain {} rule {i}: {r}", c.name));
        }
    }
    Ok((batch.finalize(), descs))
}

fn write_rule(rule: &mut nftnl::Rule<'_>, r: &Rule, maps: &[(String, u32)]) -> Result<(), String> {
    let mut w = RuleWriter { rule, ctx: Ctx::default(), maps };
    for m in &r.matches {
        w.matcher(m)?;
    }
    if r.counter {
        w.put(Raw::new(c"counter"));
    }
    w.action(&r.action)?;
    if let Some(c) = &r.comment {
        let c = CString::new(c.as_str()).map_err(|_| "comment contains a NUL byte".to_string())?;
        w.rule.set_comment(&c).map_err(str::to_string)?;
    }
    Ok(())
}

/// Sends the ruleset as one transaction and waits for the kernel's verdict on every message.
pub(crate) fn apply(rs: &Ruleset) -> Result<(), Error> {
    let (batch, descs) = build(rs)?;
    transact(&batch, &descs)
}

/// One map's change: the map as it is to be, the elements to delete and those to add.
pub(crate) type MapChange<'a> = (&'a PortMap, Vec<PortMapping>, Vec<PortMapping>);

/// What changes in the maps from `old` to `new`, element by element: `None` when anything
/// else differs (then the table is replaced).
pub(crate) fn element_diff<'a>(old: &'a Ruleset, new: &'a Ruleset) -> Option<Vec<MapChange<'a>>> {
    let same_maps = old.maps.len() == new.maps.len()
        && old.maps.iter().zip(&new.maps).all(|(a, b)| a.name == b.name);
    if old.table != new.table
        || old.flowtable != new.flowtable
        || old.chains != new.chains
        || !same_maps
    {
        return None;
    }
    let diff = old
        .maps
        .iter()
        .zip(&new.maps)
        .map(|(a, b)| {
            let was: std::collections::HashSet<PortMapping> = a.elements.iter().copied().collect();
            let now: std::collections::HashSet<PortMapping> = b.elements.iter().copied().collect();
            let gone = a.elements.iter().filter(|e| !now.contains(e)).copied().collect();
            let added = b.elements.iter().filter(|e| !was.contains(e)).copied().collect();
            (b, gone, added)
        })
        .collect();
    Some(diff)
}

/// One transaction that deletes `gone` and adds `added` to each map: the rest of the table,
/// the other elements and their counters stay as they are.
pub(crate) fn update_elements(table_name: &str, diff: &[MapChange<'_>]) -> Result<(), Error> {
    let tname = cstring("table name", table_name)?;
    let table = Table::new(&tname, ProtoFamily::Inet);
    let mut sets = Vec::new();
    for (i, (m, gone, added)) in diff.iter().enumerate() {
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        sets.push((m.name.clone(), MsgType::Del, port_map_with(m, gone, id, &table)?, gone.len()));
        sets.push((
            m.name.clone(),
            MsgType::Add,
            port_map_with(m, added, id, &table)?,
            added.len(),
        ));
    }
    let mut batch = Batch::new();
    let mut descs = Vec::new();
    for (name, kind, set, n) in &sets {
        if *n == 0 {
            continue;
        }
        let mut messages = 0usize;
        batch.add_iter(set.elems_iter().inspect(|_| messages += 1), *kind);
        let verb = if matches!(kind, MsgType::Add) { "add" } else { "delete" };
        descs.extend(std::iter::repeat_n(format!("{verb} elements of map {name}"), messages));
    }
    if descs.is_empty() {
        return Ok(());
    }
    transact(&batch.finalize(), &descs)
}

/// Sends `batch` as one transaction and waits for the kernel's verdict on every message
/// (`descs` names each, in order).
fn transact(batch: &nftnl::FinalizedBatch, descs: &[String]) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::Io { what: what.to_string(), source: e };
    let socket =
        mnl::Socket::new(mnl::Bus::Netfilter).map_err(|e| io("open netfilter socket", e))?;
    let fd = socket.as_raw_fd();
    // Bound every wait: the kernel answers at once, or something is badly wrong.
    let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
        .map_err(|e| io("set receive timeout", e))?;
    // Every message is acknowledged: keep the acks small (no echo of the message, as nft
    // does) and the buffer large enough for all of them, or the kernel drops some (ENOBUFS).
    let _ = setsockopt(fd, libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, &1i32);
    // The buffer is charged by each ack's whole socket buffer (about 1 KiB), not its bytes.
    let want =
        i32::try_from(descs.len().saturating_add(2).saturating_mul(4096)).unwrap_or(i32::MAX);
    let _ = setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &want.max(256 * 1024));
    send_batch(fd, batch).map_err(|e| io("send batch", e))?;
    let seqs = batch.sequence_numbers();
    let mut pending = seqs.len();
    let mut buf = vec![0u8; nftnl::nft_nlmsg_maxsize() as usize];
    let mut first_error: Option<Error> = None;
    while pending > 0 {
        let n = socket.recv_raw(&mut buf).map_err(|e| io("receive acks", e))?;
        let mut rest = buf.get(..n).unwrap_or_default();
        while let Some((seq, kind, payload, tail)) = next_msg(rest) {
            rest = tail;
            if kind != k::NLMSG_ERROR {
                continue;
            }
            pending = pending.saturating_sub(1);
            let errno = payload.get(..4).and_then(|b| b.try_into().ok()).map(i32::from_ne_bytes);
            if let Some(e) = errno.filter(|e| *e != 0) {
                let what = seq
                    // The batch's BEGIN message has the first sequence number.
                    .checked_sub(seqs.start.saturating_add(1))
                    .and_then(|i| descs.get(i as usize))
                    .cloned()
                    .unwrap_or_else(|| format!("message {seq}"));
                first_error.get_or_insert(Error::Rejected {
                    what,
                    source: std::io::Error::from_raw_os_error(e.saturating_abs()),
                });
                // The kernel refuses the whole transaction; later messages get no acks.
                pending = 0;
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Sends the whole batch in one `sendmsg`: nfnetlink takes a transaction only from a
/// single message buffer (mnl's `send_all` sends page by page, which breaks past 128 KiB).
fn send_batch(fd: i32, batch: &nftnl::FinalizedBatch) -> std::io::Result<()> {
    let mut iov: Vec<libc::iovec> = batch
        .iter()
        .map(|b| libc::iovec { iov_base: b.as_ptr().cast_mut().cast(), iov_len: b.len() })
        .collect();
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let want = i32::try_from(total.saturating_add(64 * 1024)).unwrap_or(i32::MAX);
    if want > 200 * 1024 {
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &want)?;
    }
    // SAFETY: zeroed sockaddr_nl is valid (the kernel: pid 0, no groups).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: msghdr zeroed, then pointed at live locals that outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut kernel).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    // SAFETY: fd is a netlink socket; msg and everything it points to is valid for the call.
    let sent = unsafe { libc::sendmsg(fd, &msg, 0) };
    match usize::try_from(sent) {
        Ok(n) if n == total => Ok(()),
        Ok(_) => Err(std::io::Error::other("sendmsg sent part of the batch")),
        Err(_) => Err(std::io::Error::last_os_error()),
    }
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, v: &T) -> std::io::Result<()> {
    // SAFETY: a valid fd, and a pointer to a live T with its exact size.
    let rc = unsafe {
        libc::setsockopt(fd, level, name, (v as *const T).cast(), size_of::<T>() as libc::socklen_t)
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Splits one netlink message off `buf`: (seq, type, payload, rest).
fn next_msg(buf: &[u8]) -> Option<(u32, u16, &[u8], &[u8])> {
    let len = u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
    let seq = u32::from_ne_bytes(buf.get(8..12)?.try_into().ok()?);
    if len < 16 {
        return None;
    }
    let payload = buf.get(16..len)?;
    let aligned = len.checked_add(3)? & !3;
    Some((seq, kind, payload, buf.get(aligned.min(buf.len())..)?))
}
