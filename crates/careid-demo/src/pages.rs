//! The demo's pages: the home page (a "Sign in with careid" button, or the signed-in
//! profile's claims and token expiry), the start of a sign-in (`/login`, with
//! `?switch=1` for `prompt=select_account`), the callback, refresh and sign-out.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, CsrfToken, LogoutRequest, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PostLogoutRedirectUrl, RefreshToken, Scope, SubjectIdentifier,
    TokenResponse,
    core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreIdToken, CoreUserInfoClaims},
};
use serde::Deserialize;

use crate::{
    Demo, DemoError, html,
    provider::Provider,
    sessions::{Pending, Sessions, SignedIn},
};

/// `GET /`: "Sign in with careid", or who is signed in.
pub(crate) async fn home(State(demo): State<Arc<Demo>>, headers: HeaderMap) -> Response {
    let name = &demo.rp.name;
    let signed_in = session_id(&demo, &headers).and_then(|id| demo.sessions.signed_in(&id));
    let Some(signed_in) = signed_in else {
        let body = format!(
            "<h1>Welcome to {}</h1>\n<p>You are not signed in.</p>\n<p><a class=\"button\" href=\"/login\">Sign in with careid</a></p>",
            html::escape(name)
        );
        return no_store(html::page("Home", name, &body).into_response());
    };
    no_store(html::page("Signed in", name, &signed_in_body(&demo, &signed_in)).into_response())
}

fn signed_in_body(demo: &Demo, signed_in: &SignedIn) -> String {
    let claims = &signed_in.claims;
    let shown = |key: &str| {
        claims[key]
            .as_str()
            .or_else(|| signed_in.userinfo[key].as_str())
            .unwrap_or("")
            .to_owned()
    };
    let who = Some(shown("name"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| signed_in.subject.clone());
    let now = unix_now();
    let id_expiry = claims["exp"].as_i64().map(|exp| expiry(exp, now));
    let access_expiry = signed_in.access_expires_at.map(|exp| expiry(exp, now));
    let switch = if demo.rp.offers_profile_switch {
        "<a class=\"button secondary\" href=\"/login?switch=1\">Switch profile</a>\n"
    } else {
        ""
    };
    let refresh = if signed_in.refresh_token.is_some() {
        "<form method=\"post\" action=\"/refresh\"><button type=\"submit\" class=\"secondary\">Refresh tokens</button></form>\n"
    } else {
        ""
    };
    let pretty = |value: &serde_json::Value| {
        html::escape(&serde_json::to_string_pretty(value).unwrap_or_default())
    };
    format!(
        "<h1>Signed in as <span id=\"who\">{who}</span></h1>
<dl>
<dt>Email</dt><dd id=\"email\">{email}</dd>
<dt>Subject (<code>sub</code>)</dt><dd id=\"subject\">{subject}</dd>
<dt>ID token expires</dt><dd>{id_expiry}</dd>
<dt>Access token expires</dt><dd>{access_expiry}</dd>
<dt>Refreshed</dt><dd id=\"refreshed\">{refreshed} times</dd>
</dl>
<p>
{switch}{refresh}<form method=\"post\" action=\"/logout\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>
</p>
<h2>ID token claims</h2>
<pre id=\"claims\">{claims}</pre>
<h2>UserInfo</h2>
<pre id=\"userinfo\">{userinfo}</pre>",
        who = html::escape(&who),
        email = html::escape(&shown("email")),
        subject = html::escape(&signed_in.subject),
        id_expiry = id_expiry.unwrap_or_else(|| "unknown".into()),
        access_expiry = access_expiry.unwrap_or_else(|| "unknown".into()),
        refreshed = signed_in.refreshed,
        claims = pretty(claims),
        userinfo = pretty(&signed_in.userinfo),
    )
}

/// "in 598 s (unix 1790000000)", or "expired" once past.
fn expiry(at: i64, now: i64) -> String {
    if at <= now {
        format!("expired (unix time {at})")
    } else {
        format!("in {} s (unix time {at})", at - now)
    }
}

/// The demo is another application than careid: its clock is the system's, the one
/// `openidconnect` checks ID tokens against.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[derive(Deserialize)]
pub(crate) struct LoginParams {
    #[serde(default)]
    switch: Option<String>,
}

/// `GET /login`: sends the browser to careid with PKCE S256, state and nonce; with
/// `?switch=1` careid shows the profile picker again (`prompt=select_account`).
pub(crate) async fn login(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    Query(params): Query<LoginParams>,
) -> Result<Response, DemoError> {
    let provider = demo.provider.get(&demo.rp).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = provider
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        // A refresh token that outlives the access token (OIDC Core §11).
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge);
    if params.switch.is_some() {
        request = request.add_prompt(CoreAuthPrompt::SelectAccount);
    }
    let (url, state, nonce) = request.url();
    let (id, cookie) = match session_id(&demo, &headers) {
        Some(id) => (id, None),
        None => {
            let id = Sessions::new_id();
            let cookie = session_cookie(&demo, &id);
            (id, cookie)
        }
    };
    demo.sessions.start(
        &id,
        Pending {
            state,
            nonce,
            verifier,
        },
    );
    Ok(see_other(url.as_str(), cookie))
}

