//! Signing keys: created at first start, kept in the database so every instance signs
//! with the same keys, published as a JWKS. One key per algorithm careid signs with:
//! RS256 (the OIDC default for ID tokens), ES256 (the default for access tokens), PS256
//! and EdDSA (Ed25519). A database made before an algorithm was added gets its key on
//! the next start.
//!
//! Keys are parsed once, when loaded or reloaded: the signers and verifiers are built
//! then and shared by every request. Which key signs which token is the client's
//! choice (`Client`); this module only holds the keys.
//!
//! Rotation (`careid keys rotate`) adds a generation that is published at once but
//! signs only from its `active_from`, after a publish delay, so relying parties that
//! cache the JWKS know it before they see it. Retirement (`careid keys retire`) stops a
//! key signing at once and keeps it published until `retired_at`, when the tokens it
//! signed have expired. Private keys are sealed with the KEK when one is set
//! (`key_encryption`).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use careid_store::{Clock, ConnectionTrait};
use careid_store::{StoreError, signing_keys};
use josekit::{
    jwk::{Ed25519, Jwk, KeyPair},
    jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, PS256, RS256},
    jwt::{self, JwtPayload},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    ProtocolError,
    key_encryption::{self, Kek},
    prepared_signer::PreparedSigner,
};

/// A JWS algorithm careid signs with (RFC 7518 §3.1, RFC 8037 §3.1). The default is the
/// one OIDC Core §15.1 requires every provider to offer for ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    #[default]
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256, 2048-bit keys of their own.
    PS256,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlg {
    /// Every algorithm careid publishes keys for, the default first.
    pub const ALL: [SigningAlg; 4] = [
        SigningAlg::RS256,
        SigningAlg::ES256,
        SigningAlg::PS256,
        SigningAlg::EdDSA,
    ];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm of this JOSE name; names are case-sensitive (RFC 7515 §4.1.1).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == s)
    }
}

/// A JWS algorithm careid signs access tokens with (RFC 9068 §2.1). ES256 by default:
/// with OpenSSL an RSA-2048 signature costs about 15 times a P-256 one and is four times
/// longer, and every token response carries an access token. RS256 stays for resource
/// servers that only know it (RFC 9068 §2.1 makes it the one every resource server
/// supports); EdDSA for those that prefer it (OpenSSL signs Ed25519 at about half its
/// P-256 rate). PS256 is not offered: it costs what RS256 costs and no resource server
/// needs it where RS256 works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum AccessTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    #[default]
    ES256,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl AccessTokenAlg {
    /// Every algorithm an access token may be signed with, the default first.
    pub const ALL: [AccessTokenAlg; 3] = [
        AccessTokenAlg::ES256,
        AccessTokenAlg::RS256,
        AccessTokenAlg::EdDSA,
    ];

    /// The key that signs.
    pub fn signing_alg(self) -> SigningAlg {
        match self {
            Self::RS256 => SigningAlg::RS256,
            Self::ES256 => SigningAlg::ES256,
            Self::EdDSA => SigningAlg::EdDSA,
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        self.signing_alg().as_str()
    }

    /// The algorithm of this JOSE name, if access tokens may use it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == s)
    }
}

struct Signer {
    kid: String,
    generation: i32,
    /// When it starts signing (its publish delay ends).
    active_from: OffsetDateTime,
    /// Retiring: published until then, never signing again.
    is_retiring: bool,
    signer: Box<dyn JwsSigner>,
}

