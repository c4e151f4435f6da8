//! The demo's one error type, shown as a plain page with a link home.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::html;

/// What went wrong in a demo request.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// careid's discovery document or keys could not be fetched.
    #[error("cannot reach careid: {0}")]
    Discovery(String),
    /// The callback did not match a sign-in this browser started.
    #[error("this sign-in was not started here, or it was already finished")]
    UnknownState,
    /// careid answered the authorization request with an error.
    #[error("careid refused: {0}")]
    Refused(String),
    /// The token endpoint refused, or its answer did not verify.
    #[error("token exchange failed: {0}")]
    Token(String),
    /// A back-channel logout token that does not verify.
    #[error("logout token rejected: {0}")]
    LogoutToken(&'static str),
}

impl IntoResponse for DemoError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Discovery(_) => StatusCode::BAD_GATEWAY,
            Self::Token(_) => StatusCode::BAD_GATEWAY,
            Self::UnknownState | Self::Refused(_) | Self::LogoutToken(_) => StatusCode::BAD_REQUEST,
        };
        tracing::warn!(err = %self, "demo request failed");
        let body = format!(
            "<h1>Something went wrong</h1><p role=\"alert\">{}</p><p><a href=\"/\">Back to the home page</a></p>",
            html::escape(&self.to_string())
        );
        (status, html::page("Error", "Demo", &body)).into_response()
    }
}
