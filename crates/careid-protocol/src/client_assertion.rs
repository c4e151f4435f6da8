//! Client authentication with a signed JWT: `private_key_jwt` (RFC 7523 §2.2 and §3,
//! OIDC Core §9). Reads and checks the assertion, then finds the client's public keys
//! (inline `jwks`, or `jwks_uri` fetched through `egress` and cached here) and records
//! each `jti` so no assertion is accepted twice. Choosing between this and a secret is `client_auth`'s.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_store::{ClientId, client_assertions};
use josekit::{
    jwk::Jwk,
    jws::{ES256, EdDSA, JwsVerifier, PS256, RS256},
    jwt,
};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::{
    AuthMethod, Client, Protocol, ProtocolError, SigningAlg, client::KeySource, form::Form,
};

/// The one `client_assertion_type` careid accepts (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithms an assertion may be signed with, as discovery advertises them: the
/// asymmetric ones careid signs with too. Never `none`, and never HMAC, whose "key"
/// would be a shared secret.
pub(crate) const ALGS: [SigningAlg; 4] = SigningAlg::ALL;

/// How far the client's clock may run ahead of careid's for `iat` and `nbf`.
const CLOCK_SKEW: Duration = Duration::seconds(60);

/// The largest JWK Set careid reads from a `jwks_uri`.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How long fetched keys are used before they are fetched again.
const CACHE_FOR: Duration = Duration::minutes(5);

/// An assertion signed with a key careid has not seen refetches the keys (the client
/// rotated them), but not more often than this, so assertions with made-up `kid`s
/// cannot make careid hammer the client's server.
const REFETCH_AFTER: Duration = Duration::minutes(1);

fn refused(reason: &'static str) -> ProtocolError {
    ProtocolError::InvalidClient {
        reason,
        basic: false,
    }
}

/// Authenticates the client of a request that carries `client_assertion`. The caller
/// has made sure no secret came with it.
///
/// Everything the assertion says is checked before careid fetches the client's keys:
/// its shape and algorithm, `iss` and `sub`, `aud`, `exp`, `iat`, `nbf` and `jti`, and
/// whether the `jti` was used before. Only then may a `jwks_uri` be fetched, so a made-up
/// assertion cannot make careid send a request (server-side request forgery).
pub(crate) async fn authenticate(
    app: &Protocol,
    form: &Form,
    assertion: &str,
) -> Result<Arc<Client>, ProtocolError> {
    let (header, claims) = decode_unverified(assertion)?;
    let client_id = claimed_client(&claims)?;
    // RFC 7521 §4.2: a client_id beside the assertion must name the same client.
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(refused("client_id differs from the assertion's issuer"));
    }
    let client = app
        .find_client(&ClientId::from(client_id))
        .await?
        .ok_or(refused("unknown client or wrong credentials"))?;
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(refused(
            "this client must authenticate with its registered method",
        ));
    }
    signing_alg(&header)?;
    let now = app.clock.now();
    let audiences = [app.url("/token"), app.issuer.clone()];
    let checked = check_claims(&claims, &client.client_id, &audiences, now)?;
    // A read, to spare the fetch for a replay; `take_first_use` below decides.
    if client_assertions::is_recorded(&app.db, &client.client_id, &checked.jti, now).await? {
        return Err(refused("this client assertion was used before"));
    }
    match client.key_source() {
        Some(KeySource::Inline(jwks)) => verify_signature(assertion, &header, &jwks.0)?,
        Some(KeySource::Uri(uri)) => {
            let keys = app.client_jwks.keys(app, &client, uri, now, false).await?;
            match verify_signature(assertion, &header, &keys) {
                Err(Rejection::NoKey) => {
                    let keys = app.client_jwks.keys(app, &client, uri, now, true).await?;
                    verify_signature(assertion, &header, &keys)?
                }
                other => other?,
            }
        }
        None => return Err(refused("this client has no keys to check an assertion")),
    }
    let is_first_use = client_assertions::take_first_use(
        &app.db,
        &client.client_id,
        &checked.jti,
        checked.expires_at,
        now,
    )
    .await?;
    if !is_first_use {
        return Err(refused("this client assertion was used before"));
    }
    Ok(client)
}

/// A JOSE header or a claims set.
pub(crate) type JsonObject = Map<String, Value>;

