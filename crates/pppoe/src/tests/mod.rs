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
    ::testdata::read(env!("CARGO_MANIFEST_DIR"), name)
}
