//! The account page, for a person who comes to careid itself rather than through an
//! application: who is signed in, their profiles, the applications they allowed (each
//! with a way to remove its access), and a way to sign out. Changing a password and the
//! like arrive as pages of their own.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::{ClientId, ProfileId};
use careid_protocol::{ProtocolError, session};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::PageForm,
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
    client_id: ClientId,
    name: String,
    profile_id: ProfileId,
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
    profile_id: i64,
}

/// `GET /account`: the signed-in account, or a redirect to sign in.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let profiles = ui.accounts.profiles(live.account.id).await?;
    let mut apps = Vec::new();
    for app in ui.accounts.allowed_apps(live.account.id).await? {
        let client = ui.protocol.find_client(&app.client_id).await;
        let name = match client.map_err(ProtocolError::from)? {
            Some(client) => client.name.clone(),
            None => app.client_id.to_string(),
        };
        apps.push(AppView {
            profile_name: app.profile_name,
            scopes: app
                .scopes
                .iter()
                .map(|s| crate::consent::scope_words(s))
                .collect(),
            client_id: app.client_id,
            name,
            profile_id: app.profile_id,
        });
    }
    let (token, cookie) = csrf::token(&ui, &headers);
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
    PageForm(form): PageForm<RemoveForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let profile_id = ProfileId::new(form.profile_id);
    if form.client_id.is_empty() {
        return Err(UiError::BadForm);
    }
    // The profile id came from the browser; the service checks it is this account's.
    ui.accounts
        .withdraw_app(
            live.account.id,
            profile_id,
            &ClientId::from(form.client_id.as_str()),
        )
        .await?;
    Ok(see_other("/account", None))
}
