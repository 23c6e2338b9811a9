//! Arbitrary bytes to the DHCPv4 server machine: one datagram, then the pieces between 0xfe
//! bytes as a sequence with time steps, then as lease log frames. Must not panic; every
//! reply must decode, and no client may hold two bound addresses. Seed with
//! `fuzz/corpus/dhcp4_server`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dhcpv4::fuzzing::run_server(data);
});