/// The header and claims of a compact JWS, not yet verified.
pub(crate) fn decode_unverified(
    assertion: &str,
) -> Result<(JsonObject, JsonObject), ProtocolError> {
    let malformed = || refused("client_assertion is not a signed JWT");
    let mut parts = assertion.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let json = |part: &str| {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed())?;
        serde_json::from_slice::<Map<String, Value>>(&bytes).map_err(|_| malformed())
    };
    Ok((json(header)?, json(payload)?))
}

/// The client an assertion claims to come from: its `iss`, which must equal its `sub`
/// (RFC 7523 §3 items 1 and 2 for client authentication).
pub(crate) fn claimed_client(claims: &Map<String, Value>) -> Result<&str, ProtocolError> {
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    match (iss, sub) {
        (Some(iss), Some(sub)) if iss == sub && !iss.is_empty() => Ok(iss),
        _ => Err(refused(
            "the assertion's iss and sub must both be the client_id",
        )),
    }
}

/// Why a signature was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No key of the client has the assertion's `kid` or fits its algorithm.
    NoKey,
    /// Not signed with one of [`ALGS`], or a key fitted and the signature did not verify.
    Refused(&'static str),
}

impl From<Rejection> for ProtocolError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::NoKey => refused("no key of the client fits the assertion"),
            Rejection::Refused(reason) => refused(reason),
        }
    }
}

/// Verifies the signature with one of `keys`: the one with the header's `kid`, or
/// without a `kid` each key whose type and `alg` fit. Only the algorithms of [`ALGS`]
/// are accepted: never `none`, and never HMAC, whose "key" would be a shared secret.
pub(crate) fn verify_signature(
    assertion: &str,
    header: &Map<String, Value>,
    keys: &[Jwk],
) -> Result<(), Rejection> {
    let alg = signing_alg(header)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let mut fitting = keys
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.key_id() == Some(kid)))
        .filter(|key| fits(key, alg))
        .peekable();
    if fitting.peek().is_none() {
        return Err(Rejection::NoKey);
    }
    for key in fitting {
        let Ok(verifier) = verifier_for(alg, key) else {
            continue;
        };
        if jwt::decode_with_verifier(assertion, verifier.as_ref()).is_ok() {
            return Ok(());
        }
    }
    Err(Rejection::Refused(
        "the assertion's signature does not verify with the client's keys",
    ))
}

/// The algorithm the header names, if it is one of [`ALGS`].
fn signing_alg(header: &Map<String, Value>) -> Result<SigningAlg, Rejection> {
    let alg = header.get("alg").and_then(Value::as_str);
    alg.and_then(SigningAlg::parse)
        .filter(|a| ALGS.contains(a))
        .ok_or(Rejection::Refused(
            "the assertion must be signed with RS256, ES256, PS256 or EdDSA",
        ))
}

/// A verifier of `alg` signatures with `key`. The key is chosen by the caller, so
/// josekit need not compare `kid`s again (it would refuse an assertion without a `kid`
/// checked with a key that has one). RSA keys under 2048 bits are refused by josekit.
fn verifier_for(alg: SigningAlg, key: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
    Ok(match alg {
        SigningAlg::RS256 => {
            let mut verifier = RS256.verifier_from_jwk(key)?;
            verifier.remove_key_id();
            Box::new(verifier)
        }
        SigningAlg::ES256 => {
            let mut verifier = ES256.verifier_from_jwk(key)?;
            verifier.remove_key_id();
            Box::new(verifier)
        }
        SigningAlg::PS256 => {
            let mut verifier = PS256.verifier_from_jwk(key)?;
            verifier.remove_key_id();
            Box::new(verifier)
        }
        SigningAlg::EdDSA => {
            let mut verifier = EdDSA.verifier_from_jwk(key)?;
            verifier.remove_key_id();
            Box::new(verifier)
        }
    })
}

/// Whether `key` can check an `alg` signature: its type and curve match, its `alg`
/// (if any) is `alg`, and its `use` (if any) is `sig`.
fn fits(key: &Jwk, alg: SigningAlg) -> bool {
    let type_fits = match alg {
        SigningAlg::RS256 | SigningAlg::PS256 => key.key_type() == "RSA",
        SigningAlg::ES256 => key.key_type() == "EC" && key.curve() == Some("P-256"),
        SigningAlg::EdDSA => key.key_type() == "OKP" && key.curve() == Some("Ed25519"),
    };
    type_fits
        && key.algorithm().is_none_or(|a| a == alg.as_str())
        && key.key_use().is_none_or(|u| u == "sig")
}

