//! The PIN sign-in page (issue 13): `GET /sign-in/pin?request=…` shows an email and PIN
//! form in the client's theme; `POST /sign-in/pin` checks them through
//! [`careid_accounts::Lifecycle::sign_in_pin`], starts the careid session like every
//! other method ([`replace_session`]) and sends the browser on to
//! `/authorize/continue`.
//!
//! A client whose `sign_in_methods` lacks `pin` gets the "not offered" page for both. An
//! unknown email, a wrong PIN and an expired, used or void PIN read alike and send the
//! person to the office for a new PIN, so the page never tells which emails have
//! accounts or PINs. The PIN rules themselves are `careid-accounts`'.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::SignInError;
use careid_protocol::{Bucket, ClientAddress, PendingRequest};
use serde::Deserialize;

use crate::{
    Ui, UiError, csrf, email_form,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, see_other},
    sign_in::{allows_method, pending, replace_session, with_retry_after},
};

/// The sign-in method this page is.
const METHOD: &str = "pin";

/// The message for every PIN that does not sign in, whatever the reason.
const CALL_THE_OFFICE: &str = "That email and PIN do not work together. A PIN works once and only for a short time. Call your provider's office for a new PIN.";

/// The PIN form. Every field defaults to empty so a missing one gets a clear page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct PinForm {
    csrf: String,
    request: String,
    email: String,
    pin: String,
}

/// `GET /sign-in/pin?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let pending = allowed_pending(&ui, request_id(params.request.as_deref())).await?;
    let hint = pending.as_ref().and_then(|p| p.login_hint.as_deref());
    let email = hint.unwrap_or_default();
    form_page(&ui, &headers, pending.as_ref(), email, None, StatusCode::OK)
}

/// `POST /sign-in/pin`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<PinForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let request = request_id(Some(&form.request));
    let pending = allowed_pending(&ui, request).await?;
    let email = form.email.trim();
    ui.protocol
        .rate_limit(Bucket::SignIn, &address, Some(email))
        .await?;
    let refusal = if email.is_empty() || form.pin.trim().is_empty() {
        None
    } else {
        let client_id = pending.as_ref().map(|p| &p.client.client_id);
        let lifecycle = ui.lifecycle()?;
        match lifecycle
            .sign_in_pin(email, &form.pin, client_id, address.for_audit())
            .await
        {
            Ok(account) => {
                let cookie = replace_session(&ui, &headers, account.id, &["otp"]).await?;
                return Ok(see_other(&next_step(request), [cookie]));
            }
            Err(SignInError::Internal(err)) => return Err(UiError::Internal(err)),
            Err(refusal) => Some(refusal),
        }
    };
    let (message, status) = explain(&ui, refusal.as_ref());
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

/// The pending request, refused when its client does not offer PINs.
async fn allowed_pending(
    ui: &Ui,
    request: Option<&str>,
) -> Result<Option<PendingRequest>, UiError> {
    let pending = pending(ui, request).await?;
    if pending.as_ref().is_some_and(|p| !allows_method(p, METHOD)) {
        return Err(UiError::MethodNotAllowed);
    }
    Ok(pending)
}

/// The form, in the client's theme, with `email` filled in and an optional message.
fn form_page(
    ui: &Ui,
    headers: &HeaderMap,
    pending: Option<&PendingRequest>,
    email: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Result<Response, UiError> {
    email_form::render(
        ui,
        headers,
        "sign_in_pin.html",
        pending,
        email,
        message,
        status,
    )
}

/// The message and status for a refusal (`None`: a field was left blank).
fn explain(ui: &Ui, refusal: Option<&SignInError>) -> (String, StatusCode) {
    match refusal {
        None => (
            "Enter your email and the 6-digit PIN your provider's office gave you.".into(),
            StatusCode::OK,
        ),
        Some(SignInError::Disabled) => (
            "Your account has been disabled. Please contact your provider's office.".into(),
            StatusCode::OK,
        ),
        Some(SignInError::Expired) => (
            format!(
                "Your account expired because it was not used for {} days. Call your provider's office to reactivate it.",
                ui.accounts.config.inactivity_expiry_days
            ),
            StatusCode::OK,
        ),
        Some(SignInError::Busy) => (
            "careid is very busy right now. Wait a moment and try again.".into(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        Some(SignInError::TooManyAttempts {
            retry_after_minutes,
        }) => (
            format!(
                "There have been too many incorrect sign-ins from your network. Try again in {retry_after_minutes} minutes."
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Some(
            SignInError::WrongCredentials
            | SignInError::Locked { .. }
            | SignInError::NotActivated
            | SignInError::Internal(_)
            | SignInError::CodeWrong
            | SignInError::CodeTimedOut
            | SignInError::PasskeyRejected,
        ) => (CALL_THE_OFFICE.into(), StatusCode::OK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, text};

    #[tokio::test]
    async fn a_client_without_pin_refuses_the_pin_page() {
        let fx = Fixture::new().await;
        let id = fx.pending("crm").await;
        let response = fx.get(&format!("/sign-in/pin?request={id}"), "").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(text(response).await.contains("not available here"));
    }

    #[tokio::test]
    async fn every_pin_that_does_not_work_reads_alike() {
        let fx = Fixture::new().await;
        let retry = |refusal: &SignInError| {
            with_retry_after(Response::default(), Some(refusal))
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (wrong, status) = explain(&fx.ui, Some(&SignInError::WrongCredentials));
        assert_eq!(
            (status, retry(&SignInError::WrongCredentials)),
            (StatusCode::OK, None)
        );
        assert_eq!(wrong, CALL_THE_OFFICE);
        let (not_activated, _) = explain(&fx.ui, Some(&SignInError::NotActivated));
        assert_eq!(not_activated, wrong);
        let many = SignInError::TooManyAttempts {
            retry_after_minutes: 15,
        };
        let (_, status) = explain(&fx.ui, Some(&many));
        assert_eq!(
            (status, retry(&many)),
            (StatusCode::TOO_MANY_REQUESTS, Some("900".to_owned()))
        );
    }
}
