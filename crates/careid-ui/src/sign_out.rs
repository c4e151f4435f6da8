//! Signing out of careid in this browser: `GET /sign-out` asks for confirmation (a link
//! alone must not sign anyone out), `POST /sign-out` ends the careid session, removes the
//! cookie and says so. Telling the applications (RP-initiated and back-channel logout)
//! is the protocol's end-session endpoint's job.

use std::sync::Arc;

use axum::{
    Form,
    extract::{State, rejection::FormRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_policy::one_time;
use careid_protocol::session;
use careid_store::sessions;
use serde::{Deserialize, Serialize};

use crate::{Ui, UiError, csrf, page::respond, themes::DEFAULT_THEME};

/// The confirmation form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SignOutForm {
    csrf: String,
}

/// What `sign_out.html` shows.
#[derive(Serialize)]
struct View<'a> {
    csrf: &'a str,
    email: &'a str,
}

/// `GET /sign-out`: the confirmation, or "signed out" when there is nothing to end.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        let html = ui.themes.render(DEFAULT_THEME, "signed_out.html", ())?;
        return Ok(respond(StatusCode::OK, html, None));
    };
    let (token, cookie) = csrf::token(&headers, ui.is_secure());
    let view = View {
        csrf: &token,
        email: &live.account.email,
    };
    let html = ui.themes.render(DEFAULT_THEME, "sign_out.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /sign-out`: ends the session the cookie names, whatever its state.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|_| UiError::BadForm)?;
    csrf::verify(&headers, Some(&form.csrf))?;
    if let Some(secret) = session::cookie_value(&headers, session::COOKIE) {
        let db = &ui.protocol.db;
        if let Some(open) = sessions::find_open_by_digest(db, &one_time::digest(secret)).await? {
            sessions::end_session(db, open.id, ui.protocol.clock.now()).await?;
        }
    }
    let html = ui.themes.render(DEFAULT_THEME, "signed_out.html", ())?;
    let cookie = session::clear_cookie(ui.is_secure());
    Ok(respond(StatusCode::OK, html, [cookie]))
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;
    use crate::testing::{Fixture, location, text};

    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[tokio::test]
    async fn signing_out_ends_the_session_and_removes_the_cookie() {
        let fx = Fixture::new().await;
        fx.account("ada@clinic.example").await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let confirm = text(fx.get("/sign-out", &cookies).await).await;
        assert!(confirm.contains(r#"action="/sign-out""#) && confirm.contains(TOKEN));

        let response = fx.post("/sign-out", &cookies, &[("csrf", TOKEN)]).await;
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
}
