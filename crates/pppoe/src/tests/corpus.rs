//! Runs every seed of the fuzz corpus (`fuzz/corpus/pppoe_*`, `fuzz/corpus/ppp_*`) through
//! the same property as its fuzz target, on stable, so CI catches regressions. The seeds of the
//! data-path targets are built here, by [`data_path_seeds`], from the captures in `testdata/`.

use std::path::PathBuf;

use crate::tests::testdata;
use crate::wire::session::{Classified, SessionKey, classify, session_frame};
use crate::wire::{EthernetHeader, Vlan, proto};
use crate::{fuzzing, mss};

fn corpus() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.canonicalize().unwrap_or(manifest).join("../../fuzz/corpus")
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

fn run(target: &str, property: fn(&[u8])) {
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "no seeds for {target}");
    for (path, data) in seeds {
        let result = std::panic::catch_unwind(|| property(&data));
        assert!(result.is_ok(), "{target}: seed {} fails", path.display());
    }
}

#[test]
fn pppoe_discovery_seeds() {
    run("pppoe_discovery", fuzzing::discovery_round_trip);
}

#[test]
fn ppp_control_seeds() {
    run("ppp_control", fuzzing::control_round_trip);
}

#[test]
fn pppoe_client_machine_seeds() {
    run("pppoe_client_machine", |d| {
        fuzzing::client_machine(d);
    });
    // The seeds reach deep: the plain bring-up seed gets the client Up.
    let dir = corpus().join("pppoe_client_machine");
    assert!(fuzzing::client_machine(&std::fs::read(dir.join("bring_up")).unwrap()));
}

#[test]
fn pppoe_session_seeds() {
    run("pppoe_session", fuzzing::session_frame);
    // The seeds reach the clamp: a captured SYN in a tagged session frame is data, clamped.
    let frame = std::fs::read(corpus().join("pppoe_session/tcp_syn_v4_mss1460_vlan7")).unwrap();
    let Classified::Data { payload, .. } = classify(&frame, &SEED_KEY) else { panic!() };
    assert!(mss::clamp(&mut payload.to_vec(), false, 1492));
}

#[test]
fn pppoe_ip_seeds() {
    run("pppoe_ip", fuzzing::ip_packet);
}

/// Our side of the session the `pppoe_session` seeds arrive on: the MAC addresses are from
/// the range RFC 9542 sets aside for documentation, VLAN 7 as on many DSL lines.
const SEED_KEY: SessionKey = SessionKey {
    local: [0x00, 0x00, 0x5e, 0x00, 0x53, 0x02],
    peer: [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01],
    vlan: Some(Vlan { pcp: 0, dei: false, id: 7 }),
    session_id: 0x1a2b,
};

