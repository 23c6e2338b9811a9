//! DNS query path: arbitrary bytes through the server's fast path (access list, local table,
//! cache) and its wire readers must never panic. Seed with `fuzz/corpus/dns_query`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dns::fuzzing::query(data);
});
