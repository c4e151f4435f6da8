//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), by GET and by form
//! POST, and `/authorize/continue`, where the browser comes back after signing in.
//!
//! OIDC Core §3.1.2.6: a request whose client or redirect URI cannot be trusted gets an
//! error page and never a redirect; every other error goes back to the client.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Query, RawQuery, State, rejection::BytesRejection},
    http::{HeaderMap, header},
    response::Response,
};
use careid_policy::one_time;
use careid_store::{
    AccountId, ClientId, ProfileId, audit, authorization_requests, codes, consents, passkeys,
    profiles,
};
use serde::Deserialize;
use time::Duration;

use crate::{
    ClientAddress, GrantType, PageProblem, PersonActed, Protocol, ProtocolError, acr,
    grant::Grant,
    leave, params,
    pending::{self, StoredRequest},
    pkce, scope,
    session::{self, LiveSession},
};

/// `GET /authorize`.
pub async fn start_get(
    State(app): State<Arc<Protocol>>,
    address: ClientAddress,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    start(&app, address, &headers, raw.as_bytes()).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded, same parameters).
pub async fn start_post(
    State(app): State<Arc<Protocol>>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return app.error_page.render(PageProblem::RequestTooLarge);
    };
    if !crate::form::is_form(&headers) {
        return app.error_page.render(PageProblem::RequestNotForm);
    }
    start(&app, address, &headers, &body).await
}

#[derive(Deserialize)]
pub struct ResumeParams {
    request: String,
}

/// `GET /authorize/continue?request=…`: the sign-in pages send the browser here.
pub async fn resume(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    Query(params): Query<ResumeParams>,
) -> Response {
    let outcome = async {
        let Some(request) = pending::load(&app, &params.request).await? else {
            return Ok(expired_page(&app));
        };
        let live = session::current(&app, &headers).await?;
        decide(&app, &Slot::Stored(params.request.clone()), request, live).await
    }
    .await;
    outcome.unwrap_or_else(|err: ProtocolError| internal_page(&app, err))
}

fn expired_page(app: &Protocol) -> Response {
    app.error_page.render(PageProblem::SignInExpired)
}

fn internal_page(app: &Protocol, err: ProtocolError) -> Response {
    if let ProtocolError::RateLimited(refused) = err {
        let mut page = app.error_page.render(PageProblem::TooManyPending);
        page.headers_mut()
            .insert(header::RETRY_AFTER, refused.retry_after_seconds().into());
        return page;
    }
    tracing::error!(%err, "authorization request failed");
    app.error_page.render(PageProblem::Internal)
}

/// The longest authorization request careid reads, query or form body: a request is
/// kept in the database while the person signs in, so what a stranger can make careid
/// store is bounded (RFC 9700 §4.16 asks for nothing less of a public endpoint).
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The longest `state`, `nonce` or `login_hint`: each is stored with the request and
/// echoed back, and real ones are a random value or an email address.
const MAX_VALUE_BYTES: usize = 512;

/// Form-encoded parameters, with repeats noted (RFC 6749 §3.1: a parameter MUST NOT
/// appear more than once).
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    repeated: std::collections::HashSet<String>,
    is_too_many: bool,
    is_too_long: bool,
}

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Self {
        let parsed = params::parse(raw);
        Self {
            pairs: parsed.pairs,
            repeated: parsed.repeated,
            is_too_many: parsed.is_too_many,
            is_too_long: raw.len() > MAX_REQUEST_BYTES,
        }
    }

    /// The parameter's value; empty values count as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn is_repeated(&self, name: &str) -> bool {
        self.repeated.contains(name)
    }
}

/// Where errors go once the client and redirect URI are checked.
struct Reply<'a> {
    app: &'a Protocol,
    client: Arc<crate::Client>,
    redirect_uri: String,
    state: Option<String>,
    /// Whether the person acted on a careid page in this request: a third-party client
    /// gets its errors by redirect only then ([`crate::leave`]).
    acted: PersonActed,
}

impl Reply<'_> {
    fn error(&self, error: &str, description: &str) -> Response {
        let description = crate::error::description_text(description);
        let mut pairs = vec![("error", error), ("error_description", &*description)];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        redirect_to_client(
            self.app,
            &self.client,
            &self.redirect_uri,
            &pairs,
            self.acted,
        )
    }
}

