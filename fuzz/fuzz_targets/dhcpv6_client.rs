//! Arbitrary bytes to a DHCPv6-PD requesting router in every state (Idle, Soliciting,
//! Requesting, Bound, Renewing, Rebinding, Releasing, InformationRequesting, Informed): as one
//! datagram, with the client's transaction id patched in, and as a script of datagrams and
//! time steps. Must not panic; the client's invariants are checked after each step.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dhcpv6::fuzzing::run_client(data);
});
