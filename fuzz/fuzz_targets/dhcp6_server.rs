//! Arbitrary bytes to the DHCPv6 server machine: one datagram, then the pieces between 0xfe
//! bytes as a sequence with time steps (a piece starting 0xfd renumbers), then as lease log
//! frames restored into a second server. Must not panic; every answer must parse, no
//! address or prefix may be leased twice, and no Reply may leave before its records are
//! durable. Seed with `fuzz/corpus/dhcp6_server`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dhcpv6::fuzzing::run_server6(data);
});
