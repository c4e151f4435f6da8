//! The account page, for a person who comes to careid itself rather than through an
//! application: who is signed in, their profiles, and a way to sign out. Changing a
//! password and the like arrive as pages of their own.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_protocol::session;
use careid_store::profiles;
use serde::Serialize;

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

/// What `account.html` shows.
#[derive(Serialize)]
struct View<'a> {
    email: &'a str,
    csrf: &'a str,
    profiles: Vec<ProfileView>,
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
    let (token, cookie) = csrf::token(&headers, ui.is_secure());
    let view = View {
        email: &live.account.email,
        csrf: &token,
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
