//! Private signing keys at rest: sealed with AES-256-GCM under a key-encryption key
//! (KEK) that lives outside the database (`CAREID_KEK` or a file), so a copy of the
//! database or of its backups does not hold a key that can sign tokens.
//!
//! A sealed key is stored as `kek1:<base64 of nonce ‖ ciphertext ‖ tag>`, with a random
//! 96-bit nonce per key (NIST SP 800-38D §8.2.2) and the key id as associated data, so a
//! sealed key copied onto another row does not open. `kek1` names this format; a later
//! one gets a new prefix. Which rows to seal, and when, is `keys`'s.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;

use crate::ProtocolError;

/// The prefix of a sealed private key.
const PREFIX: &str = "kek1:";

/// AES-GCM's nonce: 96 bits.
const NONCE_BYTES: usize = 12;

/// A key-encryption key: 256 random bits.
#[derive(Clone)]
pub struct Kek(Box<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(***)")
    }
}

impl Kek {
    /// Reads a KEK written as base64 (standard alphabet) of 32 bytes, as
    /// [`Kek::generate`] prints it. Surrounding whitespace (a file's newline) is ignored.
    pub fn from_base64(text: &str) -> Result<Self, ProtocolError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            ProtocolError::SigningKeys("the key-encryption key is not base64".into())
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            ProtocolError::SigningKeys(
                "the key-encryption key must be 32 bytes (44 characters of base64)".into(),
            )
        })?;
        Ok(Self(Box::new(key)))
    }

    /// A fresh random KEK, as base64.
    pub fn generate() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// A key of its own for another use of the KEK (`purpose`, e.g. TOTP secrets):
    /// HMAC-SHA256 of the purpose under the KEK (RFC 5869's HKDF-Expand for one block,
    /// the KEK being uniformly random already). Each purpose gets an unrelated key, and
    /// none of them gives back the KEK.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac, digest::KeyInit};
        // HMAC pads a key shorter than SHA-256's 64-byte block with zeros (RFC 2104 §2):
        // padding it here gives the same MAC, from a constructor that cannot fail.
        let mut block = [0_u8; 64];
        block[..32].copy_from_slice(self.0.as_slice());
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new(&block.into());
        mac.update(b"careid kek derive v1: ");
        mac.update(purpose.as_bytes());
        mac.update(&[1]);
        mac.finalize().into_bytes().into()
    }

    /// Seals the private key `pem` of key `kid`.
    pub(crate) fn seal(&self, kid: &str, pem: &str) -> Result<String, ProtocolError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: pem.as_bytes(),
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| ProtocolError::SigningKeys(format!("sealing signing key {kid} failed")))?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(stored)))
    }

    /// Opens a sealed private key of key `kid`.
    pub(crate) fn open(&self, kid: &str, stored: &str) -> Result<String, ProtocolError> {
        let refused = || {
            ProtocolError::SigningKeys(format!(
                "the key-encryption key does not open signing key {kid}: it is not the key \
                 these signing keys were encrypted with"
            ))
        };
        let encoded = stored.strip_prefix(PREFIX).ok_or_else(refused)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| refused())?;
        if bytes.len() < NONCE_BYTES {
            return Err(refused());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let pem = self
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| refused())?;
        String::from_utf8(pem).map_err(|_| refused())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }
}

/// Whether a stored private key is sealed (rather than plain PEM).
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The private key PEM of a stored key: opened with `kek` if sealed.
pub(crate) fn private_pem(
    kid: &str,
    stored: &str,
    kek: Option<&Kek>,
) -> Result<String, ProtocolError> {
    match (is_sealed(stored), kek) {
        (false, _) => Ok(stored.to_owned()),
        (true, Some(kek)) => kek.open(kid, stored),
        (true, None) => Err(no_kek()),
    }
}

/// The refusal to start over sealed keys without a KEK.
pub(crate) fn no_kek() -> ProtocolError {
    ProtocolError::SigningKeys(
        "the signing keys in the database are encrypted and no key-encryption key is set: \
         set CAREID_KEK or [keys] key_encryption_key_file to the key they were encrypted with"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_key_is_hmac_sha256_of_its_purpose_and_differs_by_purpose() {
        use hmac::{Hmac, Mac};
        let kek = Kek::from_base64(&Kek::generate()).unwrap();
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(kek.0.as_slice()).unwrap();
        mac.update(b"careid kek derive v1: totp secrets\x01");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(kek.derive("totp secrets"), expected);
        assert_ne!(kek.derive("totp secrets"), kek.derive("other"));
        assert_ne!(kek.derive("totp secrets").as_slice(), kek.0.as_slice());
        let other = Kek::from_base64(&Kek::generate()).unwrap();
        assert_ne!(kek.derive("totp secrets"), other.derive("totp secrets"));
    }

    const PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";

    fn kek() -> Kek {
        Kek::from_base64(&Kek::generate()).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_holds_no_pem() {
        let kek = kek();
        let sealed = kek.seal("kid-1", PEM).unwrap();
        assert!(sealed.starts_with("kek1:"));
        assert!(!sealed.contains("PRIVATE KEY"));
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), PEM);
        assert_eq!(private_pem("kid-1", &sealed, Some(&kek)).unwrap(), PEM);
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let kek = kek();
        assert_ne!(kek.seal("k", PEM).unwrap(), kek.seal("k", PEM).unwrap());
    }

    #[test]
    fn a_wrong_kek_or_another_key_id_does_not_open_a_sealed_key() {
        let sealed = kek().seal("kid-1", PEM).unwrap();
        let err = kek().open("kid-1", &sealed).unwrap_err();
        assert!(err.to_string().contains("does not open signing key kid-1"));
        let owner = kek();
        let sealed = owner.seal("kid-1", PEM).unwrap();
        assert!(owner.open("kid-2", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(owner.open("kid-1", &tampered).is_err());
    }

    #[test]
    fn a_sealed_key_without_a_kek_is_refused_and_plain_pem_still_loads() {
        let sealed = kek().seal("kid-1", PEM).unwrap();
        let err = private_pem("kid-1", &sealed, None).unwrap_err();
        assert!(err.to_string().contains("CAREID_KEK"));
        assert_eq!(private_pem("kid-1", PEM, None).unwrap(), PEM);
    }

    #[test]
    fn a_kek_must_be_32_bytes_of_base64() {
        assert!(Kek::from_base64("not base64!").is_err());
        assert!(Kek::from_base64(&STANDARD.encode([0u8; 31])).is_err());
        assert!(Kek::from_base64(&format!("{}\n", STANDARD.encode([7u8; 32]))).is_ok());
        assert_eq!(format!("{:?}", kek()), "Kek(***)");
    }
}
