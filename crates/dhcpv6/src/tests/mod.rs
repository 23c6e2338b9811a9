#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod captured;
pub(crate) mod client;
mod server6;
mod server_corpus;

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

/// Unix time at the start of the server tests.
pub(crate) const UNIX0: u64 = 1_700_000_000;
