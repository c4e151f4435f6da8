//! Protocol errors become RFC 6749 §5.2 JSON here, and nowhere else.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// An error answered to a client at /token, /userinfo and the other JSON endpoints.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// RFC 6749 §5.2 `invalid_request`.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Client authentication failed. `basic` adds the `WWW-Authenticate` challenge.
    #[error("invalid_client: {reason}")]
    InvalidClient { reason: &'static str, basic: bool },
    /// The code, refresh token or credentials are invalid, expired, revoked or used.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The client may not use this grant.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// The grant type is not one careid supports.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A scope that the client may not have.
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    /// RFC 6750 §3.1: the bearer token is missing, expired or revoked.
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    /// RFC 6750 §3.1: the token lacks the scope the resource needs.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(&'static str),
    /// RFC 7591 §3.2.2: a redirect URI in client metadata is not acceptable.
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// RFC 7591 §3.2.2: a client metadata value is not acceptable.
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// Dynamic client registration is turned off (`[registration] mode = "off"`).
    #[error("registration is turned off")]
    RegistrationOff,
    /// Password hashing or the database is saturated; the client should retry.
    #[error("temporarily_unavailable")]
    Busy,
    /// Something failed inside careid: logged once, answered as `server_error`.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<careid_store::DbErr> for ProtocolError {
    fn from(err: careid_store::DbErr) -> Self {
        Self::from(careid_store::StoreError::from(err))
    }
}

impl From<careid_store::StoreError> for ProtocolError {
    fn from(err: careid_store::StoreError) -> Self {
        match err {
            careid_store::StoreError::Busy => Self::Busy,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<josekit::JoseError> for ProtocolError {
    fn from(err: josekit::JoseError) -> Self {
        Self::Internal(format!("jose: {err}"))
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

impl IntoResponse for ProtocolError {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Self::InvalidRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", Some(*why)),
            Self::InvalidClient { reason, .. } => {
                (StatusCode::UNAUTHORIZED, "invalid_client", Some(*reason))
            }
            Self::InvalidGrant(why) => (StatusCode::BAD_REQUEST, "invalid_grant", Some(*why)),
            Self::UnauthorizedClient(why) => {
                (StatusCode::BAD_REQUEST, "unauthorized_client", Some(*why))
            }
            Self::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type", None),
            Self::InvalidScope(why) => (StatusCode::BAD_REQUEST, "invalid_scope", Some(*why)),
            Self::InvalidToken(why) => (StatusCode::UNAUTHORIZED, "invalid_token", Some(*why)),
            Self::InsufficientScope(why) => {
                (StatusCode::FORBIDDEN, "insufficient_scope", Some(*why))
            }
            Self::InvalidRedirectUri(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                Some(why.as_str()),
            ),
            Self::InvalidClientMetadata(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                Some(why.as_str()),
            ),
            Self::RegistrationOff => (
                StatusCode::FORBIDDEN,
                "access_denied",
                Some("dynamic client registration is turned off on this server"),
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                None,
            ),
            Self::Internal(err) => {
                tracing::error!(%err, "protocol request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None)
            }
        };
        let mut response = (
            status,
            Json(Body {
                error,
                error_description: description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match &self {
            Self::InvalidClient { basic: true, .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"careid\""),
                );
            }
            Self::InvalidToken(_) | Self::InsufficientScope(_) => {
                let challenge = format!("Bearer realm=\"careid\", error=\"{error}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
