//! `POST /register` bodies (RFC 7591 client metadata as JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    careid_protocol::fuzzing::registration(data);
});
