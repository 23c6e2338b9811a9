//! Captured vectors (`testdata/*.hex`, each with its provenance line): Solicit, Request,
//! Renew and Release of ISC dhclient 4.4.3 (`-6 -N -P`: IA_NA and IA_PD) and dhcpcd 9.4.1
//! (IA_NA 1, IA_PD 2), and the Advertise and Replies of Kea 2.2 (kea-dhcp6) to them, taken
//! with tcpdump on a veth between two network namespaces. The quartet on every one of them;
//! then each client's exchange replayed through our server, and Kea's answers through our
//! requesting router.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Instant;

use dhcproto::v6::{DhcpOption, IANA, IAPD, MessageType, OptionCode, Status};
use ipnet::Ipv6Net;

use super::testdata;
use crate::server::{Meta6, PdPool, Server6, Server6Config};
use crate::wire::{Repr, status_in};
use crate::{Client, ClientConfig, Command, Phase};

/// Kea's Server Identifier: DUID-LLT (type 1, hardware 1, time 0x32a334d2, 52:54:00:5e:00:01).
const KEA_DUID: [u8; 14] = [0, 1, 0, 1, 0x32, 0xa3, 0x34, 0xd2, 0x52, 0x54, 0x00, 0x5e, 0x00, 0x01];
/// dhclient's DUID-LLT (52:54:00:c6:00:01) and the IAID of both its IAs.
const DHCLIENT_DUID: [u8; 14] =
    [0, 1, 0, 1, 0x32, 0xa3, 0x34, 0xd2, 0x52, 0x54, 0x00, 0xc6, 0x00, 0x01];
const DHCLIENT_IAID: u32 = 0x00c6_0001;
/// dhcpcd's DUID-LLT (52:54:00:c6:00:02); IA_NA 1, IA_PD 2.
const DHCPCD_DUID: [u8; 14] =
    [0, 1, 0, 1, 0x32, 0xa3, 0x34, 0xda, 0x52, 0x54, 0x00, 0xc6, 0x00, 0x02];

/// A captured message: file, type, xid, client DUID, (IA_NA IAID, IA_PD IAID).
type Vector = (&'static str, MessageType, u32, &'static [u8], (u32, u32));

/// Every captured message.
const MESSAGES: [Vector; 15] = {
    use MessageType::*;
    const D: &[u8] = &DHCLIENT_DUID;
    const C: &[u8] = &DHCPCD_DUID;
    const I: (u32, u32) = (DHCLIENT_IAID, DHCLIENT_IAID);
    [
        ("dhclient_solicit", Solicit, 0xcf9546, D, I),
        ("kea_advertise_dhclient", Advertise, 0xcf9546, D, I),
        ("dhclient_request", Request, 0xca824e, D, I),
        ("kea_reply_dhclient", Reply, 0xca824e, D, I),
        ("dhclient_renew", Renew, 0x243999, D, I),
        ("kea_reply_renew_dhclient", Reply, 0x243999, D, I),
        ("dhclient_release", Release, 0xdccd5c, D, I),
        ("kea_reply_release_dhclient", Reply, 0xdccd5c, D, I),
        ("dhcpcd_solicit", Solicit, 0x7cd1e1, C, (1, 2)),
        ("kea_advertise_dhcpcd", Advertise, 0x7cd1e1, C, (1, 2)),
        ("dhcpcd_request", Request, 0x7311ea, C, (1, 2)),
        ("kea_reply_dhcpcd", Reply, 0x7311ea, C, (1, 2)),
        ("dhcpcd_renew", Renew, 0x52e9fd, C, (1, 2)),
        ("dhcpcd_release", Release, 0x18e6f0, C, (1, 2)),
        ("kea_reply_release_dhcpcd", Reply, 0x18e6f0, C, (1, 2)),
    ]
};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn xid(x: u32) -> [u8; 3] {
    let [_, a, b, c] = x.to_be_bytes();
    [a, b, c]
}

