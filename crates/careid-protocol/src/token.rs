//! The token endpoint (RFC 6749 §3.2): dispatches an authenticated client's request
//! ([`ClientRequest`]) on `grant_type`. Each grant lives in `grants/`.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{
    GrantType, Protocol, ProtocolError, client_request::ClientRequest, grants,
    tokens::TokenResponse,
};

/// `POST /token`.
pub async fn exchange(
    State(app): State<Arc<Protocol>>,
    ClientRequest { client, form }: ClientRequest,
) -> Result<Response, ProtocolError> {
    let grant_type = form.require("grant_type", "grant_type is required")?;
    let grant = GrantType::parse(grant_type).ok_or(ProtocolError::UnsupportedGrantType)?;
    if !client.allows(grant) {
        return Err(ProtocolError::UnauthorizedClient(
            "this client may not use this grant type",
        ));
    }
    let response = match grant {
        GrantType::AuthorizationCode => {
            grants::authorization_code::redeem(&app, &client, &form).await?
        }
        GrantType::RefreshToken => grants::refresh_token::rotate(&app, &client, &form).await?,
        GrantType::ClientCredentials => grants::client_credentials::issue(&app, &client, &form)?,
    };
    metrics::counter!("careid_tokens_issued_total", "grant" => grant.as_str()).increment(1);
    Ok(no_store(response))
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store(response: TokenResponse) -> Response {
    let mut response = Json(response).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
