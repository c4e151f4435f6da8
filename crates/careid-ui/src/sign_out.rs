//! Signing out of careid in this browser: `GET /sign-out` asks for confirmation (a link
//! alone must not sign anyone out), `POST /sign-out` ends the careid session through
//! `careid_protocol::sign_out_browser` (which audits it and tells the applications by
//! back-channel logout), and `GET /signed-out` says it is done.
//!
//! RP-initiated logout (`/end_session`) sends the browser here when it must ask first,
//! with the client, its post-logout redirect URI and `state` in the query. They go
//! through the confirmation form and are checked again on POST
//! ([`LogoutTarget::validate`]), so a tampered form can never redirect anywhere the client
//! did not register. Without the confirmation (no session to end), a client registered
//! over HTTP is not redirected to at once: [`LogoutTarget::leave`] shows the page naming
//! its address.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::ClientId;
use careid_protocol::{
    ErrorPage, LogoutTarget, PageProblem, PersonActed, ProtocolError, session, sign_out_browser,
};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::respond,
    themes::DEFAULT_THEME,
};

/// Where to go afterwards, as `/end_session` passed it on. Empty means absent.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct TargetParams {
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

/// The confirmation form: the CSRF token and the target carried through.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignOutForm {
    csrf: String,
    #[serde(flatten)]
    target: TargetParams,
}

/// What `sign_out.html` shows.
#[derive(Serialize)]
struct View<'a> {
    csrf: &'a str,
    email: &'a str,
    /// The application that asked, when one did.
    client_name: Option<&'a str>,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

/// What `signed_out.html` shows.
#[derive(Serialize)]
struct SignedOut<'a> {
    client_name: Option<&'a str>,
}

fn non_empty(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty())
}

/// The checked target, or the error page that refuses it (never a redirect).
async fn checked(
    ui: &Ui,
    params: &TargetParams,
) -> Result<Result<Option<LogoutTarget>, Response>, UiError> {
    let client_id = non_empty(&params.client_id).map(ClientId::from);
    let outcome = LogoutTarget::validate(
        &ui.protocol,
        client_id.as_ref(),
        non_empty(&params.post_logout_redirect_uri),
        non_empty(&params.state),
    )
    .await
    .map_err(ProtocolError::from)?;
    Ok(outcome.map_err(|why| ui.error_page.render(PageProblem::Logout(why))))
}

fn theme(target: Option<&LogoutTarget>) -> &str {
    target.map_or(DEFAULT_THEME, |t| t.client.theme.as_str())
}

fn signed_out_page(ui: &Ui, target: Option<&LogoutTarget>) -> Result<Response, UiError> {
    let view = SignedOut {
        client_name: target.map(|t| t.client.name.as_str()),
    };
    let html = ui.themes.render(theme(target), "signed_out.html", view)?;
    Ok(respond(StatusCode::OK, html, None))
}

/// `GET /sign-out`: the confirmation, or, when there is nothing to end, the way out.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<TargetParams>,
) -> Result<Response, UiError> {
    let target = match checked(&ui, &params).await? {
        Ok(target) => target,
        Err(page) => return Ok(page),
    };
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        if target
            .as_ref()
            .is_some_and(|t| t.post_logout_redirect_uri.is_some())
        {
            return Ok(LogoutTarget::leave(
                target.as_ref(),
                &ui.protocol,
                PersonActed::No,
                None,
            ));
        }
        return signed_out_page(&ui, target.as_ref());
    };
    let (token, cookie) = csrf::token(&ui, &headers);
    let view = View {
        csrf: &token,
        email: &live.account.email,
        client_name: target.as_ref().map(|t| t.client.name.as_str()),
        client_id: target.as_ref().map(|t| t.client.client_id.as_str()),
        post_logout_redirect_uri: target
            .as_ref()
            .and_then(|t| t.post_logout_redirect_uri.as_deref()),
        state: target.as_ref().and_then(|t| t.state.as_deref()),
    };
    let html = ui
        .themes
        .render(theme(target.as_ref()), "sign_out.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /sign-out`: ends the session the cookie names, whatever its state, then
/// returns to the application that asked or says it is done.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<SignOutForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    // Checked again: the form came back from the browser.
    let target = match checked(&ui, &form.target).await? {
        Ok(target) => target,
        Err(page) => return Ok(page),
    };
    let client_id = target.as_ref().map(|t| &t.client.client_id);
    let cookie = sign_out_browser(&ui.protocol, &headers, client_id).await?;
    if target
        .as_ref()
        .is_some_and(|t| t.post_logout_redirect_uri.is_some())
    {
        // The person confirmed on this page: the redirect is theirs.
        return Ok(LogoutTarget::leave(
            target.as_ref(),
            &ui.protocol,
            PersonActed::Yes,
            Some(cookie),
        ));
    }
    let view = SignedOut {
        client_name: target.as_ref().map(|t| t.client.name.as_str()),
    };
    let html = ui
        .themes
        .render(theme(target.as_ref()), "signed_out.html", view)?;
    Ok(respond(StatusCode::OK, html, [cookie]))
}

/// `GET /signed-out`: where `/end_session` sends a browser it signed out when the
/// application gave no post-logout redirect URI.
pub(crate) async fn signed_out(State(ui): State<Arc<Ui>>) -> Result<Response, UiError> {
    signed_out_page(&ui, None)
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;
    use crate::testing::{Fixture, location, text};

    #[tokio::test]
    async fn signing_out_ends_the_session_and_removes_the_cookie() {
        let fx = Fixture::new().await;
        fx.account("ada@clinic.example").await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let token = fx.csrf(&cookies);
        let confirm = text(fx.get("/sign-out", &cookies).await).await;
        assert!(confirm.contains(r#"action="/sign-out""#) && confirm.contains(&token));

        let response = fx
            .post("/sign-out", &cookies, &[("csrf", token.as_str())])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let cleared = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(cleared.starts_with("careid_session=;") && cleared.contains("Max-Age=0"));
        assert!(text(response).await.contains("You are signed out"));

        let response = fx.get("/account", &cookies).await;
        assert_eq!(location(&response), "/sign-in");
    }

    #[tokio::test]
    async fn a_sign_out_without_the_csrf_field_is_refused() {
        let fx = Fixture::new().await;
        fx.account("ada@clinic.example").await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let response = fx.post("/sign-out", &cookies, &[]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let still = fx.get("/account", &cookies).await;
        assert_eq!(still.status(), StatusCode::OK, "the session survives");
    }

    #[tokio::test]
    async fn a_tampered_redirect_in_the_confirmation_form_is_refused_and_the_session_survives() {
        let fx = Fixture::new().await;
        fx.account("ada@clinic.example").await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let token = fx.csrf(&cookies);
        let response = fx
            .post(
                "/sign-out",
                &cookies,
                &[
                    ("csrf", token.as_str()),
                    ("client_id", "crm"),
                    ("post_logout_redirect_uri", "https://evil.example/"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::LOCATION).is_none());
        let still = fx.get("/account", &cookies).await;
        assert_eq!(still.status(), StatusCode::OK, "the session survives");
    }

    #[tokio::test]
    async fn the_signed_out_page_needs_no_session() {
        let fx = Fixture::new().await;
        let response = fx.get("/signed-out", "").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(text(response).await.contains("You are signed out"));
    }
}
