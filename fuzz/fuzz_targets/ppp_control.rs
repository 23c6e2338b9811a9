//! Fuzz target `ppp_control`: the property is `pppoe::fuzzing::control_round_trip`, which the
//! pppoe crate's stable test `tests::corpus` also runs over `fuzz/corpus/ppp_control/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pppoe::fuzzing::control_round_trip(data);
});
