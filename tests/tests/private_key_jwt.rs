//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): a client
//! registered with its public keys, inline or behind a `jwks_uri`, authenticates at
//! /token and /introspect with a JWT signed by its private key, once per assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::sync::{Arc, RwLock};

use careid_tests::{
    PASSWORD, TestServer, VERIFIER,
    browser::{Browser, param},
    client_key::{ClientKey, JWT_BEARER},
    clients_dir_with,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The redirect URI of the test app (loopback http is allowed).
const APP_CALLBACK: &str = "http://127.0.0.1:9200/callback";

/// POSTs `metadata` to /register (open mode) and returns the registration response.
async fn register(server: &TestServer, metadata: Value) -> Value {
    let response = server
        .http()
        .post(format!("{}/register", server.url))
        .json(&metadata)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// POSTs a form to `path` and returns the status and JSON body.
async fn post(server: &TestServer, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = server.post_form(path, None, form).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A code for the registered app: signs Ada in and approves the consent page.
async fn code_through_consent(server: &TestServer, browser: &Browser, client_id: &str) -> String {
    let url = server.authorize_url(client_id, APP_CALLBACK, &[]);
    let page = browser.visit(&url).await.page();
    let form = page.form().expect("a sign-in form");
    let login = form.login_input().unwrap().name.clone();
    let secret = form.password_input().unwrap().name.clone();
    let consent = browser
        .submit(&page, &[(&login, "ada@example.org"), (&secret, PASSWORD)])
        .await
        .page();
    assert!(consent.url.contains("/consent?request="), "{}", consent.url);
    let back = browser.submit(&consent, &[]).await.left();
    assert!(back.as_str().starts_with(APP_CALLBACK), "{back}");
    param(&back, "code").expect("a code")
}

/// Another code once Ada is signed in and has consented: careid redirects at once.
async fn next_code(server: &TestServer, browser: &Browser, client_id: &str) -> String {
    let url = server.authorize_url(client_id, APP_CALLBACK, &[]);
    let back = browser.visit(&url).await.left();
    param(&back, "code").expect("a code")
}

fn code_form<'a>(code: &'a str, assertion: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", APP_CALLBACK),
        ("code_verifier", VERIFIER),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]
}

#[tokio::test]
async fn a_registered_app_with_inline_keys_redeems_a_code_with_a_signed_assertion_once() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    let discovery: Value = server.discovery().await;
    for list in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert!(
            discovery[list]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{list}"
        );
    }
    assert_eq!(
        discovery["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256", "PS256", "EdDSA"])
    );

    let key = ClientKey::es256("app-key-1");
    let app = register(
        &server,
        json!({
            "redirect_uris": [APP_CALLBACK],
            "client_name": "Signed Diary",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
        }),
    )
    .await;
    let client_id = app["client_id"].as_str().unwrap();
    assert_eq!(app["token_endpoint_auth_method"], "private_key_jwt");
    assert!(app.get("client_secret").is_none(), "{app}");

    let browser = server.browser();
    let code = code_through_consent(&server, &browser, client_id).await;
    let assertion = key.assertion(&server, client_id, "jti-1", json!({}));
    let (status, tokens) = post(&server, "/token", &code_form(&code, &assertion)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["access_token"].is_string());

    // The same assertion again is a replay, even with a fresh code.
    let code = next_code(&server, &browser, client_id).await;
    let (status, body) = post(&server, "/token", &code_form(&code, &assertion)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // An assertion signed by another key with the registered kid is refused.
    let impostor = ClientKey::es256("app-key-1");
    let forged = impostor.assertion(&server, client_id, "jti-2", json!({}));
    let (status, body) = post(&server, "/token", &code_form(&code, &forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // A new jti from the right key still works; the code was not spent by the failures.
    let assertion = key.assertion(&server, client_id, "jti-3", json!({}));
    let (status, body) = post(&server, "/token", &code_form(&code, &assertion)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // /introspect accepts the same kind of authentication.
    let access = body["access_token"].as_str().unwrap();
    let assertion = key.assertion(&server, client_id, "jti-4", json!({}));
    let (status, body) = post(
        &server,
        "/introspect",
        &[
            ("token", access),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], client_id);
}

#[tokio::test]
async fn an_assertion_may_not_be_mixed_with_a_secret_or_sent_by_a_secret_client() {
    let server = TestServer::start().await;
    let key = ClientKey::rs256("k");
    let app = register(
        &server,
        json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
        }),
    )
    .await;
    let client_id = app["client_id"].as_str().unwrap();

    // An assertion plus Basic credentials: two methods in one request.
    let assertion = key.assertion(&server, client_id, "mixed", json!({}));
    let response = server
        .post_form(
            "/token",
            Some((client_id, "a-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // A private_key_jwt client that sends a secret instead.
    let response = server
        .post_form(
            "/token",
            Some((client_id, "a-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The CRM authenticates with a secret; an assertion naming it is refused.
    let crm_assertion = key.assertion(&server, "crm", "crm-1", json!({}));
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &crm_assertion),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // A wrong assertion type is a malformed request; the right one works.
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Serves `keys` at `http://127.0.0.1:PORT/jwks`; returns the URL.
async fn serve_jwks(keys: Arc<RwLock<Value>>) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let keys = keys.clone();
            async move { axum::Json(keys.read().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks")
}

#[tokio::test]
async fn a_jwks_uri_client_is_checked_with_fetched_keys_refetched_a_minute_after_for_a_new_kid() {
    let first = ClientKey::es256("first");
    let published = Arc::new(RwLock::new(first.jwks()));
    let jwks_uri = serve_jwks(published.clone()).await;
    // Keys on loopback http: only a client file that allows its private network may
    // have careid fetch them (registration refuses such a jwks_uri; see `egress`).
    let file = format!(
        r#"client_id = "keyed-backend"
name = "Keyed backend"
redirect_uris = []
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{jwks_uri}"
allow_private_network = true
"#
    );
    let dir = clients_dir_with(&[("keyed-backend.toml", &file)]);
    let path = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    let client_id = "keyed-backend";
    let grant = |assertion: &str| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_assertion_type".to_owned(), JWT_BEARER.to_owned()),
            ("client_assertion".to_owned(), assertion.to_owned()),
        ]
    };
    let token = |form: Vec<(String, String)>| {
        let request = server
            .http()
            .post(format!("{}/token", server.url))
            .form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (status, body) = token(grant(&first.assertion(&server, client_id, "a", json!({})))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");

    // The client rotates to a new key; careid has the old set cached.
    let second = ClientKey::es256("second");
    *published.write().unwrap() = second.jwks();
    server.clock.advance(time::Duration::seconds(59));
    let (status, body) = token(grant(&second.assertion(&server, client_id, "b", json!({})))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // A minute after the fetch, an unknown kid makes careid fetch the keys again.
    server.clock.advance(time::Duration::seconds(1));
    let (status, body) = token(grant(&second.assertion(&server, client_id, "c", json!({})))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The old key is gone from the published set.
    let (status, body) = token(grant(&first.assertion(&server, client_id, "d", json!({})))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
