//! The sign-in page (DESIGN.md, "A sign-in, end to end", step 4): `GET /sign-in` shows
//! the form in the theme of the client that asked; `POST /sign-in` checks the password
//! through `careid-accounts`, starts a careid session and sends the browser back to
//! `/authorize/continue` (or to `/account` for a person who came to careid directly).
//!
//! Each refusal has its own message, but an unknown email and a wrong password share one,
//! so the page never tells which emails have accounts. Profile choice and consent are the
//! protocol's next redirects. The page offers exactly the client's `sign_in_methods`: the
//! password form, "Email me a sign-in link" (posting to `magic_link.rs`), a link to
//! the PIN page and "Sign in with a passkey" (`sign_in_passkey.rs`); a password POST for
//! a client without `password` is refused.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use careid_accounts::{AccountId, PasswordSignIn, SignInError};
use careid_policy::PlainPassword;
use careid_protocol::{
    Bucket, ClientAddress, PendingRequest, end_browser_session, find_pending, session,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other},
    sign_in_code,
    themes::DEFAULT_THEME,
};

/// The sign-in form. Every field defaults to empty so a missing one gets a clear page
/// rather than a bare rejection.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignInForm {
    csrf: String,
    request: String,
    email: String,
    password: String,
}

/// What `sign_in.html` shows.
#[derive(Serialize)]
struct View<'a> {
    client_name: Option<&'a str>,
    logo_uri: Option<&'a str>,
    request: Option<&'a str>,
    email: &'a str,
    csrf: &'a str,
    message: Option<&'a str>,
    allows_password: bool,
    allows_magic_link: bool,
    allows_pin: bool,
    allows_passkey: bool,
}

/// `GET /sign-in?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let pending = pending(&ui, request_id(params.request.as_deref())).await?;
    if pending.is_none() && session::current(&ui.protocol, &headers).await?.is_some() {
        return Ok(see_other("/account", None));
    }
    let hint = pending.as_ref().and_then(|p| p.login_hint.as_deref());
    form_page(
        &ui,
        &headers,
        pending.as_ref(),
        hint.unwrap_or_default(),
        None,
        StatusCode::OK,
    )
}

/// `POST /sign-in`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<SignInForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let request = request_id(Some(&form.request));
    let pending = pending(&ui, request).await?;
    let ip = address.for_audit();
    let email = form.email.trim();
    ui.protocol
        .rate_limit(Bucket::SignIn, &address, Some(email))
        .await?;
    match check_password(&ui, pending.as_ref(), email, form.password, ip).await? {
        Ok(PasswordSignIn::Done(account)) => {
            let cookie = replace_session(&ui, &headers, account.id, &["pwd"]).await?;
            Ok(see_other(&next_step(request), [cookie]))
        }
        Ok(PasswordSignIn::CodeNeeded { challenge, .. }) => {
            Ok(sign_in_code::ask_for_code(&ui, request, &challenge))
        }
        Err(refusal) => {
            let (message, status) = explain(&ui, &refusal);
            let page = form_page(
                &ui,
                &headers,
                pending.as_ref(),
                email,
                Some(&message),
                status,
            )?;
            Ok(with_retry_after(page, refusal.as_ref()))
        }
    }
}

/// What the right password leads to; else why not (`None`: a field
/// was left blank, so nothing was checked).
async fn check_password(
    ui: &Ui,
    pending: Option<&PendingRequest>,
    email: &str,
    password: String,
    ip: Option<String>,
) -> Result<Result<PasswordSignIn, Option<SignInError>>, UiError> {
    if pending.is_some_and(|p| !allows_method(p, "password")) {
        return Err(UiError::MethodNotAllowed);
    }
    if email.is_empty() || password.is_empty() {
        return Ok(Err(None));
    }
    let client_id = pending.map(|p| &p.client.client_id);
    let password = PlainPassword::new(password);
    match ui
        .accounts
        .sign_in_password(email, password, client_id, ip)
        .await
    {
        Ok(signed_in) => Ok(Ok(signed_in)),
        Err(SignInError::Internal(err)) => Err(UiError::Internal(err)),
        Err(refusal) => Ok(Err(Some(refusal))),
    }
}

/// Starts the new session and returns its cookie. Whatever session this browser had is
/// ended first, so an old session id is never carried into the new sign-in (session
/// fixation, OWASP Session Management Cheat Sheet). `amr` says how the person proved
/// who they are (RFC 8176: `pwd`, `otp` …). Every sign-in method ends here.
pub(crate) async fn replace_session(
    ui: &Ui,
    headers: &HeaderMap,
    account_id: AccountId,
    amr: &[&str],
) -> Result<HeaderValue, UiError> {
    // Ended the one way, so the applications of the old session are told too.
    end_browser_session(&ui.protocol, headers).await?;
    let (secret, _) = ui
        .accounts
        .start_session(account_id, None, amr.iter().map(|m| (*m).into()).collect())
        .await?;
    Ok(session::set_cookie(secret.as_str(), ui.is_secure()))
}