/// Sends the browser to the client's redirect URI with `pairs` and `iss` (RFC 9207)
/// added to its query: a 303 (so a POSTed form is never re-sent, RFC 9700 §4.12), or,
/// for a third-party client the person has not acted for, the page naming it.
fn redirect_to_client(
    app: &Protocol,
    client: &crate::Client,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    acted: PersonActed,
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return internal_page(
            app,
            ProtocolError::Internal(format!(
                "registered redirect URI {redirect_uri:?} does not parse"
            )),
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        query.append_pair("iss", &app.issuer);
    }
    leave::to_client(app, client, url.as_str(), acted, None)
}

async fn start(
    app: &Protocol,
    address: ClientAddress,
    headers: &HeaderMap,
    raw: &[u8],
) -> Response {
    let params = Params::parse(raw);
    let bad = |problem| app.error_page.render(problem);
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return bad(PageProblem::RepeatedIdentity);
    }
    let client = match params.get("client_id") {
        Some(id) => match app.find_client(&ClientId::from(id)).await {
            Ok(client) => client,
            Err(err) => return internal_page(app, err.into()),
        },
        None => None,
    };
    let Some(client) = client else {
        return bad(PageProblem::UnknownClient);
    };
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|uri| client.has_redirect_uri(uri))
    else {
        return bad(PageProblem::UnregisteredRedirect);
    };
    let reply = Reply {
        app,
        client: client.clone(),
        acted: PersonActed::No,
        redirect_uri: redirect_uri.to_owned(),
        // An over-long state is refused below and not echoed back.
        state: params
            .get("state")
            .filter(|state| state.len() <= MAX_VALUE_BYTES)
            .map(str::to_owned),
    };

    match validate(&client, &params) {
        Err((error, description)) => reply.error(error, description),
        Ok(mut request) => {
            let outcome = async {
                let live = session::current(app, headers).await?;
                if let Some(live) = &live {
                    let too_old = request.max_age.is_some_and(|max_age| {
                        (app.clock.now() - live.session.auth_time).whole_seconds() > max_age
                    });
                    if request.has_prompt("login") || too_old {
                        request.stale_sid = Some(live.session.sid.clone());
                    }
                }
                // Kept in the database only if the person must act first (sign in, pick a
                // profile, consent): an SSO request with a live session is answered at once.
                let slot = Slot::New(one_time::new_token(), address);
                decide(app, &slot, request, live).await
            }
            .await;
            outcome.unwrap_or_else(|err| internal_page(app, err))
        }
    }
}

pub(crate) type Invalid = (&'static str, &'static str);

/// Where an authorization request waits while the person acts: a new request is kept
/// in the database only when it must wait ([`Slot::keep`]), a stored one is removed once
/// it is answered ([`Slot::forget`]).
enum Slot {
    /// Not stored yet; the id it will be stored under, and who asked.
    New(String, ClientAddress),
    /// Stored under this id.
    Stored(String),
}

impl Slot {
    fn id(&self) -> &str {
        match self {
            Self::New(id, _) | Self::Stored(id) => id,
        }
    }

    /// Stores a new request so that any instance can finish it; refused once its
    /// address has `pending_authorizations_per_address` waiting (issue 12, item 6: each
    /// stored request costs storage for half an hour, and a stranger can ask for many).
    async fn keep(&self, app: &Protocol, request: &StoredRequest) -> Result<(), ProtocolError> {
        let Self::New(id, address) = self else {
            return Ok(());
        };
        let now = app.clock.now();
        let expires = now + Duration::minutes(app.config.authorization_request_minutes.into());
        let json =
            serde_json::to_value(request).map_err(|e| ProtocolError::Internal(e.to_string()))?;
        if let (Some(max), Some(ip)) = (app.rate_limits.max_pending(), address.for_audit()) {
            let new = authorization_requests::NewRequest {
                id,
                client_id: &request.client_id,
                request: &json,
                client_ip: &ip,
                expires_at: expires,
            };
            if authorization_requests::insert_request_capped(&app.db, new, max, now).await? {
                return Ok(());
            }
            let bucket = crate::Bucket::PendingAuthorization;
            let wait = std::time::Duration::from_secs(60);
            return Err(app
                .rate_limits
                .refuse(&app.db, bucket, address, wait)
                .await
                .into());
        }
        authorization_requests::insert_request(
            &app.db,
            id,
            &request.client_id,
            &json,
            now,
            expires,
        )
        .await?;
        Ok(())
    }

