//! Every seed of the `dns_query` fuzz target (`fuzz/corpus/dns_query/`, hand-built queries,
//! an UPDATE, responses and malformed messages) through the query path on stable Rust: no
//! panic. The last byte of a seed picks the source (even: LAN, odd: WAN) and UDP or TCP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[test]
fn every_seed_runs_through_the_query_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dns_query");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("seed corpus present") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        dns::fuzzing::query(&data);
        for cut in 0..data.len() {
            dns::fuzzing::query(&data[..cut]);
        }
        n += 1;
    }
    assert!(n >= 10, "only {n} seeds");
}
