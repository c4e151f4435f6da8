//! "Forgot password?": `GET /forgot-password` asks for the email (in the theme of the
//! client whose sign-in page linked here, carried as `request`); `POST /forgot-password`
//! starts the reset and always answers alike, whether or not the email has an account
//! (no account enumeration). For a client with `reset_mode = "code_only"` the answer is
//! the form for the emailed code and the new password; otherwise it says to check the
//! email for a link, which `reset.rs` takes from there.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::expires_in;
use careid_policy::one_time;
use careid_protocol::{Bucket, ClientAddress, PendingRequest, find_pending};
use serde::Deserialize;

use crate::{
    Ui, UiError, csrf, email_form,
    extract::{PageForm, PageQuery},
    page::{request_id, respond},
    reset::{PasswordPage, binding_cookie, code_form, password_page},
};

/// The email form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ForgotForm {
    csrf: String,
    request: String,
    email: String,
}

/// `GET /forgot-password?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    ui.lifecycle()?;
    let pending = pending(&ui, request_id(params.request.as_deref())).await?;
    form_page(&ui, &headers, pending.as_ref(), "", None)
}

/// `POST /forgot-password`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<ForgotForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let lifecycle = ui.lifecycle()?;
    let request = request_id(Some(&form.request));
    let pending = pending(&ui, request).await?;
    let email = form.email.trim();
    if email.is_empty() {
        let message = Some("Enter the email address of your account.");
        return form_page(&ui, &headers, pending.as_ref(), email, message);
    }
    ui.protocol
        .rate_limit(Bucket::ForgotPassword, &address, Some(email))
        .await?;
    let client_id = pending.as_ref().map(|p| p.client.client_id.clone());
    let branding = ui.branding(client_id.as_ref());
    let ip = address.for_audit();
    let is_code_only = branding.is_code_only;
    let theme = branding.theme.clone();
    // A code-only code is bound to this browser, whether or not the email has an account.
    let binding = is_code_only.then(one_time::new_token);
    lifecycle
        .request_reset(email, branding, client_id, ip, binding.as_deref())
        .await?;
    if is_code_only {
        let page = PasswordPage {
            lead: Some(format!(
                "If an account exists for {email}, we've emailed it a 6-digit security code. Enter it here within {} minutes, then choose your new password.",
                lifecycle.config.reset_code_minutes
            )),
            email: Some(email),
            show_email: true,
            mode: Some("code_only"),
            ..code_form(request)
        };
        let minutes = i64::from(lifecycle.config.reset_code_minutes);
        let cookie =
            binding.and_then(|secret| binding_cookie(&secret, minutes * 60, ui.is_secure()));
        return password_page(&ui, &headers, &theme, page, StatusCode::OK, cookie);
    }
    let view = serde_json::json!({
        "email": email,
        "request": request,
        "expires_in": expires_in(lifecycle.config.reset_link()),
    });
    let html = ui
        .themes
        .render(&theme, "forgot_password_sent.html", view)?;
    Ok(respond(StatusCode::OK, html, None))
}

/// The pending request, if it is still live; a stale one only loses its branding here.
async fn pending(ui: &Ui, request: Option<&str>) -> Result<Option<PendingRequest>, UiError> {
    match request {
        Some(id) => Ok(find_pending(&ui.protocol, id).await?),
        None => Ok(None),
    }
}

fn form_page(
    ui: &Ui,
    headers: &HeaderMap,
    pending: Option<&PendingRequest>,
    email: &str,
    message: Option<&str>,
) -> Result<Response, UiError> {
    email_form::render(
        ui,
        headers,
        "forgot_password.html",
        pending,
        email,
        message,
        StatusCode::OK,
    )
}
