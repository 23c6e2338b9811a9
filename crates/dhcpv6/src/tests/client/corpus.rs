//! Every file of the fuzz seed corpus through clients in every state, on stable.

use std::path::Path;

use crate::fuzzing::{run_client, run_wire};

#[test]
fn fuzz_corpus_does_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcpv6_client");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        run_client(&data);
        crate::fuzzing::run_server6(&data);
        run_wire(&data);
        n += 1;
    }
    assert!(n >= 5, "seed corpus has only {n} files");
}

#[test]
fn the_fuzz_driver_reaches_every_state() {
    use crate::Phase::*;
    let phases: Vec<_> = crate::fuzzing::clients_in_every_state(std::time::Instant::now())
        .iter()
        .map(|(c, ..)| c.phase())
        .collect();
    let want = [Idle, Soliciting, Requesting, Bound, Renewing, Rebinding, Releasing];
    assert_eq!(phases[..7], want);
    assert_eq!(phases[7..], [InformationRequesting, Informed]);
}

#[test]
fn corpus_replies_with_the_right_xid_bind_a_soliciting_client() {
    // The rapid-commit Reply of the seed corpus, with the xid patched in, binds the client.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcpv6_client");
    let mut data = std::fs::read(dir.join("reply_rapid_commit_56")).unwrap();
    let staged = crate::fuzzing::clients_in_every_state(std::time::Instant::now());
    let (client, now, xid) = &staged[1];
    data[1..4].copy_from_slice(&xid.unwrap());
    let mut c = client.clone();
    c.handle_input(*now, &data);
    assert_eq!(c.phase(), crate::Phase::Bound);
    assert_eq!(c.lease().unwrap().domains, vec!["isp.example".to_owned()]);
}

/// A bounded, seeded mutation run over the corpus on stable (cargo-fuzz needs nightly).
/// `DHCPV6PD_MUTATIONS` raises the count for a longer hunt.
#[test]
fn seeded_mutations_of_the_corpus_do_not_panic() {
    let n: usize =
        std::env::var("DHCPV6PD_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcpv6_client");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let mut rng = crate::rng::Rng::new(0x5eed);
    for _ in 0..n {
        let mut data = seeds[rng.below(seeds.len() as u64) as usize].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(data.len() as u64 + 1) as usize;
            match rng.below(4) {
                0 if at < data.len() => data[at] = rng.next_u64() as u8,
                1 => data.truncate(at),
                2 => data.insert(at, rng.next_u64() as u8),
                _ if at < data.len() => data[at] ^= 1 << rng.below(8),
                _ => {}
            }
        }
        run_client(&data);
        crate::fuzzing::run_server6(&data);
        run_wire(&data);
    }
}