/// The keys in force: every published key's signer and verifier, and the JWKS document
/// prebuilt as bytes.
struct KeySet {
    /// Per algorithm, by generation, oldest first.
    signers: HashMap<SigningAlg, Vec<Signer>>,
    verifiers: HashMap<String, Box<dyn JwsVerifier>>,
    jwks: Arc<Vec<u8>>,
    /// Every published key in the database when this set was built, with its
    /// retirement, sorted, including keys of algorithms this version does not know (a
    /// newer instance's), so that such a key does not look like a change at every poll.
    stored_kids: Vec<(String, Option<OffsetDateTime>)>,
    /// Tokens whose signature this set has verified, by the SHA-256 of their bytes:
    /// userinfo and introspection see the same access token many times, and an ES256
    /// verification costs far more than a lookup. A reloaded set starts empty, so a
    /// key taken out of the set stops vouching at once; expiry and revocation are the
    /// callers' checks and run every time.
    verified: quick_cache::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// What a verified token said: its `typ` header and its claims.
type Verified = (Option<String>, serde_json::Map<String, serde_json::Value>);

/// How many verified tokens a key set remembers (a few megabytes at most).
const VERIFIED_CAPACITY: usize = 4096;

/// The signing keys, shared by the endpoints. Reloaded whole when keys change.
pub struct Keys {
    set: RwLock<Arc<KeySet>>,
    clock: Arc<dyn Clock>,
    kek: Option<Kek>,
}

/// One stored key as `careid keys list` shows it (no private part).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The key id, as in the JWKS and token headers.
    pub kid: String,
    /// The JOSE algorithm.
    pub alg: String,
    /// 1 for the first key of its algorithm, one more at each rotation.
    pub generation: i32,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it starts (or started) signing.
    pub active_from: OffsetDateTime,
    /// When it stops (or stopped) being published; it signs no more once set.
    pub retired_at: Option<OffsetDateTime>,
    /// Whether its private part is sealed with a KEK.
    pub is_sealed: bool,
}

impl Keys {
    /// Loads the keys from the database, creating any that are missing. Two instances
    /// starting together both try to create the same generation; the database keeps
    /// one. With a `kek`, keys still stored as plain PEM are sealed now; without one,
    /// sealed keys are refused with a message that says what to set.
    pub async fn load_or_create(
        db: &impl ConnectionTrait,
        clock: Arc<dyn Clock>,
        kek: Option<Kek>,
    ) -> Result<Self, ProtocolError> {
        let now = clock.now();
        let all = signing_keys::find_all(db).await?;
        match &kek {
            None if all
                .iter()
                .any(|key| key_encryption::is_sealed(&key.private_pem)) =>
            {
                return Err(key_encryption::no_kek());
            }
            None => {}
            Some(kek) => {
                for key in all
                    .iter()
                    .filter(|key| !key_encryption::is_sealed(&key.private_pem))
                {
                    let sealed = kek.seal(&key.kid, &key.private_pem)?;
                    // `false`: another instance sealed it first, which is as good.
                    signing_keys::update_private_pem(db, &key.kid, &key.private_pem, &sealed)
                        .await?;
                }
            }
        }
        let mut stored = signing_keys::find_published(db, now).await?;
        for alg in SigningAlg::ALL {
            if stored.iter().any(|key| key.alg == alg.as_str()) {
                continue;
            }
            // One read decides both: whether another instance starting now made the key
            // already, and else the generation, after any retired key's. Two instances
            // that read the same then pick the same generation, and the unique index
            // keeps one key.
            let same_alg: Vec<_> = signing_keys::find_all(db)
                .await?
                .into_iter()
                .filter(|key| key.alg == alg.as_str())
                .collect();
            let is_made = same_alg
                .iter()
                .any(|key| key.retired_at.is_none_or(|at| at > now));
            if !is_made {
                let generation = same_alg
                    .iter()
                    .map(|key| key.generation)
                    .max()
                    .map_or(1, |max| max + 1);
                let key = generate(alg, generation, now, now, kek.as_ref())?;
                signing_keys::insert_key(db, key).await?;
            }
            // Whether this instance won the race or another did, read what was kept.
            stored = signing_keys::find_published(db, now).await?;
        }
        let set = build(&stored, kek.as_ref())?;
        Ok(Self {
            set: RwLock::new(Arc::new(set)),
            clock,
            kek,
        })
    }

