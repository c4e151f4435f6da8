//! CSRF protection for every form: a token signed with the installation's key and bound
//! to the browser's session (OWASP CSRF Prevention Cheat Sheet, "signed double-submit
//! cookie"). The token is HMAC-SHA256 over the session cookie's secret, or, before
//! sign-in, over a random pre-session cookie. A POST is accepted only when its `csrf`
//! field is the token for the cookies it came with.
//!
//! So a token taken from another browser (or planted together with a cookie by a
//! sibling domain) is refused: it was made for another session. Signing in starts a new
//! session, so every token changes at sign-in. A cross-site page can make the browser
//! send the cookies but can neither read nor compute the token; `SameSite=Lax` adds a
//! second line. On an https issuer the pre-session cookie is `__Host-careid_csrf`, which
//! a browser accepts only with `Secure`, `Path=/` and no `Domain`.

use axum::http::{HeaderMap, HeaderValue};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::one_time;
use careid_protocol::session;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Ui, UiError};

/// The pre-session cookie's name on a plain-http (development) issuer.
pub const COOKIE: &str = "careid_csrf";

/// The pre-session cookie's name on an https issuer.
pub const HOST_COOKIE: &str = "__Host-careid_csrf";

/// Length of a pre-session value from [`one_time::new_token`]: 256 bits in base64url.
const TOKEN_LEN: usize = 43;

/// The key that signs CSRF tokens: one per installation, shared by every instance.
#[derive(Clone)]
pub struct CsrfKey(Hmac<Sha256>);

impl CsrfKey {
    /// A key from the installation's secret.
    pub fn new(secret: &str) -> Self {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(mac) => Self(mac),
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }

    /// The token for a browser bound by `binding`.
    fn sign(&self, binding: Binding<'_>) -> String {
        let mut mac = self.0.clone();
        let (kind, value) = match binding {
            Binding::Session(secret) => ("session", secret),
            Binding::PreSession(value) => ("pre-session", value),
        };
        mac.update(b"careid csrf v1\0");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(***)")
    }
}

/// What a token is bound to: the session, or before sign-in the pre-session cookie.
#[derive(Clone, Copy)]
enum Binding<'a> {
    Session(&'a str),
    PreSession(&'a str),
}

/// The pre-session cookie's name: `__Host-` prefixed whenever cookies are `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { HOST_COOKIE } else { COOKIE }
}

/// The cookie this request's tokens are bound to, if it has one.
fn binding<'a>(ui: &Ui, headers: &'a HeaderMap) -> Option<Binding<'a>> {
    if let Some(secret) = session::secret(&ui.protocol, headers) {
        return Some(Binding::Session(secret));
    }
    session::cookie_value(headers, cookie_name(ui.is_secure()))
        .filter(|value| is_well_formed(value))
        .map(Binding::PreSession)
}

/// The token for a form on this page, and the `Set-Cookie` to send when the browser had
/// neither a session nor a usable pre-session cookie yet.
pub fn token(ui: &Ui, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(bound) = binding(ui, headers) {
        return (ui.csrf.sign(bound), None);
    }
    let fresh = one_time::new_token();
    let token = ui.csrf.sign(Binding::PreSession(&fresh));
    (token, set_cookie(&fresh, ui.is_secure()))
}

/// Accepts a POST only if its `csrf` field is the token for the cookies it came with,
/// compared in constant time. No cookie or no field is a refusal too.
pub fn verify(ui: &Ui, headers: &HeaderMap, form_value: Option<&str>) -> Result<(), UiError> {
    let field = form_value.filter(|value| !value.is_empty());
    match (binding(ui, headers), field) {
        (Some(bound), Some(field)) if one_time::digests_match(&ui.csrf.sign(bound), field) => {
            Ok(())
        }
        _ => Err(UiError::CsrfRejected),
    }
}

