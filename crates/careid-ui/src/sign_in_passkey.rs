//! Signing in with a passkey (WebAuthn, issue 17), in two places:
//!
//! - The second step after a password, on the code page (`sign_in_code.rs`):
//!   `POST /sign-in/code/passkey/options` gives the options for the sign-in waiting under
//!   the code page's challenge cookie (whose path covers these sub-paths), and
//!   `POST /sign-in/code/passkey` checks the answer. The session's `amr` is then `pwd`,
//!   `hwk`, `mfa`.
//! - On its own, where the client lists `passkey` in `sign_in_methods`:
//!   `POST /sign-in/passkey/options` and `POST /sign-in/passkey`, from the sign-in page.
//!   The browser offers the discoverable passkeys it holds for careid (no email is typed,
//!   so the page tells nothing about which emails have accounts). The session's `amr` is
//!   `hwk`, `user`, and `mfa` when the authenticator verified the person.
//!
//! Why `hwk` (RFC 8176 §2, "proof-of-possession of a hardware-secured key") and not
//! `swk`: a passkey's private key is made and used inside an authenticator (a security
//! key, a TPM, a phone's secure element or the platform's keychain) and never reaches the
//! browser or careid. A synced passkey leaves the device in the platform's end-to-end
//! encrypted keychain, which some would call software-secured; careid cannot tell which
//! kind answered, since it asks for no attestation and the backup flags are the
//! authenticator's own unverified claim, so it names the one class of method for every
//! passkey. `user` (RFC 8176 "user presence test") stands for the authenticator's user
//! presence and verification flags, which webauthn-rs requires.
//!
//! `passkeys.js` posts the page's form to the options endpoint, calls
//! `navigator.credentials.get`, puts the answer in the form and submits it. The rules are
//! `careid-accounts`'.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use careid_accounts::SignInError;
use careid_protocol::{Bucket, ClientAddress, PendingRequest, session::cookie_value};
use serde::Deserialize;

use crate::{
    Ui, UiError, csrf,
    extract::PageForm,
    page::{next_step, request_id, see_other},
    passkeys::{json, not_found_without_support},
    sign_in::{allows_method, explain, form_page, pending, replace_session, with_retry_after},
    sign_in_code::{CHALLENGE_COOKIE, SecondStep},
};

/// What a session started with a password and a passkey says (RFC 8176 §2).
pub(crate) const SECOND_FACTOR_AMR: [&str; 3] = ["pwd", "hwk", "mfa"];
/// What a session started with a passkey alone says, when the authenticator verified the
/// person (a PIN or biometric: something she knows or is, on something she has).
const VERIFIED_AMR: [&str; 3] = ["hwk", "user", "mfa"];
/// ... and when it only saw her present; webauthn-rs refuses such answers today, so this
/// is a guard should that ever change, not a path careid takes.
const PRESENT_AMR: [&str; 2] = ["hwk", "user"];

/// The form that asks for options.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct OptionsForm {
    csrf: String,
    request: String,
}

/// The form that carries the browser's answer.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct AnswerForm {
    csrf: String,
    request: String,
    ceremony: String,
    credential: String,
}

/// `POST /sign-in/code/passkey/options`: the options for the second step.
pub(crate) async fn second_factor_options(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<OptionsForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    pending(&ui, request_id(Some(&form.request))).await?;
    // Each options request stores a ceremony: the sign-in limit bounds how many an
    // address can leave behind before the clean-up job forgets them.
    ui.protocol
        .rate_limit(Bucket::SignIn, &address, None)
        .await?;
    let challenge = cookie_value(&headers, CHALLENGE_COOKIE).unwrap_or_default();
    match ui.accounts.start_passkey_second_factor(challenge).await {
        Ok(options) => Ok(json(options.into_json())),
        Err(SignInError::Internal(err)) => Err(UiError::Internal(err)),
        Err(SignInError::Busy) => Err(UiError::Busy),
        Err(refusal) => Ok(refused(&refusal)),
    }
}

/// `POST /sign-in/code/passkey`: the second step, with a passkey.
pub(crate) async fn second_factor(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, UiError> {
    let step = SecondStep::begin(&ui, &address, &headers, &form.csrf, &form.request).await?;
    let outcome = ui
        .accounts
        .sign_in_passkey_second_factor(
            &step.challenge,
            &form.ceremony,
            &form.credential,
            step.client_id(),
            address.for_audit(),
        )
        .await;
    match outcome {
        Ok(account_id) => {
            step.signed_in(&ui, &headers, account_id, &SECOND_FACTOR_AMR)
                .await
        }
        Err(refusal) => step.refused(&ui, &headers, refusal).await,
    }
}

/// `POST /sign-in/passkey/options`: the options for a sign-in with a passkey alone.
pub(crate) async fn options(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<OptionsForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let pending = pending(&ui, request_id(Some(&form.request))).await?;
    require_passkey_method(pending.as_ref())?;
    // As for the second step: the limit bounds the ceremonies an address can store.
    ui.protocol
        .rate_limit(Bucket::SignIn, &address, None)
        .await?;
    let options = ui
        .accounts
        .start_passkey_sign_in()
        .await
        .map_err(not_found_without_support)?;
    Ok(json(options.into_json()))
}

/// `POST /sign-in/passkey`: a sign-in with a passkey alone.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let request = request_id(Some(&form.request));
    let pending = pending(&ui, request).await?;
    require_passkey_method(pending.as_ref())?;
    ui.protocol
        .rate_limit(Bucket::SignIn, &address, None)
        .await?;
    let client_id = pending.as_ref().map(|p| &p.client.client_id);
    let outcome = ui
        .accounts
        .sign_in_passkey(
            &form.ceremony,
            &form.credential,
            client_id,
            address.for_audit(),
        )
        .await;
    let refusal = match outcome {
        Ok(signed_in) => {
            let amr: &[&str] = if signed_in.is_user_verified {
                &VERIFIED_AMR
            } else {
                &PRESENT_AMR
            };
            let session = replace_session(&ui, &headers, signed_in.account_id, amr).await?;
            return Ok(see_other(&next_step(request), [session]));
        }
        Err(SignInError::Internal(err)) => return Err(UiError::Internal(err)),
        Err(refusal) => refusal,
    };
    let refusal = Some(refusal);
    let (message, status) = explain(&ui, &refusal);
    let page = form_page(&ui, &headers, pending.as_ref(), "", Some(&message), status)?;
    Ok(with_retry_after(page, refusal.as_ref()))
}

/// A passkey alone signs in only for a client that lists `passkey`; careid's own
/// sign-in page (no client) keeps to passwords.
fn require_passkey_method(pending: Option<&PendingRequest>) -> Result<(), UiError> {
    match pending {
        Some(p) if allows_method(p, "passkey") => Ok(()),
        _ => Err(UiError::MethodNotAllowed),
    }
}

/// A refusal the script shows as a message: `{"error": …}` with the page's status.
fn refused(refusal: &SignInError) -> Response {
    let status = match refusal {
        SignInError::CodeTimedOut => StatusCode::GONE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({ "error": refusal.metric_result() });
    (status, json(body)).into_response()
}