/// What careid keeps of an accepted assertion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    jti: String,
    expires_at: OffsetDateTime,
}

/// Checks the claims of an assertion, before its signature (RFC 7523 §3, OIDC Core §9): `iss` and
/// `sub` are the client, `aud` names careid, `exp` is after `now`, `iat` and `nbf` are
/// not later than `now` plus [`CLOCK_SKEW`], and there is a `jti`.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    client_id: &ClientId,
    audiences: &[String],
    now: OffsetDateTime,
) -> Result<Checked, ProtocolError> {
    if claimed_client(claims)? != client_id.as_str() {
        return Err(refused(
            "the assertion's iss and sub must both be the client_id",
        ));
    }
    let aud_names_careid = match claims.get("aud") {
        Some(Value::String(aud)) => audiences.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !aud_names_careid {
        return Err(refused(
            "the assertion's aud must be the token endpoint URL or the issuer",
        ));
    }
    let time = |name: &str| -> Result<Option<OffsetDateTime>, ProtocolError> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
                .map(Some)
                .ok_or(refused(
                    "the assertion's exp, iat and nbf must be NumericDates",
                )),
        }
    };
    let expires_at = time("exp")?.ok_or(refused("the assertion must have an exp"))?;
    if expires_at <= now {
        return Err(refused("the assertion has expired"));
    }
    for name in ["iat", "nbf"] {
        if time(name)?.is_some_and(|at| at > now + CLOCK_SKEW) {
            return Err(refused("the assertion is not valid yet"));
        }
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty() && jti.len() <= 256)
        .ok_or(refused(
            "the assertion must have a jti of at most 256 characters",
        ))?;
    Ok(Checked {
        jti: jti.to_owned(),
        expires_at,
    })
}

/// Keys fetched from clients' `jwks_uri`s, by client. Public data, so a plain cache.
/// Fetching goes through the outbound policy (`egress`), which also remembers a
/// failing URL for a minute.
#[derive(Default)]
pub(crate) struct JwksCache {
    entries: RwLock<HashMap<String, Fetched>>,
}

#[derive(Clone)]
struct Fetched {
    uri: String,
    keys: Arc<Vec<Jwk>>,
    fetched_at: OffsetDateTime,
}

impl JwksCache {
    /// The keys at `uri` for `client`: cached for [`CACHE_FOR`]; with `refresh`,
    /// fetched again if the cached ones are older than [`REFETCH_AFTER`].
    async fn keys(
        &self,
        app: &Protocol,
        client: &Client,
        uri: &str,
        now: OffsetDateTime,
        refresh: bool,
    ) -> Result<Arc<Vec<Jwk>>, ProtocolError> {
        let client_id = client.client_id.as_str();
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(client_id)
            .filter(|fetched| fetched.uri == uri)
            .cloned();
        if let Some(fetched) = cached {
            let age = now - fetched.fetched_at;
            if age < CACHE_FOR && (!refresh || age < REFETCH_AFTER) {
                return Ok(fetched.keys);
            }
        }
        let read = |body: &[u8]| {
            let value: Value = serde_json::from_slice(body).map_err(|err| err.to_string())?;
            Ok(crate::client::InlineJwks::from_value(value)?.0)
        };
        let fetched = app
            .egress
            .get(
                uri,
                client.reach(),
                "application/json",
                MAX_JWKS_BYTES,
                now,
                read,
            )
            .await;
        let keys = Arc::new(fetched.map_err(|err| {
            tracing::warn!(client_id, uri, %err, "could not read a client's jwks_uri");
            refused("the client's jwks_uri could not be read")
        })?);
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(
                client_id.to_owned(),
                Fetched {
                    uri: uri.to_owned(),
                    keys: keys.clone(),
                    fetched_at: now,
                },
            );
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::JwsHeader;
    use serde_json::json;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);
    const TOKEN_URL: &str = "https://id.example/token";

