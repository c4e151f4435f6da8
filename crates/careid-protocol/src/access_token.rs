//! Reading careid's own RFC 9068 access tokens: signature, `typ`, issuer, expiry and
//! revocation. Shared by /userinfo, /introspect, /revoke and the admin API (through
//! [`verify_admin_token`]); minting is in `tokens`.

use axum::http::{HeaderMap, header};
use careid_store::{
    ClientId, StoreError,
    profiles::{self, ProfileKey},
    revoked_access_tokens,
};
use serde_json::{Map, Value};

use crate::{
    Protocol, ProtocolError,
    grant::Grant,
    scope,
    session::{self, Person},
    tokens::admin_audience,
};

/// careid's private claim naming the grant an access token was issued from: a digest of
/// the grant's refresh-token family, so a revoked family denies its access tokens too.
pub(crate) const GRANT_CLAIM: &str = "gid";

/// The `gid` of a grant's access tokens.
pub(crate) fn grant_id(grant: &Grant) -> String {
    careid_policy::one_time::digest(&grant.family_id)[..32].to_owned()
}

/// The claims of a JWT that careid signed as an access token (`typ: at+jwt`, RFC 9068
/// §2.1) for this issuer, whether or not it has expired or been revoked. Anything else
/// (an ID token, a foreign or tampered token, an opaque string) is `None`.
pub(crate) fn decode(app: &Protocol, token: &str) -> Option<Map<String, Value>> {
    let (typ, claims) = app.keys.verify(token)?;
    let is_access_token = typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        && claims.get("iss").and_then(Value::as_str) == Some(app.issuer.as_str());
    is_access_token.then_some(claims)
}

/// A usable access token's claims: signed by careid as `at+jwt`, from this issuer,
/// unexpired, and neither its `jti` nor its grant revoked.
pub(crate) async fn verify(
    app: &Protocol,
    token: &str,
) -> Result<Option<Map<String, Value>>, StoreError> {
    match unexpired(app, token) {
        Some(claims) => unless_revoked(app, claims).await,
        None => Ok(None),
    }
}

/// [`verify`] for a person's token, with the person it speaks for (`None` when its
/// subject no longer exists or may no longer act).
pub(crate) async fn verify_with_person(
    app: &Protocol,
    token: &str,
) -> Result<Option<(Map<String, Value>, Option<Person>)>, StoreError> {
    match unexpired(app, token) {
        Some(claims) => with_person(app, claims).await,
        None => Ok(None),
    }
}

/// [`verify`], and for a person's token (one that carries the session's `sid`; a
/// client-credentials token does not) also that its person may still act: whether
/// introspection calls the token active.
pub(crate) async fn verify_active(
    app: &Protocol,
    token: &str,
) -> Result<Option<Map<String, Value>>, StoreError> {
    let Some(claims) = unexpired(app, token) else {
        return Ok(None);
    };
    if !claims.contains_key("sid") {
        return unless_revoked(app, claims).await;
    }
    let verified = with_person(app, claims).await?;
    Ok(verified.and_then(|(claims, person)| person.map(|_| claims)))
}

async fn unless_revoked(
    app: &Protocol,
    claims: Map<String, Value>,
) -> Result<Option<Map<String, Value>>, StoreError> {
    let (jti, grant) = revocation_keys(&claims);
    let is_revoked = revoked_access_tokens::is_revoked(&app.db, jti, grant).await?;
    Ok((!is_revoked).then_some(claims))
}

/// For a public `sub`, the usual case, the revocation check and the person are one
/// statement.
async fn with_person(
    app: &Protocol,
    claims: Map<String, Value>,
) -> Result<Option<(Map<String, Value>, Option<Person>)>, StoreError> {
    let (jti, grant) = revocation_keys(&claims);
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = ProfileKey::Subject(subject);
    if let Some((profile, account)) =
        profiles::find_with_account_unless_revoked(&app.db, key, jti, grant).await?
    {
        let person = session::in_good_standing(app, profile, account);
        return Ok(Some((claims, person)));
    }
    // Revoked, or a pairwise `sub`, or a profile that is gone.
    if revoked_access_tokens::is_revoked(&app.db, jti, grant).await? {
        return Ok(None);
    }
    let person = crate::subject::find_pairwise_person(app, subject).await?;
    Ok(Some((claims, person)))
}

/// The claims of an access token careid signed ([`decode`]) that has not expired and
/// has a `jti`; whether it has been revoked is not yet known.
fn unexpired(app: &Protocol, token: &str) -> Option<Map<String, Value>> {
    let claims = decode(app, token)?;
    let now = app.clock.now().unix_timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64)?;
    (exp > now && claims.get("jti").is_some_and(Value::is_string)).then_some(claims)
}

/// What a revocation of this token is recorded under: its `jti`, and its grant's.
fn revocation_keys(claims: &Map<String, Value>) -> (&str, Option<&str>) {
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (jti, claims.get(GRANT_CLAIM).and_then(Value::as_str))
}

/// The bearer token of an `Authorization: Bearer …` header (RFC 6750 §2.1). No header is
/// `None`; another scheme or a malformed value is `InvalidToken`.
pub fn bearer(headers: &HeaderMap) -> Result<Option<String>, ProtocolError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ProtocolError::InvalidToken("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(ProtocolError::InvalidToken(
            "the Authorization header must be Bearer",
        )),
    }
}

/// A client's verified access token for the admin API.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// The client acting for itself.
    pub client_id: ClientId,
    /// The admin scopes the token carries that the client's file still lists.
    pub scopes: Vec<String>,
}

impl AdminToken {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Checks an access token presented to the admin API: a usable careid access token
/// ([`verify`]: signature, `typ`, issuer, expiry, revocation) whose `aud` is the admin
/// API, issued by client_credentials (`sub` is the client itself) to a client that is
/// still configured. Its scopes are narrowed to the client's current `admin_scopes`, so
/// a scope removed from the file stops working at once. `None` when any check fails.
pub async fn verify_admin_token(
    app: &Protocol,
    token: &str,
) -> Result<Option<AdminToken>, StoreError> {
    let Some(claims) = verify(app, token).await? else {
        return Ok(None);
    };
    let audience = admin_audience(&app.issuer);
    let is_for_admin_api = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&audience)),
        _ => false,
    };
    let client_id = claims.get("client_id").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    let (true, Some(client_id)) = (is_for_admin_api, client_id) else {
        return Ok(None);
    };
    if sub != Some(client_id) || claims.contains_key("sid") {
        return Ok(None);
    }
    let client_id = ClientId::from(client_id);
    let Some(client) = app.find_client(&client_id).await? else {
        return Ok(None);
    };
    let granted = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let scopes = scope::split(granted)
        .into_iter()
        .filter(|s| client.admin_scopes.contains(s))
        .collect();
    Ok(Some(AdminToken { client_id, scopes }))
}