    /// Re-reads the keys if another instance (or `careid keys`) added or retired one
    /// since this instance last looked, or a retired key's time is up. Cheap when
    /// nothing changed: one indexed query, no key parsing. Returns whether the keys
    /// were replaced.
    pub async fn reload_if_changed(
        &self,
        db: &impl ConnectionTrait,
    ) -> Result<bool, ProtocolError> {
        let stored = signing_keys::find_published(db, self.clock.now()).await?;
        if sorted_kids(&stored) == self.current().stored_kids {
            return Ok(false);
        }
        let set = build(&stored, self.kek.as_ref())?;
        *self
            .set
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        Ok(true)
    }

    /// Adds a new generation of each algorithm in `algs`: published at once (after the
    /// next reload), signing from `now + publish_delay` (at once if no key of that
    /// algorithm signs now). Sealed with `kek` if given;
    /// refused without one when the stored keys are sealed. Returns the new keys.
    pub async fn rotate(
        db: &impl ConnectionTrait,
        algs: &[SigningAlg],
        kek: Option<&Kek>,
        now: OffsetDateTime,
        publish_delay: time::Duration,
    ) -> Result<Vec<KeyInfo>, ProtocolError> {
        let all = signing_keys::find_all(db).await?;
        if kek.is_none()
            && all
                .iter()
                .any(|key| key_encryption::is_sealed(&key.private_pem))
        {
            return Err(key_encryption::no_kek());
        }
        let mut added = Vec::new();
        for alg in algs {
            let generation = signing_keys::find_max_generation(db, alg.as_str())
                .await?
                .map_or(1, |max| max + 1);
            // With no key of this algorithm signing now (a new database), waiting would
            // only leave nothing to sign with.
            let has_signer = all.iter().any(|key| {
                key.alg == alg.as_str() && key.retired_at.is_none() && key.active_from <= now
            });
            let active_from = if has_signer { now + publish_delay } else { now };
            let key = generate(*alg, generation, now, active_from, kek)?;
            let info = KeyInfo::of(&key);
            if !signing_keys::insert_key(db, key).await? {
                return Err(ProtocolError::Internal(format!(
                    "another process added {} generation {generation} at the same time; run the command again",
                    alg.as_str()
                )));
            }
            let detail = serde_json::json!({ "kid": info.kid, "alg": alg.as_str(), "generation": generation });
            audit_key_change(db, "signing_key_added", detail, now).await?;
            added.push(info);
        }
        Ok(added)
    }

    /// Retires key `kid`: it stops signing at once (after the next reload) and stays
    /// published for `keep_for`, as long as the tokens it signed can be valid. Refused
    /// for the only key of its algorithm that signs now: rotate first, and retire once
    /// the new key signs.
    pub async fn retire(
        db: &impl ConnectionTrait,
        kid: &str,
        now: OffsetDateTime,
        keep_for: time::Duration,
    ) -> Result<OffsetDateTime, ProtocolError> {
        let published = signing_keys::find_published(db, now).await?;
        let Some(key) = published.iter().find(|key| key.kid == kid) else {
            return Err(ProtocolError::SigningKeys(format!(
                "no published signing key has the id {kid}"
            )));
        };
        if key.retired_at.is_some() {
            return Err(ProtocolError::SigningKeys(format!(
                "signing key {kid} is already retiring"
            )));
        }
        let has_successor = published.iter().any(|other| {
            other.alg == key.alg
                && other.kid != key.kid
                && other.retired_at.is_none()
                && other.active_from <= now
        });
        if !has_successor {
            return Err(ProtocolError::SigningKeys(format!(
                "signing key {kid} is the only {} key that signs now: run `careid keys rotate`, and retire it once the new key signs",
                key.alg
            )));
        }
        let until = now + keep_for;
        if !signing_keys::update_retired(db, kid, until).await? {
            return Err(ProtocolError::SigningKeys(format!(
                "signing key {kid} is already retiring"
            )));
        }
        let detail = serde_json::json!({ "kid": kid, "alg": key.alg, "published_until": until.unix_timestamp() });
        audit_key_change(db, "signing_key_retired", detail, now).await?;
        Ok(until)
    }

