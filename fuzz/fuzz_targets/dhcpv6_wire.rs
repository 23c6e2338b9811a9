//! DHCPv6 wire: parse → emit → parse gives the same message. Seed with
//! `fuzz/corpus/dhcpv6_client`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dhcpv6::fuzzing::run_wire(data);
});
