//! Fuzz target `pppoe_discovery`: the property is `pppoe::fuzzing::discovery_round_trip`, which the
//! pppoe crate's stable test `tests::corpus` also runs over `fuzz/corpus/pppoe_discovery/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pppoe::fuzzing::discovery_round_trip(data);
});
