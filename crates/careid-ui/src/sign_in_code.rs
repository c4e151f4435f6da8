//! The code page of a sign-in (issue 17): `GET /sign-in/code?request=…` asks a person
//! whose account has an authenticator app for its current code after her password;
//! `POST /sign-in/code` checks it through `careid-accounts` and starts the session with
//! `amr` = `pwd`, `otp`, `mfa` (RFC 8176 §2). For an account with passkeys the page also
//! offers "Use a passkey" (`sign_in_passkey.rs`), or only that without an app. The
//! challenge the password step issued is in a cookie of this page (and its passkey
//! sub-paths) only; the rules are `careid-accounts`'.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use careid_accounts::{AccountId, ClientId, CodeChallenge, Notice, SecondFactors, SignInError};
use careid_protocol::{Bucket, ClientAddress, PendingRequest, session::cookie_value};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other, with_request},
    sign_in::{pending, replace_session, with_retry_after},
    themes::DEFAULT_THEME,
};

/// The path of this page, and of its cookie.
pub(crate) const PATH: &str = "/sign-in/code";
/// The cookie holding the challenge of a sign-in waiting for a code.
pub(crate) const CHALLENGE_COOKIE: &str = "careid_code_challenge";
/// What a session started here says about the sign-in (RFC 8176 §2).
pub(crate) const AMR: [&str; 3] = ["pwd", "otp", "mfa"];

/// The code form; missing fields read as empty.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct CodeForm {
    csrf: String,
    request: String,
    code: String,
}

/// What `sign_in_code.html` shows.
#[derive(Serialize)]
struct View<'a> {
    client_name: Option<&'a str>,
    request: Option<&'a str>,
    csrf: &'a str,
    message: Option<&'a str>,
    is_timed_out: bool,
    /// The account has an authenticator app: the code form is shown.
    has_totp: bool,
    /// The account has a passkey: "Use a passkey" is shown.
    has_passkey: bool,
}

/// Where a correct password sends a person who must type a code, with the cookie that
/// carries her challenge.
pub(crate) fn ask_for_code(ui: &Ui, request: Option<&str>, challenge: &CodeChallenge) -> Response {
    let cookie = challenge_cookie(Some(challenge.as_str()), ui.is_secure());
    see_other(&with_request(PATH, request), cookie)
}

/// `GET /sign-in/code?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let pending = pending(&ui, request_id(params.request.as_deref())).await?;
    page(&ui, &headers, pending.as_ref(), None, StatusCode::OK).await
}

/// `POST /sign-in/code`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, UiError> {
    let step = SecondStep::begin(&ui, &address, &headers, &form.csrf, &form.request).await?;
    let outcome = ui
        .accounts
        .sign_in_code(
            &step.challenge,
            &form.code,
            step.client_id(),
            address.for_audit(),
        )
        .await;
    match outcome {
        Ok(signed_in) => {
            if let Some(left) = signed_in.recovery_codes_left {
                tell_of_recovery_code(&ui, signed_in.account_id, left).await;
            }
            step.signed_in(&ui, &headers, signed_in.account_id, &AMR)
                .await
        }
        Err(refusal) => step.refused(&ui, &headers, refusal).await,
    }
}

/// A second step of a sign-in (a code, or a passkey: `sign_in_passkey.rs`) as it comes
/// in: its form's CSRF token checked, the sign-in rate limit counted, its pending request
/// and the challenge its password step left in a cookie.
pub(crate) struct SecondStep {
    request: Option<String>,
    pending: Option<PendingRequest>,
    /// The challenge cookie's value; empty without one.
    pub(crate) challenge: String,
}

