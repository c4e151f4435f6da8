//! The outbound policy (issue 12, item 2): careid sends no request on a client's behalf
//! into its own machine or network, whatever a registered client names as `jwks_uri` or
//! `backchannel_logout_uri`; it checks an assertion before fetching keys for it; and it
//! does not fetch a failing `jwks_uri` again on every request. Only a client file may
//! allow its private network, for development.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::time::Duration;

use careid_store::{ClientId, Clock};
use careid_tests::{
    PASSWORD, TestServer, VERIFIER,
    browser::{Browser, param},
    client_key::{ClientKey, JWT_BEARER},
    clients_dir_with,
    loopback::CountingListener,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADA: &str = "ada@example.org";

/// Every way of writing "this machine, the listener's port" that a URL parser accepts.
fn loopback_forms(listener: &CountingListener, path: &str) -> Vec<String> {
    let port = listener.addr.port();
    vec![
        format!("http://127.0.0.1:{port}{path}"),
        format!("http://localhost:{port}{path}"),
        format!("http://[::ffff:127.0.0.1]:{port}{path}"),
        format!("http://2130706433:{port}{path}"),
        format!("https://127.0.0.1:{port}{path}"),
        format!("http://127.1:{port}{path}"),
    ]
}

/// Stores a registration as an earlier careid accepted it, without today's checks:
/// what a database holds after an upgrade, or after the name behind a URL changed.
async fn store_registered_client(server: &TestServer, client_id: &str, metadata: Value) {
    careid_store::clients::insert_client(
        &server.db,
        &ClientId::from(client_id),
        &metadata,
        None,
        None,
        server.clock.now(),
    )
    .await
    .unwrap();
}

/// POSTs a form carrying `assertion` to `path` (/token, /introspect or /revoke).
async fn with_assertion(server: &TestServer, path: &str, assertion: &str) -> (StatusCode, Value) {
    let mut form = vec![
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    match path {
        "/token" => form.push(("grant_type", "client_credentials")),
        _ => form.push(("token", "not-a-token-careid-issued")),
    }
    let response = server.post_form(path, None, &form).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_registration_naming_a_loopback_jwks_uri_is_refused_and_nothing_is_fetched() {
    let server = TestServer::start().await;
    let key = ClientKey::es256("k");
    let listener = CountingListener::start(StatusCode::OK, &key.jwks().to_string()).await;
    for jwks_uri in loopback_forms(&listener, "/jwks")
        .into_iter()
        .chain(["https://169.254.169.254/jwks".to_owned()])
    {
        let (status, body) = server
            .register(
                None,
                &json!({
                    "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": jwks_uri,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{jwks_uri}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{jwks_uri}");
        let why = body["error_description"].as_str().unwrap();
        assert!(why.starts_with("jwks_uri:"), "{why}");
    }

    // An update (RFC 7592) cannot move a client's keys there either.
    let (status, app) = server
        .register(
            None,
            &json!({
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": key.jwks(),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let client_id = app["client_id"].as_str().unwrap();
    let response = server
        .http()
        .put(app["registration_client_uri"].as_str().unwrap())
        .bearer_auth(app["registration_access_token"].as_str().unwrap())
        .json(&json!({
            "client_id": client_id,
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": listener.url("/jwks"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
    assert_eq!(listener.connections(), 0);
}

#[tokio::test]
async fn a_stored_client_with_a_loopback_jwks_uri_is_refused_at_every_endpoint_without_a_request() {
    let server = TestServer::start().await;
    // The listener serves the client's real keys: a fetch would make the assertions
    // good, so only the outbound policy stands between them and a token.
    let key = ClientKey::es256("k");
    let listener = CountingListener::start(StatusCode::OK, &key.jwks().to_string()).await;
    for (n, jwks_uri) in loopback_forms(&listener, "/jwks").into_iter().enumerate() {
        let client_id = format!("stored-{n}");
        store_registered_client(
            &server,
            &client_id,
            json!({
                "redirect_uris": [],
                "grant_types": ["client_credentials"],
                "response_types": [],
                "token_endpoint_auth_method": "private_key_jwt",
                "scope": "openid",
                "jwks_uri": jwks_uri,
            }),
        )
        .await;
        for path in ["/token", "/introspect", "/revoke"] {
            let assertion = key.assertion(&server, &client_id, &format!("{path}-{n}"), json!({}));
            let (status, body) = with_assertion(&server, path, &assertion).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} {jwks_uri}: {body}"
            );
            assert_eq!(body["error"], "invalid_client", "{path} {jwks_uri}");
        }
        // A minute later (past the remembered failure) it is still refused.
        server.clock.advance(time::Duration::seconds(61));
        let assertion = key.assertion(&server, &client_id, &format!("later-{n}"), json!({}));
        let (status, _) = with_assertion(&server, "/token", &assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{jwks_uri}");
    }
    assert_eq!(
        listener.connections(),
        0,
        "careid connected to the listener"
    );
}

/// Signs Ada in to the registered public client `client_id` through its consent page
/// and exchanges the code; returns the browser and the session's `sid`.
async fn signed_in_through_consent(
    server: &TestServer,
    client_id: &str,
    callback: &str,
) -> (Browser, String) {
    let browser = server.browser();
    let url = server.authorize_url(client_id, callback, &[]);
    let page = browser.visit(&url).await.page();
    let form = page.form().expect("a sign-in form");
    let login = form.login_input().unwrap().name.clone();
    let secret = form.password_input().unwrap().name.clone();
    let consent = browser
        .submit(&page, &[(&login, ADA), (&secret, PASSWORD)])
        .await
        .page();
    let back = browser.submit(&consent, &[]).await.left();
    let code = param(&back, "code").expect("a code");
    let (status, body) = server
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", callback),
                ("code_verifier", VERIFIER),
                ("client_id", client_id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_token = body["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    (browser, claims["sid"].as_str().unwrap().to_owned())
}

/// Waits (at most ten seconds; the delivery job runs every second) until the first
/// logout delivery attempt for session `sid` has failed, and returns the row.
async fn first_failed_delivery(
    server: &TestServer,
    sid: &str,
) -> careid_store::logout_deliveries::LogoutDelivery {
    let db = &server.db;
    let attempted = async {
        loop {
            let rows = careid_store::logout_deliveries::find_for_session(db, sid)
                .await
                .unwrap();
            // A claimed row carries a one-minute lease; a failed first attempt
            // reschedules it 30 s out. Wait for the latter.
            let now = server.clock.now();
            if let Some(row) = rows.into_iter().find(|row| {
                row.attempts >= 1
                    && row.due_at > now
                    && row.due_at <= now + time::Duration::seconds(30)
            }) {
                return row;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), attempted)
        .await
        .expect("a failed delivery attempt within ten seconds")
}

#[tokio::test]
async fn a_loopback_backchannel_logout_uri_is_refused_and_a_stored_one_is_never_posted_to() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let listener = CountingListener::start(StatusCode::OK, "{}").await;
    let callback = listener.url("/callback");
    for uri in loopback_forms(&listener, "/backchannel") {
        let (status, body) = server
            .register(
                None,
                &json!({
                    "redirect_uris": [callback],
                    "token_endpoint_auth_method": "none",
                    "backchannel_logout_uri": uri,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{uri}");
    }

    // One stored before today's checks: Ada signs in to it and signs out.
    store_registered_client(
        &server,
        "stored-rp",
        json!({
            "redirect_uris": [callback],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile email",
            "backchannel_logout_uri": listener.url("/backchannel"),
        }),
    )
    .await;
    let (browser, sid) = signed_in_through_consent(&server, "stored-rp", &callback).await;
    let page = browser.visit("/sign-out").await.page();
    browser.submit(&page, &[]).await.page();

    // The delivery job tries and fails without a connection to the listener.
    let row = first_failed_delivery(&server, &sid).await;
    assert!(row.delivered_at.is_none());
    assert_eq!(
        listener.requests(),
        0,
        "a logout token reached the listener"
    );
    assert_eq!(listener.connections(), 0);
}

/// A client file for `client_id` authenticating with keys at `jwks_uri` (loopback),
/// allowed its private network, and a server with it.
async fn server_with_keyed_file_client(jwks_uri: &str) -> (TestServer, tempfile::TempDir) {
    let file = format!(
        r#"client_id = "dev-backend"
name = "Development backend"
redirect_uris = []
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{jwks_uri}"
allow_private_network = true
"#
    );
    let dir = clients_dir_with(&[("dev-backend.toml", &file)]);
    let path = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    (server, dir)
}

#[tokio::test]
async fn an_assertion_is_checked_before_the_keys_are_fetched() {
    let key = ClientKey::es256("k");
    let listener = CountingListener::start(StatusCode::OK, &key.jwks().to_string()).await;
    let (server, _dir) = server_with_keyed_file_client(&listener.url("/jwks")).await;
    let now = server.clock.now().unix_timestamp();
    for (what, changes) in [
        (
            "another audience",
            json!({"aud": "https://elsewhere.example/token"}),
        ),
        ("no audience", json!({"aud": null})),
        ("expired", json!({"exp": now - 1})),
        ("no exp", json!({"exp": null})),
        ("not yet valid", json!({"nbf": now + 3600})),
        ("no jti", json!({"jti": null})),
        ("iss is not sub", json!({"sub": "someone-else"})),
    ] {
        let assertion = key.assertion(&server, "dev-backend", what, changes);
        for path in ["/token", "/introspect", "/revoke"] {
            let (status, body) = with_assertion(&server, path, &assertion).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} at {path}: {body}");
            assert_eq!(body["error"], "invalid_client", "{what} at {path}");
        }
    }
    assert_eq!(listener.requests(), 0, "keys fetched for a bad assertion");

    // A good assertion, valid for ten minutes: the file client reaches its keys on
    // loopback, once.
    let good = key.assertion(&server, "dev-backend", "good", json!({"exp": now + 600}));
    let (status, body) = with_assertion(&server, "/token", &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(listener.requests(), 1);

    // Six minutes on, the cached keys are stale, but a replay is refused before a new
    // fetch.
    server.clock.advance(time::Duration::minutes(6));
    let (status, body) = with_assertion(&server, "/token", &good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        listener.requests(),
        1,
        "keys fetched for a replayed assertion"
    );
}

#[tokio::test]
async fn a_failing_jwks_uri_is_not_fetched_again_for_a_minute() {
    let key = ClientKey::es256("k");
    let listener = CountingListener::start(StatusCode::INTERNAL_SERVER_ERROR, "{}").await;
    let (server, _dir) = server_with_keyed_file_client(&listener.url("/jwks")).await;
    let token = |jti: &str| {
        let assertion = key.assertion(&server, "dev-backend", jti, json!({}));
        let server = &server;
        async move { with_assertion(server, "/token", &assertion).await }
    };

    let (status, body) = token("1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(listener.requests(), 1);
    // Within the minute, every request is refused without a fetch, at any endpoint.
    server.clock.advance(time::Duration::seconds(59));
    for (n, path) in ["/token", "/introspect", "/revoke"].into_iter().enumerate() {
        let assertion = key.assertion(&server, "dev-backend", &format!("again-{n}"), json!({}));
        let (status, body) = with_assertion(&server, path, &assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
    assert_eq!(listener.requests(), 1, "a failing jwks_uri fetched again");

    // The client repairs its endpoint; after the minute careid tries once more.
    listener.answer_with(StatusCode::OK, &key.jwks().to_string());
    server.clock.advance(time::Duration::seconds(1));
    let (status, body) = token("3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(listener.requests(), 2);
}
