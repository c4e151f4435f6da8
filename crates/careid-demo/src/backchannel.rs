//! `POST /backchannel`: careid's back-channel logout (Back-Channel Logout 1.0). The
//! logout token is verified as §2.6 asks (signature by careid's keys, `iss`, `aud`, `iat`,
//! the logout event, `sid` or `sub`, no `nonce`), then every local session of that careid
//! session ends: the person is signed out here without visiting.

use std::sync::Arc;

use axum::{Form, extract::State, http::StatusCode};
use base64::Engine;
use openidconnect::{
    JsonWebKey, JsonWebKeyId,
    core::{CoreJsonWebKey, CoreJwsSigningAlgorithm},
};
use serde::Deserialize;

use crate::{Demo, DemoError, DemoRp, pages::payload};

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    logout_token: String,
}

/// Verifies the logout token and ends the matching local sessions. 400 for a token that
/// does not verify (§2.8), 200 otherwise, also when no session matched.
pub(crate) async fn receive(
    State(demo): State<Arc<Demo>>,
    Form(form): Form<LogoutForm>,
) -> Result<StatusCode, DemoError> {
    let claims = verify(&demo, &form.logout_token).await?;
    let ended = demo
        .sessions
        .end_matching(claims["sid"].as_str(), claims["sub"].as_str());
    tracing::info!(client = %demo.rp.client_id, ended, "back-channel logout");
    Ok(StatusCode::OK)
}

async fn verify(demo: &Demo, token: &str) -> Result<serde_json::Value, DemoError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DemoError::LogoutToken("not a compact JWS"));
    };
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| DemoError::LogoutToken("bad base64url"))
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(header)?)
        .map_err(|_| DemoError::LogoutToken("bad header"))?;
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone())
        .map_err(|_| DemoError::LogoutToken("unknown alg"))?;
    if matches!(
        alg,
        CoreJwsSigningAlgorithm::None
            | CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
    ) {
        return Err(DemoError::LogoutToken("alg must be asymmetric"));
    }
    let kid = header["kid"]
        .as_str()
        .map(|k| JsonWebKeyId::new(k.to_owned()));
    let signature = decode(signature)?;
    let message = token
        .rsplit_once('.')
        .map(|(signed, _)| signed.as_bytes())
        .unwrap_or_default();
    // A key not seen yet may be a rotation: discover once more before refusing.
    let mut provider = demo.provider.get(&demo.rp).await?;
    if keys(&provider.jwks, kid.as_ref()).next().is_none() {
        provider = demo.provider.refresh(&demo.rp).await?;
    }
    let verified = keys(&provider.jwks, kid.as_ref())
        .any(|key| key.verify_signature(&alg, message, &signature).is_ok());
    if !verified {
        return Err(DemoError::LogoutToken("bad signature"));
    }
    let claims = payload(token).ok_or(DemoError::LogoutToken("bad payload"))?;
    check_claims(&demo.rp, &claims)?;
    Ok(claims)
}

/// careid's keys with id `kid` (every key when the token names none).
fn keys<'a>(
    jwks: &'a openidconnect::core::CoreJsonWebKeySet,
    kid: Option<&'a JsonWebKeyId>,
) -> impl Iterator<Item = &'a CoreJsonWebKey> {
    jwks.keys()
        .iter()
        .filter(move |key| kid.is_none() || key.key_id() == kid)
}

/// The claim checks of Back-Channel Logout 1.0 §2.6, after the signature.
fn check_claims(rp: &DemoRp, claims: &serde_json::Value) -> Result<(), DemoError> {
    if claims["iss"].as_str() != Some(rp.issuer.as_str()) {
        return Err(DemoError::LogoutToken("wrong issuer"));
    }
    let audience_ok = match &claims["aud"] {
        serde_json::Value::String(aud) => *aud == rp.client_id,
        serde_json::Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(&rp.client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(DemoError::LogoutToken("wrong audience"));
    }
    if !claims["iat"].is_i64() && !claims["iat"].is_u64() {
        return Err(DemoError::LogoutToken("no iat"));
    }
    if !claims["events"][LOGOUT_EVENT].is_object() {
        return Err(DemoError::LogoutToken("not a logout event"));
    }
    if claims.get("nonce").is_some() {
        return Err(DemoError::LogoutToken("a logout token carries no nonce"));
    }
    if !claims["sid"].is_string() && !claims["sub"].is_string() {
        return Err(DemoError::LogoutToken("neither sid nor sub"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rp() -> DemoRp {
        DemoRp {
            name: "CRM".into(),
            client_id: "crm".into(),
            secret: None,
            issuer: "http://127.0.0.1:8080".into(),
            redirect_uri: "http://127.0.0.1:8081/callback".parse().unwrap(),
            post_logout_redirect_uri: "http://127.0.0.1:8081/".parse().unwrap(),
            offers_profile_switch: false,
        }
    }

    fn good() -> serde_json::Value {
        json!({
            "iss": "http://127.0.0.1:8080",
            "aud": "crm",
            "iat": 1,
            "sid": "s",
            "events": { LOGOUT_EVENT: {} }
        })
    }

    #[test]
    fn a_logout_token_with_every_required_claim_is_accepted() {
        check_claims(&rp(), &good()).unwrap();
    }

    #[test]
    fn a_logout_token_missing_a_rule_is_refused() {
        let changes: [(&str, serde_json::Value); 5] = [
            ("iss", json!("http://elsewhere")),
            ("aud", json!(["emr"])),
            ("iat", serde_json::Value::Null),
            ("events", json!({})),
            ("nonce", json!("n")),
        ];
        for (key, value) in changes {
            let mut claims = good();
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value;
            }
            assert!(check_claims(&rp(), &claims).is_err(), "{key}");
        }
    }
}
