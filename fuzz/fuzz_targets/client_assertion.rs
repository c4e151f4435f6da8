//! `private_key_jwt` client assertions, checked with the public keys in `jwks.json`
//! (the seed corpus holds assertions those keys signed).
#![no_main]

use std::sync::OnceLock;

use josekit::jwk::{Jwk, JwkSet};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static [Jwk] {
    static KEYS: OnceLock<Vec<Jwk>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let set = JwkSet::from_bytes(include_bytes!("../jwks.json")).expect("jwks.json parses");
        set.keys().into_iter().cloned().collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(assertion) = std::str::from_utf8(data) {
        careid_protocol::fuzzing::assertion(assertion, keys());
    }
});
