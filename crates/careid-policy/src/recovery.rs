//! Recovery codes: ten single-use codes that stand in for an authenticator app's code
//! when the phone is lost. Each is 80 random bits, written as 16 base32 characters in
//! groups of four, so a SHA-256 digest of it ([`crate::one_time::digest`] of the
//! normalised form) cannot be searched back. Storing and using them up is
//! `careid-accounts`' and `careid-store`'s.

use rand::RngCore;

use crate::totp::base32;

/// How many codes a person gets at once.
pub const COUNT: usize = 10;
/// Random bytes per code: 80 bits, 16 base32 characters.
const CODE_BYTES: usize = 10;
/// Characters of a normalised code.
const CODE_CHARS: usize = 16;

/// A new code, as shown: `ABCD-EFGH-IJKL-MNOP`.
pub fn new_code() -> String {
    let mut bytes = [0_u8; CODE_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let plain = base32(&bytes);
    let groups: Vec<&str> = (0..CODE_CHARS)
        .step_by(4)
        .filter_map(|at| plain.get(at..at + 4))
        .collect();
    groups.join("-")
}

/// The form a code is stored (digested) and compared in: upper case, without spaces or
/// dashes. `None` for anything that cannot be a recovery code (a six-digit TOTP code).
pub fn normalise(typed: &str) -> Option<String> {
    let plain: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let is_base32 = plain
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    (plain.len() == CODE_CHARS && is_base32).then_some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_code_is_four_groups_that_normalise_to_sixteen_characters() {
        let code = new_code();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.split('-').count(), 4);
        let plain = normalise(&code).unwrap();
        assert_eq!(plain.len(), 16);
        assert_ne!(new_code(), code);
    }

    #[test]
    fn typing_is_forgiven_but_a_totp_code_is_not_a_recovery_code() {
        assert_eq!(
            normalise(" abcd efgh-ijkl mnop ").as_deref(),
            Some("ABCDEFGHIJKLMNOP")
        );
        assert_eq!(normalise("123456"), None);
        assert_eq!(normalise("ABCD-EFGH-IJKL-MNO1"), None);
    }
}
