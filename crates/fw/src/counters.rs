//! Reading the counters back from the kernel (what `routerctl` and `/metrics` show): a
//! netlink dump of the table's rules, each rule's chain, comment and `counter` expression,
//! and of the port-forward maps' elements with their counters.

use std::ffi::CStr;
use std::os::fd::AsRawFd;

use nftnl::nftnl_sys as sys;

use crate::Error;

/// One counted rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCounter {
    /// Its chain.
    pub chain: String,
    /// Its comment (the port forward or pinhole it came from), if any.
    pub comment: Option<String>,
    /// Packets that reached its action.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

const NFT_MSG_GETRULE: u16 = 0x07;
const NFNL_SUBSYS_NFTABLES: u16 = 0x0a;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 0x02;
const NLMSG_DONE: u16 = 0x03;
const NFPROTO_INET: u16 = 0x01;
/// `NFTNL_UDATA_RULE_COMMENT`.
const UDATA_COMMENT: u8 = 0x00;

/// One element of a port-forward map and its counter: the connections forwarded (a NAT
/// chain sees only each connection's first packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementCounter {
    /// The map ([`crate::model::PORT_MAP_TCP`] or [`crate::model::PORT_MAP_UDP`]).
    pub map: String,
    /// The element's key: the public port.
    pub port: u16,
    /// Packets that matched it.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

const NFT_MSG_GETSETELEM: u16 = 0x0d;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.to_string();
    move |e: std::io::Error| Error::Io { what, source: e }
}

/// Sends the dump request `build` writes (given the header) and hands every answer to
/// `each`, until the kernel says done. `Ok(false)` when the object asked about does not
/// exist (ENOENT).
fn dump(
    what: &str,
    msg: u16,
    build: impl FnOnce(*mut libc::nlmsghdr) -> Result<(), Error>,
    mut each: impl FnMut(*const libc::nlmsghdr),
) -> Result<bool, Error> {
    let socket = mnl::Socket::new(mnl::Bus::Netfilter).map_err(io("open netfilter socket"))?;
    let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
    // SAFETY: setsockopt with a valid fd and a timeval of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    let mut req = vec![0u64; 512];
    // SAFETY: the buffer is large and aligned enough for a header and a table and object
    // name; `build` only appends the payload of an nftnl object to it.
    let len = unsafe {
        let nlh = sys::nftnl_nlmsg_build_hdr(
            req.as_mut_ptr().cast(),
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            NFPROTO_INET,
            NLM_F_REQUEST | NLM_F_DUMP,
            1,
        );
        build(nlh)?;
        (*nlh).nlmsg_len as usize
    };
    let bytes: &[u8] =
        // SAFETY: viewing the u64 buffer as bytes, within its length.
        unsafe { std::slice::from_raw_parts(req.as_ptr().cast::<u8>(), len.min(req.len() * 8)) };
    socket.send(bytes).map_err(io("send dump request"))?;
    let mut buf = vec![0u64; 8192];
    loop {
        // SAFETY: receiving into the u64 buffer viewed as bytes (aligned for nlmsghdr).
        let view =
            unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), buf.len() * 8) };
        let n = socket.recv_raw(view).map_err(io("receive dump"))?;
        let mut off = 0;
        while off + 16 <= n {
            let (Some(mlen), Some(kind)) = (
                ne::<4>(view, off).map(u32::from_ne_bytes),
                ne::<2>(view, off + 4).map(u16::from_ne_bytes),
            ) else {
                break;
            };
            let mlen = mlen as usize;
            if mlen < 16 || off + mlen > n {
                break;
            }
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = ne::<4>(view, off + 16).map_or(0, i32::from_ne_bytes);
                    if code == -libc::ENOENT {
                        return Ok(false);
                    }
                    if code != 0 {
                        return Err(Error::Io {
                            what: what.to_string(),
                            source: std::io::Error::from_raw_os_error(code.saturating_abs()),
                        });
                    }
                }
                // SAFETY (of the pointer): a complete netlink message at an aligned offset.
                _ => {
                    if let Some(m) = view.get(off..) {
                        each(m.as_ptr().cast());
                    }
                }
            }
            off += (mlen + 3) & !3;
        }
    }
}

