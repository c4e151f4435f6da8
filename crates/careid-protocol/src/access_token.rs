//! Reading careid's own RFC 9068 access tokens: signature, `typ`, issuer, expiry and
//! revocation. Shared by /userinfo, /introspect, /revoke and the admin API (through
//! [`verify_admin_token`]); minting is in `tokens`.

use axum::http::{HeaderMap, header};
use careid_store::{ClientId, StoreError, revoked_access_tokens};
use serde_json::{Map, Value};

use crate::{Protocol, ProtocolError, grant::Grant, scope, tokens::admin_audience};

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
    let Some(claims) = decode(app, token) else {
        return Ok(None);
    };
    let now = app.clock.now().unix_timestamp();
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Ok(None);
    }
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else {
        return Ok(None);
    };
    let grant = claims.get(GRANT_CLAIM).and_then(Value::as_str);
    if revoked_access_tokens::is_revoked(&app.db, jti, grant).await? {
        return Ok(None);
    }
    Ok(Some(claims))
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
