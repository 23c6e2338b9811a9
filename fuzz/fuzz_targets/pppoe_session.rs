//! Fuzz target `pppoe_session`: the property is `pppoe::fuzzing::session_frame` (a received
//! frame through `classify`, the MSS clamp and the destination lookup), which the pppoe crate's
//! stable test `tests::corpus` also runs over `fuzz/corpus/pppoe_session/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pppoe::fuzzing::session_frame(data);
});
