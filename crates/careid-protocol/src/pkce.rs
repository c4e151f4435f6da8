//! Proof Key for Code Exchange (RFC 7636).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// RFC 7636 §4.1/4.2: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` answers `challenge` under `method`. Only `S256` answers: /authorize
/// refuses `plain` (RFC 9700 §2.1.1), so a code never carries it.
pub fn verify(method: &str, challenge: &str, verifier: &str) -> bool {
    if !is_well_formed(verifier) || method != "S256" {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifier_matches_its_challenge() {
        assert!(verify("S256", CHALLENGE, VERIFIER));
    }

    #[test]
    fn a_wrong_verifier_or_method_fails() {
        assert!(!verify("S256", CHALLENGE, &VERIFIER.replace('d', "e")));
        assert!(!verify("plain", CHALLENGE, VERIFIER));
        assert!(
            !verify("plain", VERIFIER, VERIFIER),
            "plain is never accepted"
        );
        assert!(!verify("S512", CHALLENGE, VERIFIER));
    }

    #[test]
    fn verifiers_are_43_to_128_unreserved_characters() {
        assert!(!is_well_formed(&"a".repeat(42)));
        assert!(is_well_formed(&"a".repeat(43)));
        assert!(is_well_formed(&"a".repeat(128)));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed(&format!("{}+", "a".repeat(43))));
    }
}
