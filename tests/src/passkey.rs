//! A software passkey for the end-to-end tests: what a browser and an authenticator do
//! together for `navigator.credentials.create` and `.get`, reduced to one ES256 key.
//! It answers WebAuthn options as careid's `passkeys.js` posts them (JSON, binary fields
//! base64url), with "none" attestation (WebAuthn §8.7), so careid's checks (webauthn-rs)
//! run exactly as for a real device. Nothing here checks careid's options: a test reads
//! them itself.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openssl::{
    bn::BigNumContext,
    ec::{EcGroup, EcKey},
    hash::MessageDigest,
    nid::Nid,
    pkey::{PKey, Private},
    sign::Signer,
};
use serde_cbor_2::Value;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// Authenticator data flags (WebAuthn §6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_CREDENTIAL: u8 = 0x40;

/// One passkey on a software authenticator, for one relying party.
pub struct SoftPasskey {
    key: PKey<Private>,
    credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    origin: String,
    rp_id: String,
    /// Whether the next answer says the person was verified (PIN, biometric).
    pub is_user_verified: bool,
    /// Whether signatures carry a rising counter. Synced passkeys send zero always
    /// (WebAuthn §6.1.1), which leaves a replay to be caught by the challenge alone.
    pub counts_signatures: bool,
}

impl SoftPasskey {
    /// A fresh key for the relying party at `origin` (careid's issuer).
    pub fn new(origin: &str) -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let rp_id = url::Url::parse(origin)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned();
        let mut credential_id = vec![0_u8; 32];
        openssl::rand::rand_bytes(&mut credential_id).unwrap();
        Self {
            key,
            credential_id,
            user_handle: Vec::new(),
            counter: 0,
            origin: origin.trim_end_matches('/').to_owned(),
            rp_id,
            is_user_verified: true,
            counts_signatures: true,
        }
    }

    /// The credential id, base64url.
    pub fn credential_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.credential_id)
    }

    /// Answers `navigator.credentials.create` options (`{"publicKey": …}`): the
    /// `PublicKeyCredential` as JSON.
    pub fn register(&mut self, options: &Json) -> Json {
        let public_key = &options["publicKey"];
        self.user_handle = URL_SAFE_NO_PAD
            .decode(public_key["user"]["id"].as_str().unwrap())
            .unwrap();
        let client_data = self.client_data("webauthn.create", public_key);
        let mut auth_data = self.auth_data(ATTESTED_CREDENTIAL);
        auth_data.extend_from_slice(&[0_u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(
            &u16::try_from(self.credential_id.len())
                .unwrap()
                .to_be_bytes(),
        );
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let attestation = Value::Map(BTreeMap::from([
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), Value::Map(BTreeMap::new())),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]));
        let attestation = serde_cbor_2::to_vec(&attestation).unwrap();
        json!({
            "id": self.credential_id(),
            "rawId": self.credential_id(),
            "type": "public-key",
            "response": {
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation),
            },
            "extensions": {},
        })
    }

    /// Answers `navigator.credentials.get` options (`{"publicKey": …}`) with a fresh
    /// signature: the `PublicKeyCredential` as JSON. The user handle is included, as a
    /// discoverable credential's answer has it.
    pub fn sign(&mut self, options: &Json) -> Json {
        if self.counts_signatures {
            self.counter += 1;
        }
        let client_data = self.client_data("webauthn.get", &options["publicKey"]);
        let auth_data = self.auth_data(0);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).unwrap();
        signer.update(&signed).unwrap();
        let signature = signer.sign_to_vec().unwrap();
        json!({
            "id": self.credential_id(),
            "rawId": self.credential_id(),
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature),
                "userHandle": URL_SAFE_NO_PAD.encode(&self.user_handle),
            },
            "extensions": {},
        })
    }

    /// The collected client data (WebAuthn §5.8.1) for `options`' challenge.
    fn client_data(&self, kind: &str, public_key: &Json) -> Vec<u8> {
        let challenge = public_key["challenge"].as_str().unwrap();
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// rpIdHash, flags and the signature counter (WebAuthn §6.1).
    fn auth_data(&self, extra_flags: u8) -> Vec<u8> {
        let mut flags = USER_PRESENT | extra_flags;
        if self.is_user_verified {
            flags |= USER_VERIFIED;
        }
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// The public key as a COSE_Key (RFC 9053 §7.1.1): EC2, ES256, P-256.
    fn cose_key(&self) -> Vec<u8> {
        let ec = self.key.ec_key().unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let mut x = openssl::bn::BigNum::new().unwrap();
        let mut y = openssl::bn::BigNum::new().unwrap();
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .unwrap();
        let key = Value::Map(BTreeMap::from([
            (Value::Integer(1), Value::Integer(2)),
            (Value::Integer(3), Value::Integer(-7)),
            (Value::Integer(-1), Value::Integer(1)),
            (
                Value::Integer(-2),
                Value::Bytes(x.to_vec_padded(32).unwrap()),
            ),
            (
                Value::Integer(-3),
                Value::Bytes(y.to_vec_padded(32).unwrap()),
            ),
        ]));
        serde_cbor_2::to_vec(&key).unwrap()
    }
}
