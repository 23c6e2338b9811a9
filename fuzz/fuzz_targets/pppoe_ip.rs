//! Fuzz target `pppoe_ip`: the property is `pppoe::fuzzing::ip_packet` (an IP packet through
//! the MSS clamp and the destination lookup), which the pppoe crate's stable test
//! `tests::corpus` also runs over `fuzz/corpus/pppoe_ip/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pppoe::fuzzing::ip_packet(data);
});