    fn audiences() -> Vec<String> {
        vec![TOKEN_URL.to_owned(), "https://id.example".to_owned()]
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut claims = json!({
            "iss": "app",
            "sub": "app",
            "aud": TOKEN_URL,
            "exp": NOW.unix_timestamp() + 60,
            "iat": NOW.unix_timestamp(),
            "jti": "j1",
        });
        for (key, value) in extra.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims.as_object().unwrap().clone()
    }

    fn check(extra: Value) -> Result<Checked, ProtocolError> {
        check_claims(&claims(extra), &ClientId::from("app"), &audiences(), NOW)
    }

    fn reason(result: Result<Checked, ProtocolError>) -> &'static str {
        match result {
            Err(ProtocolError::InvalidClient { reason, .. }) => reason,
            other => panic!("expected invalid_client, got {other:?}"),
        }
    }

    #[test]
    fn an_assertion_expiring_one_second_from_now_is_accepted() {
        let checked = check(json!({"exp": NOW.unix_timestamp() + 1})).unwrap();
        assert_eq!(checked.jti, "j1");
        assert_eq!(checked.expires_at, NOW + Duration::SECOND);
    }

    #[test]
    fn an_assertion_expiring_now_is_refused() {
        let why = reason(check(json!({"exp": NOW.unix_timestamp()})));
        assert!(why.contains("expired"), "{why}");
        assert!(reason(check(json!({"exp": null}))).contains("exp"));
        assert!(reason(check(json!({"exp": "soon"}))).contains("NumericDate"));
    }

    #[test]
    fn iat_and_nbf_may_run_ahead_by_the_skew_and_not_a_second_more() {
        let limit = (NOW + CLOCK_SKEW).unix_timestamp();
        for name in ["iat", "nbf"] {
            assert!(check(json!({ name: limit })).is_ok(), "{name}");
            let why = reason(check(json!({ name: limit + 1 })));
            assert!(why.contains("not valid yet"), "{name}: {why}");
        }
    }

    #[test]
    fn the_audience_must_name_the_token_endpoint_or_the_issuer() {
        assert!(check(json!({"aud": "https://id.example"})).is_ok());
        assert!(check(json!({"aud": ["https://other.example", TOKEN_URL]})).is_ok());
        for aud in [
            json!("https://id.example/introspect"),
            json!("https://id.example/"),
            json!(["https://other.example"]),
            Value::Null,
        ] {
            let why = reason(check(json!({ "aud": aud })));
            assert!(why.contains("aud"), "{aud}: {why}");
        }
    }

    #[test]
    fn iss_and_sub_must_both_be_the_client() {
        for extra in [
            json!({"sub": "other"}),
            json!({"iss": "other"}),
            json!({"sub": null}),
        ] {
            assert!(
                reason(check(extra.clone())).contains("iss and sub"),
                "{extra}"
            );
        }
        let other = check_claims(
            &claims(json!({"iss": "other", "sub": "other"})),
            &ClientId::from("app"),
            &audiences(),
            NOW,
        );
        assert!(reason(other).contains("iss and sub"));
    }

    #[test]
    fn an_assertion_needs_a_jti() {
        assert!(reason(check(json!({"jti": null}))).contains("jti"));
        assert!(reason(check(json!({"jti": ""}))).contains("jti"));
        assert!(check(json!({"jti": "x".repeat(256)})).is_ok());
        assert!(reason(check(json!({"jti": "x".repeat(257)}))).contains("jti"));
    }

    fn es256_key(kid: &str) -> (Box<dyn josekit::jws::JwsSigner>, Jwk) {
        let pair = ES256.generate_key_pair().unwrap();
        let signer = ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        (Box::new(signer), public)
    }

    fn sign(signer: &dyn josekit::jws::JwsSigner, kid: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        if let Some(kid) = kid {
            header.set_key_id(kid);
        }
        let payload = jwt::JwtPayload::from_map(claims(json!({}))).unwrap();
        jwt::encode_with_signer(&payload, &header, signer).unwrap()
    }

    fn verify(assertion: &str, keys: &[Jwk]) -> Result<(), Rejection> {
        let (header, _) = decode_unverified(assertion).unwrap();
        verify_signature(assertion, &header, keys)
    }

    #[test]
    fn a_signature_verifies_with_the_key_named_by_kid_or_any_fitting_key() {
        let (signer, public) = es256_key("k1");
        let (_, other) = es256_key("k2");
        let keys = [other.clone(), public];
        assert_eq!(verify(&sign(signer.as_ref(), Some("k1")), &keys), Ok(()));
        assert_eq!(verify(&sign(signer.as_ref(), None), &keys), Ok(()));
        assert_eq!(
            verify(&sign(signer.as_ref(), Some("k3")), &keys),
            Err(Rejection::NoKey)
        );
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let (signer, _) = es256_key("k1");
        let (_, impostor) = es256_key("k1");
        let rejection = verify(&sign(signer.as_ref(), Some("k1")), &[impostor]).unwrap_err();
        assert!(matches!(rejection, Rejection::Refused(why) if why.contains("signature")));
    }

    #[test]
    fn an_rsa_key_does_not_check_an_es256_signature() {
        let (signer, _) = es256_key("k1");
        let mut rsa = RS256.generate_key_pair(2048).unwrap().to_jwk_public_key();
        rsa.set_key_id("k1");
        assert_eq!(
            verify(&sign(signer.as_ref(), Some("k1")), &[rsa]),
            Err(Rejection::NoKey)
        );
    }

    #[test]
    fn ps256_and_eddsa_assertions_verify_with_their_keys_and_not_with_the_wrong_type() {
        let ps = PS256.generate_key_pair(2048).unwrap();
        let ed = EdDSA.generate_key_pair(josekit::jwk::Ed25519).unwrap();
        let mut ps_public = ps.to_jwk_public_key();
        ps_public.set_key_id("ps");
        let mut ed_public = ed.to_jwk_public_key();
        ed_public.set_key_id("ed");
        let ps_signer = PS256.signer_from_jwk(&ps.to_jwk_private_key()).unwrap();
        let ed_signer = EdDSA.signer_from_jwk(&ed.to_jwk_private_key()).unwrap();
        let keys = [ps_public.clone(), ed_public.clone()];
        assert_eq!(verify(&sign(&ps_signer, Some("ps")), &keys), Ok(()));
        assert_eq!(verify(&sign(&ed_signer, Some("ed")), &keys), Ok(()));
        assert_eq!(verify(&sign(&ed_signer, None), &keys), Ok(()));
        // An RSA key published for PS256 does not check an RS256 signature, nor an
        // Ed25519 key a PS256 one.
        assert_eq!(ps_public.algorithm(), Some("PS256"));
        let rs = RS256.generate_key_pair(2048).unwrap();
        let rs_signer = RS256.signer_from_jwk(&rs.to_jwk_private_key()).unwrap();
        assert_eq!(
            verify(&sign(&rs_signer, Some("ps")), &keys),
            Err(Rejection::NoKey)
        );
        let mut ed_as_ps = ed_public;
        ed_as_ps.set_key_id("ps");
        assert_eq!(
            verify(&sign(&ps_signer, Some("ps")), &[ed_as_ps]),
            Err(Rejection::NoKey)
        );
    }

    #[test]
    fn discovery_advertises_exactly_the_algorithms_assertions_may_use() {
        assert_eq!(
            ALGS.map(SigningAlg::as_str),
            ["RS256", "ES256", "PS256", "EdDSA"]
        );
    }

    #[test]
    fn unsigned_and_hmac_assertions_are_refused() {
        let (_, public) = es256_key("k1");
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(json!({}))).unwrap());
        for alg in ["none", "HS256"] {
            let head = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"k1"}}"#));
            let assertion = format!("{head}.{body}.c2ln");
            let rejection = verify(&assertion, std::slice::from_ref(&public)).unwrap_err();
            assert!(
                matches!(rejection, Rejection::Refused(why) if why.contains("must be signed with")),
                "{alg}"
            );
        }
        let hmac = josekit::jws::HS256.signer_from_bytes(b"0123456789abcdef0123456789abcdef");
        let assertion = sign(&hmac.unwrap(), Some("k1"));
        assert!(matches!(
            verify(&assertion, &[public]),
            Err(Rejection::Refused(_))
        ));
    }

    #[test]
    fn something_that_is_not_a_jws_is_refused() {
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30"] {
            assert!(decode_unverified(bad).is_err(), "{bad}");
        }
    }
}
