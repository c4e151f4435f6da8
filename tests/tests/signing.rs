//! Signing that fits the job: ID tokens in RS256 by default and ES256, PS256 or EdDSA
//! per client; access tokens in ES256 by default and RS256 or EdDSA per client; every
//! key published in the JWKS, every token verified by an independent RP library, and
//! careid's own endpoints accepting each algorithm it signs with. Clients may sign their
//! `private_key_jwt` assertions with the same algorithms.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_tests::{
    PASSWORD, TestServer, assert_oauth_error, browser::Browser, browser::Landing, browser::param,
    clients_dir_with, rp::Rp,
};
use josekit::{
    jwk::JwkSet,
    jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, PS256, RS256},
    jwt::{self, JwtPayload},
};
use openidconnect::{
    OAuth2TokenResponse, RefreshToken, TokenResponse, core::CoreJwsSigningAlgorithm,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADA: &str = "ada@example.org";

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// One test client per ID-token algorithm: (client_id, ID-token alg, access-token alg,
/// the extra lines of its client file).
const CLIENTS: [(&str, &str, &str, &str); 4] = [
    (
        "sig-rs256",
        "RS256",
        "RS256",
        "access_token_signed_response_alg = \"RS256\"",
    ),
    (
        "sig-es256",
        "ES256",
        "ES256",
        "id_token_signed_response_alg = \"ES256\"",
    ),
    (
        "sig-ps256",
        "PS256",
        "ES256",
        "id_token_signed_response_alg = \"PS256\"",
    ),
    (
        "sig-eddsa",
        "EdDSA",
        "EdDSA",
        "id_token_signed_response_alg = \"EdDSA\"\naccess_token_signed_response_alg = \"EdDSA\"",
    ),
];

fn callback(client_id: &str) -> String {
    format!("http://127.0.0.1:9300/{client_id}/callback")
}

fn client_file(client_id: &str, extra: &str) -> String {
    format!(
        r#"client_id = "{client_id}"
name = "Signing test {client_id}"
secret = "{client_id}-secret"
redirect_uris = ["{callback}"]
post_logout_redirect_uris = ["http://127.0.0.1:9300/{client_id}/bye"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
first_party = true
{extra}
"#,
        callback = callback(client_id)
    )
}

/// A server with the shipped clients plus the four signing test clients.
async fn server_with_signing_clients() -> (TestServer, tempfile::TempDir) {
    let files: Vec<(String, String)> = CLIENTS
        .iter()
        .map(|(id, _, _, extra)| (format!("{id}.toml"), client_file(id, extra)))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let dir = clients_dir_with(&files);
    let path = dir.path().to_owned();
    let server = TestServer::start_with(|config| config.clients_dir = path).await;
    server.add_account(ADA, "Ada Lovelace").await;
    (server, dir)
}

fn openidconnect_alg(alg: &str) -> CoreJwsSigningAlgorithm {
    match alg {
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "PS256" => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        "EdDSA" => CoreJwsSigningAlgorithm::EdDsa,
        other => panic!("no such algorithm {other}"),
    }
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies `token` with josekit against careid's published JWKS, choosing the key by
/// `kid`; returns its header and claims.
async fn verify_with_jwks(server: &TestServer, token: &str) -> (Value, Value) {
    let jwks = server.get_json("/jwks").await;
    let set = JwkSet::from_bytes(jwks.to_string()).unwrap();
    let header = decode_part(token, 0);
    let kid = header["kid"].as_str().expect("a kid");
    let jwk = set
        .get(kid)
        .into_iter()
        .next()
        .expect("the key is published");
    assert_eq!(jwk.algorithm(), header["alg"].as_str(), "the key's alg");
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str() {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(jwk).unwrap()),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(jwk).unwrap()),
        Some("PS256") => Box::new(PS256.verifier_from_jwk(jwk).unwrap()),
        Some("EdDSA") => Box::new(EdDSA.verifier_from_jwk(jwk).unwrap()),
        other => panic!("unexpected alg {other:?}"),
    };
    let (payload, _) = jwt::decode_with_verifier(token, verifier.as_ref()).unwrap();
    (header, Value::Object(payload.claims_set().clone()))
}

/// The code `browser` brings back from `url`, signing in first if it has no session.
async fn code_from(browser: &Browser, url: &str) -> String {
    let back = match browser.visit(url).await {
        Landing::Left(back) => back,
        Landing::Page(_) => browser.sign_in(url, ADA, PASSWORD).await,
    };
    param(&back, "code").expect("a code")
}

async fn introspect(server: &TestServer, client_id: &str, token: &str) -> Value {
    let secret = format!("{client_id}-secret");
    server
        .post_form(
            "/introspect",
            Some((client_id, &secret)),
            &[("token", token)],
        )
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_lists_every_id_token_algorithm_and_the_jwks_has_a_key_for_each() {
    let server = TestServer::start().await;
    let discovery = server.discovery().await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "PS256", "EdDSA"])
    );
    assert!(
        discovery
            .get("userinfo_signing_alg_values_supported")
            .is_none(),
        "userinfo answers plain JSON"
    );
    let assertion_algs = &discovery["token_endpoint_auth_signing_alg_values_supported"];
    for endpoint in ["introspection", "revocation"] {
        assert_eq!(
            &discovery[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            assertion_algs,
            "{endpoint}"
        );
    }

    let jwks = server.get_json("/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.sort_unstable();
    kids.dedup();
    assert_eq!(kids.len(), keys.len(), "every kid is unique");
    for (alg, kty, crv) in [
        ("RS256", "RSA", None),
        ("ES256", "EC", Some("P-256")),
        ("PS256", "RSA", None),
        ("EdDSA", "OKP", Some("Ed25519")),
    ] {
        let of_alg: Vec<&Value> = keys.iter().filter(|k| k["alg"] == alg).collect();
        assert_eq!(of_alg.len(), 1, "one {alg} key: {jwks}");
        let key = of_alg[0];
        assert_eq!(key["use"], "sig", "{alg}");
        assert_eq!(key["kty"], kty, "{alg}");
        assert_eq!(key.get("crv").and_then(Value::as_str), crv, "{alg}");
        assert!(key.get("d").is_none(), "{alg} leaks its private key");
    }
}

#[tokio::test]
async fn the_default_access_token_is_an_es256_at_jwt_that_verifies_against_the_jwks() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let code = server.crm_code(&browser, ADA).await;
    let (status, tokens) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let (header, claims) = verify_with_jwks(&server, access).await;
    let kid = header["kid"].clone();
    assert_eq!(header, json!({"typ": "at+jwt", "alg": "ES256", "kid": kid}));
    assert_eq!(claims["client_id"], "crm");
    assert_eq!(claims["iss"], server.issuer.as_str());
    // The CRM's ID token keeps the OIDC default.
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(decode_part(id_token, 0)["alg"], "RS256");
    assert_eq!(server.userinfo(access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_id_token_in_each_algorithm_verifies_with_openidconnect_and_every_endpoint_reads_it() {
    let (server, _clients) = server_with_signing_clients().await;
    for (client_id, id_alg, access_alg, _) in CLIENTS {
        let browser = server.browser();
        let rp = Rp::discover(
            &server.url,
            client_id,
            &format!("{client_id}-secret"),
            &callback(client_id),
        )
        .await;
        let pending = rp.start_offline();
        let code = code_from(&browser, pending.url.as_str()).await;
        let tokens = rp.exchange(&code, pending.verifier).await;

        // The ID token: the client's algorithm, verified by the RP against the JWKS.
        let alg = openidconnect_alg(id_alg);
        let verifier = rp
            .client
            .id_token_verifier()
            .set_allowed_algs([alg.clone()]);
        let id_token = tokens.id_token().expect("an ID token");
        assert_eq!(id_token.signing_alg().unwrap(), &alg, "{client_id}");
        let claims = id_token.claims(&verifier, &pending.nonce).unwrap();
        assert_eq!(claims.email().map(|e| e.as_str()), Some(ADA), "{client_id}");
        let at_hash = openidconnect::AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&at_hash), "{client_id}");
        // An RP that allows every other algorithm refuses it: this one really signed.
        let others: Vec<_> = CLIENTS
            .iter()
            .filter(|(_, other, _, _)| *other != id_alg)
            .map(|(_, other, _, _)| openidconnect_alg(other))
            .collect();
        let without = rp.client.id_token_verifier().set_allowed_algs(others);
        assert!(
            id_token.claims(&without, &pending.nonce).is_err(),
            "{client_id}"
        );

        // The access token: the client's algorithm, verified against the JWKS, and
        // accepted by userinfo and introspection.
        let access = tokens.access_token().secret();
        let (header, _) = verify_with_jwks(&server, access).await;
        assert_eq!(header["alg"], access_alg, "{client_id}");
        assert_eq!(header["typ"], "at+jwt", "{client_id}");
        assert_eq!(server.userinfo(access).await.status(), StatusCode::OK);
        assert_eq!(
            introspect(&server, client_id, access).await["active"],
            true,
            "{client_id}"
        );

        // A refresh mints an ID token in the same algorithm.
        let refreshed = rp
            .client
            .exchange_refresh_token(&RefreshToken::new(
                tokens.refresh_token().unwrap().secret().clone(),
            ))
            .unwrap()
            .request_async(&rp.http)
            .await
            .unwrap();
        let refreshed_id = refreshed.id_token().expect("a refreshed ID token");
        assert_eq!(refreshed_id.signing_alg().unwrap(), &alg, "{client_id}");
        refreshed_id
            .claims(&verifier, |_: Option<&openidconnect::Nonce>| Ok(()))
            .unwrap();

        // Revocation reads the access token and denies it from then on.
        let secret = format!("{client_id}-secret");
        let revoked = server
            .post_form("/revoke", Some((client_id, &secret)), &[("token", access)])
            .await;
        assert_eq!(revoked.status(), StatusCode::OK);
        assert_eq!(
            server.userinfo(access).await.status(),
            StatusCode::UNAUTHORIZED,
            "{client_id}: a revoked access token"
        );
        assert_eq!(
            introspect(&server, client_id, access).await["active"],
            false
        );

        // End-session takes the ID token as its hint and goes back to the client.
        let mut url = url::Url::parse(&format!("{}/end_session", server.url)).unwrap();
        let bye = format!("http://127.0.0.1:9300/{client_id}/bye");
        url.query_pairs_mut()
            .append_pair("id_token_hint", &refreshed_id.to_string())
            .append_pair("post_logout_redirect_uri", &bye);
        let back = browser.visit(url.as_str()).await.left();
        assert_eq!(back.as_str(), bye, "{client_id}");
    }
}

#[tokio::test]
async fn client_credentials_tokens_follow_the_client_access_token_algorithm() {
    let (server, _clients) = server_with_signing_clients().await;
    for (client_id, _, access_alg, _) in CLIENTS {
        let secret = format!("{client_id}-secret");
        let (status, body) = server
            .token(
                Some((client_id, &secret)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{client_id}: {body}");
        let access = body["access_token"].as_str().unwrap();
        let (header, claims) = verify_with_jwks(&server, access).await;
        assert_eq!(header["alg"], access_alg, "{client_id}");
        assert_eq!(claims["sub"], client_id);
    }
}

#[tokio::test]
async fn a_tampered_or_unsigned_access_token_is_refused_whatever_its_algorithm() {
    let (server, _clients) = server_with_signing_clients().await;
    for (client_id, _, _, _) in CLIENTS {
        let secret = format!("{client_id}-secret");
        let (_, body) = server
            .token(
                Some((client_id, &secret)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(introspect(&server, client_id, access).await["active"], true);
        let header = decode_part(access, 0);
        let (_, payload_and_signature) = access.split_once('.').unwrap();
        let (payload, _) = payload_and_signature.split_once('.').unwrap();
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let unsigned = format!(
            "{}.{payload}.",
            encode(&json!({"alg": "none", "typ": "at+jwt", "kid": header["kid"]}))
        );
        let mut hmac_header = header.clone();
        hmac_header["alg"] = json!("HS256");
        let hmac = format!("{}.{payload_and_signature}", encode(&hmac_header));
        let mut tampered = access.to_owned();
        tampered.insert(access.find('.').unwrap() + 5, 'x');
        for (what, forged) in [
            ("unsigned", unsigned),
            ("HS256", hmac),
            ("tampered", tampered),
        ] {
            assert_eq!(
                introspect(&server, client_id, &forged).await["active"],
                false,
                "{client_id}: {what}"
            );
        }
    }
}

#[tokio::test]
async fn registration_refuses_algorithms_careid_does_not_sign_with() {
    let server = TestServer::start().await;
    let app = "http://127.0.0.1:9300/app/callback";
    for (key, alg) in [
        ("access_token_signed_response_alg", "PS256"),
        ("access_token_signed_response_alg", "HS256"),
        ("access_token_signed_response_alg", "none"),
        ("id_token_signed_response_alg", "none"),
        ("id_token_signed_response_alg", "ES384"),
    ] {
        let (status, body) = server
            .register(None, &json!({"redirect_uris": [app], key: alg}))
            .await;
        assert_oauth_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
        );
        assert!(
            body["error_description"].as_str().unwrap().starts_with(key),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_registered_client_gets_the_algorithms_it_registered() {
    let server = TestServer::start().await;
    let (status, defaults) = server
        .register(
            None,
            &json!({"grant_types": ["client_credentials"], "scope": "email"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{defaults}");
    assert_eq!(defaults["id_token_signed_response_alg"], "RS256");
    assert_eq!(defaults["access_token_signed_response_alg"], "ES256");

    let (status, eddsa) = server
        .register(
            None,
            &json!({
                "grant_types": ["client_credentials"],
                "scope": "email",
                "id_token_signed_response_alg": "PS256",
                "access_token_signed_response_alg": "EdDSA",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{eddsa}");
    assert_eq!(eddsa["id_token_signed_response_alg"], "PS256");
    assert_eq!(eddsa["access_token_signed_response_alg"], "EdDSA");

    for (registered, alg) in [(&defaults, "ES256"), (&eddsa, "EdDSA")] {
        let id = registered["client_id"].as_str().unwrap();
        let secret = registered["client_secret"].as_str().unwrap();
        let (status, body) = server
            .token(Some((id, secret)), &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (header, _) = verify_with_jwks(&server, body["access_token"].as_str().unwrap()).await;
        assert_eq!(header["alg"], alg);
    }
}

/// A `private_key_jwt` assertion for `client_id` at careid's token endpoint.
fn assertion(server: &TestServer, client_id: &str, kid: &str, signer: &dyn JwsSigner) -> String {
    use careid_store::Clock;
    let now = server.clock.now().unix_timestamp();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": format!("{}/token", server.issuer),
        "iat": now,
        "exp": now + 60,
        "jti": format!("{kid}-{now}"),
    });
    let mut header = JwsHeader::new();
    header.set_key_id(kid);
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    jwt::encode_with_signer(&payload, &header, signer).unwrap()
}

#[tokio::test]
async fn a_client_authenticates_with_ps256_or_eddsa_assertions_as_discovery_says() {
    let server = TestServer::start().await;
    let discovery = server.discovery().await;
    let advertised = &discovery["token_endpoint_auth_signing_alg_values_supported"];
    let ps = PS256.generate_key_pair(2048).unwrap();
    let ed = EdDSA.generate_key_pair(josekit::jwk::Ed25519).unwrap();
    let keys: [(&str, Box<dyn JwsSigner>, josekit::jwk::Jwk); 2] = [
        (
            "PS256",
            Box::new(PS256.signer_from_jwk(&ps.to_jwk_private_key()).unwrap()),
            ps.to_jwk_public_key(),
        ),
        (
            "EdDSA",
            Box::new(EdDSA.signer_from_jwk(&ed.to_jwk_private_key()).unwrap()),
            ed.to_jwk_public_key(),
        ),
    ];
    for (alg, signer, mut public) in keys {
        assert!(
            advertised.as_array().unwrap().contains(&json!(alg)),
            "{alg}: {advertised}"
        );
        public.set_key_id("app-key");
        let (status, app) = server
            .register(
                None,
                &json!({
                    "grant_types": ["client_credentials"],
                    "scope": "email",
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [public]},
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{alg}: {app}");
        let client_id = app["client_id"].as_str().unwrap();
        let signed = assertion(&server, client_id, "app-key", signer.as_ref());
        assert_eq!(decode_part(&signed, 0)["alg"], alg);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", signed.as_str()),
        ];
        let (status, body) = server.token(None, &form).await;
        assert_eq!(status, StatusCode::OK, "{alg}: {body}");
        // The same assertion again is refused: it is single use whatever its algorithm.
        let (status, body) = server.token(None, &form).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    }
}
