//! Signing keys: created at first start, kept in the database so every instance signs
//! with the same keys, published as a JWKS. RS256 always (the OIDC default), ES256 for
//! clients that ask for it.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use careid_store::ConnectionTrait;
use careid_store::{StoreError, signing_keys};
use josekit::{
    jwk::{Jwk, KeyPair},
    jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, RS256},
    jwt::{self, JwtPayload},
};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::ProtocolError;

/// A JWS algorithm careid signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    #[default]
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl SigningAlg {
    /// Every algorithm careid publishes keys for.
    pub const ALL: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == s)
    }
}

struct Signer {
    kid: String,
    signer: Box<dyn JwsSigner>,
}

/// The keys in force: one signer per algorithm, every published key's verifier, and
/// the JWKS document prebuilt as bytes.
struct KeySet {
    signers: HashMap<SigningAlg, Signer>,
    verifiers: HashMap<String, Box<dyn JwsVerifier>>,
    jwks: Arc<Vec<u8>>,
}

/// The signing keys, shared by the endpoints. Reloaded whole when keys change.
pub struct Keys {
    set: RwLock<Arc<KeySet>>,
}

impl Keys {
    /// Loads the keys from the database, creating any that are missing. Two instances
    /// starting together both try to create generation 1; the database keeps one.
    pub async fn load_or_create(
        db: &impl ConnectionTrait,
        now: OffsetDateTime,
    ) -> Result<Self, ProtocolError> {
        let mut stored = signing_keys::find_unretired(db).await?;
        for alg in SigningAlg::ALL {
            if stored.iter().any(|key| key.alg == alg.as_str()) {
                continue;
            }
            let key = generate(alg, 1, now)?;
            signing_keys::insert_key(db, key).await?;
            // Whether this instance won the race or another did, read what was kept.
            stored = signing_keys::find_unretired(db).await?;
        }
        Ok(Self {
            set: RwLock::new(Arc::new(build(&stored)?)),
        })
    }

    /// Re-reads the keys if another instance added or retired one since this instance
    /// last looked. Cheap when nothing changed: one indexed query, no key parsing.
    /// Returns whether the keys were replaced.
    pub async fn reload_if_changed(
        &self,
        db: &impl ConnectionTrait,
    ) -> Result<bool, ProtocolError> {
        let stored = signing_keys::find_unretired(db).await?;
        let mut stored_kids: Vec<&str> = stored.iter().map(|key| key.kid.as_str()).collect();
        stored_kids.sort_unstable();
        if stored_kids == self.kids() {
            return Ok(false);
        }
        let set = build(&stored)?;
        *self
            .set
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        Ok(true)
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
        let signer = set
            .signers
            .get(&alg)
            .ok_or_else(|| ProtocolError::Internal(format!("no {} key", alg.as_str())))?;
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
    pub fn verify(
        &self,
        token: &str,
    ) -> Option<(Option<String>, serde_json::Map<String, serde_json::Value>)> {
        let set = self.current();
        let (payload, header) = jwt::decode_with_verifier_selector(token, |header| {
            Ok(header
                .key_id()
                .and_then(|kid| set.verifiers.get(kid))
                .map(|v| v.as_ref()))
        })
        .ok()?;
        Some((
            header.token_type().map(str::to_owned),
            payload.claims_set().clone(),
        ))
    }
}

fn generate(
    alg: SigningAlg,
    generation: i32,
    now: OffsetDateTime,
) -> Result<signing_keys::SigningKey, ProtocolError> {
    let pair: Box<dyn KeyPair> = match alg {
        SigningAlg::RS256 => Box::new(RS256.generate_key_pair(2048)?),
        SigningAlg::ES256 => Box::new(ES256.generate_key_pair()?),
    };
    let private_pem = String::from_utf8(pair.to_pem_private_key())
        .map_err(|e| ProtocolError::Internal(e.to_string()))?;
    let kid = careid_policy::one_time::new_token()[..16].to_owned();
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(&kid);
    public.set_algorithm(alg.as_str());
    public.set_key_use("sig");
    Ok(signing_keys::SigningKey {
        kid,
        alg: alg.as_str().to_owned(),
        generation,
        private_pem,
        public_jwk: serde_json::to_string(public.as_ref())
            .map_err(|e| ProtocolError::Internal(e.to_string()))?,
        created_at: now,
        active_from: now,
        retired_at: None,
    })
}

fn build(stored: &[signing_keys::SigningKey]) -> Result<KeySet, ProtocolError> {
    let mut signers = HashMap::new();
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
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
            SigningAlg::RS256 => (
                Box::new(RS256.signer_from_pem(&key.private_pem)?),
                Box::new(RS256.verifier_from_jwk(&jwk)?),
            ),
            SigningAlg::ES256 => (
                Box::new(ES256.signer_from_pem(&key.private_pem)?),
                Box::new(ES256.verifier_from_jwk(&jwk)?),
            ),
        };
        verifiers.insert(key.kid.clone(), verifier);
        signers.insert(
            alg,
            Signer {
                kid: key.kid.clone(),
                signer,
            },
        );
        published.push(serde_json::Value::Object(map));
    }
    let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))
        .map_err(|e| ProtocolError::Internal(e.to_string()))?;
    Ok(KeySet {
        signers,
        verifiers,
        jwks: Arc::new(jwks),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_with_the_published_key_and_not_after_tampering() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let stored: Vec<_> = SigningAlg::ALL
            .iter()
            .map(|alg| generate(*alg, 1, now).unwrap())
            .collect();
        let keys = Keys {
            set: RwLock::new(Arc::new(build(&stored).unwrap())),
        };
        for alg in SigningAlg::ALL {
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), "abc".into());
            let token = keys.sign(alg, "JWT", claims).unwrap();
            let (typ, claims) = keys.verify(&token).unwrap();
            assert_eq!(typ.as_deref(), Some("JWT"));
            assert_eq!(claims["sub"], "abc");
            let mut tampered = token.clone();
            tampered.insert(tampered.len() - 3, 'A');
            assert!(keys.verify(&tampered).is_none());
        }
        let jwks: serde_json::Value = serde_json::from_slice(&keys.jwks()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "the JWKS must not leak private parts"
        );
    }
}
