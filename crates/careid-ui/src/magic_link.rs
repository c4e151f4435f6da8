//! Sign-in by emailed link (issue 13): `GET /magic-link` asks for the email and
//! `POST /magic-link` sends the link, answering alike whether or not the email has an
//! account. `GET /magic-link/sign-in?token=…` (the link in the mail) only shows a one-click
//! confirmation, so a mail scanner that fetches links does not use one up;
//! `POST /magic-link/sign-in` uses the link and starts the session.
//!
//! Where the browser goes next: the browser that asked for the link holds a cookie naming
//! its authorization request, so confirming there continues that request. Anywhere else
//! (another browser or device, or the welcome link of an invitation) the session starts
//! fresh and the browser goes to the client's home, the origin of its first redirect URI,
//! which signs in through the new session; a person who came to careid directly, or from a
//! dynamically registered client, goes to `/account`. Links, their rules and the audit
//! trail are `careid-accounts`'; this module words the outcomes.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use careid_accounts::{ClientId, MagicLinkProblem, expires_in};
use careid_protocol::{Bucket, ClientAddress, PendingRequest, find_pending, session::cookie_value};
use serde::Deserialize;

use crate::{
    Ui, UiError, csrf, email_form,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other, with_request},
    sign_in::{allows_method, replace_session},
    themes::DEFAULT_THEME,
};

/// The cookie that remembers, in the browser that asked for a link, which authorization
/// request to continue once the link is confirmed.
const REQUEST_COOKIE: &str = "careid_magic_link";

/// RFC 8176 registers no value for an emailed link. A magic link is a one-time secret
/// sent out of band, so `otp` ("one-time password") is the closest registered value.
const AMR: [&str; 1] = ["otp"];

/// The email form. Every field defaults to empty so a missing one gets a clear page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RequestForm {
    csrf: String,
    request: String,
    email: String,
}

/// `?token=…` of the link in the mail.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct LinkParams {
    token: String,
}

/// The confirmation form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ConfirmForm {
    csrf: String,
    token: String,
}

/// `GET /magic-link?request=…`: the email form on its own (the sign-in page shows it too).
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    ui.lifecycle()?;
    let pending = live_request(&ui, request_id(params.request.as_deref())).await?;
    check_allowed(pending.as_ref())?;
    request_page(&ui, &headers, pending.as_ref(), "", None)
}

