//! The UserInfo endpoint (OIDC Core §5.3). The claims each scope releases (§5.4) are
//! `claims`'s; the same claims go into ID tokens.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{Protocol, ProtocolError, access_token, claims::claims_of, form, scope, session};

/// `GET /userinfo` with a bearer token in the Authorization header.
pub async fn show(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
) -> Result<Response, ProtocolError> {
    let token = access_token::bearer(&headers)?
        .ok_or(ProtocolError::InvalidToken("a bearer token is required"))?;
    respond(&app, &token).await
}

/// `POST /userinfo`: the token in the header or, per RFC 6750 §2.2, in the form body.
pub async fn show_post(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ProtocolError> {
    let from_header = access_token::bearer(&headers)?;
    let from_body = if form::is_form(&headers) {
        form::Form::parse(&body)?
            .get("access_token")
            .map(str::to_owned)
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(ProtocolError::InvalidRequest(
                "send the token once, not twice",
            ));
        }
        (Some(token), None) | (None, Some(token)) => token,
        (None, None) => return Err(ProtocolError::InvalidToken("a bearer token is required")),
    };
    respond(&app, &token).await
}

async fn respond(app: &Protocol, token: &str) -> Result<Response, ProtocolError> {
    let (claims, person) =
        access_token::verify_with_person(app, token)
            .await?
            .ok_or(ProtocolError::InvalidToken(
                "the access token is invalid, expired or revoked",
            ))?;
    let granted = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !scope::contains(granted, "openid") {
        return Err(ProtocolError::InsufficientScope(
            "userinfo needs the openid scope",
        ));
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(session::Person { profile, account }) = person else {
        return Err(ProtocolError::InvalidToken(
            "the token's subject no longer exists or can no longer sign in",
        ));
    };
    let mut body = claims_of(&profile, &account, granted);
    // The token's `sub`: pairwise for a pairwise client (OIDC Core §5.3.2).
    body.insert("sub".into(), json!(subject));
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(Value::Object(body)),
    )
        .into_response())
}
