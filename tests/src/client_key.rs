//! A `private_key_jwt` client's key pair (RFC 7523 §2.2): signs client assertions with
//! any claims a test wants, and publishes its public half as a JWK Set.

use careid_store::Clock;
use josekit::{
    jwk::Jwk,
    jws::{ES256, JwsHeader, JwsSigner, RS256},
    jwt::{self, JwtPayload},
};
use serde_json::{Value, json};

use crate::TestServer;

/// The one `client_assertion_type` careid accepts.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An ES256 key pair with a `kid`.
pub struct ClientKey {
    kid: String,
    signer: Box<dyn JwsSigner>,
    public: Jwk,
}

impl ClientKey {
    /// A fresh ES256 key named `kid`.
    pub fn es256(kid: &str) -> Self {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        Self {
            kid: kid.to_owned(),
            signer: Box::new(ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap()),
            public,
        }
    }

    /// A fresh RS256 key (RSA-2048) named `kid`.
    pub fn rs256(kid: &str) -> Self {
        let pair = RS256.generate_key_pair(2048).unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        Self {
            kid: kid.to_owned(),
            signer: Box::new(RS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap()),
            public,
        }
    }

    /// The public key as a JWK Set, as a `jwks_uri` serves it.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public] })
    }

    /// An assertion for `client_id` with `jti`, valid for a minute from the server's
    /// now, aimed at its token endpoint; `changes` replaces claims (`null` removes one).
    pub fn assertion(
        &self,
        server: &TestServer,
        client_id: &str,
        jti: &str,
        changes: Value,
    ) -> String {
        let now = server.clock.now().unix_timestamp();
        let mut claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": format!("{}/token", server.issuer),
            "iat": now,
            "exp": now + 60,
            "jti": jti,
        });
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        let mut header = JwsHeader::new();
        header.set_key_id(&self.kid);
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&payload, &header, self.signer.as_ref()).unwrap()
    }
}
