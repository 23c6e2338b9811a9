//! The DHCPv6 server's fuzz corpus (`fuzz/corpus/dhcp6_server`), replayed and mutated on
//! stable, and its writer.

use std::path::{Path, PathBuf};

fn corpus6_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcp6_server")
}

fn seeds6() -> Vec<Vec<u8>> {
    let dir = corpus6_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect()
}

#[test]
fn fuzz_corpus6_does_not_panic() {
    let seeds = seeds6();
    assert!(seeds.len() >= 10, "seed corpus has only {} files", seeds.len());
    for s in &seeds {
        crate::fuzzing::run_server6(s);
    }
}

/// A bounded, seeded mutation run of the DHCPv6 corpus. `DHCP6_MUTATIONS` raises it.
#[test]
fn seeded_mutations_of_the_corpus6_do_not_panic() {
    let n: usize =
        std::env::var("DHCP6_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seeds = seeds6();
    let mut x = 0x5eed6_u64;
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
        crate::fuzzing::run_server6(&d);
    }
}

/// Writes the DHCPv6 seed corpus. Run once:
/// `cargo test -p dhcpv6 -- --ignored write_seed_corpus6`.
#[test]
#[ignore = "writes fuzz/corpus/dhcp6_server"]
fn write_seed_corpus6() {
    use dhcproto::v6::{
        DhcpOption as O6, DhcpOptions, IAAddr, IANA, IAPD, IAPrefix, UnknownOption,
    };
    use dhcproto::v6::{MessageType as M6, OptionCode as C6};

    use super::server6::{msg6, to_us};
    use crate::server::store::{IaKind, LeaseRecord6, Record, RecordState};
    let dir = corpus6_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let a: std::net::Ipv6Addr = "2001:db8:1:1::1234".parse().unwrap();
    let p: std::net::Ipv6Addr = "2001:db8:1:100::".parse().unwrap();
    let z = |m: crate::wire::Repr| m.to_vec().unwrap();
    let holding = |kind: M6, n: u8, ours: bool| {
        let mut m = msg6(kind, n, false, false);
        let addr = IAAddr { addr: a, preferred_life: 0, valid_life: 0, opts: DhcpOptions::new() };
        let na: DhcpOptions = [O6::IAAddr(addr)].into_iter().collect();
        m.push(O6::IANA(IANA { id: 1, t1: 0, t2: 0, opts: na }));
        let pre = IAPrefix {
            preferred_lifetime: 0,
            valid_lifetime: 0,
            prefix_len: 64,
            prefix_ip: p,
            opts: DhcpOptions::new(),
        };
        let pd: DhcpOptions = [O6::IAPrefix(pre)].into_iter().collect();
        m.push(O6::IAPD(IAPD { id: 2, t1: 0, t2: 0, opts: pd }));
        if ours { to_us(m) } else { m }
    };
    let mut rapid = msg6(M6::Solicit, 2, true, true);
    rapid.push(O6::RapidCommit);
    let mut fqdn = msg6(M6::Solicit, 3, true, false);
    fqdn.push(O6::RapidCommit);
    fqdn.push(O6::Unknown(UnknownOption::new(C6::from(39), b"\x01\x02pc\x00".to_vec())));
    let join = |parts: &[Vec<u8>]| parts.join(&0xfe);
    let sol = z(msg6(M6::Solicit, 1, true, true));
    let req = z(holding(M6::Request, 1, true));
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("solicit_na_pd", sol.clone()),
        ("solicit_rapid_commit", z(rapid.clone())),
        ("solicit_fqdn", z(fqdn)),
        ("request", req.clone()),
        ("renew", z(holding(M6::Renew, 1, true))),
        ("rebind", z(holding(M6::Rebind, 1, false))),
        ("release", z(holding(M6::Release, 1, true))),
        ("decline", z(holding(M6::Decline, 1, true))),
        ("confirm", z(holding(M6::Confirm, 1, false))),
        ("information_request", z(msg6(M6::InformationRequest, 1, false, false))),
        (
            "sarr_renew_release",
            join(&[
                sol.clone(),
                req.clone(),
                z(holding(M6::Renew, 1, true)),
                z(holding(M6::Release, 1, true)),
            ]),
        ),
        (
            "sarr_renumber_renew",
            join(&[
                sol.clone(),
                req.clone(),
                vec![0xfd, 0],
                z(holding(M6::Renew, 1, true)),
                z(holding(M6::Rebind, 1, false)),
            ]),
        ),
        ("sarr_decline", join(&[sol, req, z(holding(M6::Decline, 1, true))])),
        ("rapid_reconf_accept_renumber_renew", {
            let mut m = rapid.clone();
            m.push(O6::ReconfAccept);
            join(&[z(m), vec![0xfd, 2], z(holding(M6::Renew, 2, true))])
        }),
        (
            "exhaust",
            join(
                &(1..8)
                    .map(|n| {
                        let mut m = msg6(M6::Solicit, n, true, true);
                        m.push(O6::RapidCommit);
                        z(m)
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        ("truncated", z(rapid)[..20].to_vec()),
        ("lease_log_frames", {
            let mut b = Vec::new();
            for (kind, addr, len) in [(IaKind::Na, a, 128), (IaKind::Pd, p, 64)] {
                LeaseRecord6 {
                    state: RecordState::Bound,
                    kind,
                    address: addr,
                    prefix_len: len,
                    iaid: 1,
                    expires: 1_700_000_000,
                    duid: vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6],
                    hostname: Some("pc".into()),
                }
                .encode_frame(&mut b);
            }
            b
        }),
    ];
    for (name, data) in files {
        std::fs::write(dir.join(name), data).unwrap();
    }
}
