//! Minting tokens: RFC 9068 access tokens, OIDC ID tokens, opaque refresh tokens, and
//! the token response that carries them.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::one_time;
use careid_store::{
    ConnectionTrait,
    profiles::ProfileKey,
    refresh_tokens::{self, NewRefreshToken},
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use time::{Duration, OffsetDateTime};

use crate::{
    Client, GrantType, Protocol, ProtocolError, SigningAlg, client::is_admin_scope, grant::Grant,
    scope, session::Person,
};

/// The path of the admin API, below the issuer.
pub const ADMIN_API_PATH: &str = "/admin/v1";

/// The `aud` of access tokens for the admin API: its base URL.
pub fn admin_audience(issuer: &str) -> String {
    format!("{}{ADMIN_API_PATH}", issuer.trim_end_matches('/'))
}

/// The successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Who a token acts for: a person (through a grant) or the client itself.
pub enum Subject<'a> {
    Person(&'a Grant),
    Client,
}

pub(crate) fn access_token_seconds(app: &Protocol, client: &Client) -> u32 {
    client
        .access_token_seconds
        .unwrap_or(app.config.access_token_seconds)
}

/// Signs an RFC 9068 access token (`typ: at+jwt`) in the client's access-token
/// algorithm.
pub fn access_token(
    app: &Protocol,
    client: &Client,
    subject: Subject<'_>,
    scope: &str,
    now: OffsetDateTime,
) -> Result<String, ProtocolError> {
    let lifetime = access_token_seconds(app, client);
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(app.issuer));
    // RFC 9068 §3: `aud` names the resource server. A client's own token for the admin
    // API is meant for that API alone, which checks for its audience.
    let is_for_admin_api =
        matches!(subject, Subject::Client) && scope::split(scope).iter().any(|s| is_admin_scope(s));
    if is_for_admin_api {
        claims.insert("aud".into(), json!(admin_audience(&app.issuer)));
    } else {
        claims.insert("aud".into(), json!(client.client_id));
    }
    claims.insert("client_id".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now.unix_timestamp()));
    claims.insert(
        "exp".into(),
        json!(now.unix_timestamp() + i64::from(lifetime)),
    );
    claims.insert("jti".into(), json!(one_time::new_token()));
    claims.insert("scope".into(), json!(scope));
    match subject {
        Subject::Person(grant) => {
            claims.insert("sub".into(), json!(grant.subject));
            claims.insert("auth_time".into(), json!(grant.auth_time));
            // RFC 9068 §2.2.3.1: how the person authenticated, so a resource server
            // can ask for more than a password.
            claims.insert("acr".into(), json!(crate::acr::reached(&grant.amr)));
            claims.insert("amr".into(), json!(grant.amr));
            claims.insert("sid".into(), json!(grant.sid));
            claims.insert(
                crate::access_token::GRANT_CLAIM.into(),
                json!(crate::access_token::grant_id(grant)),
            );
        }
        Subject::Client => {
            claims.insert("sub".into(), json!(client.client_id));
        }
    }
    // RFC 9068 §2.1: `typ` is `at+jwt`, so an access token cannot pass as an ID token.
    app.keys.sign(
        client.access_token_signed_response_alg.signing_alg(),
        "at+jwt",
        claims,
    )
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token, base64url, with
/// "the hash algorithm used in the alg Header Parameter" of the ID token. For EdDSA on
/// Ed25519 that is SHA-512 (Ed25519 hashes with it, RFC 8032 §5.1), as RPs compute it
/// (openidconnect-rs, panva's oidc-token-hash); the others here use SHA-256.
fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    match alg {
        SigningAlg::RS256 | SigningAlg::ES256 | SigningAlg::PS256 => {
            let digest = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..16])
        }
        SigningAlg::EdDSA => {
            let digest = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        }
    }
}

/// Signs an ID token for the grant, in the client's chosen algorithm.
pub fn id_token(
    app: &Protocol,
    client: &Client,
    grant: &Grant,
    access_token: &str,
    claims_by_scope: Map<String, Value>,
    now: OffsetDateTime,
) -> Result<String, ProtocolError> {
    let mut claims = claims_by_scope;
    claims.insert("iss".into(), json!(app.issuer));
    claims.insert("sub".into(), json!(grant.subject));
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now.unix_timestamp()));
    claims.insert(
        "exp".into(),
        json!(now.unix_timestamp() + i64::from(app.config.id_token_seconds)),
    );
    claims.insert("auth_time".into(), json!(grant.auth_time));
    let alg = client.id_token_signed_response_alg;
    claims.insert("at_hash".into(), json!(at_hash(alg, access_token)));
    claims.insert("sid".into(), json!(grant.sid));
    claims.insert("amr".into(), json!(grant.amr));
    // OIDC Core §2: the level reached, whatever `acr_values` asked for (a voluntary
    // request is answered with what happened).
    claims.insert("acr".into(), json!(crate::acr::reached(&grant.amr)));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    app.keys.sign(alg, "JWT", claims)
}

