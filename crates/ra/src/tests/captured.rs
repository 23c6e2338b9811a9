//! Captured vectors (`testdata/*.hex`, each with its provenance line): the Linux kernel's
//! Router Solicitation, its Neighbor Solicitations (for DAD, and for a neighbour that `ping`
//! looked up) and the Neighbor Advertisement that answered, taken with tcpdump on a veth
//! between two network namespaces. The crate parses RS and RA only; an NS or NA must be
//! refused by the RS parser and counted by the advertiser, and their options (the same ND
//! option format, RFC 4861 §4.6) go through the option parser behind an RS header.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::{cfg, run};
use crate::advertiser::{ALL_NODES, Advertiser, MAX_RA_DELAY_TIME};
use crate::wire::{Error, NdOption, RouterAdvertisement, RouterSolicitation};

/// The soliciting interface: a0, 52:54:00:0a:00:01, fe80::5054:ff:fe0a:1.
const A0_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x0a, 0x00, 0x01];
const A0_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe0a, 1);
/// The neighbour: b0, 52:54:00:0b:00:01, fd00:78::2.
const B0_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x0b, 0x00, 0x01];
const B0: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x78, 0, 0, 0, 0, 0, 2);

/// The captured vector `testdata/<name>.hex`: hex bytes, `#` lines (the provenance) skipped.
fn testdata(name: &str) -> Vec<u8> {
    ::testdata::read(env!("CARGO_MANIFEST_DIR"), name)
}

/// The Target Address of an NS or NA (RFC 4861 §4.3, §4.4).
fn target(msg: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&msg[8..24]).unwrap())
}

/// The RS quartet: the kernel's RS carries one option, its Source Link-Layer Address. Emit is
/// byte-exact except for the checksum, which the crate leaves to the kernel (sent as zero).
#[test]
fn kernel_rs_parses_and_emits_byte_exactly_but_the_checksum() {
    let bytes = testdata("kernel_rs");
    let rs = RouterSolicitation::parse(&bytes).unwrap();
    assert_eq!(rs.options, [NdOption::SourceLinkLayerAddress(A0_MAC.to_vec())]);
    assert_eq!(rs.buffer_len(), bytes.len());
    let again = rs.to_vec();
    assert_eq!(again[2..4], [0, 0], "checksum left to the kernel");
    assert_eq!((&again[..2], &again[4..]), (&bytes[..2], &bytes[4..]), "byte-exact otherwise");
    assert_eq!(RouterSolicitation::parse(&again), Ok(rs));
    assert_eq!(RouterAdvertisement::parse(&bytes), Err(Error::Type(0x85)));
}

/// The kernel's RS, from its link-local address, gets an RA to all nodes within
/// MAX_RA_DELAY_TIME (RFC 4861 §6.2.6).
#[test]
fn kernel_rs_is_answered_by_the_advertiser() {
    let t0 = Instant::now();
    let mut t = t0;
    let mut m = Advertiser::new(cfg(), t0);
    run(&mut m, &mut t, t0 + Duration::from_secs(60)); // past the initial RAs
    let rs_at = t0 + Duration::from_secs(100);
    m.handle_input(rs_at, A0_LL, &testdata("kernel_rs"));
    assert_eq!(m.stats().rs_received, 1);
    let answer = m.poll_timeout().unwrap();
    assert!(answer >= rs_at && answer <= rs_at + MAX_RA_DELAY_TIME);
    m.handle_timeout(answer);
    let tx = m.poll_transmit().unwrap();
    assert_eq!(tx.dst, ALL_NODES);
    assert!(RouterAdvertisement::parse(&tx.bytes).is_ok());
}

/// NS (135) and NA (136) are not solicitations: refused by type, counted as malformed by the
/// advertiser, no RA. Their fixed parts show what the capture says: the target, the NA flags.
#[test]
fn kernel_ns_and_na_are_refused_and_counted() {
    let t0 = Instant::now();
    let mut m = Advertiser::new(cfg(), t0);
    m.handle_timeout(t0);
    while m.poll_transmit().is_some() {}
    let before = m.poll_timeout();
    for (name, ty) in [("kernel_ns_dad", 0x87), ("kernel_ns", 0x87), ("kernel_na", 0x88)] {
        let bytes = testdata(name);
        assert_eq!(RouterSolicitation::parse(&bytes), Err(Error::Type(ty)), "{name}");
        assert_eq!(RouterAdvertisement::parse(&bytes), Err(Error::Type(ty)), "{name}");
        m.handle_input(t0 + Duration::from_millis(10), A0_LL, &bytes);
    }
    assert_eq!((m.stats().malformed, m.stats().rs_received), (3, 0));
    assert_eq!(m.poll_timeout(), before);
    let dad = testdata("kernel_ns_dad");
    assert_eq!(target(&dad), A0_LL, "DAD of the link-local address");
    assert_eq!(target(&testdata("kernel_ns")), B0, "the neighbour ping looked up");
    let na = testdata("kernel_na");
    assert_eq!(na[4], 0x60, "NA flags: Solicited, Override, not Router");
    assert_eq!(target(&na), B0);
}

/// The options of the kernel's NS and NA, after the 24-octet NS/NA fixed part, through the
/// ND option parser (behind an 8-octet RS header): the Source Link-Layer Address of the NS,
/// the Target Link-Layer Address (2) of the NA and the DAD Nonce (14, RFC 7527) kept as
/// unknown options, byte-exactly.
#[test]
fn kernel_ns_and_na_options_through_the_nd_option_parser() {
    let options = |name: &str| {
        let mut rs = vec![0x85, 0, 0, 0, 0, 0, 0, 0];
        rs.extend_from_slice(&testdata(name)[24..]);
        let parsed = RouterSolicitation::parse(&rs).unwrap();
        assert_eq!(parsed.to_vec(), rs, "{name}: the options emit byte-exactly");
        parsed.options
    };
    assert_eq!(options("kernel_ns"), [NdOption::SourceLinkLayerAddress(A0_MAC.to_vec())]);
    assert_eq!(options("kernel_na"), [NdOption::Unknown { code: 2, data: B0_MAC.to_vec() }]);
    let dad = options("kernel_ns_dad");
    assert!(matches!(&dad[..], [NdOption::Unknown { code: 14, data }] if data.len() == 6));
}

/// The fuzz seeds `fuzz/corpus/ra_input/captured_*` are these vectors, byte for byte.
#[test]
fn the_captured_fuzz_seeds_are_the_testdata() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ra_input");
    for name in ["kernel_rs", "kernel_ns_dad", "kernel_ns", "kernel_na"] {
        let seed = std::fs::read(dir.join(format!("captured_{name}")));
        assert_eq!(seed.ok(), Some(testdata(name)), "ra_input/captured_{name}");
        crate::fuzzing::run(&testdata(name));
    }
}
