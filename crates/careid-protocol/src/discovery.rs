//! OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414): exactly what careid
//! implements. Rendered once at start-up and served as bytes.

use std::sync::Arc;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{Protocol, SigningAlg, client_assertion, config::RegistrationMode};

/// `GET /.well-known/openid-configuration`.
pub async fn show(State(app): State<Arc<Protocol>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        app.discovery.clone(),
    )
        .into_response()
}

/// The metadata document for `issuer`; `registration_endpoint` unless registration is
/// off.
pub(crate) fn document(issuer: &str, registration: RegistrationMode) -> Vec<u8> {
    // Every algorithm careid has a key for may sign a client's ID tokens (OIDC Discovery
    // §3 asks for RS256 among them). Userinfo answers plain JSON, so
    // `userinfo_signing_alg_values_supported` is left out.
    let id_token_algs = SigningAlg::ALL.map(SigningAlg::as_str);
    // What `private_key_jwt` assertions may be signed with, at every endpoint that
    // authenticates clients.
    let assertion_algs = client_assertion::ALGS.map(SigningAlg::as_str);
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint": format!("{issuer}/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "end_session_endpoint": format!("{issuer}/end_session"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "scopes_supported": crate::scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        // RFC 9700 §2.1.1: S256 only; /authorize refuses plain.
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "acr", "amr",
            "name", "given_name", "family_name", "birthdate", "email", "email_verified"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        // crate::acr: one factor, or a second factor as well.
        "acr_values_supported": crate::acr::SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    if registration != RegistrationMode::Off {
        doc["registration_endpoint"] = json!(format!("{issuer}/register"));
    }
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::from_slice(&document("https://id.example", RegistrationMode::Open)).unwrap()
    }

    #[test]
    fn discovery_lists_every_id_token_algorithm_with_rs256_first() {
        assert_eq!(
            doc()["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256", "PS256", "EdDSA"])
        );
        assert!(doc().get("userinfo_signing_alg_values_supported").is_none());
    }

    #[test]
    fn discovery_lists_both_acr_levels_and_the_acr_claim() {
        let doc = doc();
        assert_eq!(
            doc["acr_values_supported"],
            json!(["urn:careid:acr:sfa", "urn:careid:acr:mfa"])
        );
        let claims = doc["claims_supported"].as_array().unwrap();
        assert!(claims.contains(&json!("acr")));
    }

    #[test]
    fn every_client_authenticating_endpoint_advertises_the_same_assertion_algorithms() {
        let doc = doc();
        for endpoint in ["token", "introspection", "revocation"] {
            assert_eq!(
                doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                json!(client_assertion::ALGS.map(SigningAlg::as_str)),
                "{endpoint}"
            );
        }
    }
}