/// The pending request named by `request`; an unknown or expired one is an error page.
pub(crate) async fn pending(
    ui: &Ui,
    request: Option<&str>,
) -> Result<Option<PendingRequest>, UiError> {
    match request {
        None => Ok(None),
        Some(id) => match find_pending(&ui.protocol, id).await? {
            Some(pending) => Ok(Some(pending)),
            None => Err(UiError::RequestExpired),
        },
    }
}

/// Whether the client that asked allows `method` (`password`, `magic_link`, `pin`).
pub(crate) fn allows_method(pending: &PendingRequest, method: &str) -> bool {
    pending.client.sign_in_methods.iter().any(|m| m == method)
}

/// The form, in the client's theme, with `email` filled in and an optional message.
pub(crate) fn form_page(
    ui: &Ui,
    headers: &HeaderMap,
    pending: Option<&PendingRequest>,
    email: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let (token, cookie) = csrf::token(ui, headers);
    let client = pending.map(|p| p.client.as_ref());
    let view = View {
        client_name: client.map(|c| c.name.as_str()),
        // Only an https logo: anything else (javascript:, data:, http:) is left out.
        logo_uri: client
            .and_then(|c| c.logo_uri.as_deref())
            .filter(|uri| uri.starts_with("https://")),
        request: pending.map(|p| p.id.as_str()),
        email,
        csrf: &token,
        message,
        // careid's own page (no client) keeps to passwords; a client gets exactly the
        // methods its file lists, each as its own step.
        allows_password: pending.is_none_or(|p| allows_method(p, "password")),
        allows_magic_link: pending.is_some_and(|p| allows_method(p, "magic_link")),
        allows_pin: pending.is_some_and(|p| allows_method(p, "pin")),
        allows_passkey: pending.is_some_and(|p| allows_method(p, "passkey"))
            && ui.accounts.has_passkey_support(),
    };
    let theme = client.map_or(DEFAULT_THEME, |c| c.theme.as_str());
    let html = ui.themes.render(theme, "sign_in.html", view)?;
    Ok(respond(status, html, cookie))
}

/// The one message for each refusal, and the page's status. A wrong password and an
/// unknown email read alike.
pub(crate) fn explain(ui: &Ui, refusal: &Option<SignInError>) -> (String, StatusCode) {
    let message = match refusal {
        None => "Enter your email and your password.".into(),
        Some(SignInError::Locked { until }) => {
            let minutes = minutes_left(*until, ui.protocol.clock.now());
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            format!(
                "Your account is locked after too many incorrect sign-in attempts. Try again in {minutes} {unit}, or choose \u{201c}Forgot password?\u{201d} to set a new password, which unlocks it."
            )
        }
        Some(SignInError::Disabled) => {
            "Your account has been disabled. Please contact your practice administrator.".into()
        }
        Some(SignInError::Expired) => format!(
            "Your account expired because it was not used for {} days; contact an administrator to reactivate it.",
            ui.accounts.config.inactivity_expiry_days
        ),
        Some(SignInError::NotActivated) => {
            "Your account is not active yet: finish activating your account from the invitation email.".into()
        }
        Some(SignInError::Busy) => {
            let message = "careid is very busy right now. Wait a moment and try again.";
            return (message.into(), StatusCode::SERVICE_UNAVAILABLE);
        }
        Some(SignInError::TooManyAttempts { retry_after_minutes }) => {
            let message = format!(
                "There have been too many incorrect sign-ins from your network. Try again in {retry_after_minutes} minutes."
            );
            return (message, StatusCode::TOO_MANY_REQUESTS);
        }
        Some(SignInError::PasskeyRejected) => {
            let message = "Your passkey was not accepted. Try again, or sign in another way.";
            return (message.into(), StatusCode::BAD_REQUEST);
        }
        Some(
            SignInError::WrongCredentials
            | SignInError::Internal(_)
            | SignInError::CodeWrong
            | SignInError::CodeTimedOut,
        ) => {
            "The email or password is incorrect.".into()
        }
    };
    (message, StatusCode::OK)
}

/// `page` with the `Retry-After` a refusal asks for: a second when hashing is saturated,
/// the address's wait when it made too many attempts. Every sign-in method's page uses it.
pub(crate) fn with_retry_after(mut page: Response, refusal: Option<&SignInError>) -> Response {
    let seconds = match refusal {
        Some(SignInError::Busy) => 1,
        Some(SignInError::TooManyAttempts {
            retry_after_minutes,
        }) => u64::from(*retry_after_minutes) * 60,
        _ => return page,
    };
    page.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    page
}

/// Whole minutes until `until`, rounded up, and at least one.
pub(crate) fn minutes_left(until: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let seconds = (until - now).whole_seconds();
    ((seconds + 59) / 60).max(1)
}

#[cfg(test)]
mod tests;
