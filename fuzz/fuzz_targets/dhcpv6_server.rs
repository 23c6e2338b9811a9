//! Arbitrary bytes to a DHCPv6-PD delegating router, empty and holding a binding. Must not
//! panic; every answer must parse. Seed with `fuzz/corpus/dhcpv6_client`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dhcpv6pd::fuzzing::run_server(data);
});
