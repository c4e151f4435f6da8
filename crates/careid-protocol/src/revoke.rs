//! Token revocation (RFC 7009). A client revokes its own tokens: a refresh token takes
//! its whole family with it; an access token's `jti` is denied until the token expires.
//! Client authentication is `client_auth`'s (a public client identifies itself by
//! `client_id`, RFC 7009 §2.1).
//!
//! RFC 7009 §2.2: an unknown, expired or already revoked token, and a token of another
//! client, all get the same 200, so the endpoint says nothing about tokens it was not
//! given the right to touch.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use careid_policy::one_time;
use careid_store::{StoreError, audit, refresh_tokens, revoked_access_tokens};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    Client, Protocol, ProtocolError, access_token, client_auth,
    grant::Grant,
    introspect::{TokenKind, lookup_order},
    token::Form,
};

/// `POST /revoke`: 200 with an empty body whenever the client authenticated.
pub async fn revoke(
    State(app): State<Arc<Protocol>>,
    address: crate::ClientAddress,
    headers: HeaderMap,
    crate::params::Body(body): crate::params::Body,
) -> Result<Response, ProtocolError> {
    let form = Form::read(&headers, &body)?;
    let client = client_auth::authenticate(&app, &address, &headers, &form).await?;
    let presented = form.require("token", "token is required")?;
    for kind in lookup_order(form.get("token_type_hint")) {
        let is_found = match kind {
            TokenKind::Access => access(&app, &client, presented).await?,
            TokenKind::Refresh => refresh(&app, &client, presented).await?,
        };
        if is_found {
            break;
        }
    }
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Revokes the family of a refresh token of `client`. Returns whether the string was a
/// refresh token at all (of any client), so that the other kind is not tried in vain.
async fn refresh(app: &Protocol, client: &Client, presented: &str) -> Result<bool, StoreError> {
    let Some(token) = refresh_tokens::find_by_digest(&app.db, &one_time::digest(presented)).await?
    else {
        return Ok(false);
    };
    if token.client_id != client.client_id {
        return Ok(true);
    }
    let now = app.clock.now();
    let grant =
        Grant::from_json(token.grant()?).map_err(|err| StoreError::Corrupt(err.to_string()))?;
    let txn = app.db.begin().await?;
    // RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens issued
    // from the same grant.
    let revoked =
        crate::grants::revoke_family_and_its_access_tokens(app, &txn, client, &grant, now).await?;
    if revoked > 0 {
        audit::insert_event(
            &txn,
            audit::NewEvent {
                kind: "refresh_token_revoked",
                account_id: Some(token.account_id),
                client_id: Some(client.client_id.clone()),
                ip: None,
                detail: json!({ "family": token.family_id, "tokens": revoked }),
            },
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Denies an access token of `client` until it expires. Returns whether the string was
/// one of careid's access tokens at all (of any client).
async fn access(app: &Protocol, client: &Client, presented: &str) -> Result<bool, StoreError> {
    let Some(claims) = access_token::decode(app, presented) else {
        return Ok(false);
    };
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Ok(true);
    }
    let (Some(jti), Some(exp)) = (
        claims.get("jti").and_then(Value::as_str),
        claims.get("exp").and_then(Value::as_i64),
    ) else {
        return Ok(true);
    };
    // An expired token needs no entry: nothing accepts it anyway.
    let now = app.clock.now();
    if let Ok(expires_at) = OffsetDateTime::from_unix_timestamp(exp)
        && expires_at > now
    {
        revoked_access_tokens::insert_revoked(&app.db, jti, expires_at).await?;
    }
    Ok(true)
}
