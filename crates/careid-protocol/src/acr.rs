//! Authentication context classes (OIDC Core §2 `acr`, §3.1.2.1 `acr_values`): the two
//! levels careid tells apart, read from how the session was authenticated (its `amr`,
//! RFC 8176). The ID token's `acr` names the level the session reached; an
//! authorization request's `acr_values` may ask for the higher one, which sends a
//! session without a second factor through step-up first (`authorize::decide`).
//!
//! The values are careid's own URNs rather than a framework's levels of assurance
//! (ISO/IEC 29115, NIST SP 800-63's AALs), which also say how the person's identity
//! was proofed, something careid does not know: they only say one factor or more. A
//! magic link or a PIN is one factor, like a password, so the lower level is named for
//! that (`sfa`) and not for the password.

/// One factor: a password, a magic link or a staff-issued PIN.
pub const SINGLE_FACTOR: &str = "urn:careid:acr:sfa";

/// A second factor as well: a code from an authenticator app, or a recovery code
/// (`amr` contains `mfa`).
pub const MULTI_FACTOR: &str = "urn:careid:acr:mfa";

/// The values discovery lists (`acr_values_supported`), lowest first.
pub const SUPPORTED: [&str; 2] = [SINGLE_FACTOR, MULTI_FACTOR];

/// Whether a session authenticated by `amr` had a second factor (RFC 8176 §2 `mfa`).
pub fn has_mfa(amr: &[String]) -> bool {
    amr.iter().any(|m| m == "mfa")
}

/// The level a session authenticated by `amr` reached.
pub fn reached(amr: &[String]) -> &'static str {
    if has_mfa(amr) {
        MULTI_FACTOR
    } else {
        SINGLE_FACTOR
    }
}

/// The values of an `acr_values` parameter that careid knows, in the client's order
/// of preference; unknown values are left out (OIDC Core §3.1.2.1: a voluntary
/// request, answered with the `acr` reached).
pub fn known(acr_values: &str) -> Vec<String> {
    crate::scope::split(acr_values)
        .into_iter()
        .filter(|v| SUPPORTED.contains(&v.as_str()))
        .collect()
}

/// Whether the request's known `acr_values` can be met only by a second factor: each
/// is a level the client accepts, so one that a password session meets needs no step-up.
pub fn needs_mfa(acr_values: &[String]) -> bool {
    !acr_values.is_empty() && acr_values.iter().all(|v| v == MULTI_FACTOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amr(methods: &[&str]) -> Vec<String> {
        methods.iter().map(|m| (*m).to_owned()).collect()
    }

    #[test]
    fn a_session_reaches_the_mfa_level_only_with_mfa_in_its_amr() {
        assert_eq!(reached(&amr(&["pwd"])), SINGLE_FACTOR);
        assert_eq!(reached(&amr(&["otp"])), SINGLE_FACTOR);
        assert_eq!(reached(&amr(&["pwd", "otp", "mfa"])), MULTI_FACTOR);
    }

    #[test]
    fn only_a_request_that_accepts_nothing_below_mfa_needs_a_second_factor() {
        assert!(needs_mfa(&known(MULTI_FACTOR)));
        assert!(needs_mfa(&known(&format!("{MULTI_FACTOR} urn:other:gold"))));
        assert!(!needs_mfa(&known(&format!(
            "{MULTI_FACTOR} {SINGLE_FACTOR}"
        ))));
        assert!(!needs_mfa(&known("urn:other:gold")));
        assert!(!needs_mfa(&known("")));
    }
}