/// `POST /magic-link`: sends a link if the email has an account that may sign in, and
/// answers the same page either way.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<RequestForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let lifecycle = ui.lifecycle()?;
    let pending = live_request(&ui, request_id(Some(&form.request))).await?;
    check_allowed(pending.as_ref())?;
    let email = form.email.trim();
    if email.is_empty() {
        let message = Some("Enter the email address your practice has for you.");
        return request_page(&ui, &headers, pending.as_ref(), email, message);
    }
    ui.protocol
        .rate_limit(Bucket::MagicLink, &address, Some(email))
        .await?;
    let client_id = pending.as_ref().map(|p| p.client.client_id.clone());
    let branding = ui.branding(client_id.as_ref());
    let theme = branding.theme.clone();
    lifecycle
        .request_magic_link(email, branding, client_id, address.for_audit())
        .await?;
    let request = pending.as_ref().map(|p| p.id.as_str());
    let lifetime = lifecycle.config.magic_link();
    let view = serde_json::json!({
        "email": email,
        "request": request,
        "expires_in": expires_in(lifetime),
    });
    let html = ui.themes.render(&theme, "magic_link_sent.html", view)?;
    // Set (or cleared) alike for every email, so the answer says nothing about accounts.
    let cookie = request_cookie(request, lifetime.whole_seconds(), ui.is_secure());
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `GET /magic-link/sign-in?token=…`: the confirmation, or why the link does not work.
/// Nothing is used up.
pub(crate) async fn show_confirm(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<LinkParams>,
) -> Result<Response, UiError> {
    let lifecycle = ui.lifecycle()?;
    let link = match lifecycle.open_magic_link(&params.token).await? {
        Ok(link) => link,
        Err(problem) => return problem_page(&ui, &headers, problem).await,
    };
    let branding = ui.branding(link.client_id.as_ref());
    let (token, cookie) = csrf::token(&ui, &headers);
    let view = serde_json::json!({
        "product": branding.product,
        "email": link.email,
        "token": params.token,
        "csrf": token,
    });
    let html = ui
        .themes
        .render(&branding.theme, "magic_link_confirm.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /magic-link/sign-in`: uses the link, starts the session and goes on.
pub(crate) async fn confirm(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let lifecycle = ui.lifecycle()?;
    let signed = match lifecycle
        .use_magic_link(&form.token, address.for_audit())
        .await?
    {
        Ok(signed) => signed,
        Err(problem) => return problem_page(&ui, &headers, problem).await,
    };
    // The request this browser asked the link for, if it is still waiting and belongs to
    // the client the link was sent for.
    let pending = remembered_request(&ui, &headers)
        .await?
        .filter(|p| signed.client_id.as_ref() == Some(&p.client.client_id));
    let session = replace_session(&ui, &headers, signed.account_id, &AMR).await?;
    let location = match &pending {
        Some(pending) => next_step(Some(&pending.id)),
        None => landing(&ui, signed.client_id.as_ref()),
    };
    let cleared = request_cookie(None, 0, ui.is_secure());
    Ok(see_other(&location, [session].into_iter().chain(cleared)))
}

/// Where a link confirmed away from its request leads: the client's home (the origin of
/// its first redirect URI), or `/account`.
fn landing(ui: &Ui, client_id: Option<&ClientId>) -> String {
    client_id
        .and_then(|id| ui.protocol.clients.get(id))
        // A registered client's addresses are its author's; careid's own page is safer.
        .filter(|client| !client.dynamically_registered)
        .and_then(|client| {
            let first = url::Url::parse(client.redirect_uris.first()?).ok()?;
            let origin = first.origin();
            origin
                .is_tuple()
                .then(|| format!("{}/", origin.ascii_serialization()))
        })
        .unwrap_or_else(|| "/account".to_owned())
}

/// The page for a link that cannot sign in, offering a new link where one would help.
async fn problem_page(
    ui: &Ui,
    headers: &HeaderMap,
    problem: MagicLinkProblem,
) -> Result<Response, UiError> {
    let lifecycle = ui.lifecycle()?;
    let hours = lifecycle.config.magic_link_hours;
    let days = ui.accounts.config.inactivity_expiry_days;
    let (title, detail, offer_new) = match problem {
        MagicLinkProblem::Superseded => (
            "A newer sign-in link was sent".to_owned(),
            "You asked for another link after this one, and only the newest link works. Open the most recent email from us, or send yourself a new link.".to_owned(),
            true,
        ),
        MagicLinkProblem::Used => (
            "This sign-in link was already used".to_owned(),
            "Each sign-in link works once. If you are not signed in, send yourself a new link.".to_owned(),
            true,
        ),
        MagicLinkProblem::Expired => (
            "This sign-in link has expired".to_owned(),
            format!("Sign-in links work for {hours} hours. Send yourself a new one."),
            true,
        ),
        MagicLinkProblem::Unknown => (
            "This link does not work".to_owned(),
            "The link may be incomplete: copy the whole link from the email, or send yourself a new one.".to_owned(),
            true,
        ),
        MagicLinkProblem::AccountDisabled => (
            "Your account has been disabled".to_owned(),
            "Please contact your practice administrator.".to_owned(),
            false,
        ),
        MagicLinkProblem::AccountExpired => (
            "Your account has expired".to_owned(),
            format!("Your account expired because it was not used for {days} days; contact your practice administrator to reactivate it."),
            false,
        ),
    };
    // In the browser that asked, the new link continues the same request and its theme.
    let pending = remembered_request(ui, headers).await?;
    let client = pending.as_ref().map(|p| p.client.as_ref());
    let request = pending.as_ref().map(|p| p.id.as_str());
    let view = serde_json::json!({
        "title": title,
        "detail": detail,
        "offer_new": offer_new,
        "new_link": with_request("/magic-link", request),
        "sign_in": with_request("/sign-in", request),
        "request": request,
    });
    let theme = client.map_or(DEFAULT_THEME, |c| c.theme.as_str());
    let html = ui.themes.render(theme, "magic_link_problem.html", view)?;
    Ok(respond(StatusCode::BAD_REQUEST, html, None))
}

/// The email form, in the client's theme; 400 when it carries a message.
fn request_page(
    ui: &Ui,
    headers: &HeaderMap,
    pending: Option<&PendingRequest>,
    email: &str,
    message: Option<&str>,
) -> Result<Response, UiError> {
    let status = if message.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    email_form::render(
        ui,
        headers,
        "magic_link_request.html",
        pending,
        email,
        message,
        status,
    )
}

/// A client that does not offer sign-in links refuses them here too.
fn check_allowed(pending: Option<&PendingRequest>) -> Result<(), UiError> {
    if pending.is_some_and(|p| !allows_method(p, "magic_link")) {
        return Err(UiError::MagicLinkNotAllowed);
    }
    Ok(())
}

/// The pending request named by `request`, if it is still live; a stale one only loses
/// its branding and continuation here (the link itself still signs in).
async fn live_request(ui: &Ui, request: Option<&str>) -> Result<Option<PendingRequest>, UiError> {
    match request {
        Some(id) => Ok(find_pending(&ui.protocol, id).await?),
        None => Ok(None),
    }
}

/// The request this browser asked a link for, if it is still waiting.
async fn remembered_request(
    ui: &Ui,
    headers: &HeaderMap,
) -> Result<Option<PendingRequest>, UiError> {
    live_request(
        ui,
        cookie_value(headers, REQUEST_COOKIE).filter(|v| !v.is_empty()),
    )
    .await
}

/// The cookie naming the request to continue (or, without one, clearing it): only for
/// the `/magic-link` pages, script-proof, and gone when the link expires. `Lax`, because
/// the link is opened from a mail, another site.
fn request_cookie(request: Option<&str>, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    let (value, max_age) = match request {
        Some(id) => (id, max_age),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{REQUEST_COOKIE}={value}; Path=/magic-link; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_cookie_stays_on_the_link_pages_and_out_of_scripts() {
        let cookie = request_cookie(Some("req-1"), 86_400, true).unwrap();
        let cookie = cookie.to_str().unwrap();
        for part in [
            "careid_magic_link=req-1",
            "Path=/magic-link",
            "Max-Age=86400",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
        ] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        let cleared = request_cookie(None, 86_400, false).unwrap();
        assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
    }
}