fn na(m: &Repr) -> &IANA {
    m.ia_nas().next().expect("an IA_NA")
}

fn pd(m: &Repr) -> &IAPD {
    m.ia_pds().next().expect("an IA_PD")
}

/// (address, preferred, valid) of the IA Addresses of the first IA_NA.
fn addrs(m: &Repr) -> Vec<(Ipv6Addr, u32, u32)> {
    let f = |o: &DhcpOption| match o {
        DhcpOption::IAAddr(a) => Some((a.addr, a.preferred_life, a.valid_life)),
        _ => None,
    };
    na(m).opts.iter().filter_map(f).collect()
}

/// (prefix, length, valid) of the IA Prefixes of the first IA_PD.
fn prefixes(m: &Repr) -> Vec<(Ipv6Addr, u8, u32)> {
    let f = |o: &DhcpOption| match o {
        DhcpOption::IAPrefix(p) => Some((p.prefix_ip, p.prefix_len, p.valid_lifetime)),
        _ => None,
    };
    pd(m).opts.iter().filter_map(f).collect()
}

fn oro(m: &Repr) -> Vec<u16> {
    match m.get(OptionCode::ORO) {
        Some(DhcpOption::ORO(o)) => o.opts.iter().map(|&c| u16::from(c)).collect(),
        _ => vec![],
    }
}

/// Parse, check type, xid, DUIDs and IAIDs, emit, parse again. Kea writes its options in
/// code order, which is the order `Repr` keeps, so its messages come back byte-exactly; the
/// clients put the ORO, Elapsed Time or IAs elsewhere, so theirs come back reordered and are
/// compared parsed.
#[test]
fn captured_messages_parse_emit_and_parse_again() {
    for (name, kind, x, duid, (na_id, pd_id)) in MESSAGES {
        let bytes = testdata(name);
        let m = Repr::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((m.msg_type, m.xid), (kind, xid(x)), "{name}");
        assert_eq!(m.client_id(), Some(duid), "{name}");
        let to_server = !matches!(kind, MessageType::Solicit);
        assert_eq!(m.server_id(), to_server.then_some(&KEA_DUID[..]), "{name}");
        assert_eq!((na(&m).id, pd(&m).id), (na_id, pd_id), "{name}");
        let again = m.to_vec().unwrap();
        assert_eq!(Repr::parse(&again).as_ref(), Ok(&m), "{name}: round trip");
        if name.starts_with("kea_") {
            assert_eq!(again, bytes, "{name}: byte-exact");
        } else {
            assert_ne!(again, bytes, "{name}: reordered (if this fails, assert byte-exact)");
        }
        crate::fuzzing::run_wire(&bytes);
    }
}

