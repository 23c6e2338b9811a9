//! Captured vectors (`testdata/*.hex`, each with its provenance line): the DISCOVERs,
//! REQUESTs and RELEASEs of ISC dhclient 4.4.3, busybox udhcpc 1.35, dhcpcd 9.4.1 and perfdhcp
//! (as a relay), and the OFFERs and ACKs of Kea 2.2 to them, taken with tcpdump on a veth
//! between two network namespaces. The quartet on every one of them; then the clients'
//! exchanges replayed through our server, and Kea's answers through our client.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use super::testdata;
use crate::client::{Client, Phase};
use crate::fuzzing::{clients_in_every_state, patched};
use crate::server::{Event, Meta, PoolRange, Reservation, Server, ServerConfig};
use crate::wire::{self, BOOTREPLY, BOOTREQUEST, HEADER_LEN, decode_checked};

/// Every captured client message: file, type, xid, chaddr.
const REQUESTS: [(&str, MessageType, u32, [u8; 6]); 12] = [
    ("dhclient_discover", MessageType::Discover, 0xfd42_0b66, DHCLIENT),
    ("dhclient_request", MessageType::Request, 0xfd42_0b66, DHCLIENT),
    ("dhclient_release", MessageType::Release, 0x064e_f730, DHCLIENT),
    ("udhcpc_discover", MessageType::Discover, 0xea3c_9514, UDHCPC),
    ("udhcpc_request", MessageType::Request, 0xea3c_9514, UDHCPC),
    ("udhcpc_renew", MessageType::Request, 0xea3c_9514, UDHCPC),
    ("udhcpc_release", MessageType::Release, 0x3ae2_ee71, UDHCPC),
    ("dhcpcd_discover", MessageType::Discover, 0x6799_a591, DHCPCD),
    ("dhcpcd_request", MessageType::Request, 0x6799_a591, DHCPCD),
    ("dhcpcd_release", MessageType::Release, 0x0347_9b5d, DHCPCD),
    ("perfdhcp_discover_relayed", MessageType::Discover, 0, PERFDHCP),
    ("perfdhcp_request_relayed", MessageType::Request, 0, PERFDHCP),
];

/// Every captured Kea answer: file, type, xid, yiaddr.
const REPLIES: [(&str, MessageType, u32, [u8; 4]); 8] = [
    ("kea_offer_dhclient", MessageType::Offer, 0xfd42_0b66, [192, 168, 77, 100]),
    ("kea_ack_dhclient", MessageType::Ack, 0xfd42_0b66, [192, 168, 77, 100]),
    ("kea_offer_udhcpc", MessageType::Offer, 0xea3c_9514, [192, 168, 77, 100]),
    ("kea_ack_udhcpc", MessageType::Ack, 0xea3c_9514, [192, 168, 77, 100]),
    ("kea_offer_dhcpcd", MessageType::Offer, 0x6799_a591, [192, 168, 77, 102]),
    ("kea_ack_dhcpcd", MessageType::Ack, 0x6799_a591, [192, 168, 77, 102]),
    ("kea_offer_relayed", MessageType::Offer, 0, [192, 168, 77, 103]),
    ("kea_ack_relayed", MessageType::Ack, 0, [192, 168, 77, 103]),
];

const DHCLIENT: [u8; 6] = [0x52, 0x54, 0x00, 0xc4, 0x00, 0x01];
const UDHCPC: [u8; 6] = [0x52, 0x54, 0x00, 0xc4, 0x00, 0x02];
const DHCPCD: [u8; 6] = [0x52, 0x54, 0x00, 0xc4, 0x00, 0x03];
const PERFDHCP: [u8; 6] = [0x00, 0x0c, 0x01, 0x02, 0x03, 0x04];
const KEA: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const RELAY: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 77, last)
}

fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

fn prl(m: &Message) -> Vec<u8> {
    match opt(m, OptionCode::ParameterRequestList) {
        Some(DhcpOption::ParameterRequestList(l)) => l.iter().map(|&c| u8::from(c)).collect(),
        _ => vec![],
    }
}

