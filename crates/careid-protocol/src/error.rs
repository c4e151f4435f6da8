//! Protocol errors become RFC 6749 §5.2 JSON here, and nowhere else.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use std::borrow::Cow;

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
    /// Over a rate limit: 429 with `Retry-After`.
    #[error("temporarily_unavailable: {0}")]
    RateLimited(#[from] crate::RateLimited),
    /// The signing keys cannot be loaded or changed: no key-encryption key or the wrong
    /// one (which stops a start), or a refused rotation or retirement. Said to the
    /// operator; answered as `server_error` if it ever reaches a client.
    #[error("{0}")]
    SigningKeys(String),
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

/// `why` made fit for `error_description`, which RFC 6749 §5.2 limits to
/// %x20-21 / %x23-5B / %x5D-7E: a double quote becomes a single one, a backslash a
/// slash, and anything else outside the set (control characters, non-ASCII) a `?`.
/// Every description careid sends goes through here, so a value a client sent and an
/// error quotes can never break the rule.
pub(crate) fn description_text(why: &str) -> Cow<'_, str> {
    if why.bytes().all(is_description_byte) {
        return Cow::Borrowed(why);
    }
    Cow::Owned(
        why.chars()
            .map(|c| match c {
                '"' => '\'',
                '\\' => '/',
                c if c.is_ascii() && is_description_byte(c as u8) => c,
                _ => '?',
            })
            .collect(),
    )
}

fn is_description_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
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
            // RFC 6749 has no error for "too many requests"; `temporarily_unavailable`
            // (§4.1.2.1) is its word for "try again later", which with 429 and
            // `Retry-After` (RFC 6585 §4) is what a client must do. `invalid_request`
            // would call a well-formed request malformed, `invalid_client` would say the
            // credentials were checked (they are not, past the limit), and `slow_down`
            // is RFC 8628's signal to a polling device.
            Self::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                Some("too many requests; retry after the time in Retry-After"),
            ),
            Self::SigningKeys(err) | Self::Internal(err) => {
                tracing::error!(%err, "protocol request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None)
            }
        };
        let description = description.map(description_text);
        let mut response = (
            status,
            Json(Body {
                error,
                error_description: description.as_deref(),
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
            Self::RateLimited(refused) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(refused.retry_after_seconds()),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, each carrying the worst text it can: a value a client sent with a
    /// quote, a backslash, a control character and non-ASCII in it.
    fn every_variant() -> Vec<ProtocolError> {
        const NASTY: &str = "bad \"value\" \\ with\ttab and caf\u{e9} \u{1f600}";
        let all = vec![
            ProtocolError::InvalidRequest(NASTY),
            ProtocolError::InvalidClient {
                reason: NASTY,
                basic: true,
            },
            ProtocolError::InvalidGrant(NASTY),
            ProtocolError::UnauthorizedClient(NASTY),
            ProtocolError::UnsupportedGrantType,
            ProtocolError::InvalidScope(NASTY),
            ProtocolError::InvalidToken(NASTY),
            ProtocolError::InsufficientScope(NASTY),
            ProtocolError::InvalidRedirectUri(NASTY.to_owned()),
            ProtocolError::InvalidClientMetadata(NASTY.to_owned()),
            ProtocolError::RegistrationOff,
            ProtocolError::Busy,
            ProtocolError::RateLimited(crate::RateLimited {
                bucket: crate::Bucket::ClientAuthFailure,
                retry_after: std::time::Duration::from_secs(3),
            }),
            ProtocolError::SigningKeys(NASTY.to_owned()),
            ProtocolError::Internal(NASTY.to_owned()),
        ];
        for err in &all {
            // A new variant fails to compile here until it is added to the list above.
            match err {
                ProtocolError::InvalidRequest(_)
                | ProtocolError::InvalidClient { .. }
                | ProtocolError::InvalidGrant(_)
                | ProtocolError::UnauthorizedClient(_)
                | ProtocolError::UnsupportedGrantType
                | ProtocolError::InvalidScope(_)
                | ProtocolError::InvalidToken(_)
                | ProtocolError::InsufficientScope(_)
                | ProtocolError::InvalidRedirectUri(_)
                | ProtocolError::InvalidClientMetadata(_)
                | ProtocolError::RegistrationOff
                | ProtocolError::Busy
                | ProtocolError::RateLimited(_)
                | ProtocolError::SigningKeys(_)
                | ProtocolError::Internal(_) => {}
            }
        }
        all
    }

    #[tokio::test]
    async fn every_error_description_uses_only_the_characters_rfc_6749_allows() {
        for err in every_variant() {
            let shown = format!("{err:?}");
            let response = err.into_response();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let error = body["error"].as_str().unwrap();
            assert!(error.bytes().all(is_description_byte), "{shown}: {body}");
            if let Some(description) = body.get("error_description") {
                let description = description.as_str().unwrap();
                assert!(!description.is_empty(), "{shown}");
                assert!(
                    description.bytes().all(is_description_byte),
                    "{shown}: {description:?}"
                );
            }
        }
    }

    #[test]
    fn a_description_keeps_its_words_and_loses_only_forbidden_characters() {
        assert_eq!(
            description_text("redirect_uris: \"a\\b\" is caf\u{e9}"),
            "redirect_uris: 'a/b' is caf?"
        );
        assert!(matches!(
            description_text("scope is required"),
            Cow::Borrowed("scope is required")
        ));
    }
}
