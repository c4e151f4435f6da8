//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET` and `POST
//! /end_session`. Checks `id_token_hint`, `client_id` and `post_logout_redirect_uri`,
//! then either ends the session at once or sends the browser to the sign-out page
//! (`careid-ui`) to confirm. Ending it is `logout`'s job.
//!
//! The session ends without asking only when an ID token careid issued names this very
//! session (`sid`), or when there is no live session to protect; otherwise a link alone
//! could sign people out, so the person confirms. A `post_logout_redirect_uri` that is
//! not registered for the client gets an error page and never a redirect (§3). One of a
//! client registered over HTTP is followed at once only after the person confirmed;
//! otherwise careid shows a page naming it (`leave`), so that nobody can use careid to
//! bounce people to an address of their choosing.
//!
//! An ID token carries personal claims, so `id_token_hint` never goes into a URL: a
//! POST that must come back by GET (below) leaves the hint behind, and the person
//! confirms instead.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use careid_policy::is_session_live;
use careid_store::{ClientId, StoreError};
use serde_json::Value;
use url::form_urlencoded;

use crate::{Client, PageProblem, PersonActed, Protocol, form::Form, leave, logout};

/// Where the browser goes after signing out, checked against the client's
/// registration. Also carried through the sign-out page's confirmation form.
#[derive(Debug, Clone)]
pub struct LogoutTarget {
    /// The client that asked, when it said who it is.
    pub client: Arc<Client>,
    /// A registered post-logout redirect URI of that client.
    pub post_logout_redirect_uri: Option<String>,
    /// The client's `state`, returned with the redirect (§2).
    pub state: Option<String>,
}

/// Why a logout request cannot be followed: shown on an error page, never redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRefused {
    /// The request could not be read (a repeated parameter, a bad body).
    Malformed,
    /// `id_token_hint` is not an ID token careid issued.
    BadHint,
    /// `client_id` names no registered client, or not the hint's audience.
    UnknownClient,
    /// A `post_logout_redirect_uri` came without a client to check it against.
    NoClient,
    /// The `post_logout_redirect_uri` is not registered for the client.
    UnregisteredUri,
}