/// Parse, check the header fields the capture shows, emit, parse again. The fixed header and
/// the magic cookie come back byte-exactly; the options come back sorted by code (dhcproto
/// keeps them in a `BTreeMap`) and without the captured padding, so that part is compared
/// as decoded messages.
fn quartet(name: &str, op: u8) -> Message {
    let bytes = testdata(name);
    let m = decode_checked(&bytes, op).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = m.to_vec().unwrap();
    assert_eq!(again[..HEADER_LEN + 4], bytes[..HEADER_LEN + 4], "{name}: header");
    assert_eq!(decode_checked(&again, op).unwrap(), m, "{name}: round trip");
    // dhcproto, an independent reader of the same bytes, agrees.
    assert_eq!(Message::decode(&mut Decoder::new(&bytes)).unwrap(), m, "{name}");
    m
}

#[test]
fn captured_requests_parse_emit_and_parse_again() {
    for (name, kind, xid, mac) in REQUESTS {
        let m = quartet(name, BOOTREQUEST);
        let r = wire::parse(&testdata(name)).unwrap();
        assert_eq!((r.kind, m.xid(), m.chaddr()), (kind, xid, &mac[..]), "{name}");
        assert_eq!(r.msg, m);
    }
}

#[test]
fn captured_kea_replies_parse_emit_and_parse_again() {
    for (name, kind, xid, yiaddr) in REPLIES {
        let m = quartet(name, BOOTREPLY);
        assert_eq!(m.opts().msg_type(), Some(kind), "{name}");
        assert_eq!((m.xid(), m.yiaddr()), (xid, Ipv4Addr::from(yiaddr)), "{name}");
        assert_eq!(opt(&m, OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(KEA)));
        assert_eq!(
            opt(&m, OptionCode::AddressLeaseTime),
            Some(&DhcpOption::AddressLeaseTime(4000))
        );
        assert_eq!(
            opt(&m, OptionCode::DomainName),
            Some(&DhcpOption::DomainName("home.arpa".into()))
        );
        // The server side: our parser refuses a reply where a request is due.
        assert_eq!(wire::parse(&testdata(name)), Err(wire::Error::NotRequest(2)));
    }
}

#[test]
fn the_fields_each_client_sent() {
    let m = quartet("dhclient_discover", BOOTREQUEST);
    assert_eq!(prl(&m), [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]);
    assert_eq!(opt(&m, OptionCode::Hostname), Some(&DhcpOption::Hostname("vm".into())));
    assert!(opt(&m, OptionCode::ClientIdentifier).is_none(), "dhclient sends no client id");
    let m = quartet("dhclient_request", BOOTREQUEST);
    assert_eq!(
        opt(&m, OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ip(100)))
    );
    assert_eq!(opt(&m, OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(KEA)));
    let m = quartet("udhcpc_discover", BOOTREQUEST);
    let id = [1, 0x52, 0x54, 0x00, 0xc4, 0x00, 0x02].to_vec();
    assert_eq!(opt(&m, OptionCode::ClientIdentifier), Some(&DhcpOption::ClientIdentifier(id)));
    assert_eq!(opt(&m, OptionCode::Hostname), Some(&DhcpOption::Hostname("udhcpc-pc".into())));
    let vendor = DhcpOption::ClassIdentifier(b"udhcp 1.35.0".to_vec());
    assert_eq!(opt(&m, OptionCode::ClassIdentifier), Some(&vendor));
    assert_eq!(prl(&m), [1, 3, 6, 12, 15, 28, 42]);
    let m = quartet("udhcpc_renew", BOOTREQUEST);
    assert_eq!(m.ciaddr(), ip(100));
    assert!(opt(&m, OptionCode::ServerIdentifier).is_none(), "RENEWING: no server id");
    assert!(opt(&m, OptionCode::RequestedIpAddress).is_none(), "RENEWING: no option 50");
    let m = quartet("dhcpcd_discover", BOOTREQUEST);
    assert_eq!(opt(&m, OptionCode::Hostname), Some(&DhcpOption::Hostname("dhcpcd-pc".into())));
    assert!(prl(&m).contains(&121), "dhcpcd asks for classless static routes");
    match opt(&m, OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(v)) => assert!(v.starts_with(b"dhcpcd-9.4.1:Linux-")),
        other => panic!("vendor class {other:?}"),
    }
    let m = quartet("dhcpcd_request", BOOTREQUEST);
    assert_eq!(opt(&m, OptionCode::MaxMessageSize), Some(&DhcpOption::MaxMessageSize(1472)));
    assert_eq!(
        opt(&m, OptionCode::Unknown(145)),
        Some(&DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(
            OptionCode::Unknown(145),
            vec![1]
        ))),
        "RFC 6704 FORCERENEW nonce capable, kept as unknown"
    );
    for (name, ciaddr) in
        [("dhclient_release", 100), ("udhcpc_release", 100), ("dhcpcd_release", 102)]
    {
        let m = quartet(name, BOOTREQUEST);
        assert_eq!(m.ciaddr(), ip(ciaddr), "{name}");
        assert_eq!(opt(&m, OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(KEA)));
    }
    for name in ["perfdhcp_discover_relayed", "perfdhcp_request_relayed"] {
        let m = quartet(name, BOOTREQUEST);
        assert_eq!((m.hops(), m.giaddr()), (1, RELAY), "{name}");
    }
    let m = quartet("kea_ack_dhcpcd", BOOTREPLY);
    assert_eq!(opt(&m, OptionCode::Renewal), Some(&DhcpOption::Renewal(1000)));
    assert_eq!(opt(&m, OptionCode::Rebinding), Some(&DhcpOption::Rebinding(2000)));
}