impl SecondStep {
    /// Checks the form's `csrf` token, counts the attempt and reads the request `request`.
    pub(crate) async fn begin(
        ui: &Ui,
        address: &ClientAddress,
        headers: &HeaderMap,
        csrf: &str,
        request: &str,
    ) -> Result<Self, UiError> {
        csrf::verify(ui, headers, Some(csrf))?;
        let request = request_id(Some(request)).map(str::to_owned);
        let pending = pending(ui, request.as_deref()).await?;
        ui.protocol
            .rate_limit(Bucket::SignIn, address, None)
            .await?;
        let challenge = cookie_value(headers, CHALLENGE_COOKIE)
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            request,
            pending,
            challenge,
        })
    }

    /// The client the sign-in is for, if a request brought the person here.
    pub(crate) fn client_id(&self) -> Option<&ClientId> {
        self.pending.as_ref().map(|p| &p.client.client_id)
    }

    /// The step passed: a new session with `amr`, the challenge cookie cleared, and on
    /// to where the request goes next.
    pub(crate) async fn signed_in(
        &self,
        ui: &Ui,
        headers: &HeaderMap,
        account_id: AccountId,
        amr: &[&str],
    ) -> Result<Response, UiError> {
        let session = replace_session(ui, headers, account_id, amr).await?;
        let cleared = challenge_cookie(None, ui.is_secure());
        Ok(see_other(
            &next_step(self.request.as_deref()),
            std::iter::once(session).chain(cleared),
        ))
    }

    /// The step was refused: the code page again, saying why.
    pub(crate) async fn refused(
        &self,
        ui: &Ui,
        headers: &HeaderMap,
        refusal: SignInError,
    ) -> Result<Response, UiError> {
        if let SignInError::Internal(err) = refusal {
            return Err(UiError::Internal(err));
        }
        let status = status_of(&refusal);
        let response = page(ui, headers, self.pending.as_ref(), Some(&refusal), status).await?;
        Ok(with_retry_after(response, Some(&refusal)))
    }
}

/// Mails the owner that a recovery code signed in (issue 17). The sign-in goes on if
/// the mail cannot be sent: the code is used either way, and the audit trail has it.
pub(crate) async fn tell_of_recovery_code(ui: &Ui, account_id: AccountId, left: u64) {
    let Some(lifecycle) = &ui.lifecycle else {
        return;
    };
    if let Err(err) = lifecycle
        .notify(account_id, Notice::RecoveryCodeUsed { left })
        .await
    {
        tracing::warn!(%err, %account_id, "the recovery-code notice could not be sent");
    }
}

/// The status of a page that refuses a second step.
pub(crate) fn status_of(refusal: &SignInError) -> StatusCode {
    match refusal {
        SignInError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        SignInError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The page, with a refusal's message; its forms are those of the account's factors.
pub(crate) async fn page(
    ui: &Ui,
    headers: &HeaderMap,
    pending: Option<&PendingRequest>,
    refusal: Option<&SignInError>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let challenge = cookie_value(headers, CHALLENGE_COOKIE).unwrap_or_default();
    // No sign-in waiting: the code form, whose answer then says so.
    let factors = ui
        .accounts
        .waiting_second_factors(challenge)
        .await?
        .unwrap_or(SecondFactors {
            has_totp: true,
            has_passkey: false,
        });
    let (token, cookie) = csrf::token(ui, headers);
    let client = pending.map(|p| p.client.as_ref());
    let message = refusal.map(|r| explain(ui, r));
    let view = View {
        client_name: client.map(|c| c.name.as_str()),
        request: pending.map(|p| p.id.as_str()),
        csrf: &token,
        message: message.as_deref(),
        is_timed_out: matches!(refusal, Some(SignInError::CodeTimedOut)),
        has_totp: factors.has_totp,
        has_passkey: factors.has_passkey && ui.accounts.has_passkey_support(),
    };
    let theme = client.map_or(DEFAULT_THEME, |c| c.theme.as_str());
    let html = ui.themes.render(theme, "sign_in_code.html", view)?;
    Ok(respond(status, html, cookie))
}

/// The message for a refused code (here and on the step-up page).
pub(crate) fn explain(ui: &Ui, refusal: &SignInError) -> String {
    match refusal {
        SignInError::Locked { until } => {
            let minutes = crate::sign_in::minutes_left(*until, ui.protocol.clock.now());
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            format!(
                "Your account is locked after too many incorrect sign-in attempts. Try again in {minutes} {unit}."
            )
        }
        SignInError::CodeTimedOut => {
            "This sign-in took too long or was replaced by a newer one. Sign in again with your password.".into()
        }
        SignInError::Busy => "careid is very busy right now. Wait a moment and try again.".into(),
        SignInError::TooManyAttempts {
            retry_after_minutes,
        } => format!(
            "There have been too many incorrect sign-ins from your network. Try again in {retry_after_minutes} minutes."
        ),
        SignInError::PasskeyRejected => "Your passkey was not accepted. Try again, or use another passkey.".into(),
        _ => "That code is not correct. Type the newest code your authenticator app shows; each code works once.".into(),
    }
}

/// The challenge cookie (or, without one, its removal): only for this page, out of
/// scripts' reach, and `Strict`: the code page is never reached from another site.
pub(crate) fn challenge_cookie(challenge: Option<&str>, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    let (value, max_age) = match challenge {
        Some(value) => (value, 600),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{CHALLENGE_COOKIE}={value}; Path={PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}