    /// Every stored key, retired ones too, for `careid keys list`.
    pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<KeyInfo>, ProtocolError> {
        Ok(signing_keys::find_all(db)
            .await?
            .iter()
            .map(KeyInfo::of)
            .collect())
    }

    fn current(&self) -> Arc<KeySet> {
        self.set
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The JWKS document (public keys only), as prebuilt bytes.
    pub fn jwks(&self) -> Arc<Vec<u8>> {
        self.current().jwks.clone()
    }

    /// The key ids currently published, for tests and the CLI.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().verifiers.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Signs `claims` as a JWT with header `typ`.
    pub fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, ProtocolError> {
        let set = self.current();
        let now = self.clock.now();
        // The newest generation whose publish delay is over signs; a retiring key never.
        let signer = set
            .signers
            .get(&alg)
            .and_then(|signers| {
                signers
                    .iter()
                    .filter(|s| !s.is_retiring && s.active_from <= now)
                    .max_by_key(|s| s.generation)
            })
            .ok_or_else(|| ProtocolError::Internal(format!("no {} key signs now", alg.as_str())))?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&signer.kid);
        let payload = JwtPayload::from_map(claims)?;
        Ok(jwt::encode_with_signer(
            &payload,
            &header,
            signer.signer.as_ref(),
        )?)
    }

    /// Verifies a JWT signed by one of careid's published keys and returns its header
    /// type and claims. Expiry and audience are the caller's to check.
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let set = self.current();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(known) = set.verified.get(&digest) {
            return Some(known.as_ref().clone());
        }
        let (payload, header) = jwt::decode_with_verifier_selector(token, |header| {
            Ok(header
                .key_id()
                .and_then(|kid| set.verifiers.get(kid))
                .map(|v| v.as_ref()))
        })
        .ok()?;
        let verified = (
            header.token_type().map(str::to_owned),
            payload.claims_set().clone(),
        );
        set.verified.insert(digest, Arc::new(verified.clone()));
        Some(verified)
    }
}

impl KeyInfo {
    fn of(key: &signing_keys::SigningKey) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
            generation: key.generation,
            created_at: key.created_at,
            active_from: key.active_from,
            retired_at: key.retired_at,
            is_sealed: key_encryption::is_sealed(&key.private_pem),
        }
    }
}

fn generate(
    alg: SigningAlg,
    generation: i32,
    now: OffsetDateTime,
    active_from: OffsetDateTime,
    kek: Option<&Kek>,
) -> Result<signing_keys::SigningKey, ProtocolError> {
    let pair: Box<dyn KeyPair> = match alg {
        SigningAlg::RS256 => Box::new(RS256.generate_key_pair(2048)?),
        SigningAlg::ES256 => Box::new(ES256.generate_key_pair()?),
        // A key of its own: RFC 7517 §4.4 gives a JWK one `alg`, and an RSA key shared
        // between RS256 and PS256 could not say both.
        SigningAlg::PS256 => Box::new(PS256.generate_key_pair(2048)?),
        SigningAlg::EdDSA => Box::new(EdDSA.generate_key_pair(Ed25519)?),
    };
    let private_pem = String::from_utf8(pair.to_pem_private_key())
        .map_err(|e| ProtocolError::Internal(e.to_string()))?;
    let kid = careid_policy::one_time::new_token()[..16].to_owned();
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(&kid);
    public.set_algorithm(alg.as_str());
    public.set_key_use("sig");
    let private_pem = match kek {
        Some(kek) => kek.seal(&kid, &private_pem)?,
        None => private_pem,
    };
    Ok(signing_keys::SigningKey {
        kid,
        alg: alg.as_str().to_owned(),
        generation,
        private_pem,
        public_jwk: serde_json::to_string(public.as_ref())
            .map_err(|e| ProtocolError::Internal(e.to_string()))?,
        created_at: now,
        active_from,
        retired_at: None,
    })
}

