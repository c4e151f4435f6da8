//! `/token` (and `/introspect`, `/revoke`) requests: the `Authorization` header value up
//! to the first newline, then the form body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (authorization, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    careid_protocol::fuzzing::token_request(authorization, body);
});
