//! The one error type of careid-ui and the one page that shows it.
//!
//! Handlers return `Result<Response, UiError>`. `impl IntoResponse for UiError` picks the
//! status and the words (and logs an internal failure once, there); the router's
//! [`show_errors`] layer then renders them through [`ThemedErrorPage`], which the protocol
//! also uses for the requests it must not redirect (OIDC Core §3.1.2.6). The error page
//! never redirects anywhere.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use careid_accounts::AccountsError;
use careid_protocol::{ErrorPage, Leaving, LogoutRefused, PageProblem, ProtocolError};
use serde_json::json;

use crate::{Themes, Ui};

/// What went wrong on a page.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The authorization request named in the page's `request` is unknown or expired.
    #[error("the sign-in request is unknown or expired")]
    RequestExpired,
    /// The CSRF cookie or form field is missing, or they differ.
    #[error("the form's CSRF token did not match its cookie")]
    CsrfRejected,
    /// The form could not be read (wrong content type, malformed body).
    #[error("the form could not be read")]
    BadForm,
    /// The chosen profile does not belong to the signed-in account.
    #[error("the profile does not belong to this account")]
    UnknownProfile,
    /// The client does not offer the sign-in method asked for (password, PIN …).
    #[error("the client does not allow this sign-in method")]
    MethodNotAllowed,
    /// The client does not let people sign in with an emailed link.
    #[error("the client does not allow sign-in links")]
    MagicLinkNotAllowed,
    /// No such page or static file.
    #[error("not found")]
    NotFound,
    /// Password hashing is saturated: 503 with `Retry-After`.
    #[error("password hashing is at capacity")]
    Busy,
    /// The client address made too many requests of this kind: 429 with `Retry-After`.
    #[error("too many requests from this address")]
    TooManyRequests {
        /// Minutes until the address may try again.
        retry_after_minutes: u32,
    },
    /// Over a rate limit (`[rate_limit]`): 429 with `Retry-After`.
    #[error("{0}")]
    RateLimited(#[from] careid_protocol::RateLimited),
    /// The themes folder or a template in it could not be read at start-up.
    #[error("could not read {path}: {source}")]
    ThemesUnreadable {
        /// The file or folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A template is missing or failed to render.
    #[error("template failed: {0}")]
    Template(#[from] minijinja::Error),
    /// A protocol operation (a session, a pending request, a consent) failed.
    #[error("protocol operation failed: {0}")]
    Protocol(ProtocolError),
    /// An account operation failed.
    #[error("account operation failed: {0}")]
    Accounts(AccountsError),
    /// Something else failed inside careid.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<ProtocolError> for UiError {
    fn from(err: ProtocolError) -> Self {
        match err {
            // An overloaded database reaches pages through the protocol's functions.
            ProtocolError::Busy => Self::Busy,
            other => Self::Protocol(other),
        }
    }
}

impl From<AccountsError> for UiError {
    fn from(err: AccountsError) -> Self {
        match err {
            AccountsError::Busy => Self::Busy,
            AccountsError::TooManyRequests {
                retry_after_minutes,
            } => Self::TooManyRequests {
                retry_after_minutes,
            },
            AccountsError::UnknownProfile => Self::UnknownProfile,
            other => Self::Accounts(other),
        }
    }
}

/// The words of an error page, carried from `into_response` to [`show_errors`].
#[derive(Debug, Clone, Copy)]
struct Shown {
    title: &'static str,
    detail: &'static str,
}

impl UiError {
    fn shown(&self) -> (StatusCode, Shown) {
        let (status, title, detail) = match self {
            Self::RequestExpired => (
                StatusCode::BAD_REQUEST,
                "This sign-in has expired",
                "Too much time passed since the application asked you to sign in. Go back to the application and start again.",
            ),
            Self::CsrfRejected => (
                StatusCode::FORBIDDEN,
                "This form expired",
                "This form expired; go back and try again. If it keeps happening, check that your browser accepts cookies from this site.",
            ),
            Self::BadForm => (
                StatusCode::BAD_REQUEST,
                "This form could not be read",
                "Something was missing from what your browser sent. Go back and try again.",
            ),
            Self::UnknownProfile => (
                StatusCode::BAD_REQUEST,
                "That profile is not available",
                "The profile you chose does not belong to the account you are signed in with. Go back and choose one from the list.",
            ),
            Self::MethodNotAllowed => (
                StatusCode::FORBIDDEN,
                "This way of signing in is not available here",
                "This application does not offer this way of signing in (a password, an emailed link or a PIN). Go back to the application and choose another way to sign in.",
            ),
            Self::MagicLinkNotAllowed => (
                StatusCode::FORBIDDEN,
                "Sign-in links are not available here",
                "This application does not let you sign in with an emailed link. Go back to the application and choose another way to sign in.",
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address. Check the link, or go back to the application you came from.",
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "careid is very busy",
                "Too many people are signing in right now. Wait a moment and try again.",
            ),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "There have been too many requests from your network. Wait an hour and try again, or ask your practice administrator for help.",
            ),
            Self::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "There have been too many attempts like this one, from your network or for this account. Wait a minute and try again; if it keeps happening, ask your practice administrator for help.",
            ),
            Self::ThemesUnreadable { .. }
            | Self::Template(_)
            | Self::Protocol(_)
            | Self::Accounts(_)
            | Self::Internal(_) => {
                // Logged once, here; the person sees no detail of it.
                tracing::error!(err = %self, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "careid could not finish this request. Please try again in a moment.",
                )
            }
        };
        (status, Shown { title, detail })
    }
}

