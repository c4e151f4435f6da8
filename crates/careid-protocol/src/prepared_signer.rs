//! RS256 and ES256 signers that set up OpenSSL's signing context once per key rather than
//! once per token.
//!
//! josekit's signers build a new OpenSSL context for every signature, and OpenSSL 3 then
//! looks the digest and the signature algorithm up in its provider tables again: a tenth
//! of a client-credentials grant's CPU, spent before the first byte is signed. These keep
//! contexts already initialised for signing in a small pool and hand one to each
//! signature: the message is hashed with SHA-256 here and the context signs the digest,
//! which is what RSASSA-PKCS1-v1_5 and ECDSA sign (RFC 7518 §3.3 and §3.4). A context is
//! never shared by two signatures at once. PS256 and EdDSA keep josekit's signers.

use std::sync::Mutex;

use josekit::{
    JoseError,
    jws::{ES256, JwsAlgorithm, JwsSigner, RS256},
};
use openssl::{
    ecdsa::EcdsaSig,
    md::Md,
    nid::Nid,
    pkey::{Id, PKey, Private},
    pkey_ctx::PkeyCtx,
    rsa::Padding,
};
use sha2::{Digest, Sha256};

/// Which of the two algorithms a [`PreparedSigner`] signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Rs256,
    Es256,
}

/// A JWS signer for RS256 or ES256 whose OpenSSL contexts outlive a signature.
pub(crate) struct PreparedSigner {
    scheme: Scheme,
    key: PKey<Private>,
    /// Contexts initialised for signing and not in use. A signature takes one (or makes
    /// one when all are in use) and puts it back, so there are never more than the
    /// signatures ever made at once.
    idle: Mutex<Vec<PkeyCtx<Private>>>,
}

/// The length of an ES256 signature: R and S, 32 bytes each (RFC 7518 §3.4).
const ES256_HALF: usize = 32;

impl PreparedSigner {
    /// An RS256 signer for an RSA private key in PEM.
    pub(crate) fn rs256(pem: &[u8]) -> Result<Self, JoseError> {
        Self::new(Scheme::Rs256, pem)
    }

    /// An ES256 signer for a P-256 private key in PEM.
    pub(crate) fn es256(pem: &[u8]) -> Result<Self, JoseError> {
        Self::new(Scheme::Es256, pem)
    }

    fn new(scheme: Scheme, pem: &[u8]) -> Result<Self, JoseError> {
        let key = PKey::private_key_from_pem(pem).map_err(invalid_key)?;
        // A key of the wrong type fails here, when keys load, not at the first token.
        let fits = match scheme {
            Scheme::Rs256 => key.id() == Id::RSA,
            Scheme::Es256 => key
                .ec_key()
                .is_ok_and(|ec| ec.group().curve_name() == Some(Nid::X9_62_PRIME256V1)),
        };
        if !fits {
            let reason = format!("not a key for {scheme:?}");
            return Err(JoseError::InvalidKeyFormat(
                std::io::Error::other(reason).into(),
            ));
        }
        let signer = Self::of_key(scheme, key);
        let ctx = signer.context().map_err(invalid_key)?;
        signer.give_back(ctx);
        Ok(signer)
    }

    fn of_key(scheme: Scheme, key: PKey<Private>) -> Self {
        Self {
            scheme,
            key,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A context ready to sign a SHA-256 digest with this key.
    fn context(&self) -> Result<PkeyCtx<Private>, openssl::error::ErrorStack> {
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.sign_init()?;
        if self.scheme == Scheme::Rs256 {
            ctx.set_rsa_padding(Padding::PKCS1)?;
            ctx.set_signature_md(Md::sha256())?;
        }
        Ok(ctx)
    }

    fn take(&self) -> Result<PkeyCtx<Private>, JoseError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(ctx) => Ok(ctx),
            None => self.context().map_err(sign_failed),
        }
    }

    fn give_back(&self, ctx: PkeyCtx<Private>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(ctx);
        }
    }
}

impl std::fmt::Debug for PreparedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSigner")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl JwsSigner for PreparedSigner {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        match self.scheme {
            Scheme::Rs256 => &RS256,
            Scheme::Es256 => &ES256,
        }
    }

    fn key_id(&self) -> Option<&str> {
        None
    }

    fn signature_len(&self) -> usize {
        match self.scheme {
            Scheme::Rs256 => self.key.size(),
            Scheme::Es256 => 2 * ES256_HALF,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let digest = Sha256::digest(message);
        let mut ctx = self.take()?;
        let mut signature = Vec::new();
        // A context that failed is dropped rather than given back.
        ctx.sign_to_vec(&digest, &mut signature)
            .map_err(sign_failed)?;
        self.give_back(ctx);
        match self.scheme {
            Scheme::Rs256 => Ok(signature),
            Scheme::Es256 => raw_ecdsa(&signature),
        }
    }

    fn box_clone(&self) -> Box<dyn JwsSigner> {
        Box::new(Self::of_key(self.scheme, self.key.clone()))
    }
}

