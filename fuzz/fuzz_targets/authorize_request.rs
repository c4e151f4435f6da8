//! `/authorize` parameters: the first byte picks a public (odd) or confidential (even)
//! client, the rest is the query string or form body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((first, raw)) = data.split_first() {
        careid_protocol::fuzzing::authorize_request(raw, first % 2 == 1);
    }
});