impl IntoResponse for UiError {
    /// A plain response carrying the page's words; [`show_errors`] renders it themed.
    fn into_response(self) -> Response {
        let (status, shown) = self.shown();
        let mut response = plain_page(status, shown.title, shown.detail);
        let retry_after = match &self {
            Self::Busy => Some(1),
            Self::TooManyRequests {
                retry_after_minutes,
            } => Some(u64::from(*retry_after_minutes) * 60),
            Self::RateLimited(refused) => Some(refused.retry_after_seconds()),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(shown);
        response
    }
}

/// Router layer: replaces the body of every `UiError` response with the themed error
/// page, keeping its status and headers (`Retry-After`, `Set-Cookie`).
pub(crate) async fn show_errors(State(ui): State<Arc<Ui>>, response: Response) -> Response {
    let Some(shown) = response.extensions().get::<Shown>().copied() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    let page = ui
        .error_page
        .render_words(parts.status, shown.title, shown.detail);
    let (page_parts, body) = page.into_parts();
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(value) = page_parts.headers.get(&name) {
            parts.headers.insert(name, value.clone());
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.remove::<Shown>();
    Response::from_parts(parts, body)
}

/// The error page in careid's own look: `error.html` of the default theme. Used for
/// `UiError`s and, through [`ErrorPage`], for the protocol's non-redirecting errors.
pub struct ThemedErrorPage {
    themes: Arc<Themes>,
}

impl ThemedErrorPage {
    /// An error page drawn from `themes`.
    pub fn new(themes: Arc<Themes>) -> Self {
        Self { themes }
    }

    /// The page with this status, title and explanation.
    pub(crate) fn render_words(&self, status: StatusCode, title: &str, detail: &str) -> Response {
        let ctx = json!({ "title": title, "detail": detail, "status": status.as_u16() });
        match self
            .themes
            .render(crate::themes::DEFAULT_THEME, "error.html", ctx)
        {
            Ok(html) => crate::page::respond(status, html, None),
            Err(err) => {
                // A broken error template must not hide the error it was showing.
                tracing::error!(%err, "error page template failed");
                plain_page(status, title, detail)
            }
        }
    }
}

impl ErrorPage for ThemedErrorPage {
    fn render(&self, problem: PageProblem) -> Response {
        let (title, detail) = words(problem);
        self.render_words(problem.status(), title, detail)
    }

    fn leaving(&self, leaving: Leaving<'_>) -> Response {
        let ctx = json!({
            "client_name": leaving.client_name,
            "origin": leaving.origin,
            "url": leaving.url,
        });
        match self.themes.render(leaving.theme, "leaving.html", ctx) {
            Ok(html) => crate::page::respond(StatusCode::OK, html, None),
            Err(err) => {
                tracing::error!(%err, "leaving page template failed");
                careid_protocol::PlainErrorPage.leaving(leaving)
            }
        }
    }
}

/// A plain-text page with the same words, for when the themed one cannot be drawn.
fn plain_page(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{title}\n\n{detail}\n"),
    )
        .into_response()
}

/// The title and explanation of each problem the protocol shows on a page.
fn words(problem: PageProblem) -> (&'static str, &'static str) {
    match problem {
        PageProblem::RequestTooLarge => (
            "This sign-in request could not be read",
            "The application sent a request far larger than careid accepts. Please go back and try again.",
        ),
        PageProblem::RequestNotForm => (
            "This sign-in request could not be read",
            "The application sent the request in a format careid does not accept. Please go back and try again.",
        ),
        PageProblem::RepeatedIdentity => (
            "This sign-in request is malformed",
            "The application sent its identity more than once.",
        ),
        PageProblem::UnknownClient => (
            "Unknown application",
            "The application that sent you here is not registered with careid. Contact its provider.",
        ),
        PageProblem::UnregisteredRedirect => (
            "This sign-in request cannot be completed",
            "The application asked careid to send you to an address it has not registered, so careid will not send you there.",
        ),
        PageProblem::SignInExpired => (
            "This sign-in has expired",
            "Too much time passed since the application asked you to sign in. Go back to the application and start again.",
        ),
        PageProblem::TooManyPending => (
            "Too many sign-ins are waiting",
            "Too many sign-ins were started from your network and not finished. Finish one you started, or wait a minute and try again.",
        ),
        PageProblem::Internal => (
            "Something went wrong",
            "careid could not finish this request. Please try again in a moment.",
        ),
        PageProblem::SignOutFailed => (
            "Something went wrong",
            "careid could not finish signing you out. Please try again in a moment.",
        ),
        PageProblem::Logout(why) => logout_words(why),
    }
}

fn logout_words(why: LogoutRefused) -> (&'static str, &'static str) {
    match why {
        LogoutRefused::Malformed => (
            "This sign-out request could not be read",
            "The application sent a sign-out request careid cannot read. You have not been signed out. Go back to the application and try again.",
        ),
        LogoutRefused::BadHint => (
            "This sign-out request could not be read",
            "The application sent a sign-out request careid cannot verify. You have not been signed out. Go back to the application and try again.",
        ),
        LogoutRefused::UnknownClient => (
            "Unknown application",
            "The application that sent you here is not registered with careid. You have not been signed out.",
        ),
        LogoutRefused::NoClient | LogoutRefused::UnregisteredUri => (
            "careid will not send you to that address",
            "The application asked careid to send you to an address it has not registered, so careid will not send you there. You have not been signed out.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[tokio::test]
    async fn the_error_page_is_themed_escaped_and_not_cached() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
        let page = ThemedErrorPage::new(Arc::new(Themes::new(dir).unwrap()));
        let response = page.render_words(StatusCode::BAD_REQUEST, "Unknown <app>", "Go back.");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert!(response.headers().get(header::LOCATION).is_none());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("<h1>Unknown &lt;app&gt;</h1>") && html.contains("Error 400"));
    }

    #[tokio::test]
    async fn a_protocol_problem_is_worded_here_with_the_protocols_status() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
        let page = ThemedErrorPage::new(Arc::new(Themes::new(dir).unwrap()));
        let cases = [
            (PageProblem::UnknownClient, 400, "Unknown application"),
            (PageProblem::RequestTooLarge, 413, "could not be read"),
            (
                PageProblem::TooManyPending,
                429,
                "Too many sign-ins are waiting",
            ),
            (
                PageProblem::Logout(LogoutRefused::BadHint),
                400,
                "You have not been signed out",
            ),
        ];
        for (problem, status, words) in cases {
            let response = page.render(problem);
            assert_eq!(response.status().as_u16(), status, "{problem:?}");
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let html = String::from_utf8(body.to_vec()).unwrap();
            assert!(html.contains(words), "{problem:?}: {html}");
            assert!(!html.contains(problem.code()), "{problem:?} shows its code");
        }
    }

    #[test]
    fn a_busy_protocol_or_account_service_is_a_busy_page() {
        for err in [
            UiError::from(ProtocolError::Busy),
            UiError::from(AccountsError::Busy),
        ] {
            let response = err.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        }
    }

    #[test]
    fn busy_asks_the_browser_to_retry_in_a_second() {
        let response = UiError::Busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
