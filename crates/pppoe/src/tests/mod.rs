//! Tests that outgrew their modules: the client/AC pair, timelines on a fake clock, the
//! RFC 1661 automaton, and the fuzz seed corpus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod corpus;
mod fsm;
mod pair;
mod policy;
mod timeline;
