//! Fuzz target `pppoe_client_machine`: the property is `pppoe::fuzzing::client_machine`, which
//! the pppoe crate's stable test `tests::corpus` also runs over its seed directory.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _came_up = pppoe::fuzzing::client_machine(data);
});