impl LogoutTarget {
    /// Checks a client and post-logout redirect URI: the client must be registered and
    /// the URI one of its `post_logout_redirect_uris`, character for character. `None`
    /// when neither was given. `state` is kept only with a redirect URI. The outer error
    /// is the store failing to look the client up.
    pub async fn validate(
        app: &Protocol,
        client_id: Option<&ClientId>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<Result<Option<Self>, LogoutRefused>, StoreError> {
        let Some(client_id) = client_id else {
            return Ok(match post_logout_redirect_uri {
                Some(_) => Err(LogoutRefused::NoClient),
                None => Ok(None),
            });
        };
        let Some(client) = app.find_client(client_id).await? else {
            return Ok(Err(LogoutRefused::UnknownClient));
        };
        let uri = match post_logout_redirect_uri {
            Some(uri) if client.has_post_logout_redirect_uri(uri) => Some(uri.to_owned()),
            Some(_) => return Ok(Err(LogoutRefused::UnregisteredUri)),
            None => None,
        };
        Ok(Ok(Some(Self {
            client,
            state: state.filter(|_| uri.is_some()).map(str::to_owned),
            post_logout_redirect_uri: uri,
        })))
    }

    /// Where to send the browser once signed out: the redirect URI with `state` added
    /// to its query, or careid's own signed-out page.
    pub fn location(target: Option<&Self>) -> String {
        let Some((uri, state)) =
            target.and_then(|t| Some((t.post_logout_redirect_uri.as_deref()?, &t.state)))
        else {
            return "/signed-out".into();
        };
        let Ok(mut url) = url::Url::parse(uri) else {
            // Registered URIs are checked at load; this cannot be reached with one.
            return "/signed-out".into();
        };
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        url.into()
    }

    /// Sends the browser where [`Self::location`] says, with `cookie` (the one that
    /// removes the session cookie) set: a 303, except that a third-party client's
    /// address the person did not confirm on careid's sign-out page gets the page that
    /// names it instead.
    pub fn leave(
        target: Option<&Self>,
        app: &Protocol,
        acted: PersonActed,
        cookie: Option<HeaderValue>,
    ) -> Response {
        let location = Self::location(target);
        match target {
            Some(target) if target.post_logout_redirect_uri.is_some() => {
                leave::to_client(app, &target.client, &location, acted, cookie)
            }
            _ => see_other(&location, cookie),
        }
    }

    /// The sign-out page's URL with this target in its query.
    fn confirmation_url(target: Option<&Self>) -> String {
        let Some(target) = target else {
            return "/sign-out".into();
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("client_id", target.client.client_id.as_str());
        if let Some(uri) = &target.post_logout_redirect_uri {
            query.append_pair("post_logout_redirect_uri", uri);
        }
        if let Some(state) = &target.state {
            query.append_pair("state", state);
        }
        format!("/sign-out?{}", query.finish())
    }
}

/// `GET /end_session`.
pub async fn end_get(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    end(&app, &headers, query.unwrap_or_default().as_bytes()).await
}

/// `POST /end_session` (§2: form-encoded, same parameters).
pub async fn end_post(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !crate::form::is_form(&headers) {
        return refused(&app, LogoutRefused::Malformed);
    }
    // An RP's logout form posts cross-site, and a `SameSite=Lax` cookie does not come
    // with a cross-site POST. Without the cookie careid cannot see the session, so the
    // browser comes back by GET, a top-level navigation that does carry it.
    if crate::session::secret(&app, &headers).is_none() {
        return match without_hint(&app, &body) {
            Ok(query) => see_other(&format!("/end_session?{query}"), None),
            Err(why) => refused(&app, why),
        };
    }
    end(&app, &headers, &body).await
}

/// The query of the GET that a cookie-less POST comes back by: the form's parameters
/// without `id_token_hint`, which holds personal claims and must not land in browser
/// history, logs or `Referer` headers. The hint is checked here; what it said of the
/// client goes on as `client_id`, and without it the person confirms the sign-out.
fn without_hint(app: &Protocol, body: &[u8]) -> Result<String, LogoutRefused> {
    let params = Form::parse(body).map_err(|_| LogoutRefused::Malformed)?;
    let audience = match params.get("id_token_hint") {
        Some(token) => Some(
            read_hint(app, token)
                .ok_or(LogoutRefused::BadHint)?
                .audience,
        ),
        None => None,
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    match (params.get("client_id"), audience.as_deref()) {
        (Some(id), Some(audience)) if id != audience => return Err(LogoutRefused::BadHint),
        (Some(id), _) | (None, Some(id)) => {
            query.append_pair("client_id", id);
        }
        (None, None) => {}
    }
    for name in [
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
        "logout_hint",
    ] {
        if let Some(value) = params.get(name) {
            query.append_pair(name, value);
        }
    }
    Ok(query.finish())
}

/// What a verified `id_token_hint` says.
struct Hint {
    /// The client the ID token was issued to.
    audience: String,
    /// The session it was issued in.
    sid: Option<String>,
}

/// Reads an ID token careid issued, expired or not (§2: the hint may have expired).
fn read_hint(app: &Protocol, token: &str) -> Option<Hint> {
    let (typ, claims) = app.keys.verify(token)?;
    // ID tokens are `typ: JWT`; access and logout tokens must not pass as hints.
    if !typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
        || claims.get("iss").and_then(Value::as_str) != Some(app.issuer.as_str())
    {
        return None;
    }
    let audience = match claims.get("aud")? {
        Value::String(aud) => aud.clone(),
        Value::Array(auds) => match auds.as_slice() {
            [Value::String(aud)] => aud.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
    Some(Hint { audience, sid })
}

async fn end(app: &Protocol, headers: &HeaderMap, raw: &[u8]) -> Response {
    match decide(app, headers, raw).await {
        Ok(response) => response,
        Err(Outcome::Refused(why)) => refused(app, why),
        Err(Outcome::Failed(err)) => {
            tracing::error!(%err, "end_session failed");
            app.error_page.render(PageProblem::SignOutFailed)
        }
    }
}

enum Outcome {
    Refused(LogoutRefused),
    Failed(StoreError),
}

impl From<LogoutRefused> for Outcome {
    fn from(why: LogoutRefused) -> Self {
        Self::Refused(why)
    }
}

impl From<StoreError> for Outcome {
    fn from(err: StoreError) -> Self {
        Self::Failed(err)
    }
}

async fn decide(app: &Protocol, headers: &HeaderMap, raw: &[u8]) -> Result<Response, Outcome> {
    let params = Form::parse(raw).map_err(|_| LogoutRefused::Malformed)?;
    let hint = match params.get("id_token_hint") {
        Some(token) => Some(read_hint(app, token).ok_or(LogoutRefused::BadHint)?),
        None => None,
    };
    // §2: a client_id beside a hint must be the hint's audience.
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(hint)) if id != hint.audience => {
            return Err(LogoutRefused::BadHint.into());
        }
        (Some(id), _) => Some(id),
        (None, Some(hint)) => Some(hint.audience.as_str()),
        (None, None) => None,
    };
    let client_id = client_id.map(ClientId::from);
    let target = LogoutTarget::validate(
        app,
        client_id.as_ref(),
        params.get("post_logout_redirect_uri"),
        params.get("state"),
    )
    .await??;

    let Some(open) = logout::browser_session(app, headers).await? else {
        // Nothing to end in this browser. A hint never ends a session elsewhere.
        return Ok(LogoutTarget::leave(
            target.as_ref(),
            app,
            PersonActed::No,
            None,
        ));
    };
    let is_live = is_session_live(
        open.created_at,
        open.last_seen_at,
        app.clock.now(),
        &app.session_rules,
    );
    let names_this_session = hint
        .as_ref()
        .and_then(|h| h.sid.as_deref())
        .is_some_and(|sid| sid == open.sid);
    if is_live && !names_this_session {
        return Ok(see_other(
            &LogoutTarget::confirmation_url(target.as_ref()),
            None,
        ));
    }
    let how = logout::SignOut::EndSession {
        client_id: target.as_ref().map(|t| &t.client.client_id),
    };
    logout::sign_out(app, &open, how).await?;
    let cookie = crate::session::clear_cookie(app.secure_cookies());
    Ok(LogoutTarget::leave(
        target.as_ref(),
        app,
        PersonActed::No,
        Some(cookie),
    ))
}

fn refused(app: &Protocol, why: LogoutRefused) -> Response {
    app.error_page.render(PageProblem::Logout(why))
}

/// A 303 (a POSTed logout is never re-sent), `no-store`, with the cookie to clear.
fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = leave::see_other(location);
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: Option<&str>, state: Option<&str>) -> LogoutTarget {
        let client: Client = serde_json::from_value(serde_json::json!({
            "client_id": "crm",
            "name": "CRM",
            "secret": "x",
            "redirect_uris": ["https://crm.example/callback"],
            "post_logout_redirect_uris": ["https://crm.example/bye?from=careid"],
        }))
        .unwrap();
        LogoutTarget {
            client: Arc::new(client),
            post_logout_redirect_uri: uri.map(str::to_owned),
            state: state.map(str::to_owned),
        }
    }

    #[test]
    fn the_redirect_keeps_the_registered_query_and_adds_state() {
        let t = target(Some("https://crm.example/bye?from=careid"), Some("a b&c"));
        assert_eq!(
            LogoutTarget::location(Some(&t)),
            "https://crm.example/bye?from=careid&state=a+b%26c"
        );
        let t = target(Some("https://crm.example/bye?from=careid"), None);
        assert_eq!(
            LogoutTarget::location(Some(&t)),
            "https://crm.example/bye?from=careid"
        );
    }

    #[test]
    fn without_a_redirect_uri_the_browser_goes_to_the_signed_out_page() {
        assert_eq!(LogoutTarget::location(None), "/signed-out");
        assert_eq!(
            LogoutTarget::location(Some(&target(None, None))),
            "/signed-out"
        );
    }

    #[test]
    fn the_confirmation_carries_the_checked_target() {
        let t = target(Some("https://crm.example/bye?from=careid"), Some("s"));
        assert_eq!(
            LogoutTarget::confirmation_url(Some(&t)),
            "/sign-out?client_id=crm&post_logout_redirect_uri=https%3A%2F%2Fcrm.example%2Fbye%3Ffrom%3Dcareid&state=s"
        );
        assert_eq!(LogoutTarget::confirmation_url(None), "/sign-out");
    }
}