/// Creates a refresh token in the grant's family, if the client may refresh and
/// either the grant holds `offline_access` (the token outlives the browser session, OIDC
/// Core §11) or the client opted into session-bound refresh tokens
/// (`session_refresh_tokens`; the token ends with the session). Otherwise none.
pub async fn refresh_token(
    app: &Protocol,
    db: &impl ConnectionTrait,
    client: &Client,
    grant: &Grant,
    now: OffsetDateTime,
) -> Result<Option<String>, ProtocolError> {
    if !client.allows(GrantType::RefreshToken) {
        return Ok(None);
    }
    let sid = if scope::contains(&grant.scope, "offline_access") {
        None
    } else if client.session_refresh_tokens {
        Some(grant.sid.clone())
    } else {
        return Ok(None);
    };
    let token = one_time::new_token();
    let days = client
        .refresh_token_days
        .unwrap_or(app.config.refresh_token_days);
    refresh_tokens::insert_token(
        db,
        NewRefreshToken {
            digest: one_time::digest(&token),
            family_id: grant.family_id.clone(),
            client_id: client.client_id.clone(),
            account_id: grant.account_id,
            grant: stored_for_refresh(grant),
            expires_at: refresh_expiry(app, grant, days, now),
            sid,
        },
        now,
    )
    .await?;
    Ok(Some(token))
}

/// When a new refresh token of the grant's family expires: `days` from now, but never
/// later than `refresh_family_days` after the person authenticated, so rotation cannot
/// keep a family alive for ever (RFC 9700 §4.14.2).
fn refresh_expiry(app: &Protocol, grant: &Grant, days: u32, now: OffsetDateTime) -> OffsetDateTime {
    let sliding = now + Duration::days(days.into());
    let cap = OffsetDateTime::from_unix_timestamp(grant.auth_time)
        .map(|auth| auth + Duration::days(app.config.refresh_family_days.into()))
        .unwrap_or(sliding);
    sliding.min(cap)
}

/// A refresh token keeps what later tokens need, not the code's one-time parts.
fn stored_for_refresh(grant: &Grant) -> Value {
    let mut grant = grant.clone();
    grant.redirect_uri = None;
    grant.code_challenge = None;
    grant.code_challenge_method = None;
    grant.to_json()
}

/// What a person's token response needs from the database, read and written inside
/// the grant's transaction: the ID token's claims and the new refresh token. Signing is
/// left for after the commit ([`PersonTokens::sign`]), so the write lock (on SQLite, the
/// one writer) is never held while a signature is computed.
pub struct PersonTokens {
    scope: String,
    id_token_claims: Option<Map<String, Value>>,
    refresh_token: Option<String>,
}

/// Reads the claims and writes the refresh token for a response with `scope`, which
/// may be narrower than the grant's (RFC 6749 §6); the refresh token keeps the whole
/// grant. An ID token is prepared for `openid` while `is_session_live`: an ID token
/// speaks for a browser session (`sid`), so none is minted once it has ended.
#[allow(clippy::too_many_arguments)] // Each is a distinct input of one response.
pub async fn prepare_for_person(
    app: &Protocol,
    db: &impl ConnectionTrait,
    client: &Client,
    grant: &Grant,
    person: &Person,
    scope: &str,
    is_session_live: bool,
    now: OffsetDateTime,
) -> Result<PersonTokens, ProtocolError> {
    let id_token_claims = (is_session_live && scope::contains(scope, "openid"))
        .then(|| crate::claims::claims_of(&person.profile, &person.account, scope));
    let refresh_token = refresh_token(app, db, client, grant, now).await?;
    Ok(PersonTokens {
        scope: scope.to_owned(),
        id_token_claims,
        refresh_token,
    })
}

/// The person a grant speaks for, if the account may still act: its profile and account
/// in one read. A grant whose profile has left its account is refused like a disabled
/// one, never answered with another account's claims.
pub async fn person_of(
    app: &Protocol,
    db: &impl ConnectionTrait,
    grant: &Grant,
) -> Result<Option<Person>, ProtocolError> {
    let person =
        crate::session::person_in_good_standing(app, db, ProfileKey::Id(grant.profile_id)).await?;
    Ok(person.filter(|person| person.account.id == grant.account_id))
}

impl PersonTokens {
    /// Signs the access token and, for `openid`, the ID token.
    pub fn sign(
        self,
        app: &Protocol,
        client: &Client,
        grant: &Grant,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, ProtocolError> {
        let access = access_token(app, client, Subject::Person(grant), &self.scope, now)?;
        let id = match self.id_token_claims {
            Some(claims) => Some(id_token(app, client, grant, &access, claims, now)?),
            None => None,
        };
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: access_token_seconds(app, client),
            scope: self.scope,
            refresh_token: self.refresh_token,
            id_token: id,
        })
    }
}

/// A client-credentials response: an access token only (RFC 6749 §4.4.3).
pub fn for_client(
    app: &Protocol,
    client: &Client,
    scope: &str,
    now: OffsetDateTime,
) -> Result<TokenResponse, ProtocolError> {
    Ok(TokenResponse {
        access_token: access_token(app, client, Subject::Client, scope, now)?,
        token_type: "Bearer",
        expires_in: access_token_seconds(app, client),
        scope: scope.to_owned(),
        refresh_token: None,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OIDC Core Appendix A.3's example access token.
    const TOKEN: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256_base64url() {
        // The spec's own example hash (Appendix A.3, an RS256 ID token).
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::PS256] {
            assert_eq!(at_hash(alg, TOKEN), "77QmUPtjPfzWtF2AnpK9RQ", "{alg:?}");
        }
    }

    #[test]
    fn an_eddsa_at_hash_is_the_left_half_of_the_sha512_base64url() {
        // Python: urlsafe_b64encode(sha512(TOKEN).digest()[:32]), padding removed.
        assert_eq!(
            at_hash(SigningAlg::EdDSA, TOKEN),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
    }
}