fn build(stored: &[signing_keys::SigningKey], kek: Option<&Kek>) -> Result<KeySet, ProtocolError> {
    let mut signers: HashMap<SigningAlg, Vec<Signer>> = HashMap::new();
    let mut verifiers: HashMap<String, Box<dyn JwsVerifier>> = HashMap::new();
    let mut published = Vec::new();
    // Keys are sorted by generation: the newest of each algorithm signs, all verify.
    for key in stored {
        let Some(alg) = SigningAlg::parse(&key.alg) else {
            tracing::warn!(kid = %key.kid, alg = %key.alg, "ignoring a signing key of an unknown algorithm");
            continue;
        };
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&key.public_jwk)
            .map_err(|e| StoreError::Corrupt(format!("signing key {}: {e}", key.kid)))?;
        let jwk = Jwk::from_map(map.clone())?;
        let private_pem = key_encryption::private_pem(&key.kid, &key.private_pem, kek)?;
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
            SigningAlg::RS256 => (
                Box::new(PreparedSigner::rs256(private_pem.as_bytes())?),
                Box::new(RS256.verifier_from_jwk(&jwk)?),
            ),
            SigningAlg::ES256 => (
                Box::new(PreparedSigner::es256(private_pem.as_bytes())?),
                Box::new(ES256.verifier_from_jwk(&jwk)?),
            ),
            SigningAlg::PS256 => (
                Box::new(PS256.signer_from_pem(&private_pem)?),
                Box::new(PS256.verifier_from_jwk(&jwk)?),
            ),
            SigningAlg::EdDSA => (
                Box::new(EdDSA.signer_from_pem(&private_pem)?),
                Box::new(EdDSA.verifier_from_jwk(&jwk)?),
            ),
        };
        verifiers.insert(key.kid.clone(), verifier);
        signers.entry(alg).or_default().push(Signer {
            kid: key.kid.clone(),
            generation: key.generation,
            active_from: key.active_from,
            is_retiring: key.retired_at.is_some(),
            signer,
        });
        published.push(serde_json::Value::Object(map));
    }
    let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))
        .map_err(|e| ProtocolError::Internal(e.to_string()))?;
    Ok(KeySet {
        signers,
        verifiers,
        jwks: Arc::new(jwks),
        stored_kids: sorted_kids(stored),
        verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
    })
}

fn sorted_kids(stored: &[signing_keys::SigningKey]) -> Vec<(String, Option<OffsetDateTime>)> {
    let mut kids: Vec<_> = stored
        .iter()
        .map(|key| (key.kid.clone(), key.retired_at))
        .collect();
    kids.sort_unstable();
    kids
}