#[derive(Deserialize)]
pub(crate) struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /callback`: checks `state`, exchanges the code with the PKCE verifier, verifies
/// the ID token (signature, issuer, audience, expiry, nonce), reads UserInfo.
pub(crate) async fn callback(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, DemoError> {
    let id = session_id(&demo, &headers).ok_or(DemoError::UnknownState)?;
    let pending = demo
        .sessions
        .take_pending(&id)
        .ok_or(DemoError::UnknownState)?;
    if params.state.as_deref() != Some(pending.state.secret().as_str()) {
        return Err(DemoError::UnknownState);
    }
    if let Some(error) = params.error {
        let description = params.error_description.unwrap_or_default();
        return Err(DemoError::Refused(format!("{error} {description}")));
    }
    let code = params.code.ok_or(DemoError::UnknownState)?;
    let provider = demo.provider.get(&demo.rp).await?;
    let tokens = provider
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(token_error)?
        .set_pkce_verifier(pending.verifier)
        .request_async(&provider.http)
        .await
        .map_err(token_error)?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| DemoError::Token("no ID token".into()))?;
    let verified = id_token
        .claims(&provider.client.id_token_verifier(), &pending.nonce)
        .map_err(token_error)?;
    let subject = verified.subject().clone();
    let signed_in = signed_in(
        &provider,
        id_token,
        subject,
        tokens.access_token(),
        tokens.expires_in(),
        tokens.refresh_token().cloned(),
        0,
    )
    .await?;
    demo.sessions.sign_in(&id, signed_in);
    Ok(see_other("/", None))
}

/// `POST /refresh`: new tokens from the refresh token (rotated by careid).
pub(crate) async fn refresh(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
) -> Result<Response, DemoError> {
    let Some(id) = session_id(&demo, &headers) else {
        return Ok(see_other("/", None));
    };
    let Some(current) = demo.sessions.signed_in(&id) else {
        return Ok(see_other("/", None));
    };
    let Some(refresh_token) = current.refresh_token.clone() else {
        return Ok(see_other("/", None));
    };
    let provider = demo.provider.get(&demo.rp).await?;
    let old = RefreshToken::new(refresh_token);
    let tokens = provider
        .client
        .exchange_refresh_token(&old)
        .map_err(token_error)?
        .request_async(&provider.http)
        .await;
    let tokens = match tokens {
        Ok(tokens) => tokens,
        Err(err) => {
            // The careid session or the refresh token has ended: so has ours.
            demo.sessions.end(&id);
            return Err(token_error(err));
        }
    };
    // A careid that does not rotate this client's token keeps the old one working.
    let next = tokens.refresh_token().cloned().unwrap_or(old);
    let refreshed = match tokens.id_token() {
        // OIDC Core §12.2: a refreshed ID token carries no nonce; the rest is checked.
        Some(id_token) => {
            let verifier = provider.client.id_token_verifier();
            let claims = id_token
                .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                .map_err(token_error)?;
            if claims.subject().as_str() != current.subject {
                return Err(DemoError::Token(
                    "the refreshed ID token is for someone else".into(),
                ));
            }
            signed_in(
                &provider,
                id_token,
                claims.subject().clone(),
                tokens.access_token(),
                tokens.expires_in(),
                Some(next),
                current.refreshed + 1,
            )
            .await?
        }
        None => SignedIn {
            access_expires_at: expires_at(tokens.expires_in()),
            refresh_token: Some(next.secret().clone()),
            refreshed: current.refreshed + 1,
            ..current
        },
    };
    demo.sessions.sign_in(&id, refreshed);
    Ok(see_other("/", None))
}

/// `POST /logout`: ends the demo's session, then careid's (RP-initiated logout), which
/// tells the other demos over the back channel.
pub(crate) async fn logout(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
) -> Result<Response, DemoError> {
    let ended = session_id(&demo, &headers).and_then(|id| demo.sessions.end(&id));
    let provider = demo.provider.get(&demo.rp).await?;
    let Some(end_session) = provider.end_session.clone() else {
        return Ok(see_other("/", None));
    };
    let mut request = LogoutRequest::from(end_session)
        .set_client_id(ClientId::new(demo.rp.client_id.clone()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::from_url(
            demo.rp.post_logout_redirect_uri.clone(),
        ));
    if let Some(id_token) = ended.and_then(|s| s.id_token.parse::<CoreIdToken>().ok()) {
        request = request.set_id_token_hint(&id_token);
    }
    Ok(see_other(request.http_get_url().as_str(), None))
}

/// The session record for a verified ID token and its access token.
async fn signed_in(
    provider: &Provider,
    id_token: &CoreIdToken,
    subject: SubjectIdentifier,
    access_token: &AccessToken,
    expires_in: Option<std::time::Duration>,
    refresh_token: Option<RefreshToken>,
    refreshed: u32,
) -> Result<SignedIn, DemoError> {
    let raw = id_token.to_string();
    let claims = payload(&raw).unwrap_or(serde_json::Value::Null);
    let info: CoreUserInfoClaims = provider
        .client
        .user_info(access_token.clone(), Some(subject.clone()))
        .map_err(token_error)?
        .request_async(&provider.http)
        .await
        .map_err(token_error)?;
    Ok(SignedIn {
        sid: claims["sid"].as_str().map(str::to_owned),
        id_token: raw,
        claims,
        userinfo: serde_json::to_value(&info).unwrap_or_default(),
        access_expires_at: expires_at(expires_in),
        refresh_token: refresh_token.map(|t| t.secret().clone()),
        subject: subject.as_str().to_owned(),
        refreshed,
    })
}

fn expires_at(expires_in: Option<std::time::Duration>) -> Option<i64> {
    expires_in.map(|d| unix_now() + i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The payload of a compact JWS, already verified by the caller, as JSON.
pub(crate) fn payload(jws: &str) -> Option<serde_json::Value> {
    let part = jws.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn token_error(err: impl std::fmt::Display) -> DemoError {
    DemoError::Token(err.to_string())
}

/// This browser's session id, from the demo's cookie.
fn session_id(demo: &Demo, headers: &HeaderMap) -> Option<String> {
    let name = demo.rp.cookie_name();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The session cookie: script-proof and same-site, so another site cannot post the
/// demo's forms with it.
fn session_cookie(demo: &Demo, id: &str) -> Option<HeaderValue> {
    let secure = if demo.rp.redirect_uri.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}",
        demo.rp.cookie_name()
    ))
    .ok()
}

fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_in_the_future_counts_down_and_one_past_says_expired() {
        assert_eq!(expiry(1_060, 1_000), "in 60 s (unix time 1060)");
        assert_eq!(expiry(1_000, 1_000), "expired (unix time 1000)");
    }
}