/// The pre-session cookie: `HttpOnly` (no script needs it), `SameSite=Lax`, `Path=/`,
/// and `Secure` with the `__Host-` name unless the issuer is plain http.
fn set_cookie(value: &str, secure: bool) -> Option<HeaderValue> {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// Whether a cookie value looks like one careid issued; anything else is replaced.
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
    use crate::testing::Fixture;

    const PRE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[tokio::test]
    async fn a_form_without_a_cookie_is_refused() {
        let fx = Fixture::new().await;
        let (token, _) = token(&fx.ui, &HeaderMap::new());
        let refused = verify(&fx.ui, &HeaderMap::new(), Some(&token));
        assert!(matches!(refused, Err(UiError::CsrfRejected)));
    }

    #[tokio::test]
    async fn a_cookie_without_a_form_value_is_refused() {
        let fx = Fixture::new().await;
        let headers = with_cookie(&format!("careid_csrf={PRE}"));
        assert!(matches!(
            verify(&fx.ui, &headers, None),
            Err(UiError::CsrfRejected)
        ));
        assert!(matches!(
            verify(&fx.ui, &headers, Some("")),
            Err(UiError::CsrfRejected)
        ));
    }

    #[tokio::test]
    async fn the_cookie_value_itself_is_not_a_token() {
        // The double-submit check this replaced accepted a field equal to the cookie.
        let fx = Fixture::new().await;
        let headers = with_cookie(&format!("careid_csrf={PRE}"));
        assert!(matches!(
            verify(&fx.ui, &headers, Some(PRE)),
            Err(UiError::CsrfRejected)
        ));
    }

    #[tokio::test]
    async fn a_token_for_the_cookie_is_accepted_and_one_for_another_is_not() {
        let fx = Fixture::new().await;
        let (mine, cookie) = token(&fx.ui, &HeaderMap::new());
        let pair = cookie.unwrap();
        let pair = pair.to_str().unwrap().split(';').next().unwrap().to_owned();
        assert!(verify(&fx.ui, &with_cookie(&pair), Some(&mine)).is_ok());
        let (theirs, _) = token(&fx.ui, &HeaderMap::new());
        assert!(matches!(
            verify(&fx.ui, &with_cookie(&pair), Some(&theirs)),
            Err(UiError::CsrfRejected)
        ));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_installations_key_is_refused() {
        let fx = Fixture::new().await;
        let headers = with_cookie(&format!("careid_csrf={PRE}"));
        let forged = CsrfKey::new("another installation").sign(Binding::PreSession(PRE));
        assert!(matches!(
            verify(&fx.ui, &headers, Some(&forged)),
            Err(UiError::CsrfRejected)
        ));
        let (real, _) = token(&fx.ui, &headers);
        assert!(verify(&fx.ui, &headers, Some(&real)).is_ok());
    }

    #[tokio::test]
    async fn a_session_binds_the_token_instead_of_the_pre_session_cookie() {
        let fx = Fixture::new().await;
        let before = with_cookie(&format!("careid_csrf={PRE}"));
        let after = with_cookie(&format!("careid_csrf={PRE}; careid_session=s3cret"));
        let (pre, set) = token(&fx.ui, &before);
        let (bound, none) = token(&fx.ui, &after);
        assert!(set.is_none() && none.is_none());
        assert_ne!(pre, bound);
        assert!(matches!(
            verify(&fx.ui, &after, Some(&pre)),
            Err(UiError::CsrfRejected)
        ));
        assert!(verify(&fx.ui, &after, Some(&bound)).is_ok());
    }

    #[test]
    fn a_new_cookie_is_http_only_lax_and_host_prefixed_on_https() {
        let cookie = set_cookie(PRE, true).unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("__Host-careid_csrf="), "{cookie}");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/;", "Secure"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!cookie.contains("Domain"));
        let plain = set_cookie(PRE, false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("careid_csrf=") && !plain.contains("Secure"));
    }

    #[tokio::test]
    async fn an_existing_cookie_is_kept_and_a_malformed_one_replaced() {
        let fx = Fixture::new().await;
        let (_, cookie) = token(&fx.ui, &with_cookie(&format!("careid_csrf={PRE}")));
        assert!(cookie.is_none());
        let (_, cookie) = token(&fx.ui, &with_cookie("careid_csrf=short"));
        assert!(cookie.is_some());
    }
}
