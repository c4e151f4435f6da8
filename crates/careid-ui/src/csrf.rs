//! CSRF protection for every form: a double-submit cookie (OWASP CSRF Prevention Cheat
//! Sheet). A form page puts a random 256-bit value in the `careid_csrf` cookie (when the
//! browser has none yet) and in the form's hidden `csrf` field; a POST is accepted only
//! when both are present and equal. A cross-site page can make the browser send the
//! cookie but can neither read it nor guess it for the field. `SameSite=Lax` adds a
//! second line: the browser leaves the cookie off cross-site POSTs altogether.

use axum::http::{HeaderMap, HeaderValue};
use careid_policy::one_time;
use careid_protocol::session::cookie_value;

use crate::UiError;

/// The CSRF cookie's name.
pub const COOKIE: &str = "careid_csrf";

/// Length of a token from [`one_time::new_token`]: 256 bits in base64url.
const TOKEN_LEN: usize = 43;

/// The token for a form on this page, and the `Set-Cookie` to send when the browser had
/// no usable cookie yet.
pub fn token(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie_value(headers, COOKIE).filter(|value| is_well_formed(value)) {
        return (existing.to_owned(), None);
    }
    let token = one_time::new_token();
    let cookie = set_cookie(&token, secure);
    (token, cookie)
}

/// Accepts a POST only if its `csrf` field equals the `careid_csrf` cookie, compared in
/// constant time. Either one missing is a refusal too.
pub fn verify(headers: &HeaderMap, form_value: Option<&str>) -> Result<(), UiError> {
    let cookie = cookie_value(headers, COOKIE).filter(|value| !value.is_empty());
    match (cookie, form_value.filter(|value| !value.is_empty())) {
        (Some(cookie), Some(field)) if one_time::digests_match(cookie, field) => Ok(()),
        _ => Err(UiError::CsrfRejected),
    }
}

/// The cookie: `HttpOnly` (no script needs it), `SameSite=Lax`, `Path=/`, and `Secure`
/// unless the issuer is plain http.
fn set_cookie(token: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// Whether a cookie value looks like a token careid issued; anything else is replaced.
fn is_well_formed(value: &str) -> bool {
    value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn a_form_without_a_cookie_is_refused() {
        let refused = verify(&HeaderMap::new(), Some("abc"));
        assert!(matches!(refused, Err(UiError::CsrfRejected)));
    }

    #[test]
    fn a_cookie_without_a_form_value_is_refused() {
        let headers = with_cookie("careid_csrf=abc");
        assert!(matches!(verify(&headers, None), Err(UiError::CsrfRejected)));
        assert!(matches!(
            verify(&headers, Some("")),
            Err(UiError::CsrfRejected)
        ));
    }

    #[test]
    fn an_empty_cookie_and_an_empty_field_are_refused() {
        let headers = with_cookie("careid_csrf=");
        assert!(matches!(
            verify(&headers, Some("")),
            Err(UiError::CsrfRejected)
        ));
    }

    #[test]
    fn a_mismatched_form_value_is_refused() {
        let headers = with_cookie("other=1; careid_csrf=abc");
        assert!(matches!(
            verify(&headers, Some("abd")),
            Err(UiError::CsrfRejected)
        ));
        assert!(matches!(
            verify(&headers, Some("ab")),
            Err(UiError::CsrfRejected)
        ));
    }

    #[test]
    fn a_matching_form_value_is_accepted() {
        let (token, cookie) = token(&HeaderMap::new(), true);
        let cookie = cookie.unwrap();
        let pair = cookie.to_str().unwrap().split(';').next().unwrap();
        assert!(verify(&with_cookie(pair), Some(&token)).is_ok());
    }

    #[test]
    fn a_new_cookie_is_random_http_only_lax_and_secure_on_https() {
        let (first, cookie) = token(&HeaderMap::new(), true);
        let cookie = cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        for part in [
            "careid_csrf=",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let (second, _) = token(&HeaderMap::new(), true);
        assert_ne!(first, second);
        assert_eq!(first.len(), TOKEN_LEN);
        let (_, plain) = token(&HeaderMap::new(), false);
        assert!(!plain.unwrap().to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn an_existing_cookie_is_reused_and_a_malformed_one_replaced() {
        let good = one_time::new_token();
        let (token_, cookie) = token(&with_cookie(&format!("careid_csrf={good}")), true);
        assert_eq!((token_.as_str(), cookie), (good.as_str(), None));
        let (token_, cookie) = token(&with_cookie("careid_csrf=short"), true);
        assert_ne!(token_, "short");
        assert!(cookie.is_some());
    }
}
