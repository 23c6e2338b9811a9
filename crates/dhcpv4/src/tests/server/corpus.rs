//! The fuzz seed corpus through the machine on stable, plus seeded mutations of it.

use std::path::{Path, PathBuf};

use dhcproto::v4::relay::{RelayAgentInformation, RelayInfo};
use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::*;
use crate::fuzzing::run_server;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcp4_server")
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect()
}

#[test]
fn fuzz_corpus_does_not_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 10, "seed corpus has only {} files", seeds.len());
    for s in &seeds {
        run_server(s);
    }
}

/// A bounded, seeded mutation run (cargo-fuzz needs nightly). `DHCP4_MUTATIONS` raises it.
#[test]
fn seeded_mutations_of_the_corpus_do_not_panic() {
    let n: usize =
        std::env::var("DHCP4_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seeds = seeds();
    let mut x = 0x5eed_u64;
    let mut rnd = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m.max(1)
    };
    for _ in 0..n {
        let mut d = seeds[rnd(seeds.len() as u64) as usize].clone();
        for _ in 0..=rnd(4) {
            let at = rnd(d.len() as u64 + 1) as usize;
            match rnd(4) {
                0 if at < d.len() => d[at] = rnd(256) as u8,
                1 => d.truncate(at),
                2 => d.insert(at, rnd(256) as u8),
                _ if at < d.len() => d[at] ^= 1 << rnd(8),
                _ => {}
            }
        }
        run_server(&d);
    }
}

/// Writes the seed corpus. Run once: `cargo test -p dhcpv4 -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes fuzz/corpus/dhcp4_server"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = crate::fuzzing::config();
    let server = cfg.server_id;
    let a = ip("192.168.0.100");
    let z = |m: Message| m.to_vec().unwrap();
    let sel = |n| {
        let r = with(msg(MessageType::Request, mac(n), 2), DhcpOption::ServerIdentifier(server));
        with(r, DhcpOption::RequestedIpAddress(a))
    };
    let mut rai = RelayAgentInformation::default();
    rai.insert(RelayInfo::AgentCircuitId(b"eth7".to_vec()));
    let mut relayed =
        with(msg(MessageType::Discover, mac(3), 1), DhcpOption::RelayAgentInformation(rai));
    relayed.set_giaddr(ip("192.168.0.254"));
    let prl = DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::ClasslessStaticRoute,
        OptionCode::DomainSearch,
    ]);
    let named = with(
        with(msg(MessageType::Discover, mac(4), 1), DhcpOption::Hostname("Kitchen Pad".into())),
        prl,
    );
    let mut renew = msg(MessageType::Request, mac(1), 4);
    renew.set_ciaddr(a);
    let mut release =
        with(msg(MessageType::Release, mac(1), 5), DhcpOption::ServerIdentifier(server));
    release.set_ciaddr(a);
    let decline = with(sel(1), DhcpOption::MessageType(MessageType::Decline));
    let mut inform = msg(MessageType::Inform, mac(5), 6);
    inform.set_ciaddr(ip("192.168.0.50"));
    let join = |parts: &[Vec<u8>]| parts.join(&0xfe);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("discover", z(msg(MessageType::Discover, mac(1), 1))),
        (
            "discover_rapid_commit",
            z(with(msg(MessageType::Discover, mac(2), 1), DhcpOption::RapidCommit)),
        ),
        ("discover_relayed_82", z(relayed)),
        ("discover_hostname_prl", z(named)),
        ("discover_reserved_mac", z(msg(MessageType::Discover, [2, 0, 0, 0, 0, 1], 1))),
        ("request_selecting", z(sel(1))),
        ("request_init_reboot", z(init_reboot(mac(1), a))),
        ("request_renewing", z(renew.clone())),
        ("release", z(release.clone())),
        ("decline", z(decline.clone())),
        ("inform", z(inform)),
        ("dora", join(&[z(msg(MessageType::Discover, mac(1), 1)), z(sel(1))])),
        (
            "dora_renew_release",
            join(&[z(msg(MessageType::Discover, mac(1), 1)), z(sel(1)), z(renew), z(release)]),
        ),
        ("dora_decline", join(&[z(msg(MessageType::Discover, mac(1), 1)), z(sel(1)), z(decline)])),
        (
            "exhaust",
            join(
                &(1..7)
                    .map(|n| {
                        z(with(msg(MessageType::Discover, mac(n), 1), DhcpOption::RapidCommit))
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        ("truncated_header", z(msg(MessageType::Discover, mac(1), 1))[..100].to_vec()),
        ("lease_log_frame", {
            let mut b = Vec::new();
            crate::server::LeaseRecord {
                address: a,
                state: leases::RecordState::Bound,
                expires: UNIX0,
                hw: crate::server::HwAddr::ethernet(mac(1)),
                client_id: vec![1, 2],
                hostname: Some("pc".into()),
            }
            .encode(&mut b);
            b
        }),
    ];
    for (name, data) in files {
        std::fs::write(dir.join(name), data).unwrap();
    }
}