/// Our server for the capture's LAN (192.168.77.0/24, server id .1, pool .100–.199, as Kea
/// had it). A fresh one offers .100, what Kea gave dhclient and udhcpc; dhcpcd's and
/// perfdhcp's MACs are reserved to the address Kea gave them (.102, .103), so that each
/// captured REQUEST asks for what we offer.
fn server() -> Server {
    let pool = PoolRange { first: ip(100), last: ip(199) };
    let mut cfg = ServerConfig::new(KEA, "192.168.77.0/24".parse().unwrap(), pool);
    cfg.lease_time = 4000;
    for (mac, last) in [(DHCPCD, 102), (PERFDHCP, 103)] {
        cfg.reservations.push(Reservation::by_mac(mac, ip(last), None));
    }
    Server::new(cfg, Instant::now(), super::server::UNIX0).unwrap()
}

/// Feeds the captured `name` from `src`, commits, returns the replies and the events.
fn feed(
    s: &mut Server,
    name: &str,
    src: SocketAddrV4,
) -> (Vec<(SocketAddrV4, Message)>, Vec<Event>) {
    s.handle_input(Instant::now(), &testdata(name), &Meta { src });
    while let Some(c) = s.poll_commit() {
        s.handle_committed(c.seq);
    }
    let replies = std::iter::from_fn(|| s.poll_transmit())
        .map(|t| (t.dst, decode_checked(&t.payload, BOOTREPLY).unwrap()))
        .collect();
    (replies, std::iter::from_fn(|| s.poll_event()).collect())
}

/// The one reply to `name` and the events: its type, xid and chaddr are checked against the
/// request.
fn answer(
    s: &mut Server,
    name: &str,
    src: SocketAddrV4,
    kind: MessageType,
) -> (SocketAddrV4, Message, Vec<Event>) {
    let req = wire::parse(&testdata(name)).unwrap().msg;
    let (mut replies, events) = feed(s, name, src);
    assert_eq!(replies.len(), 1, "{name}: {replies:?}");
    let (dst, m) = replies.pop().unwrap();
    assert_eq!(m.opts().msg_type(), Some(kind), "{name}");
    assert_eq!((m.xid(), m.chaddr()), (req.xid(), req.chaddr()), "{name}");
    assert_eq!(opt(&m, OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(KEA)));
    (dst, m, events)
}

const FROM_68: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
const BROADCAST_68: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, 68);

