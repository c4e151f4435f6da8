//! Step-up (issue 17): `GET /sign-in/step-up?request=…` asks a person who is signed in
//! without a second factor, but whom the client, her account (`require_mfa`) or the
//! request's `acr_values` want one of, for a code from her authenticator app: only the
//! code, not her password again. `POST /sign-in/step-up` checks it through
//! `careid-accounts`, which raises this same session (`amr` gains `otp` and `mfa`; the
//! cookie gets a new secret, the `sid` stays so single sign-on and logout go on), and
//! the browser goes back to `/authorize/continue`. A person whose only second factor is
//! a passkey is sent to sign in again (password, then passkey); one with none, to
//! `/account/security` to add an app.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::SignInError;
use careid_protocol::{Bucket, ClientAddress, PendingRequest, acr, session};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other, with_request},
    sign_in::{pending, with_retry_after},
    sign_in_code,
    themes::DEFAULT_THEME,
};

/// The path of this page.
pub(crate) const PATH: &str = "/sign-in/step-up";

/// The code form; missing fields read as empty.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct StepUpForm {
    csrf: String,
    request: String,
    code: String,
}

/// What `step_up.html` shows.
#[derive(Serialize)]
struct View<'a> {
    client_name: Option<&'a str>,
    email: &'a str,
    request: Option<&'a str>,
    csrf: &'a str,
    message: Option<&'a str>,
    is_timed_out: bool,
}

/// Where a page goes instead of asking for a code: to sign in without a session, on
/// with a second factor already, to the security page without an app.
async fn elsewhere(
    ui: &Ui,
    live: Option<&session::LiveSession>,
    request: Option<&str>,
) -> Result<Option<Response>, UiError> {
    let Some(live) = live else {
        return Ok(Some(see_other(&with_request("/sign-in", request), None)));
    };
    if acr::has_mfa(&live.session.amr()) {
        return Ok(Some(see_other(&next_step(request), None)));
    }
    let factors = ui.accounts.second_factors(live.account.id).await?;
    if factors.has_totp {
        return Ok(None);
    }
    if factors.has_passkey && ui.accounts.has_passkey_support() {
        // A passkey is proved in a sign-in, not typed here: her password and then her
        // passkey start a session that has the second factor.
        let sign_in = with_request("/sign-in", request);
        return Ok(Some(see_other(&sign_in, None)));
    }
    let security = with_request("/account/security", request);
    Ok(Some(see_other(&security, None)))
}

/// `GET /sign-in/step-up?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let request = request_id(params.request.as_deref());
    let pending = pending(&ui, request).await?;
    let live = session::current(&ui.protocol, &headers).await?;
    if let Some(away) = elsewhere(&ui, live.as_ref(), request).await? {
        return Ok(away);
    }
    let email = live.as_ref().map_or("", |l| l.account.email.as_str());
    page(&ui, &headers, pending.as_ref(), email, None, StatusCode::OK)
}

/// `POST /sign-in/step-up`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<StepUpForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let request = request_id(Some(&form.request));
    let pending = pending(&ui, request).await?;
    ui.protocol
        .rate_limit(Bucket::SignIn, &address, None)
        .await?;
    let live = session::current(&ui.protocol, &headers).await?;
    if let Some(away) = elsewhere(&ui, live.as_ref(), request).await? {
        return Ok(away);
    }
    let Some(live) = live else {
        return Ok(see_other(&with_request("/sign-in", request), None));
    };
    let client_id = pending.as_ref().map(|p| &p.client.client_id);
    let outcome = ui
        .accounts
        .step_up(&live.session, &form.code, client_id, address.for_audit())
        .await;
    let refusal = match outcome {
        Ok(raised) => {
            if let Some(left) = raised.recovery_codes_left {
                sign_in_code::tell_of_recovery_code(&ui, live.account.id, left).await;
            }
            let cookie = session::set_cookie(raised.secret.as_str(), ui.is_secure());
            return Ok(see_other(&next_step(request), [cookie]));
        }
        Err(SignInError::Internal(err)) => return Err(UiError::Internal(err)),
        Err(refusal) => refusal,
    };
    let response = page(
        &ui,
        &headers,
        pending.as_ref(),
        &live.account.email,
        Some(&refusal),
        sign_in_code::status_of(&refusal),
    )?;
    Ok(with_retry_after(response, Some(&refusal)))
}

fn page(
    ui: &Ui,
    headers: &HeaderMap,
    pending: Option<&PendingRequest>,
    email: &str,
    refusal: Option<&SignInError>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let (token, cookie) = csrf::token(ui, headers);
    let client = pending.map(|p| p.client.as_ref());
    let message = refusal.map(|r| sign_in_code::explain(ui, r));
    let view = View {
        client_name: client.map(|c| c.name.as_str()),
        email,
        request: pending.map(|p| p.id.as_str()),
        csrf: &token,
        message: message.as_deref(),
        is_timed_out: matches!(refusal, Some(SignInError::CodeTimedOut)),
    };
    let theme = client.map_or(DEFAULT_THEME, |c| c.theme.as_str());
    let html = ui.themes.render(theme, "step_up.html", view)?;
    Ok(respond(status, html, cookie))
}