#[test]
fn the_fields_each_peer_sent() {
    let m = Repr::parse(&testdata("dhclient_solicit")).unwrap();
    assert_eq!(oro(&m), [23, 24, 39, 31]);
    assert_eq!(m.get(OptionCode::ElapsedTime), Some(&DhcpOption::ElapsedTime(0)));
    assert!(addrs(&m).is_empty() && prefixes(&m).is_empty(), "a bare Solicit");
    let m = Repr::parse(&testdata("dhclient_renew")).unwrap();
    assert_eq!(addrs(&m), [(v6("fd00:77::100"), 7200, 7500)], "dhclient's own lifetimes");
    assert_eq!(prefixes(&m), [(v6("2001:db8:77:100::"), 60, 7500)]);
    let m = Repr::parse(&testdata("dhclient_release")).unwrap();
    assert_eq!(addrs(&m), [(v6("fd00:77::100"), 0, 0)]);
    let m = Repr::parse(&testdata("dhcpcd_solicit")).unwrap();
    assert_eq!(oro(&m), [23, 24, 82, 83]);
    assert!(m.has(OptionCode::VendorClass), "dhcpcd's vendor class");
    let fqdn = m.opaque(OptionCode::ClientFqdn).expect("Client FQDN, kept opaque");
    // Flags S, then a partial name (no root label, RFC 4704 §4.2): "dhcpcd-pc".
    assert_eq!(fqdn, b"\x01\x09dhcpcd-pc");
    let m = Repr::parse(&testdata("kea_advertise_dhclient")).unwrap();
    assert_eq!((na(&m).t1, na(&m).t2, pd(&m).t1, pd(&m).t2), (3, 5, 3, 5));
    assert_eq!(addrs(&m), [(v6("fd00:77::100"), 8, 12)]);
    assert_eq!(prefixes(&m), [(v6("2001:db8:77:100::"), 60, 12)]);
    let dns = DhcpOption::DomainNameServers(vec![v6("fd00:77::1")]);
    assert_eq!(m.get(OptionCode::DomainNameServers), Some(&dns));
    match m.get(OptionCode::DomainSearchList) {
        Some(DhcpOption::DomainSearchList(names)) => {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            assert_eq!(names, ["home.arpa."]);
        }
        other => panic!("domain search list {other:?}"),
    }
    let m = Repr::parse(&testdata("kea_advertise_dhcpcd")).unwrap();
    assert_eq!(addrs(&m), [(v6("fd00:77::101"), 8, 12)]);
    assert_eq!(prefixes(&m), [(v6("2001:db8:77:110::"), 60, 12)]);
    for name in ["kea_reply_release_dhclient", "kea_reply_release_dhcpcd"] {
        let m = Repr::parse(&testdata(name)).unwrap();
        assert_eq!(m.status(), Status::Success, "{name}");
        assert_eq!(status_in(&na(&m).opts), Status::Success, "{name}");
        assert_eq!(status_in(&pd(&m).opts), Status::Success, "{name}");
    }
}

/// Our server in Kea's place: Kea's DUID (so the captured Requests, Renews and Releases are
/// addressed to it), its subnet fd00:77::/64 with interface ids 0x100-0x1ff (Kea's pool
/// fd00:77::100-1ff), its PD pool 2001:db8:77:100::/56 of /60s.
fn server() -> Server6 {
    let net = |s: &str| s.parse::<Ipv6Net>().unwrap();
    let mut cfg = Server6Config::new(KEA_DUID.to_vec(), vec![net("fd00:77::/64")]);
    cfg.pd_pool = Some(PdPool { prefix: net("2001:db8:77:100::/56"), delegated_len: 60 });
    cfg.iid_range = (0x100, 0x1ff);
    cfg.dns_servers = vec![v6("fd00:77::1")];
    cfg.domains = vec!["home.arpa".into()];
    Server6::new(cfg, Instant::now(), super::UNIX0).unwrap()
}

/// The one answer of `s` to the captured `name` from `src`, records made durable at once.
fn answer(s: &mut Server6, name: &str, src: SocketAddrV6) -> Repr {
    let req = Repr::parse(&testdata(name)).unwrap();
    s.handle_input(Instant::now(), &testdata(name), &Meta6 { src });
    while let Some(c) = s.poll_commit() {
        s.handle_committed(c.seq);
    }
    let out: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert_eq!(out.len(), 1, "{name}: one answer");
    assert_eq!(out[0].dst, src, "{name}: answered to the client");
    let m = Repr::parse(&out[0].payload).unwrap();
    assert_eq!((m.xid, m.client_id()), (req.xid, req.client_id()), "{name}");
    assert_eq!(m.server_id(), Some(&KEA_DUID[..]), "{name}");
    m
}

