//! `/account/password`: a signed-in person changes her password. The current password
//! first, then the new one twice, under the same rules as everywhere else; the rules are
//! listed before she types, and every rule a new password breaks is listed at once.
//! Her other sessions end; this one stays.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::AccountsError;
use careid_policy::PlainPassword;
use careid_protocol::{
    Bucket, ClientAddress,
    session::{self, LiveSession},
};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::PageForm,
    page::{respond, see_other},
    themes::DEFAULT_THEME,
};

/// The change-password form; missing fields read as empty.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ChangeForm {
    csrf: String,
    current_password: String,
    new_password: String,
    new_password_again: String,
}

/// What `change_password.html` shows.
#[derive(Serialize)]
struct View<'a> {
    email: &'a str,
    csrf: &'a str,
    rules: Vec<String>,
    problems: Vec<String>,
    is_done: bool,
}

/// `GET /account/password`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    page(&ui, &headers, &live, Vec::new(), false, StatusCode::OK)
}

/// `POST /account/password`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<ChangeForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    // Every submission checks the current password: a stolen session must not get
    // unlimited guesses at it.
    ui.protocol
        .rate_limit(Bucket::PasswordCheck, &address, Some(&live.account.email))
        .await?;
    let outcome = ui
        .accounts
        .change_password(
            live.account.id,
            PlainPassword::new(form.current_password),
            PlainPassword::new(form.new_password),
            PlainPassword::new(form.new_password_again),
            Some(live.session.id),
            address.for_audit(),
        )
        .await;
    let problems = match outcome {
        Ok(()) => return page(&ui, &headers, &live, Vec::new(), true, StatusCode::OK),
        Err(AccountsError::CurrentPasswordWrong) => {
            vec!["Your current password is not correct.".to_owned()]
        }
        Err(AccountsError::PasswordRejected(violations)) => {
            violations.iter().map(|v| v.message()).collect()
        }
        Err(AccountsError::Busy) => return Err(UiError::Busy),
        Err(err) => return Err(UiError::Accounts(err)),
    };
    page(
        &ui,
        &headers,
        &live,
        problems,
        false,
        StatusCode::BAD_REQUEST,
    )
}

fn page(
    ui: &Ui,
    headers: &HeaderMap,
    live: &LiveSession,
    problems: Vec<String>,
    is_done: bool,
    status: StatusCode,
) -> Result<Response, UiError> {
    let (token, cookie) = csrf::token(ui, headers);
    let mut rules = ui.accounts.config.password.describe();
    rules.push(careid_policy::history::describe());
    let view = View {
        email: &live.account.email,
        csrf: &token,
        rules,
        problems,
        is_done,
    };
    let html = ui
        .themes
        .render(DEFAULT_THEME, "change_password.html", view)?;
    Ok(respond(status, html, cookie))
}
