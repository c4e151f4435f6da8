//! One-time secrets: link tokens (invitation, reset, magic link), 6-digit codes (reset
//! security code, PIN), their storage digests, and when they may be used.
//!
//! Only the SHA-256 digest of a secret is stored; the secret itself goes to the person once,
//! by email or from staff. Storing, superseding and counting attempts is `careid-accounts`'
//! and `careid-store`'s job.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Bytes of randomness in a link token: 256 bits.
const TOKEN_BYTES: usize = 32;

/// One more than the largest 6-digit code.
const CODE_SPACE: u32 = 1_000_000;

/// Limits on one-time codes. Fields left out of configuration take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneTimeRules {
    /// Wrong guesses a 6-digit code or PIN survives before it is void. Default 5.
    pub code_attempts: u32,
}

impl Default for OneTimeRules {
    fn default() -> Self {
        Self { code_attempts: 5 }
    }
}

/// A new link token: 256 random bits, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0_u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new 6-digit code, uniform over 000000 to 999999, leading zeros kept.
pub fn new_code() -> String {
    let code = rand::rng().random_range(0..CODE_SPACE);
    format!("{code:06}")
}

/// The stored form of a token or code: its SHA-256 digest in lowercase hex.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The stored form of a staff-issued PIN: HMAC-SHA256 under the installation's PIN key
/// over the account and the PIN, in lowercase hex. A PIN has only 10^6 values, so a bare
/// SHA-256 of it falls to an offline search in a second; keyed, a copy of the database
/// alone reveals nothing. The account is in the message, so two accounts' equal PINs
/// never share a digest.
pub fn pin_digest(key: &str, account_id: i64, pin: &str) -> String {
    use hmac::{Hmac, Mac};
    // HMAC takes a key of any length, so this never fails.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return digest(&format!("{key}:{account_id}:{pin}")),
    };
    mac.update(format!("pin:{account_id}:{pin}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `text` has the shape of a PIN or code: exactly six ASCII digits.
pub fn is_code_shaped(text: &str) -> bool {
    text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether two digests are equal, compared in constant time so that the comparison does
/// not reveal how many leading characters matched.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether a one-time secret may still be used at `now`: before `expires_at` and never used.
pub fn is_usable(
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> bool {
    used_at.is_none() && now < expires_at
}

/// Whether a code that has had `attempts` wrong guesses may take no more.
pub fn attempts_exhausted(attempts: u32, rules: &OneTimeRules) -> bool {
    attempts >= rules.code_attempts
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_pin_digest_depends_on_the_key_the_account_and_the_pin() {
        let base = pin_digest("key", 7, "123456");
        assert_eq!(base.len(), 64);
        assert_eq!(base, pin_digest("key", 7, "123456"));
        assert_ne!(base, pin_digest("other", 7, "123456"));
        assert_ne!(base, pin_digest("key", 8, "123456"));
        assert_ne!(base, pin_digest("key", 7, "123457"));
        assert_ne!(base, digest("123456"));
    }

    #[test]
    fn only_six_digits_are_shaped_like_a_code() {
        assert!(is_code_shaped("012345"));
        for bad in ["12345", "1234567", "12345a", "", "١٢٣٤٥٦"] {
            assert!(!is_code_shaped(bad), "{bad:?}");
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-05-20 14:00 UTC);

    #[test]
    fn a_token_is_43_base64url_characters_of_256_bits() {
        let token = new_token();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(new_token(), new_token());
    }

    #[test]
    fn a_code_is_six_decimal_digits() {
        for _ in 0..1000 {
            let code = new_code();
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn codes_keep_their_leading_zeros() {
        // About one code in ten starts with 0; in 1000 draws missing them all is
        // vanishingly unlikely (0.9^1000).
        assert!(
            (0..1000)
                .map(|_| new_code())
                .any(|code| code.starts_with('0'))
        );
    }

    #[test]
    fn a_digest_is_the_sha256_of_the_secret() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn equal_digests_match_and_different_ones_do_not() {
        assert!(digests_match(&digest("123456"), &digest("123456")));
        assert!(!digests_match(&digest("123456"), &digest("123457")));
        assert!(!digests_match(&digest("123456"), ""));
    }

    #[test]
    fn a_secret_is_usable_until_the_moment_before_it_expires() {
        let expires_at = NOW + Duration::hours(24);
        assert!(is_usable(expires_at, None, expires_at - Duration::SECOND));
    }

    #[test]
    fn a_secret_is_not_usable_once_it_expires() {
        let expires_at = NOW + Duration::hours(24);
        assert!(!is_usable(expires_at, None, expires_at));
    }

    #[test]
    fn a_used_secret_is_not_usable_again() {
        let expires_at = NOW + Duration::hours(24);
        assert!(!is_usable(expires_at, Some(NOW), NOW + Duration::MINUTE));
    }

    #[test]
    fn a_code_with_four_wrong_guesses_takes_another() {
        assert!(!attempts_exhausted(4, &OneTimeRules::default()));
    }

    #[test]
    fn a_code_with_five_wrong_guesses_takes_no_more() {
        assert!(attempts_exhausted(5, &OneTimeRules::default()));
    }

    #[test]
    fn one_time_rules_left_out_of_configuration_take_their_defaults() {
        let rules: OneTimeRules = toml::from_str("").unwrap();
        assert_eq!(rules, OneTimeRules { code_attempts: 5 });
    }

    proptest! {
        #[test]
        fn a_digest_is_deterministic_and_64_lowercase_hex_characters(secret in "\\PC*") {
            let first = digest(&secret);
            prop_assert_eq!(&first, &digest(&secret));
            prop_assert_eq!(first.len(), 64);
            prop_assert!(first.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
    }
}
