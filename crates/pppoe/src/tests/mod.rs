//! Tests that outgrew their modules: the client/AC pair, timelines on a fake clock, the
//! RFC 1661 automaton, and the fuzz seed corpus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod corpus;
mod fsm;
mod hostile;
mod pair;
mod policy;
mod timeline;

/// The captured vector `testdata/<name>.hex`: hex bytes, `#` lines (the provenance) skipped.
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name);
    let text = std::fs::read_to_string(path.with_extension("hex")).unwrap();
    let hex: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}
