//! `/account/passkeys`: a signed-in person registers passkeys (WebAuthn, issue 17), names
//! them, renames and removes them. The rules are `careid-accounts`'.
//!
//! Registering takes two requests, both with the page's CSRF token: `passkeys.js` posts
//! the form to `POST /account/passkeys/options` for the creation options (and the
//! ceremony's handle), calls `navigator.credentials.create`, puts the answer in the form
//! and submits it to `POST /account/passkeys`. Without script the page still lists,
//! renames and removes passkeys; adding one needs the browser's WebAuthn API anyway.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use careid_accounts::{AccountsError, MAX_PASSKEY_NAME_CHARS, PasskeyId, PasskeySummary};
use careid_protocol::{
    ClientAddress,
    session::{self, LiveSession},
};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    Ui, UiError, csrf,
    extract::PageForm,
    page::{respond, see_other},
    themes::DEFAULT_THEME,
};

/// The page's path.
pub(crate) const PATH: &str = "/account/passkeys";

/// The form that asks for creation options.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct OptionsForm {
    csrf: String,
}

/// The form that finishes a registration.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct AddForm {
    csrf: String,
    ceremony: String,
    credential: String,
    name: String,
}

/// The rename form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RenameForm {
    csrf: String,
    id: i64,
    name: String,
}

/// The removal form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RemoveForm {
    csrf: String,
    id: i64,
}

/// One passkey as `passkeys.html` lists it.
#[derive(Serialize)]
struct Listed {
    id: i64,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

/// What `passkeys.html` shows.
#[derive(Serialize)]
struct View<'a> {
    email: &'a str,
    csrf: &'a str,
    passkeys: Vec<Listed>,
    has_support: bool,
    max_name_chars: usize,
    /// What the last action did: `added`, `renamed`, `removed`, `rejected`, `taken`,
    /// `bad_name`.
    outcome: Option<&'static str>,
}

/// `GET /account/passkeys`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    page(&ui, &headers, &live, None).await
}

/// `POST /account/passkeys/options`: the creation options, as JSON.
pub(crate) async fn options(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<OptionsForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Err(UiError::NotFound);
    };
    let options = ui
        .accounts
        .start_passkey_registration(live.account.id, &live.account.email, &live.account.email)
        .await
        .map_err(not_found_without_support)?;
    Ok(json(options.into_json()))
}

/// `POST /account/passkeys`: finishes a registration.
pub(crate) async fn add(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<AddForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let outcome = ui
        .accounts
        .finish_passkey_registration(
            live.account.id,
            &form.ceremony,
            &form.name,
            &form.credential,
            address.for_audit(),
        )
        .await;
    let outcome = match outcome {
        Ok(_) => "added",
        Err(AccountsError::PasskeyRejected) => "rejected",
        Err(AccountsError::PasskeyTaken) => "taken",
        Err(AccountsError::InvalidPasskeyName) => "bad_name",
        Err(err) => return Err(not_found_without_support(err)),
    };
    page(&ui, &headers, &live, Some(outcome)).await
}

/// `POST /account/passkeys/rename`.
pub(crate) async fn rename(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<RenameForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let renamed = ui
        .accounts
        .rename_passkey(live.account.id, PasskeyId::new(form.id), &form.name)
        .await;
    let outcome = match renamed {
        Ok(()) => "renamed",
        Err(AccountsError::InvalidPasskeyName) => "bad_name",
        Err(err) => return Err(not_found_without_support(err)),
    };
    page(&ui, &headers, &live, Some(outcome)).await
}

/// `POST /account/passkeys/remove`.
pub(crate) async fn remove(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<RemoveForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    ui.accounts
        .remove_passkey(
            live.account.id,
            PasskeyId::new(form.id),
            address.for_audit(),
        )
        .await
        .map_err(not_found_without_support)?;
    page(&ui, &headers, &live, Some("removed")).await
}

async fn page(
    ui: &Ui,
    headers: &HeaderMap,
    live: &LiveSession,
    outcome: Option<&'static str>,
) -> Result<Response, UiError> {
    let passkeys = ui.accounts.passkeys(live.account.id).await?;
    let (token, cookie) = csrf::token(ui, headers);
    let view = View {
        email: &live.account.email,
        csrf: &token,
        passkeys: passkeys.iter().map(listed).collect(),
        has_support: ui.accounts.has_passkey_support(),
        max_name_chars: MAX_PASSKEY_NAME_CHARS,
        outcome,
    };
    let status = match outcome {
        Some("rejected" | "taken" | "bad_name") => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let html = ui.themes.render(DEFAULT_THEME, "passkeys.html", view)?;
    Ok(respond(status, html, cookie))
}

fn listed(passkey: &PasskeySummary) -> Listed {
    Listed {
        id: passkey.id.get(),
        name: passkey.name.clone(),
        created_at: date(passkey.created_at),
        last_used_at: passkey.last_used_at.map(date),
    }
}

/// An instant as the page shows it: RFC 3339, UTC.
fn date(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// A passkey that is not there, or a server without passkeys, is "not found".
pub(crate) fn not_found_without_support(err: AccountsError) -> UiError {
    match err {
        AccountsError::PasskeysUnavailable | AccountsError::UnknownPasskey => UiError::NotFound,
        other => other.into(),
    }
}

/// A JSON answer for `passkeys.js`, never cached.
pub(crate) fn json(value: serde_json::Value) -> Response {
    let mut response = Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
