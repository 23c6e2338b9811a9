#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod captured;
pub(crate) mod client;
mod server;

/// The captured vector `testdata/<name>.hex`: hex bytes, `#` lines (the provenance) skipped.
pub(crate) fn testdata(name: &str) -> Vec<u8> {
    ::testdata::read(env!("CARGO_MANIFEST_DIR"), name)
}
