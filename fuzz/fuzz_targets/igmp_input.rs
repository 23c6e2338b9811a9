//! IGMP wire round trips, and a proxy fed the bytes as a datagram on both sides and as a
//! kernel upcall. Seed with `fuzz/corpus/igmp_input`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    igmp::fuzzing::run(data);
});