/// OpenSSL's DER `ECDSA-Sig-Value` as JWS wants it: R and S, each left-padded to 32 bytes.
fn raw_ecdsa(der: &[u8]) -> Result<Vec<u8>, JoseError> {
    let sig = EcdsaSig::from_der(der).map_err(sign_failed)?;
    let mut raw = sig
        .r()
        .to_vec_padded(ES256_HALF as i32)
        .map_err(sign_failed)?;
    raw.extend(
        sig.s()
            .to_vec_padded(ES256_HALF as i32)
            .map_err(sign_failed)?,
    );
    Ok(raw)
}

fn invalid_key(err: openssl::error::ErrorStack) -> JoseError {
    JoseError::InvalidKeyFormat(err.into())
}

fn sign_failed(err: openssl::error::ErrorStack) -> JoseError {
    JoseError::InvalidSignature(err.into())
}

#[cfg(test)]
mod tests {
    use josekit::jws::{EdDSA, JwsVerifier};

    use super::*;

    fn pem_of(key_pair: &impl josekit::jwk::KeyPair) -> Vec<u8> {
        key_pair.to_pem_private_key()
    }

    fn verifies(signer: &PreparedSigner, verifier: &dyn JwsVerifier) {
        for message in [&b""[..], b"a.b", &[7u8; 1000][..]] {
            let signature = signer.sign(message).unwrap();
            assert_eq!(signature.len(), signer.signature_len());
            verifier.verify(message, &signature).unwrap();
            let mut tampered = message.to_vec();
            tampered.push(b'x');
            assert!(verifier.verify(&tampered, &signature).is_err());
        }
    }

    #[test]
    fn an_es256_signature_verifies_with_josekit_and_two_differ() {
        let pair = ES256.generate_key_pair().unwrap();
        let signer = PreparedSigner::es256(&pem_of(&pair)).unwrap();
        let verifier = ES256.verifier_from_pem(pair.to_pem_public_key()).unwrap();
        verifies(&signer, &verifier);
        // ECDSA draws a fresh nonce each time: a reused context must not repeat one.
        assert_ne!(signer.sign(b"m").unwrap(), signer.sign(b"m").unwrap());
        let clone = signer.box_clone();
        verifier.verify(b"m", &clone.sign(b"m").unwrap()).unwrap();
    }

    #[test]
    fn an_rs256_signature_is_the_one_josekit_makes() {
        let pair = RS256.generate_key_pair(2048).unwrap();
        let signer = PreparedSigner::rs256(&pem_of(&pair)).unwrap();
        let verifier = RS256.verifier_from_pem(pair.to_pem_public_key()).unwrap();
        verifies(&signer, &verifier);
        // RSASSA-PKCS1-v1_5 is deterministic: byte for byte josekit's own signature.
        let josekit = RS256.signer_from_pem(pem_of(&pair)).unwrap();
        assert_eq!(signer.sign(b"m").unwrap(), josekit.sign(b"m").unwrap());
    }

    #[test]
    fn a_key_of_another_type_is_refused_when_it_loads() {
        let ed = pem_of(&EdDSA.generate_key_pair(josekit::jwk::Ed25519).unwrap());
        assert!(PreparedSigner::es256(&ed).is_err());
        assert!(PreparedSigner::rs256(&ed).is_err());
        let ec = pem_of(&ES256.generate_key_pair().unwrap());
        assert!(PreparedSigner::rs256(&ec).is_err());
        // ES256 is P-256 only: a P-384 key would make signatures of the wrong length.
        let p384 = pem_of(&josekit::jws::ES384.generate_key_pair().unwrap());
        assert!(PreparedSigner::es256(&p384).is_err());
        assert!(PreparedSigner::es256(b"not a key").is_err());
    }

    #[test]
    fn signatures_made_at_once_on_many_threads_all_verify() {
        let pair = ES256.generate_key_pair().unwrap();
        let signer = std::sync::Arc::new(PreparedSigner::es256(&pem_of(&pair)).unwrap());
        let verifier = ES256.verifier_from_pem(pair.to_pem_public_key()).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let signer = signer.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|j| {
                            let message = format!("{i}.{j}").into_bytes();
                            let signature = signer.sign(&message).unwrap();
                            (message, signature)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut count = 0;
        for handle in handles {
            for (message, signature) in handle.join().unwrap() {
                verifier.verify(&message, &signature).unwrap();
                count += 1;
            }
        }
        assert_eq!(count, 400);
        // Never more contexts than signatures at once.
        assert!(signer.idle.lock().unwrap().len() <= 8);
    }
}
