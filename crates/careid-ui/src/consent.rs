//! The consent page: a third-party application asks to see parts of a profile, and the
//! person allows or refuses. `GET /consent?request=…` shows the app (name, logo, policy
//! and terms links) and each scope in plain words, in the app's theme. `POST /consent`
//! records the answer through the protocol, which remembers it per profile, client and
//! scope set; on "allow" the browser goes back to `/authorize/continue`, on "deny" the
//! protocol sends it to the application with `error=access_denied`.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::Profile;
use careid_protocol::{deny_consent, find_pending, record_consent, session};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other, with_request},
};

/// The consent form: `decision` is `allow` or `deny`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ConsentForm {
    csrf: String,
    request: String,
    decision: String,
}

/// One scope as the page words it.
#[derive(Serialize)]
struct ScopeView {
    name: String,
    words: &'static str,
}

/// What `consent.html` shows.
#[derive(Serialize)]
struct View<'a> {
    client_name: &'a str,
    logo_uri: Option<&'a str>,
    policy_uri: Option<&'a str>,
    tos_uri: Option<&'a str>,
    profile_name: &'a str,
    scopes: Vec<ScopeView>,
    request: &'a str,
    csrf: &'a str,
}

/// What a scope lets the application do, in plain words.
pub(crate) fn scope_words(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know that it is you when you sign in",
        "profile" => "See your name",
        "email" => "See your email address",
        "offline_access" => "Keep access while you are not using it",
        _ => "Access information careid does not describe",
    }
}

/// Only https addresses are shown or linked: an http logo would be mixed content, and a
/// `javascript:` link must never reach a page.
fn https_only(uri: Option<&String>) -> Option<&str> {
    uri.map(String::as_str)
        .filter(|u| url::Url::parse(u).is_ok_and(|url| url.scheme() == "https"))
}

/// The profile the application will see: the one chosen on this session, or the
/// account's only one. `None` sends the person to the profile picker.
async fn chosen_profile(ui: &Ui, live: &session::LiveSession) -> Result<Option<Profile>, UiError> {
    Ok(ui
        .accounts
        .acting_profile(live.account.id, live.session.profile_id)
        .await?)
}

/// `GET /consent?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let id = request_id(params.request.as_deref()).ok_or(UiError::RequestExpired)?;
    let pending = find_pending(&ui.protocol, id)
        .await?
        .ok_or(UiError::RequestExpired)?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other(&with_request("/sign-in", Some(id)), None));
    };
    let Some(profile) = chosen_profile(&ui, &live).await? else {
        return Ok(see_other(&with_request("/select-profile", Some(id)), None));
    };
    let (token, cookie) = csrf::token(&ui, &headers);
    let client = &pending.client;
    let view = View {
        client_name: &client.name,
        logo_uri: https_only(client.logo_uri.as_ref()),
        policy_uri: https_only(client.policy_uri.as_ref()),
        tos_uri: https_only(client.tos_uri.as_ref()),
        profile_name: &profile.name,
        scopes: pending
            .scopes
            .iter()
            .map(|s| ScopeView {
                words: scope_words(s),
                name: s.clone(),
            })
            .collect(),
        request: id,
        csrf: &token,
    };
    let html = ui.themes.render(&client.theme, "consent.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /consent`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<ConsentForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let id = request_id(Some(&form.request)).ok_or(UiError::RequestExpired)?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other(&with_request("/sign-in", Some(id)), None));
    };
    match form.decision.as_str() {
        "deny" => Ok(deny_consent(&ui.protocol, id, live.account.id).await),
        "allow" => {
            let Some(profile) = chosen_profile(&ui, &live).await? else {
                return Ok(see_other(&with_request("/select-profile", Some(id)), None));
            };
            let recorded = record_consent(&ui.protocol, id, profile.id).await?;
            if !recorded {
                return Err(UiError::RequestExpired);
            }
            Ok(see_other(&next_step(Some(id)), None))
        }
        _ => Err(UiError::BadForm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_scope_has_plain_words() {
        for scope in ["openid", "profile", "email", "offline_access"] {
            assert_ne!(
                scope_words(scope),
                scope_words("unknown"),
                "{scope} needs words"
            );
        }
    }

    #[test]
    fn only_https_links_are_shown() {
        let https = "https://app.example/logo.png".to_owned();
        let http = "http://app.example/logo.png".to_owned();
        let script = "javascript:alert(1)".to_owned();
        assert_eq!(https_only(Some(&https)), Some(https.as_str()));
        assert_eq!(https_only(Some(&http)), None);
        assert_eq!(https_only(Some(&script)), None);
        assert_eq!(https_only(None), None);
    }
}
