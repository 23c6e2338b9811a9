#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub(crate) mod client;
mod server6;
mod server_corpus;

/// Unix time at the start of the server tests.
pub(crate) const UNIX0: u64 = 1_700_000_000;
