//! Arbitrary bytes to a DHCPv4 client in every state (Init, Selecting, Requesting, Bound,
//! Renewing, Rebinding, Stopped, InitReboot, Rebooting): as one datagram, with the client's
//! xid and MAC patched in, and as a script of datagrams and time steps. Must not panic; the
//! client's invariants are checked after each step.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dhcpv4::fuzzing::run_client(data);
});
