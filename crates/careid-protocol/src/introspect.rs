//! Token introspection (RFC 7662): a client asks whether a token careid issued is still
//! active and what it stands for. Client authentication is `client_auth`'s; reading
//! access tokens is `access_token`'s.
//!
//! Who may introspect what (RFC 7662 §2.1, §4): only confidential clients, and only
//! tokens issued to themselves. careid has no separate resource-server role, so a client
//! asking about another client's token learns nothing: it gets `{"active": false}`,
//! exactly as for an unknown token, so the answer cannot be used to probe for tokens.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use careid_policy::one_time;
use careid_store::{AccountId, refresh_tokens};
use serde_json::{Map, Value, json};

use crate::{
    Client, Protocol, ProtocolError, access_token,
    client_request::ClientRequest,
    grant::Grant,
    session,
    token_kind::{TokenKind, lookup_order},
};

/// `POST /introspect`.
pub async fn introspect(
    State(app): State<Arc<Protocol>>,
    ClientRequest { client, form }: ClientRequest,
) -> Result<Response, ProtocolError> {
    if client.is_public() {
        // RFC 7662 §2.1: the caller must be authorized; a public client proves nothing.
        return Err(ProtocolError::InvalidClient {
            reason: "only confidential clients may introspect tokens",
            basic: false,
        });
    }
    let presented = form.require("token", "token is required")?;
    let mut answer = None;
    for kind in lookup_order(form.get("token_type_hint")) {
        answer = match kind {
            TokenKind::Access => access(&app, &client, presented).await?,
            TokenKind::Refresh => refresh(&app, &client, presented).await?,
        };
        if answer.is_some() {
            break;
        }
    }
    let body = answer.map_or_else(|| json!({ "active": false }), Value::Object);
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The active answer for a usable access token of `client`: signed by careid, unexpired,
/// not revoked, and, for a person's token, its account still allowed to sign in.
async fn access(
    app: &Protocol,
    client: &Client,
    presented: &str,
) -> Result<Option<Map<String, Value>>, ProtocolError> {
    let Some(claims) = access_token::verify_active(app, presented).await? else {
        return Ok(None);
    };
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Ok(None);
    }
    let mut answer = Map::new();
    answer.insert("active".into(), json!(true));
    for name in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
    ] {
        if let Some(value) = claims.get(name) {
            answer.insert(name.into(), value.clone());
        }
    }
    answer.insert("token_type".into(), json!("Bearer"));
    Ok(Some(answer))
}

/// The active answer for a usable refresh token of `client`: known, unexpired, neither
/// revoked (alone or with its family) nor rotated, and its account still allowed to sign
/// in. `token_type` is left out: RFC 7662 §2.2 means the RFC 6749 §7.1 access-token type,
/// which a refresh token does not have.
async fn refresh(
    app: &Protocol,
    client: &Client,
    presented: &str,
) -> Result<Option<Map<String, Value>>, ProtocolError> {
    let Some(token) = refresh_tokens::find_by_digest(&app.db, &one_time::digest(presented)).await?
    else {
        return Ok(None);
    };
    let is_usable = token.client_id == client.client_id
        && token.revoked_at.is_none()
        && token.rotated_at.is_none()
        && token.expires_at > app.clock.now();
    if !is_usable || !is_in_good_standing(app, token.account_id).await? {
        return Ok(None);
    }
    let grant = Grant::from_json(token.grant()?)?;
    let mut answer = Map::new();
    answer.insert("active".into(), json!(true));
    answer.insert("scope".into(), json!(grant.scope));
    answer.insert("client_id".into(), json!(token.client_id));
    answer.insert("sub".into(), json!(grant.subject));
    answer.insert("exp".into(), json!(token.expires_at.unix_timestamp()));
    answer.insert("iat".into(), json!(token.created_at.unix_timestamp()));
    answer.insert("iss".into(), json!(app.issuer));
    Ok(Some(answer))
}

/// Whether the account may still act: a disabled or expired account's tokens are all
/// inactive, as they are at /token and /userinfo.
async fn is_in_good_standing(app: &Protocol, account_id: AccountId) -> Result<bool, ProtocolError> {
    Ok(session::account_in_good_standing(app, &app.db, account_id)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_decides_only_which_kind_is_tried_first() {
        assert_eq!(
            lookup_order(Some("refresh_token")),
            [TokenKind::Refresh, TokenKind::Access]
        );
        assert_eq!(
            lookup_order(Some("access_token")),
            [TokenKind::Access, TokenKind::Refresh]
        );
        assert_eq!(
            lookup_order(Some("id_token")),
            [TokenKind::Access, TokenKind::Refresh]
        );
        assert_eq!(lookup_order(None), [TokenKind::Access, TokenKind::Refresh]);
    }
}