/// The counters of every counted rule of the `inet` table `table`, in chain order.
pub(crate) fn read(table: &str) -> Result<Vec<RuleCounter>, Error> {
    let tname = std::ffi::CString::new(table).map_err(|_| Error::Invalid("table name".into()))?;
    let mut out = Vec::new();
    let build = |nlh: *mut libc::nlmsghdr| {
        // SAFETY: the rule object is freed after its payload was copied into the message.
        unsafe {
            let r = sys::nftnl_rule_alloc();
            if r.is_null() {
                return Err(Error::Invalid("out of memory".into()));
            }
            sys::nftnl_rule_set_str(r, sys::NFTNL_RULE_TABLE as u16, tname.as_ptr());
            sys::nftnl_rule_nlmsg_build_payload(nlh, r);
            sys::nftnl_rule_free(r);
        }
        Ok(())
    };
    // SAFETY: `dump` hands over complete netlink messages.
    let found =
        dump(&format!("dump rules of table inet {table}"), NFT_MSG_GETRULE, build, |m| unsafe {
            parse_rule(m, &mut out)
        })?;
    if !found {
        return Err(Error::Io {
            what: format!("dump rules of table inet {table}"),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        });
    }
    Ok(out)
}

/// The element counters of the port-forward map `map` of table `table` (none when the map
/// does not exist: no forward of its protocol).
pub(crate) fn read_map(table: &str, map: &str) -> Result<Vec<ElementCounter>, Error> {
    let bad = |_| Error::Invalid("table or map name".into());
    let (tname, mname) =
        (std::ffi::CString::new(table).map_err(bad)?, std::ffi::CString::new(map).map_err(bad)?);
    let mut out = Vec::new();
    let build = |nlh: *mut libc::nlmsghdr| {
        // SAFETY: the set object is freed after its payload was copied into the message.
        unsafe {
            let s = sys::nftnl_set_alloc();
            if s.is_null() {
                return Err(Error::Invalid("out of memory".into()));
            }
            sys::nftnl_set_set_str(s, sys::NFTNL_SET_TABLE as u16, tname.as_ptr());
            sys::nftnl_set_set_str(s, sys::NFTNL_SET_NAME as u16, mname.as_ptr());
            sys::nftnl_set_elems_nlmsg_build_payload(nlh, s);
            sys::nftnl_set_free(s);
        }
        Ok(())
    };
    // SAFETY: `dump` hands over complete netlink messages.
    dump(
        &format!("dump map {map} of table inet {table}"),
        NFT_MSG_GETSETELEM,
        build,
        |m| unsafe { parse_elements(m, map, &mut out) },
    )?;
    Ok(out)
}

