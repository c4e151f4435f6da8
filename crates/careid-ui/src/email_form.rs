//! The pages whose form starts with the person's email (forgot password, sign-in link,
//! PIN): the same view, drawn in the theme of the client that asked.

use axum::{http::HeaderMap, http::StatusCode, response::Response};
use careid_protocol::PendingRequest;
use serde::Serialize;

use crate::{Ui, UiError, csrf, page::respond, themes::DEFAULT_THEME};

/// What each of those templates shows.
#[derive(Serialize)]
struct View<'a> {
    client_name: Option<&'a str>,
    request: Option<&'a str>,
    email: &'a str,
    csrf: &'a str,
    message: Option<&'a str>,
}

/// `template` with `email` filled in, an optional message and a fresh CSRF token.
pub(crate) fn render(
    ui: &Ui,
    headers: &HeaderMap,
    template: &str,
    pending: Option<&PendingRequest>,
    email: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let (token, cookie) = csrf::token(ui, headers);
    let client = pending.map(|p| p.client.as_ref());
    let view = View {
        client_name: client.map(|c| c.name.as_str()),
        request: pending.map(|p| p.id.as_str()),
        email,
        csrf: &token,
        message,
    };
    let theme = client.map_or(DEFAULT_THEME, |c| c.theme.as_str());
    let html = ui.themes.render(theme, template, view)?;
    Ok(respond(status, html, cookie))
}
