//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): each runs one parser of
//! outside input exactly as its endpoint does, without the database or the network.
//! Not an API: nothing else calls these.
//!
//! A function here panics only where careid itself would be wrong (an invariant the
//! endpoint relies on), so libFuzzer reports it as a crash.

use axum::http::{HeaderMap, HeaderValue, header};
use careid_store::ClientId;
use josekit::jwk::Jwk;
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    Client, authorize, client_assertion, client_auth, form::Form, pending::StoredRequest, pkce,
    register, scope,
};

/// The instant the assertion checks run at: 2026-01-01T00:00:00Z.
pub const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);

/// The issuer the assertion checks expect; `{ISSUER}/token` is accepted as well.
pub const ISSUER: &str = "https://id.example";

/// The client an authorization request is checked for: `public` without a secret (PKCE
/// required), otherwise confidential. Its redirect URI is `https://app.example/cb`.
fn client(public: bool) -> Option<Client> {
    let mut client = json!({
        "client_id": "app",
        "name": "App",
        "redirect_uris": ["https://app.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": if public { "none" } else { "client_secret_basic" },
        "first_party": false,
        "scopes": ["openid", "profile", "email", "offline_access"],
    });
    if !public {
        client["secret"] = json!("sha256:".to_owned() + &"ab".repeat(32));
    }
    serde_json::from_value(client).ok()
}

/// `/authorize`: a query string or form body, parsed and validated as `start` does for
/// a public (`public`) or confidential client. What validates must survive the trip
/// through the database as JSON.
pub fn authorize_request(raw: &[u8], public: bool) {
    let Some(client) = client(public) else {
        panic!("the fuzzing client does not parse");
    };
    let params = authorize::Params::parse(raw);
    let _ = params
        .get("redirect_uri")
        .map(|uri| client.has_redirect_uri(uri));
    if let Ok(request) = authorize::validate(&client, &params) {
        let Ok(stored) = serde_json::to_value(&request) else {
            panic!("a validated request does not serialise");
        };
        if serde_json::from_value::<StoredRequest>(stored).is_err() {
            panic!("a stored request does not read back");
        }
        let _ = request.has_prompt("none");
    }
}

/// `/token`, `/introspect`, `/revoke`: a form body and an `Authorization` header value,
/// read as the token endpoint and client authentication read them.
pub fn token_request(authorization: &[u8], body: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let _ = client_auth::basic_credentials(&headers);
    let Ok(form) = Form::read(&headers, body) else {
        return;
    };
    for name in [
        "grant_type",
        "code",
        "redirect_uri",
        "refresh_token",
        "client_id",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
        "token",
        "token_type_hint",
    ] {
        let _ = form.get(name);
    }
    let verifier = form.get("code_verifier").unwrap_or_default();
    let challenge = form.get("code_challenge").unwrap_or_default();
    for method in ["S256", "plain"] {
        let _ = pkce::verify(method, challenge, verifier);
    }
    let requested = scope::split(form.get("scope").unwrap_or_default());
    let _ = scope::grantable(&requested.join(" "), &requested);
    if let Some(assertion) = form.get("client_assertion") {
        self::assertion(assertion, &[]);
    }
}

/// `private_key_jwt`: an assertion read, its signature checked with `keys` and its
/// claims checked, in `authenticate`'s order, at [`NOW`] for [`ISSUER`].
pub fn assertion(assertion: &str, keys: &[Jwk]) {
    let Ok((header, claims)) = client_assertion::decode_unverified(assertion) else {
        return;
    };
    let Ok(client_id) = client_assertion::claimed_client(&claims) else {
        return;
    };
    let _ = client_assertion::verify_signature(assertion, &header, keys);
    let audiences = [format!("{ISSUER}/token"), ISSUER.to_owned()];
    let _ = client_assertion::check_claims(&claims, &ClientId::from(client_id), &audiences, NOW);
}

/// `POST /register`: a JSON body read and validated as RFC 7591 metadata. What
/// validates must become a [`Client`] after the trip through the database, or the
/// registered client could never be used.
pub fn registration(body: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let Ok(metadata) = register::parse(&headers, body) else {
        return;
    };
    let Ok(metadata) = metadata.validated() else {
        return;
    };
    let Ok(stored) = serde_json::to_string(&metadata) else {
        panic!("validated metadata does not serialise");
    };
    let Ok(read_back) = serde_json::from_str::<crate::client_metadata::Metadata>(&stored) else {
        panic!("stored metadata does not read back: {stored}");
    };
    if let Err(err) = read_back.to_client(&ClientId::from("fuzz"), Some(&"ab".repeat(32))) {
        panic!("validated metadata is no client ({err}): {stored}");
    }
}
