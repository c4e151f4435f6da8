//! The account page, for a person who comes to careid itself rather than through an
//! application: who is signed in, their profiles, the applications they allowed (each
//! with a way to remove its access), and a way to sign out. Changing a password and the
//! like arrive as pages of their own.

use std::sync::Arc;

use axum::{
    Form,
    extract::{State, rejection::FormRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_protocol::session;
use careid_store::{consents, profiles};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    page::{respond, see_other},
    themes::DEFAULT_THEME,
};

/// One profile as the account page lists it.
#[derive(Serialize)]
struct ProfileView {
    name: String,
    kind: String,
    email: Option<String>,
    is_current: bool,
}

/// An application the person allowed, as the account page lists it.
#[derive(Serialize)]
struct AppView {
    client_id: String,
    name: String,
    profile_id: i64,
    profile_name: String,
    scopes: Vec<&'static str>,
}

/// What `account.html` shows.
#[derive(Serialize)]
struct View<'a> {
    email: &'a str,
    csrf: &'a str,
    profiles: Vec<ProfileView>,
    apps: Vec<AppView>,
}

/// The "Remove access" form of one application.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RemoveForm {
    csrf: String,
    client_id: String,
    profile_id: String,
}

/// `GET /account`: the signed-in account, or a redirect to sign in.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let profiles = profiles::find_for_account(&ui.protocol.db, live.account.id).await?;
    let ids: Vec<i64> = profiles.iter().map(|p| p.id).collect();
    let mut apps = Vec::new();
    for consent in consents::find_for_profiles(&ui.protocol.db, &ids).await? {
        let name = match ui.protocol.find_client(&consent.client_id).await? {
            Some(client) => client.name.clone(),
            None => consent.client_id.clone(),
        };
        apps.push(AppView {
            profile_name: profiles
                .iter()
                .find(|p| p.id == consent.profile_id)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            scopes: consent
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(crate::consent::scope_words)
                .collect(),
            client_id: consent.client_id,
            name,
            profile_id: consent.profile_id,
        });
    }
    let (token, cookie) = csrf::token(&headers, ui.is_secure());
    let view = View {
        email: &live.account.email,
        csrf: &token,
        apps,
        profiles: profiles
            .into_iter()
            .map(|p| ProfileView {
                is_current: live.session.profile_id == Some(p.id),
                name: p.name,
                kind: p.kind,
                email: p.email,
            })
            .collect(),
    };
    let html = ui.themes.render(DEFAULT_THEME, "account.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /account/apps/remove`: withdraws the consent one profile gave an application and
/// revokes that application's refresh tokens for the account.
pub(crate) async fn remove_app(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    form: Result<Form<RemoveForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|_| UiError::BadForm)?;
    csrf::verify(&headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let profile_id: i64 = form.profile_id.parse().map_err(|_| UiError::BadForm)?;
    if form.client_id.is_empty() {
        return Err(UiError::BadForm);
    }
    // The profile id came from the browser; the service checks it is this account's.
    ui.accounts
        .withdraw_app(live.account.id, profile_id, &form.client_id)
        .await?;
    Ok(see_other("/account", None))
}
