//! Scope values careid understands, and the claims each releases (OIDC Core §5.4).

/// The scopes careid supports.
pub const SUPPORTED: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Splits a space-delimited scope string (RFC 6749 §3.3), dropping duplicates.
pub fn split(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|v| v == value) {
            out.push(value.to_owned());
        }
    }
    out
}

/// Keeps the requested scopes careid understands and the client may have. OIDC Core
/// §3.1.2.1: values that are not understood are ignored.
pub fn grantable(requested: &str, allowed: &[String]) -> Vec<String> {
    split(requested)
        .into_iter()
        .filter(|s| SUPPORTED.contains(&s.as_str()) && allowed.iter().any(|a| a == s))
        .collect()
}

/// Whether a granted scope string contains `value`.
pub fn contains(scope: &str, value: &str) -> bool {
    scope.split(' ').any(|s| s == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unallowed_scopes_are_dropped() {
        let allowed = vec!["openid".to_owned(), "email".to_owned()];
        assert_eq!(
            grantable("openid  profile email bogus openid", &allowed),
            vec!["openid", "email"]
        );
        assert!(contains("openid email", "email"));
        assert!(!contains("openid emails", "email"));
    }
}
