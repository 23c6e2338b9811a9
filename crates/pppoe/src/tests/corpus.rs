//! Runs every seed of the fuzz corpus (`fuzz/corpus/pppoe_*`, `fuzz/corpus/ppp_*`) through
//! the same property as its fuzz target, on stable, so CI catches regressions.

use std::path::PathBuf;

use crate::fuzzing;

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

/// The corpus only has the targets above: a new `pppoe_*`/`ppp_*` directory needs a test here.
#[test]
fn every_corpus_directory_is_covered() {
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("pppoe_") || name.starts_with("ppp_") {
            assert!(
                ["pppoe_discovery", "ppp_control", "pppoe_client_machine"].contains(&name.as_str()),
                "{name} has no seed test"
            );
        }
    }
}

/// A poor man's fuzz run on stable: seeded random inputs, and random mutations of the seeds,
/// through every property.
#[test]
fn random_and_mutated_inputs_hold_the_properties() {
    let mut rng = splitmix::Rng::new(0x5eed);
    type Property = fn(&[u8]);
    let targets: [(&str, Property); 3] = [
        ("pppoe_discovery", fuzzing::discovery_round_trip),
        ("ppp_control", fuzzing::control_round_trip),
        ("pppoe_client_machine", |d| {
            fuzzing::client_machine(d);
        }),
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