#[test]
fn our_server_answers_each_captured_client_through_dora_and_release() {
    for (client, addr, host) in
        [("dhclient", 100, "vm"), ("udhcpc", 100, "udhcpc-pc"), ("dhcpcd", 102, "dhcpcd-pc")]
    {
        let mut s = server();
        let discover = format!("{client}_discover");
        let (dst, offer, _) = answer(&mut s, &discover, FROM_68, MessageType::Offer);
        assert_eq!((dst, offer.yiaddr()), (BROADCAST_68, ip(addr)), "{client}");
        let (_, ack, events) =
            answer(&mut s, &format!("{client}_request"), FROM_68, MessageType::Ack);
        assert_eq!(ack.yiaddr(), ip(addr), "{client}");
        let granted =
            |l: &crate::server::Lease| l.address == ip(addr) && l.hostname.as_deref() == Some(host);
        assert!(
            matches!(&events[..], [Event::LeaseGranted(l)] if granted(l)),
            "{client}: {events:?}"
        );
        let bound = SocketAddrV4::new(ip(addr), 68);
        if client == "udhcpc" {
            // RENEWING (SIGUSR1): unicast from the bound address, answered to it.
            let (dst, ack, _) = answer(&mut s, "udhcpc_renew", bound, MessageType::Ack);
            assert_eq!((dst, ack.yiaddr()), (bound, ip(addr)));
        }
        let (replies, events) = feed(&mut s, &format!("{client}_release"), bound);
        assert!(replies.is_empty(), "{client}: RELEASE is not answered");
        assert!(
            events.iter().any(|e| matches!(e, Event::LeaseReleased(l) if l.address == ip(addr))),
            "{client}: {events:?}"
        );
    }
}

#[test]
fn our_server_answers_perfdhcps_relayed_discover_and_request_to_the_relay() {
    let mut s = server();
    let relay = SocketAddrV4::new(RELAY, 67);
    let (dst, offer, _) = answer(&mut s, "perfdhcp_discover_relayed", relay, MessageType::Offer);
    assert_eq!((dst, offer.giaddr(), offer.yiaddr()), (relay, RELAY, ip(103)));
    let (dst, ack, _) = answer(&mut s, "perfdhcp_request_relayed", relay, MessageType::Ack);
    assert_eq!((dst, ack.yiaddr()), (relay, ip(103)));
}

/// Kea's OFFER and ACK to dhclient, with our client's xid and MAC written in (what
/// `fuzzing::patched` does for the fuzz target), take our client from SELECTING to BOUND with
/// the lease Kea gave.
#[test]
fn kea_answers_bind_our_client() {
    let staged = clients_in_every_state(Instant::now());
    let (selecting, now) = &staged[1];
    assert_eq!(selecting.phase(), Phase::Selecting);
    let mut c: Client = selecting.clone();
    c.handle_input(*now, &patched(&c, &testdata("kea_offer_dhclient")));
    assert_eq!(c.phase(), Phase::Requesting);
    let tx = c.poll_transmit().expect("a REQUEST");
    let req = decode_checked(&tx.payload, BOOTREQUEST).unwrap();
    assert_eq!(opt(&req, OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(KEA)));
    assert_eq!(
        opt(&req, OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ip(100)))
    );
    c.handle_input(*now, &patched(&c, &testdata("kea_ack_dhclient")));
    assert_eq!(c.phase(), Phase::Bound);
    let l = c.lease().unwrap();
    assert_eq!((l.address, l.prefix_len, l.gateway, l.server), (ip(100), 24, Some(KEA), KEA));
    assert_eq!(
        (l.lease_time, l.dns_servers.clone(), l.domain.as_deref()),
        (4000, vec![KEA], Some("home.arpa"))
    );
}

/// The fuzz seeds named `captured_*` (`fuzz/corpus/dhcp4_server`: the clients' messages;
/// `fuzz/corpus/dhcp4_client`: Kea's answers) are these vectors, byte for byte.
#[test]
fn the_captured_fuzz_seeds_are_the_testdata() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let names = |l: &[&str]| l.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let server: Vec<&str> = REQUESTS.iter().map(|r| r.0).collect();
    let client: Vec<&str> = REPLIES.iter().map(|r| r.0).collect();
    for (target, names) in [("dhcp4_server", names(&server)), ("dhcp4_client", names(&client))] {
        for name in names {
            let seed = std::fs::read(corpus.join(target).join(format!("captured_{name}")));
            assert_eq!(seed.ok(), Some(testdata(&name)), "{target}/captured_{name}");
        }
    }
}