/// The seeds of `pppoe_session` and `pppoe_ip`, as (target, file, bytes). `pppoe_ip` gets the
/// IP packets captured from Linux in `testdata/` and two of them cut short. `pppoe_session`
/// gets them as the access concentrator sends them to us (session frames, untagged and on
/// VLAN 7, padded to Ethernet's 60 bytes: the ICMP one then carries padding past its PPPoE
/// LENGTH), an LCP Echo-Request (hand-built from RFC 1661 §5.8), a PADT, a frame cut short and
/// one whose PPPoE LENGTH runs past its end.
fn data_path_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    const CAPTURED: [(&str, u16); 7] = [
        ("icmp_echo_reply_v4", proto::IPV4),
        ("tcp_syn_v4_mss1460", proto::IPV4),
        ("tcp_synack_v4_mss1460", proto::IPV4),
        ("tcp_psh_ack_v4", proto::IPV4),
        ("tcp_syn_v6_mss1460", proto::IPV6),
        ("tcp_syn_v6_mss1440", proto::IPV6),
        ("tcp_psh_ack_v6", proto::IPV6),
    ];
    let theirs = |vlan: bool| SessionKey {
        local: SEED_KEY.peer,
        peer: SEED_KEY.local,
        vlan: SEED_KEY.vlan.filter(|_| vlan),
        ..SEED_KEY
    };
    let frame = |vlan: bool, protocol: u16, payload: &[u8]| {
        let mut f = session_frame(&theirs(vlan), protocol, payload).unwrap();
        f.resize(f.len().max(60), 0);
        f
    };
    let mut seeds = Vec::new();
    for (name, protocol) in CAPTURED {
        let packet = testdata(name);
        seeds.push(("pppoe_ip", name.to_string(), packet.clone()));
        seeds.push(("pppoe_session", name.to_string(), frame(false, protocol, &packet)));
        seeds.push(("pppoe_session", format!("{name}_vlan7"), frame(true, protocol, &packet)));
    }
    let syn = testdata("tcp_syn_v4_mss1460");
    seeds.push(("pppoe_ip", "tcp_syn_v4_truncated".into(), syn[..44].to_vec()));
    let syn6 = testdata("tcp_syn_v6_mss1460");
    seeds.push(("pppoe_ip", "tcp_syn_v6_truncated".into(), syn6[..64].to_vec()));
    // Echo-Request, Identifier 1, Length 8, Magic-Number 0x01020304.
    let echo = [0x09, 0x01, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04];
    seeds.push(("pppoe_session", "lcp_echo_request".into(), frame(false, proto::LCP, &echo)));
    seeds.push(("pppoe_session", "lcp_echo_request_vlan7".into(), frame(true, proto::LCP, &echo)));
    // PADT (code 0xa7) for the session, no tags (RFC 2516 §5.5).
    let eth = EthernetHeader {
        dst: SEED_KEY.local,
        src: SEED_KEY.peer,
        vlan: SEED_KEY.vlan,
        ethertype: crate::wire::ETHERTYPE_DISCOVERY,
    };
    let mut padt = vec![0; eth.buffer_len()];
    eth.emit(&mut padt).unwrap();
    padt.extend_from_slice(&[0x11, 0xa7, 0x1a, 0x2b, 0x00, 0x00]);
    padt.resize(60, 0);
    seeds.push(("pppoe_session", "padt_vlan7".into(), padt));
    let whole = frame(true, proto::IPV4, &syn);
    seeds.push(("pppoe_session", "tcp_syn_v4_truncated_vlan7".into(), whole[..60].to_vec()));
    let mut long = whole;
    long[22..24].copy_from_slice(&0x05d4u16.to_be_bytes()); // LENGTH 1492
    seeds.push(("pppoe_session", "length_past_end_vlan7".into(), long));
    seeds
}

/// The data-path seeds on disk are what [`data_path_seeds`] builds.
#[test]
fn data_path_seeds_are_up_to_date() {
    for (target, name, bytes) in data_path_seeds() {
        let path = corpus().join(target).join(&name);
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(on_disk == bytes, "{}: run `write_data_path_seeds`", path.display());
    }
}

/// Writes the data-path seeds: `cargo test -p pppoe --lib -- --ignored write_data_path_seeds`.
#[test]
#[ignore = "writes fuzz/corpus/pppoe_session and fuzz/corpus/pppoe_ip"]
fn write_data_path_seeds() {
    for (target, name, bytes) in data_path_seeds() {
        let dir = corpus().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// The targets whose seeds the tests above replay.
const TARGETS: [&str; 5] =
    ["pppoe_discovery", "ppp_control", "pppoe_client_machine", "pppoe_session", "pppoe_ip"];

/// The corpus only has the targets above: a new `pppoe_*`/`ppp_*` directory needs a test here.
#[test]
fn every_corpus_directory_is_covered() {
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("pppoe_") || name.starts_with("ppp_") {
            assert!(TARGETS.contains(&name.as_str()), "{name} has no seed test");
        }
    }
}

/// A poor man's fuzz run on stable: seeded random inputs, and random mutations of the seeds,
/// through every property.
#[test]
fn random_and_mutated_inputs_hold_the_properties() {
    let mut rng = splitmix::Rng::new(0x5eed);
    type Property = fn(&[u8]);
    let targets: [(&str, Property); 5] = [
        ("pppoe_discovery", fuzzing::discovery_round_trip),
        ("ppp_control", fuzzing::control_round_trip),
        ("pppoe_client_machine", |d| {
            fuzzing::client_machine(d);
        }),
        ("pppoe_session", fuzzing::session_frame),
        ("pppoe_ip", fuzzing::ip_packet),
    ];
    for (target, property) in targets {
        let seeds = seeds(target);
        for i in 0..400 {
            let mut data = if i % 2 == 0 {
                seeds[i % seeds.len()].1.clone()
            } else {
                let mut v = vec![0; (rng.next_u32() % 200) as usize];
                rng.fill(&mut v);
                v
            };
            for _ in 0..(rng.next_u32() % 4) {
                if !data.is_empty() {
                    let at = rng.next_u32() as usize % data.len();
                    data[at] ^= (rng.next_u32() & 0xff) as u8;
                }
            }
            property(&data);
        }
    }
}
