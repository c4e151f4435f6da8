//! Reading careid's own RFC 9068 access tokens: signature, `typ`, issuer, expiry and
//! revocation. Shared by /userinfo, /introspect and /revoke; minting is in `tokens`.

use careid_store::{StoreError, revoked_access_tokens};
use serde_json::{Map, Value};

use crate::{Protocol, grant::Grant};

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