/// Records a change to the signing keys (an administrator's action) in the audit trail.
async fn audit_key_change(
    db: &impl ConnectionTrait,
    kind: &'static str,
    detail: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), ProtocolError> {
    let event = careid_store::audit::NewEvent {
        kind,
        detail,
        ..Default::default()
    };
    careid_store::audit::insert_event(db, event, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    fn stored_keys() -> Vec<signing_keys::SigningKey> {
        SigningAlg::ALL
            .iter()
            .map(|alg| generate(*alg, 1, now(), now(), None).unwrap())
            .collect()
    }

    fn keys_of(stored: &[signing_keys::SigningKey]) -> Keys {
        Keys {
            set: RwLock::new(Arc::new(build(stored, None).unwrap())),
            clock: Arc::new(careid_store::ManualClock::new(now())),
            kek: None,
        }
    }

    fn claims() -> serde_json::Map<String, serde_json::Value> {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), "abc".into());
        claims
    }

    /// The token with its header replaced by `header`, signature kept.
    fn with_header(token: &str, header: serde_json::Value) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    fn header_of(token: &str) -> serde_json::Value {
        let head = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
    }

    #[test]
    fn a_token_signed_with_each_algorithm_verifies_and_not_after_tampering() {
        let keys = keys_of(&stored_keys());
        for alg in SigningAlg::ALL {
            let token = keys.sign(alg, "JWT", claims()).unwrap();
            assert_eq!(header_of(&token)["alg"], alg.as_str());
            let (typ, claims) = keys.verify(&token).unwrap();
            assert_eq!(typ.as_deref(), Some("JWT"));
            assert_eq!(claims["sub"], "abc");
            let mut tampered = token.clone();
            tampered.insert(tampered.len() - 3, 'A');
            assert!(keys.verify(&tampered).is_none(), "{alg:?}");
        }
    }

    #[test]
    fn a_remembered_token_verifies_again_until_its_key_leaves_the_set() {
        let stored = stored_keys();
        let keys = keys_of(&stored);
        let token = keys.sign(SigningAlg::ES256, "at+jwt", claims()).unwrap();
        let first = keys.verify(&token).unwrap();
        assert_eq!(keys.current().verified.len(), 1);
        assert_eq!(keys.verify(&token).unwrap(), first, "answered from memory");
        // A tampered copy is another digest: it is verified, and refused.
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'A');
        assert!(keys.verify(&tampered).is_none());
        // A set without the ES256 key (as after an emergency removal) remembers nothing.
        let without: Vec<_> = stored.into_iter().filter(|k| k.alg != "ES256").collect();
        *keys.set.write().unwrap() = Arc::new(build(&without, None).unwrap());
        assert!(keys.verify(&token).is_none());
    }

    #[test]
    fn the_jwks_publishes_one_public_signing_key_per_algorithm() {
        let stored = stored_keys();
        let keys = keys_of(&stored);
        let jwks: serde_json::Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let published = jwks["keys"].as_array().unwrap();
        assert_eq!(published.len(), SigningAlg::ALL.len());
        for (jwk, key) in published.iter().zip(&stored) {
            assert_eq!(jwk["kid"], key.kid.as_str());
            assert_eq!(jwk["alg"], key.alg.as_str());
            assert_eq!(jwk["use"], "sig");
            let (kty, crv) = match SigningAlg::parse(&key.alg).unwrap() {
                SigningAlg::RS256 | SigningAlg::PS256 => ("RSA", None),
                SigningAlg::ES256 => ("EC", Some("P-256")),
                SigningAlg::EdDSA => ("OKP", Some("Ed25519")),
            };
            assert_eq!(jwk["kty"], kty, "{}", key.alg);
            assert_eq!(jwk.get("crv").and_then(|c| c.as_str()), crv, "{}", key.alg);
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{} leaks {private}", key.alg);
            }
        }
        let rsa = |alg: &str| {
            published
                .iter()
                .find(|jwk| jwk["alg"] == alg)
                .map(|jwk| jwk["n"].clone())
                .unwrap()
        };
        assert_ne!(
            rsa("RS256"),
            rsa("PS256"),
            "PS256 has an RSA key of its own"
        );
    }

    #[test]
    fn a_header_that_names_another_algorithm_than_its_key_is_refused() {
        let keys = keys_of(&stored_keys());
        let token = keys.sign(SigningAlg::ES256, "JWT", claims()).unwrap();
        let kid = header_of(&token)["kid"].clone();
        for alg in ["none", "HS256", "RS256", "PS256", "EdDSA", "ES384"] {
            let forged = with_header(&token, serde_json::json!({"alg": alg, "kid": kid}));
            assert!(keys.verify(&forged).is_none(), "{alg}");
        }
        let unsigned = format!(
            "{}.",
            with_header(&token, serde_json::json!({"alg": "none", "kid": kid}))
                .rsplit_once('.')
                .unwrap()
                .0
        );
        assert!(keys.verify(&unsigned).is_none());
    }

    #[test]
    fn a_token_without_a_kid_or_with_an_unknown_kid_is_refused() {
        let keys = keys_of(&stored_keys());
        let token = keys.sign(SigningAlg::RS256, "JWT", claims()).unwrap();
        let no_kid = with_header(&token, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        assert!(keys.verify(&no_kid).is_none());
        let other_kid = with_header(&token, serde_json::json!({"alg": "RS256", "kid": "x"}));
        assert!(keys.verify(&other_kid).is_none());
    }

    #[test]
    fn a_token_signed_by_a_foreign_key_under_a_careid_kid_is_refused() {
        let keys = keys_of(&stored_keys());
        let others = keys_of(&stored_keys());
        for alg in SigningAlg::ALL {
            let ours = keys.sign(alg, "JWT", claims()).unwrap();
            let theirs = others.sign(alg, "JWT", claims()).unwrap();
            let forged = with_header(&theirs, header_of(&ours));
            assert!(keys.verify(&forged).is_none(), "{alg:?}");
        }
    }

    #[test]
    fn a_key_of_an_unknown_algorithm_is_skipped_but_counts_as_stored() {
        let mut stored = stored_keys();
        let mut newer = generate(SigningAlg::ES256, 1, now(), now(), None).unwrap();
        newer.alg = "ES384".into();
        stored.push(newer.clone());
        let set = build(&stored, None).unwrap();
        assert_eq!(set.verifiers.len(), SigningAlg::ALL.len());
        assert!(!set.verifiers.contains_key(&newer.kid));
        assert!(set.stored_kids.contains(&(newer.kid.clone(), None)));
        assert_eq!(set.stored_kids, sorted_kids(&stored));
    }

    #[test]
    fn the_newest_generation_of_an_algorithm_signs_and_the_older_still_verifies() {
        let mut stored = stored_keys();
        let old = keys_of(&stored)
            .sign(SigningAlg::EdDSA, "JWT", claims())
            .unwrap();
        let next = generate(SigningAlg::EdDSA, 2, now(), now(), None).unwrap();
        stored.push(next.clone());
        stored.sort_by(|a, b| (&a.alg, a.generation).cmp(&(&b.alg, b.generation)));
        let keys = keys_of(&stored);
        let new = keys.sign(SigningAlg::EdDSA, "JWT", claims()).unwrap();
        assert_eq!(header_of(&new)["kid"], next.kid.as_str());
        assert!(keys.verify(&old).is_some());
        assert!(keys.verify(&new).is_some());
    }

    #[test]
    fn every_access_token_algorithm_has_a_key_and_ps256_is_not_one() {
        assert_eq!(AccessTokenAlg::default(), AccessTokenAlg::ES256);
        assert_eq!(SigningAlg::default(), SigningAlg::RS256);
        for alg in AccessTokenAlg::ALL {
            assert!(SigningAlg::ALL.contains(&alg.signing_alg()));
            assert_eq!(AccessTokenAlg::parse(alg.as_str()), Some(alg));
        }
        assert_eq!(AccessTokenAlg::parse("PS256"), None);
        assert_eq!(SigningAlg::parse("PS256"), Some(SigningAlg::PS256));
        assert_eq!(SigningAlg::parse("eddsa"), None);
        assert_eq!(SigningAlg::parse("none"), None);
    }

    /// A rough figure of this machine's signatures per second for each algorithm, one
    /// thread: `cargo test -p careid-protocol --release signatures_per_second -- --ignored
    /// --nocapture`. Prints, asserts nothing about time.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn signatures_per_second() {
        let keys = keys_of(&stored_keys());
        for alg in SigningAlg::ALL {
            let mut count = 0u32;
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(2) {
                let token = keys.sign(alg, "at+jwt", claims()).unwrap();
                std::hint::black_box(token);
                count += 1;
            }
            let per_second = f64::from(count) / started.elapsed().as_secs_f64();
            let mut verified = 0u32;
            let token = keys.sign(alg, "at+jwt", claims()).unwrap();
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(1) {
                std::hint::black_box(keys.verify(&token).unwrap());
                verified += 1;
            }
            let verified_per_second = f64::from(verified) / started.elapsed().as_secs_f64();
            println!(
                "{}: {per_second:.0} signed JWTs/s, {verified_per_second:.0} verified JWTs/s, {} bytes",
                alg.as_str(),
                token.len()
            );
        }
    }
}
