//! Time-based one-time passwords (RFC 6238 over RFC 4226): the secret, the
//! `otpauth://` URI authenticator apps read, and which time step a typed code matches.
//! Storing the secret (sealed) and the last used step is `careid-accounts`' and
//! `careid-store`'s; `now` always comes in as an argument.
//!
//! The parameters are the ones every authenticator app supports: HMAC-SHA1, 6 digits,
//! 30-second steps (RFC 6238 §4, §5.2).

use hmac13::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Seconds per time step (RFC 6238 §5.2 recommends 30).
pub const STEP_SECONDS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret: 160 bits, the HMAC-SHA1 output size (RFC 4226 §4, R6).
pub const SECRET_BYTES: usize = 20;
/// Steps either side of now a code may come from: a phone's clock a little off, or a
/// code typed just as it turned over (RFC 6238 §5.2 allows one step of delay).
pub const DRIFT_STEPS: i64 = 1;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0_u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The time step `now` falls in (RFC 6238 §4.2, T0 = 0).
pub fn step_at(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// The code of `step` (RFC 4226 §5.3, dynamic truncation), zero-padded to six digits.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this branch is unreachable in practice.
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 10_u32.pow(DIGITS))
}

/// The step a typed `code` matches near `now`, skipping every step at or before
/// `last_used` so a code works once (RFC 6238 §5.2: "the verifier MUST NOT accept the
/// second attempt of the OTP after the successful validation"). `None` when it matches
/// none.
pub fn matching_step(
    secret: &[u8],
    code: &str,
    now: OffsetDateTime,
    last_used: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    // Every candidate is compared, in constant time, so the time taken says nothing
    // about which step (if any) matched.
    for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
        let is_match: bool = code_at(secret, step)
            .as_bytes()
            .ct_eq(code.as_bytes())
            .into();
        let is_fresh = last_used.is_none_or(|used| step > used);
        if is_match && is_fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://totp/` URI authenticator apps read (the Key Uri Format of Google
/// Authenticator, which every app follows): `issuer` names careid, `label` the account.
pub fn uri(issuer: &str, label: &str, secret: &[u8]) -> String {
    let issuer_part = escape(issuer);
    format!(
        "otpauth://totp/{issuer_part}:{}?secret={}&issuer={issuer_part}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        escape(label),
        base32(secret),
    )
}

/// RFC 4648 §6 base32 without padding, as the Key Uri Format asks.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads unpadded RFC 4648 base32 (any case); `None` for any other character.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3), and `@`, which
/// apps show as typed.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA1 key.
    const RFC_KEY: &[u8] = b"12345678901234567890";

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // Appendix B, SHA1 column, last six of the eight digits.
        for (unix, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(RFC_KEY, step_at(at(unix))), code, "at {unix}");
        }
    }

    #[test]
    fn a_code_matches_one_step_either_side_and_not_two() {
        let now = at(1_234_567_890);
        let step = step_at(now);
        for drift in [-1, 0, 1] {
            let code = code_at(RFC_KEY, step + drift);
            assert_eq!(matching_step(RFC_KEY, &code, now, None), Some(step + drift));
        }
        for drift in [-2, 2] {
            let code = code_at(RFC_KEY, step + drift);
            assert_eq!(matching_step(RFC_KEY, &code, now, None), None);
        }
    }

    #[test]
    fn a_used_step_and_those_before_it_do_not_match_again() {
        let now = at(1_234_567_890);
        let step = step_at(now);
        let code = code_at(RFC_KEY, step);
        assert_eq!(
            matching_step(RFC_KEY, &code, now, Some(step - 1)),
            Some(step)
        );
        assert_eq!(matching_step(RFC_KEY, &code, now, Some(step)), None);
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let now = at(59);
        assert_eq!(matching_step(RFC_KEY, "28708", now, None), None);
        assert_eq!(matching_step(RFC_KEY, "2870822", now, None), None);
        assert_eq!(matching_step(RFC_KEY, "28708a", now, None), None);
        assert_eq!(matching_step(RFC_KEY, " 287082 ", now, None), Some(1));
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(from_base32("mzxw6ytboi").unwrap(), b"foobar");
        let secret = new_secret();
        assert_eq!(from_base32(&base32(&secret)).unwrap(), secret);
        assert_eq!(from_base32("MZ1"), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let uri = uri("careid", "ada@clinic.example", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/careid:ada@clinic.example?secret=MZXW6YTBOI&issuer=careid&algorithm=SHA1&digits=6&period=30"
        );
    }
}
