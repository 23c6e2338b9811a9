//! Router Solicitation and Advertisement wire round trips, and an advertiser fed the bytes as
//! a solicitation. Seed with `fuzz/corpus/ra_input`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ra::fuzzing::run(data);
});
