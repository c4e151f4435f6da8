//! Errors of the admin API as RFC 9457 problem details (`application/problem+json`),
//! each with a stable `type` URI under [`PROBLEM_BASE`] that a portal can match on, and
//! the extractors whose rejections become problems too (never axum's plain text).

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use careid_accounts::AccountsError;
use serde::Serialize;
use utoipa::ToSchema;

/// Where the problem types live; `<base><name>` is each type's URI (docs/admin-api.md).
pub const PROBLEM_BASE: &str = "https://careid.dev/problems/";

/// An RFC 9457 problem details object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, documented in docs/admin-api.md.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault, for `invalid-field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// Every broken password rule, for `password-rejected`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
}

/// What an admin API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No bearer token (RFC 6750 §3.1: the challenge carries no error code).
    #[error("no access token")]
    NoToken,
    /// The token is malformed, expired, revoked, foreign or not for the admin API.
    #[error("the access token is invalid")]
    InvalidToken,
    /// The token lacks the scope the operation needs.
    #[error("the operation needs the scope {0}")]
    InsufficientScope(&'static str),
    /// No account with this id.
    #[error("no such account")]
    UnknownAccount,
    /// No such session for this account.
    #[error("no such session for this account")]
    UnknownSession,
    /// No such profile for this account.
    #[error("no such profile for this account")]
    UnknownProfile,
    /// The profile is the account's last; an account always keeps one.
    #[error("an account keeps at least one profile; this is its last")]
    LastProfile,
    /// A named client (for branding) does not exist.
    #[error("no such client")]
    UnknownClient,
    /// A field is missing, too long or malformed.
    #[error("{field}: {why}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// The body is not the JSON the operation reads.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The body is larger than the admin API reads.
    #[error("the request body is too large")]
    TooLarge,
    /// The new password breaks these rules.
    #[error("the password breaks the rules")]
    PasswordRejected(Vec<String>),
    /// The action does not apply to the account's status.
    #[error("the account is {0}")]
    WrongStatus(&'static str),
    /// careid is at capacity; try again shortly.
    #[error("careid is at capacity")]
    Busy,
    /// Something failed inside careid; logged, never described to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    /// The status, the problem's name (the tail of its `type` URI) and its title.
    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::NoToken => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            Self::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "Invalid access token",
            ),
            Self::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                "insufficient-scope",
                "Insufficient scope",
            ),
            Self::UnknownAccount => (
                StatusCode::NOT_FOUND,
                "account-not-found",
                "No such account",
            ),
            Self::UnknownSession => (
                StatusCode::NOT_FOUND,
                "session-not-found",
                "No such session",
            ),
            Self::UnknownProfile => (
                StatusCode::NOT_FOUND,
                "profile-not-found",
                "No such profile",
            ),
            Self::LastProfile => (
                StatusCode::CONFLICT,
                "last-profile",
                "The last profile cannot be removed",
            ),
            Self::UnknownClient => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid field",
            ),
            Self::InvalidField { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid field",
            ),
            Self::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
            ),
            Self::PasswordRejected(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "password-rejected",
                "Password rejected",
            ),
            Self::WrongStatus(_) => (
                StatusCode::CONFLICT,
                "wrong-status",
                "Not possible in the account's status",
            ),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy", "Try again shortly"),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server-error",
                "Internal error",
            ),
        }
    }

    /// Shorthand for an [`AdminError::InvalidField`].
    pub fn field(field: &'static str, why: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            why: why.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, name, title) = self.kind();
        let detail = match &self {
            Self::Internal(err) => {
                tracing::error!(%err, "admin API request failed");
                None
            }
            Self::UnknownClient => Some("branding_client names no configured client".to_owned()),
            other => Some(other.to_string()),
        };
        let field = match &self {
            Self::InvalidField { field, .. } => Some(*field),
            Self::UnknownClient => Some("branding_client"),
            _ => None,
        };
        let violations = match &self {
            Self::PasswordRejected(violations) => violations.clone(),
            _ => Vec::new(),
        };
        let body = Problem {
            problem_type: format!("{PROBLEM_BASE}{name}"),
            title,
            status: status.as_u16(),
            detail,
            field,
            violations,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // RFC 6750 §3: the challenge, with an error code once a token was presented.
        let challenge = match &self {
            Self::NoToken => Some("Bearer realm=\"careid\"".to_owned()),
            Self::InvalidToken => {
                Some("Bearer realm=\"careid\", error=\"invalid_token\"".to_owned())
            }
            Self::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"careid\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if matches!(self, Self::Busy) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<AccountsError> for AdminError {
    fn from(err: AccountsError) -> Self {
        match err {
            AccountsError::Busy => Self::Busy,
            AccountsError::UnknownAccount => Self::UnknownAccount,
            AccountsError::UnknownSession => Self::UnknownSession,
            AccountsError::UnknownProfile => Self::UnknownProfile,
            AccountsError::LastProfile => Self::LastProfile,
            AccountsError::InvalidEmail => Self::field("email", "not an email address"),
            AccountsError::InvalidProfile { field, why } => Self::field(field, why),
            AccountsError::PasswordRejected(violations) => {
                Self::PasswordRejected(violations.iter().map(|v| v.message()).collect())
            }
            AccountsError::WrongStatus(status) => Self::WrongStatus(status.as_str()),
            AccountsError::PinLifetimeOutOfRange { max_minutes } => Self::field(
                "expires_in_minutes",
                format!("a PIN may work from 1 minute to {max_minutes} minutes"),
            ),
            AccountsError::LifetimeOutOfRange { max_hours } => Self::field(
                "expires_in_minutes",
                format!("a link may last from 1 minute to {max_hours} hours"),
            ),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<careid_store::StoreError> for AdminError {
    fn from(err: careid_store::StoreError) -> Self {
        AccountsError::from(err).into()
    }
}

impl From<JsonRejection> for AdminError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::BytesRejection(bytes)
                if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::TooLarge
            }
            other => Self::Malformed(other.body_text()),
        }
    }
}

impl From<QueryRejection> for AdminError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Malformed(rejection.body_text())
    }
}

impl From<PathRejection> for AdminError {
    fn from(rejection: PathRejection) -> Self {
        Self::Malformed(rejection.body_text())
    }
}

/// A JSON body; a rejection is a problem.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AdminError))]
pub struct AdminJson<T>(pub T);

/// A query string; a rejection is a problem.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AdminError))]
pub struct AdminQuery<T>(pub T);

/// Path parameters; a rejection (an id that is not a number) is a problem.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AdminError))]
pub struct AdminPath<T>(pub T);