    /// Removes an answered request, if it was stored.
    async fn forget(&self, app: &Protocol) -> Result<(), ProtocolError> {
        if let Self::Stored(id) = self {
            authorization_requests::delete_request(&app.db, id).await?;
        }
        Ok(())
    }
}

/// Checks everything but the client and redirect URI; errors here go back to the client.
pub(crate) fn validate(client: &crate::Client, params: &Params) -> Result<StoredRequest, Invalid> {
    if params.is_too_long {
        return Err(("invalid_request", "the request is longer than 8 KiB"));
    }
    if params.is_too_many {
        return Err(("invalid_request", "the request has too many parameters"));
    }
    if !params.repeated.is_empty() {
        return Err(("invalid_request", "a parameter was repeated"));
    }
    if ["state", "nonce", "login_hint"]
        .iter()
        .any(|name| params.get(name).is_some_and(|v| v.len() > MAX_VALUE_BYTES))
    {
        return Err((
            "invalid_request",
            "state, nonce and login_hint may have at most 512 bytes each",
        ));
    }
    if params.get("request").is_some() {
        return Err(("request_not_supported", "request objects are not supported"));
    }
    if params.get("request_uri").is_some() {
        return Err(("request_uri_not_supported", "request_uri is not supported"));
    }
    match params.get("response_type") {
        None => return Err(("invalid_request", "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    if !matches!(params.get("response_mode"), None | Some("query")) {
        return Err(("invalid_request", "only response_mode=query is supported"));
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err((
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let Some(requested) = params.get("scope") else {
        return Err(("invalid_request", "scope is required"));
    };
    let granted = scope::grantable(requested, &client.scopes);
    if !granted.iter().any(|s| s == "openid") {
        return Err(("invalid_scope", "the openid scope is required"));
    }

    let code_challenge = params.get("code_challenge").map(str::to_owned);
    let code_challenge_method = match (&code_challenge, params.get("code_challenge_method")) {
        // RFC 9700 §2.1.1: PKCE also guards a confidential client's codes against
        // injection, so every client needs it unless its file says `require_pkce = false`.
        (None, None) if client.needs_pkce() => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge with code_challenge_method S256) is required for this client",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err((
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(_), Some("S256")) => Some("S256"),
        // RFC 9700 §2.1.1: plain protects nothing once the request leaks, so only S256
        // is accepted, from every client; a missing method means plain (RFC 7636 §4.3).
        (Some(_), _) => {
            return Err(("invalid_request", "code_challenge_method must be S256"));
        }
    };
    if code_challenge
        .as_deref()
        .is_some_and(|c| !pkce::is_well_formed(c))
    {
        return Err((
            "invalid_request",
            "code_challenge must be 43 to 128 unreserved characters",
        ));
    }

    let prompt: Vec<String> = params.get("prompt").map(scope::split).unwrap_or_default();
    if prompt
        .iter()
        .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return Err(("invalid_request", "unsupported prompt value"));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err((
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(age) if age >= 0 => Some(age),
            _ => return Err(("invalid_request", "max_age must be a non-negative integer")),
        },
    };

    Ok(StoredRequest {
        client_id: client.client_id.clone(),
        redirect_uri: params.get("redirect_uri").unwrap_or_default().to_owned(),
        scope: granted.join(" "),
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        code_challenge_method: code_challenge_method.map(str::to_owned),
        max_age,
        prompt,
        login_hint: params.get("login_hint").map(str::to_owned),
        acr_values: params.get("acr_values").map(acr::known).unwrap_or_default(),
        stale_sid: None,
        consent_given: false,
        profile_chosen: false,
    })
}

/// Given a stored request and the browser's session, sends the browser where it must go
/// next: sign-in, profile picker, consent, or back to the client with a code.
async fn decide(
    app: &Protocol,
    slot: &Slot,
    request: StoredRequest,
    live: Option<LiveSession>,
) -> Result<Response, ProtocolError> {
    let id = slot.id();
    let Some(client) = app.find_client(&request.client_id).await? else {
        return Ok(expired_page(app));
    };
    // A stored request is finished here after a careid page, but the link to
    // `/authorize/continue` may have come from anywhere: an error still counts as
    // unasked-for. A code needs consent to this client, given now or before.
    let reply = Reply {
        app,
        client: client.clone(),
        acted: PersonActed::No,
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
    };
    let now = app.clock.now();
    let fresh = live.filter(|live| {
        let is_stale = request.stale_sid.as_deref() == Some(live.session.sid.as_str());
        let too_old = request
            .max_age
            .is_some_and(|age| (now - live.session.auth_time).whole_seconds() > age);
        !is_stale && !too_old
    });
    let Some(live) = fresh else {
        if request.has_prompt("none") {
            slot.forget(app).await?;
            return Ok(reply.error("login_required", "the person is not signed in"));
        }
        slot.keep(app, &request).await?;
        return Ok(leave::see_other(&format!("/sign-in?request={id}")));
    };

    // Issue 17: a client or an account that requires a second factor, or `acr_values`
    // that accept nothing below it (OIDC Core §3.1.2.1), get no code from a session that
    // had none. A person with an authenticator app types a code into this session
    // (step-up: no password again), one with a passkey is sent from there to sign in with
    // it; one without either adds an app on the security page first.
    let needs_mfa =
        client.require_mfa || live.account.require_mfa || acr::needs_mfa(&request.acr_values);
    if needs_mfa && !acr::has_mfa(&live.session.amr()) {
        let has_factor = passkeys::find_second_factors(&app.db, live.account.id)
            .await?
            .is_any();
        if request.has_prompt("none") {
            slot.forget(app).await?;
            // OIDC Core §3.1.2.6: a second factor is authentication (login_required);
            // adding an authenticator app is interaction of another kind.
            return Ok(if has_factor {
                reply.error("login_required", "a second factor is required")
            } else {
                reply.error(
                    "interaction_required",
                    "the person must add a second factor first",
                )
            });
        }
        slot.keep(app, &request).await?;
        let page = if has_factor {
            "/sign-in/step-up"
        } else {
            "/account/security"
        };
        return Ok(leave::see_other(&format!("{page}?request={id}")));
    }

    let profiles = profiles::find_for_account(&app.db, live.account.id).await?;
    // OIDC Core §3.1.2.1 `prompt=select_account`: with a choice to make, the picker is
    // shown again for this request even though the session has a profile already.
    let must_pick = request.has_prompt("select_account") && !request.profile_chosen;
    let chosen = live
        .session
        .profile_id
        .filter(|_| !must_pick || profiles.len() < 2)
        .and_then(|pid| profiles.iter().find(|p| p.id == pid));
    let profile = match (chosen, profiles.as_slice()) {
        (Some(profile), _) => profile,
        (None, [only]) => only,
        (None, []) => {
            return Err(ProtocolError::Internal(format!(
                "account {} has no profile",
                live.account.id
            )));
        }
        (None, _) if request.has_prompt("none") => {
            slot.forget(app).await?;
            return Ok(reply.error(
                "account_selection_required",
                "the person must choose a profile",
            ));
        }
        (None, _) => {
            slot.keep(app, &request).await?;
            return Ok(leave::see_other(&format!("/select-profile?request={id}")));
        }
    };

    if !client.first_party {
        let granted = consents::find_scopes(&app.db, profile.id, &client.client_id)
            .await?
            .unwrap_or_default();
        let is_covered = scope::split(&request.scope)
            .iter()
            .all(|s| scope::contains(&granted, s));
        let must_ask = request.has_prompt("consent") && !request.consent_given;
        if !is_covered || must_ask {
            if request.has_prompt("none") {
                slot.forget(app).await?;
                return Ok(reply.error(
                    "consent_required",
                    "the person has not approved this application",
                ));
            }
            slot.keep(app, &request).await?;
            return Ok(leave::see_other(&format!("/consent?request={id}")));
        }
    }

    let code = one_time::new_token();
    let grant = Grant {
        account_id: live.account.id,
        profile_id: profile.id,
        subject: crate::subject::issue(app, &client, profile).await?,
        client_id: client.client_id.clone(),
        scope: request.scope.clone(),
        redirect_uri: Some(request.redirect_uri.clone()),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge_method.clone(),
        auth_time: live.session.auth_time.unix_timestamp(),
        amr: live.session.amr(),
        sid: live.session.sid.clone(),
        family_id: one_time::new_token(),
    };
    let expires = now + Duration::seconds(app.config.code_seconds.into());
    codes::insert_code(
        &app.db,
        &one_time::digest(&code),
        &client.client_id,
        &grant.to_json(),
        now,
        expires,
    )
    .await?;
    slot.forget(app).await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    Ok(redirect_to_client(
        app,
        &client,
        &request.redirect_uri,
        &pairs,
        PersonActed::Yes,
    ))
}

/// The person allowed the client on the consent page: remembers the request's scopes
/// for `profile_id` (added to what was granted before), marks the request so that
/// `prompt=consent` is satisfied, and records `consent_granted` in the audit trail, in
/// one transaction. `false` if the request expired.
pub async fn record_consent(
    app: &Protocol,
    request_id: &str,
    profile_id: ProfileId,
) -> Result<bool, ProtocolError> {
    let Some(mut request) = pending::load(app, request_id).await? else {
        return Ok(false);
    };
    let Some(profile) = profiles::find_by_id(&app.db, profile_id).await? else {
        return Err(ProtocolError::Internal(format!(
            "profile {profile_id} is gone"
        )));
    };
    let now = app.clock.now();
    // The grant and the request that carries it change together or not at all.
    let txn = app.db.begin().await?;
    let earlier = consents::find_scopes(&txn, profile_id, &request.client_id)
        .await?
        .unwrap_or_default();
    let mut granted = scope::split(&earlier);
    for value in scope::split(&request.scope) {
        if !granted.contains(&value) {
            granted.push(value);
        }
    }
    consents::upsert(
        &txn,
        profile_id,
        &request.client_id,
        &granted.join(" "),
        now,
    )
    .await?;
    let granted_event = audit::NewEvent {
        kind: "consent_granted",
        account_id: Some(profile.account_id),
        client_id: Some(request.client_id.clone()),
        ip: None,
        detail: serde_json::json!({ "profile_id": profile_id, "scope": request.scope }),
    };
    audit::insert_event(&txn, granted_event, now).await?;
    request.consent_given = true;
    pending::replace(app, &txn, request_id, &request).await?;
    txn.commit().await?;
    Ok(true)
}

/// The person (`account_id`) refused the client on the consent page: the request ends,
/// `consent_denied` is recorded in the audit trail, and the browser goes back to the
/// client with `error=access_denied` (RFC 6749 §4.1.2.1). An expired request gets the
/// error page, since its redirect URI can no longer be trusted.
pub async fn deny_consent(app: &Protocol, request_id: &str, account_id: AccountId) -> Response {
    let outcome = async {
        let Some(request) = pending::load(app, request_id).await? else {
            return Ok(expired_page(app));
        };
        let Some(client) = app.find_client(&request.client_id).await? else {
            return Ok(expired_page(app));
        };
        let now = app.clock.now();
        let txn = app.db.begin().await?;
        authorization_requests::delete_request(&txn, request_id).await?;
        let denied = audit::NewEvent {
            kind: "consent_denied",
            account_id: Some(account_id),
            client_id: Some(request.client_id.clone()),
            ip: None,
            detail: serde_json::json!({ "scope": request.scope }),
        };
        audit::insert_event(&txn, denied, now).await?;
        txn.commit().await?;
        let reply = Reply {
            app,
            client,
            // The person pressed "Deny" on careid's consent page.
            acted: PersonActed::Yes,
            redirect_uri: request.redirect_uri,
            state: request.state,
        };
        Ok(reply.error("access_denied", "the person did not allow this application"))
    }
    .await;
    outcome.unwrap_or_else(|err: ProtocolError| internal_page(app, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_parameters_are_noticed() {
        let params = Params::parse(b"a=1&b=&a=2&c=3");
        assert!(params.is_repeated("a"));
        assert!(!params.is_repeated("c"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("3"));
    }
}
