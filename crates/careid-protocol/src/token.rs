//! The token endpoint (RFC 6749 §3.2): reads the form, authenticates the client,
//! dispatches on `grant_type`. Each grant lives in `grants/`.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{
    GrantType, Protocol, ProtocolError, client_auth, grants,
    params::{self, Body},
    tokens::TokenResponse,
};

/// A form body with RFC 6749 §3.2's rules: no repeated parameters, empty means absent.
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses the body; a repeated parameter, or more than
    /// [`params::MAX_PARAMETERS`], is `invalid_request`.
    pub fn parse(raw: &[u8]) -> Result<Self, ProtocolError> {
        let parsed = params::parse(raw);
        if parsed.is_too_many {
            return Err(ProtocolError::InvalidRequest(
                "the request has too many parameters",
            ));
        }
        if !parsed.repeated.is_empty() {
            return Err(ProtocolError::InvalidRequest("a parameter was repeated"));
        }
        Ok(Self {
            pairs: parsed.pairs,
        })
    }

    /// The body of a client's POST: it must be a form (RFC 6749 §3.2, RFC 7662 §2.1,
    /// RFC 7009 §2.1), with no parameter repeated.
    pub fn read(headers: &HeaderMap, body: &[u8]) -> Result<Self, ProtocolError> {
        if !is_form(headers) {
            return Err(ProtocolError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    /// The parameter's value, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The parameter's value, or `invalid_request` naming it.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, ProtocolError> {
        self.get(name).ok_or(ProtocolError::InvalidRequest(missing))
    }
}

/// Whether the request body is a form, as RFC 6749 §3.2 requires.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// `POST /token`.
pub async fn exchange(
    State(app): State<Arc<Protocol>>,
    address: crate::ClientAddress,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ProtocolError> {
    let form = Form::read(&headers, &body)?;
    let grant_type = form.require("grant_type", "grant_type is required")?;
    let grant = match grant_type {
        "authorization_code" => GrantType::AuthorizationCode,
        "refresh_token" => GrantType::RefreshToken,
        "client_credentials" => GrantType::ClientCredentials,
        _ => return Err(ProtocolError::UnsupportedGrantType),
    };
    let client = client_auth::authenticate(&app, &address, &headers, &form).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_form_parameter_is_refused() {
        assert!(Form::parse(b"grant_type=a&grant_type=b").is_err());
        let form = Form::parse(b"grant_type=a&scope=").unwrap();
        assert_eq!(form.get("grant_type"), Some("a"));
        assert_eq!(form.get("scope"), None);
    }
}