#[test]
fn our_server_answers_each_captured_client_through_solicit_request_renew_release() {
    for (client, ll) in [("dhclient", "fe80::5054:ff:fec6:1"), ("dhcpcd", "fe80::5054:ff:fec6:2")] {
        let mut s = server();
        let src = SocketAddrV6::new(v6(ll), 546, 0, 2);
        let adv = answer(&mut s, &format!("{client}_solicit"), src);
        assert_eq!(adv.msg_type, MessageType::Advertise, "{client}");
        let sol = Repr::parse(&testdata(&format!("{client}_solicit"))).unwrap();
        assert_eq!((na(&adv).id, pd(&adv).id), (na(&sol).id, pd(&sol).id), "{client}");
        let offered = (addrs(&adv), prefixes(&adv));
        assert!(offered.0.iter().all(|a| a.0.segments()[..4] == [0xfd00, 0x77, 0, 0]));
        assert!(
            offered.1.iter().all(|p| p.1 == 60 && p.0.segments()[..3] == [0x2001, 0xdb8, 0x77])
        );
        assert_eq!((offered.0.len(), offered.1.len()), (1, 1), "{client}: {adv:?}");
        for step in ["request", "renew"] {
            let reply = answer(&mut s, &format!("{client}_{step}"), src);
            assert_eq!(reply.msg_type, MessageType::Reply, "{client} {step}");
            let live = |r: &Repr| {
                (
                    addrs(r).into_iter().filter(|a| a.2 > 0).count(),
                    prefixes(r).iter().filter(|p| p.2 > 0).count(),
                )
            };
            assert_eq!(live(&reply), (1, 1), "{client} {step}: {reply:?}");
        }
        let reply = answer(&mut s, &format!("{client}_release"), src);
        assert_eq!((reply.msg_type, reply.status()), (MessageType::Reply, Status::Success));
    }
}

/// Kea's Advertise and Reply to dhclient, with our requesting router's transaction id written
/// over bytes 1..4 (what the fuzz driver does), take it from Soliciting to Bound with the
/// prefix Kea delegated. The router is configured with dhclient's DUID and IAID, asking for
/// an address as well, so that Kea's answers are addressed to it.
#[test]
fn kea_answers_bind_our_requesting_router() {
    let cfg = ClientConfig {
        want_address: true,
        rapid_commit: false,
        ..ClientConfig::new(DHCLIENT_DUID.to_vec(), DHCLIENT_IAID, 7)
    };
    let mut c = Client::new(cfg);
    let t0 = Instant::now();
    c.handle_command(t0, Command::Start);
    let mut now = c.poll_timeout().unwrap();
    c.handle_timeout(now);
    let answer_with = |c: &mut Client, name: &str| {
        let tx = c.poll_transmit().expect("a message from the client");
        let mut kea = testdata(name);
        kea[1..4].copy_from_slice(&Repr::parse(&tx.payload).unwrap().xid);
        kea
    };
    let adv = answer_with(&mut c, "kea_advertise_dhclient");
    c.handle_input(now, &adv);
    // No Preference option: the client collects Advertises until its first timeout.
    while c.phase() == Phase::Soliciting {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
    }
    assert_eq!(c.phase(), Phase::Requesting);
    let reply = answer_with(&mut c, "kea_reply_dhclient");
    c.handle_input(now, &reply);
    assert_eq!(c.phase(), Phase::Bound);
    let l = c.lease().unwrap();
    assert_eq!((l.server_id.as_slice(), l.t1, l.t2), (&KEA_DUID[..], 3, 5));
    let p: Vec<_> = l.prefixes.iter().map(|p| (p.prefix, p.len, p.valid)).collect();
    assert_eq!(p, [(v6("2001:db8:77:100::"), 60, 12)]);
    assert_eq!(
        (l.dns_servers.clone(), l.domains.clone()),
        (vec![v6("fd00:77::1")], vec!["home.arpa".to_owned()])
    );
}

/// The fuzz seeds named `captured_*` (`fuzz/corpus/dhcp6_server`: the clients' messages;
/// `fuzz/corpus/dhcpv6_client`: Kea's answers) are these vectors, byte for byte.
#[test]
fn the_captured_fuzz_seeds_are_the_testdata() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, ..) in MESSAGES {
        let target = if name.starts_with("kea_") { "dhcpv6_client" } else { "dhcp6_server" };
        let seed = std::fs::read(corpus.join(target).join(format!("captured_{name}")));
        assert_eq!(seed.ok(), Some(testdata(name)), "{target}/captured_{name}");
    }
}