/// Adds the elements in `nlh` (a set element message) with their counters to `out`.
///
/// # Safety
/// `nlh` points at a complete netlink message.
unsafe fn parse_elements(nlh: *const libc::nlmsghdr, map: &str, out: &mut Vec<ElementCounter>) {
    // SAFETY: nftnl parses the message into a set it owns; the elements, keys and
    // expressions read below belong to it and are used before it is freed.
    unsafe {
        let s = sys::nftnl_set_alloc();
        if s.is_null() {
            return;
        }
        if sys::nftnl_set_elems_nlmsg_parse(nlh, s) >= 0 {
            let it = sys::nftnl_set_elems_iter_create(s);
            if !it.is_null() {
                let mut e = sys::nftnl_set_elems_iter_next(it);
                while !e.is_null() {
                    let mut klen = 0u32;
                    let key = sys::nftnl_set_elem_get(e, sys::NFTNL_SET_ELEM_KEY as u16, &mut klen);
                    let mut xlen = 0u32;
                    let expr =
                        sys::nftnl_set_elem_get(e, sys::NFTNL_SET_ELEM_EXPR as u16, &mut xlen)
                            .cast::<sys::nftnl_expr>()
                            .cast_mut();
                    if !key.is_null() && klen >= 2 {
                        let k: [u8; 2] = std::ptr::read_unaligned(key.cast::<[u8; 2]>());
                        let (packets, bytes) = if expr.is_null() {
                            (0, 0)
                        } else {
                            (
                                sys::nftnl_expr_get_u64(expr, sys::NFTNL_EXPR_CTR_PACKETS as u16),
                                sys::nftnl_expr_get_u64(expr, sys::NFTNL_EXPR_CTR_BYTES as u16),
                            )
                        };
                        out.push(ElementCounter {
                            map: map.to_string(),
                            port: u16::from_be_bytes(k),
                            packets,
                            bytes,
                        });
                    }
                    e = sys::nftnl_set_elems_iter_next(it);
                }
                sys::nftnl_set_elems_iter_destroy(it);
            }
        }
        sys::nftnl_set_free(s);
    }
}

/// `N` bytes at `at`, if there.
fn ne<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Adds the rule in `nlh` to `out` if it has a counter.
///
/// # Safety
/// `nlh` points at a complete netlink message.
unsafe fn parse_rule(nlh: *const libc::nlmsghdr, out: &mut Vec<RuleCounter>) {
    // SAFETY: nftnl parses the message into a rule object it owns; every pointer read
    // below comes from it and is used before the rule is freed.
    unsafe {
        let r = sys::nftnl_rule_alloc();
        if r.is_null() {
            return;
        }
        if sys::nftnl_rule_nlmsg_parse(nlh, r) >= 0 {
            let chain = cstr(sys::nftnl_rule_get_str(r, sys::NFTNL_RULE_CHAIN as u16));
            let mut ulen = 0u32;
            let udata = sys::nftnl_rule_get_data(r, sys::NFTNL_RULE_USERDATA as u16, &mut ulen);
            let comment = if udata.is_null() {
                None
            } else {
                comment_of(std::slice::from_raw_parts(udata.cast::<u8>(), ulen as usize))
            };
            let it = sys::nftnl_expr_iter_create(r);
            if !it.is_null() {
                let mut e = sys::nftnl_expr_iter_next(it);
                while !e.is_null() {
                    if cstr(sys::nftnl_expr_get_str(e, sys::NFTNL_EXPR_NAME as u16)) == "counter" {
                        out.push(RuleCounter {
                            chain: chain.clone(),
                            comment: comment.clone(),
                            packets: sys::nftnl_expr_get_u64(e, sys::NFTNL_EXPR_CTR_PACKETS as u16),
                            bytes: sys::nftnl_expr_get_u64(e, sys::NFTNL_EXPR_CTR_BYTES as u16),
                        });
                    }
                    e = sys::nftnl_expr_iter_next(it);
                }
                sys::nftnl_expr_iter_destroy(it);
            }
        }
        sys::nftnl_rule_free(r);
    }
}

fn cstr(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: nftnl returns NUL-terminated strings it owns.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The comment in a rule's user data (TLVs of type, length, value; the value NUL-terminated).
fn comment_of(mut u: &[u8]) -> Option<String> {
    while let [kind, len, rest @ ..] = u {
        let v = rest.get(..usize::from(*len))?;
        if *kind == UDATA_COMMENT {
            let s = v.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(s).into_owned());
        }
        u = rest.get(usize::from(*len)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::comment_of;

    #[test]
    fn comment_tlv() {
        assert_eq!(comment_of(&[0, 4, b'w', b'e', b'b', 0]).as_deref(), Some("web"));
        assert_eq!(comment_of(&[1, 1, 9, 0, 2, b'x', 0]).as_deref(), Some("x"));
        assert_eq!(comment_of(&[0, 9, b'a']), None);
        assert_eq!(comment_of(&[]), None);
    }
}
