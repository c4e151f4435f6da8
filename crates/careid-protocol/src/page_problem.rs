//! Why a request that must not go back to the client stops on a careid page instead
//! (OIDC Core §3.1.2.6: an unknown client or an unregistered redirect URI is never
//! redirected). The protocol names the problem and its status; `careid-ui` words it, so
//! every sentence a person reads lives in one crate.

use axum::http::StatusCode;

use crate::LogoutRefused;

/// A problem shown on a page, never redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageProblem {
    /// An authorization request body over the size careid reads.
    RequestTooLarge,
    /// A POSTed authorization request that is not form-encoded.
    RequestNotForm,
    /// `client_id` or `redirect_uri` given more than once.
    RepeatedIdentity,
    /// `client_id` names no registered client.
    UnknownClient,
    /// `redirect_uri` is not one of the client's, character for character.
    UnregisteredRedirect,
    /// The stored authorization request is unknown or has expired.
    SignInExpired,
    /// Too many unfinished authorization requests from this address.
    TooManyPending,
    /// The store or the keys failed; logged where it happened.
    Internal,
    /// An RP-initiated logout request careid will not follow.
    Logout(LogoutRefused),
    /// Signing out failed; logged where it happened.
    SignOutFailed,
}

impl PageProblem {
    /// The page's HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestNotForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyPending => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal | Self::SignOutFailed => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RepeatedIdentity
            | Self::UnknownClient
            | Self::UnregisteredRedirect
            | Self::SignInExpired
            | Self::Logout(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable name for logs and for a server without themes.
    pub fn code(self) -> &'static str {
        match self {
            Self::RequestTooLarge => "request_too_large",
            Self::RequestNotForm => "request_not_form",
            Self::RepeatedIdentity => "repeated_client_identity",
            Self::UnknownClient => "unknown_client",
            Self::UnregisteredRedirect => "unregistered_redirect_uri",
            Self::SignInExpired => "sign_in_expired",
            Self::TooManyPending => "too_many_pending_requests",
            Self::Internal => "internal_error",
            Self::Logout(LogoutRefused::Malformed) => "logout_malformed",
            Self::Logout(LogoutRefused::BadHint) => "logout_bad_id_token_hint",
            Self::Logout(LogoutRefused::UnknownClient) => "logout_unknown_client",
            Self::Logout(LogoutRefused::NoClient) => "logout_uri_without_client",
            Self::Logout(LogoutRefused::UnregisteredUri) => "logout_unregistered_uri",
            Self::SignOutFailed => "sign_out_failed",
        }
    }
}
