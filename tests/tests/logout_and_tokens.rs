//! What happens to tokens and sessions after sign-in: introspection (RFC 7662),
//! revocation (RFC 7009), RP-initiated logout and back-channel logout (OIDC).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::{collections::HashMap, time::Duration};

use careid_store::Clock;
use careid_tests::{
    CRM_CALLBACK, EMR_CALLBACK, TestServer, VERIFIER, backchannel::receiver_on, browser::Browser,
    browser::Landing, browser::param, clients_dir_with,
};
use josekit::{
    jws::{ES256, JwsVerifier, RS256},
    jwt,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const CRM: (&str, &str) = ("crm", "crm-demo-secret");
const EMR: (&str, &str) = ("emr", "emr-demo-secret");
const CRM_HOME: &str = "http://127.0.0.1:8081/";
const EMR_HOME: &str = "http://127.0.0.1:8082/";
const ADA: &str = "ada@example.org";

/// A server with Ada, signed in to the CRM in `browser`; the CRM's token response.
async fn crm_tokens(server: &TestServer, browser: &Browser) -> Value {
    let code = server.crm_code(browser, ADA).await;
    let (status, tokens) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn introspect(
    server: &TestServer,
    client: (&str, &str),
    token: &str,
    hint: Option<&str>,
) -> Value {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    let response = server.post_form("/introspect", Some(client), &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    response.json().await.unwrap()
}

async fn revoke(server: &TestServer, client: (&str, &str), form: &[(&str, &str)]) {
    let response = server.post_form("/revoke", Some(client), form).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "RFC 7009 §2.2: an empty body"
    );
}

async fn refresh(server: &TestServer, token: &str) -> (StatusCode, Value) {
    server
        .token(
            Some(CRM),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

fn string(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_owned()
}

/// The claims of a JWT, unverified (for reading our own ID tokens' sid and sub).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Where `prompt=none` sends `browser` for `client`: `login_required` once signed out.
async fn silent_error(
    server: &TestServer,
    browser: &Browser,
    client: &str,
    callback: &str,
) -> Option<String> {
    let back = browser
        .visit(&server.authorize_url(client, callback, &[("prompt", "none")]))
        .await
        .left();
    param(&back, "error")
}

fn end_session_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/end_session", server.url)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

// Introspection.

#[tokio::test]
async fn an_access_token_introspects_active_with_its_claims() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let access = string(&tokens, "access_token");
    let answer = introspect(&server, CRM, &access, None).await;
    let jwt = claims(&access);
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "crm");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], careid_tests::OFFLINE_SCOPE);
    assert_eq!(answer["iss"], server.issuer.as_str());
    for key in ["sub", "exp", "iat", "aud", "jti"] {
        assert_eq!(answer[key], jwt[key], "{key}");
    }
}

#[tokio::test]
async fn a_refresh_token_introspects_active_with_its_grant() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let answer = introspect(&server, CRM, &string(&tokens, "refresh_token"), None).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "crm");
    assert_eq!(answer["scope"], careid_tests::OFFLINE_SCOPE);
    assert_eq!(answer["sub"], claims(&string(&tokens, "id_token"))["sub"]);
    assert!(answer["exp"].as_i64().unwrap() > answer["iat"].as_i64().unwrap());
}

#[tokio::test]
async fn a_wrong_token_type_hint_is_not_trusted_and_the_token_is_still_found() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let access = string(&tokens, "access_token");
    let refresh = string(&tokens, "refresh_token");
    let answer = introspect(&server, CRM, &access, Some("refresh_token")).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "Bearer");
    let answer = introspect(&server, CRM, &refresh, Some("access_token")).await;
    assert_eq!(answer["active"], true);
    let answer = introspect(&server, CRM, &refresh, Some("made_up_hint")).await;
    assert_eq!(answer["active"], true, "an unknown hint is ignored");
}

#[tokio::test]
async fn another_client_asking_about_a_crm_token_learns_only_that_it_is_inactive() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    for token in ["access_token", "refresh_token"] {
        let answer = introspect(&server, EMR, &string(&tokens, token), None).await;
        assert_eq!(answer, json!({ "active": false }), "{token}");
    }
    let answer = introspect(&server, EMR, "not-a-token", None).await;
    assert_eq!(answer, json!({ "active": false }));
}

#[tokio::test]
async fn introspection_with_bad_or_missing_client_credentials_is_invalid_client() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let access = string(&tokens, "access_token");
    for basic in [Some(("crm", "wrong-secret")), Some(("nobody", "x")), None] {
        let response = server
            .post_form("/introspect", basic, &[("token", &access)])
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{basic:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
}

#[tokio::test]
async fn a_public_client_may_not_introspect() {
    let server = TestServer::start().await;
    let response = server
        .post_form(
            "/introspect",
            None,
            &[("client_id", "client-portal"), ("token", "anything")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn an_access_token_is_active_until_the_second_before_it_expires_and_not_at_expiry() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let access = string(&tokens, "access_token");
    let lifetime = tokens["expires_in"].as_i64().unwrap();
    server.clock.advance(time::Duration::seconds(lifetime - 1));
    assert_eq!(
        introspect(&server, CRM, &access, None).await["active"],
        true
    );
    server.clock.advance(time::Duration::seconds(1));
    assert_eq!(
        introspect(&server, CRM, &access, None).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_introspects_inactive_and_its_successor_active() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let first = string(&tokens, "refresh_token");
    let (status, rotated) = refresh(&server, &first).await;
    assert_eq!(status, StatusCode::OK);
    let second = string(&rotated, "refresh_token");
    assert_eq!(
        introspect(&server, CRM, &first, None).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&server, CRM, &second, None).await["active"],
        true
    );
}

#[tokio::test]
async fn a_disabled_accounts_access_token_introspects_inactive() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let access = string(&tokens, "access_token");
    assert_eq!(
        introspect(&server, CRM, &access, None).await["active"],
        true
    );
    server
        .accounts
        .disable(server.accounts.account_by_email(ADA).await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(
        introspect(&server, CRM, &access, None).await,
        json!({ "active": false })
    );
}

// Revocation.

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_whole_family() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let first = string(&tokens, "refresh_token");
    let (_, rotated) = refresh(&server, &first).await;
    let second = string(&rotated, "refresh_token");

    // The older token of the family is revoked; the newer one goes with it.
    revoke(
        &server,
        CRM,
        &[("token", &first), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(
        introspect(&server, CRM, &second, None).await,
        json!({ "active": false })
    );
    let (status, body) = refresh(&server, &second).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_revoked_access_token_introspects_inactive_and_userinfo_refuses_it() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    let access = string(&tokens, "access_token");
    assert_eq!(server.userinfo(&access).await.status(), StatusCode::OK);

    // The hint is wrong on purpose: it is only a hint.
    revoke(
        &server,
        CRM,
        &[("token", &access), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(
        introspect(&server, CRM, &access, None).await,
        json!({ "active": false })
    );
    assert_eq!(
        server.userinfo(&access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The refresh token of the same grant is a separate token and still works.
    let (status, _) = refresh(&server, &string(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn another_clients_token_is_not_revoked_but_the_answer_is_still_200() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let tokens = crm_tokens(&server, &server.browser()).await;
    for token in ["access_token", "refresh_token"] {
        revoke(&server, EMR, &[("token", &string(&tokens, token))]).await;
        let answer = introspect(&server, CRM, &string(&tokens, token), None).await;
        assert_eq!(answer["active"], true, "{token} survives");
    }
    revoke(&server, EMR, &[("token", "no-such-token")]).await;
}

#[tokio::test]
async fn revocation_needs_client_authentication_and_a_token() {
    let server = TestServer::start().await;
    let response = server
        .post_form("/revoke", Some(("crm", "wrong")), &[("token", "x")])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let response = server.post_form("/revoke", Some(CRM), &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn discovery_advertises_introspection_revocation_and_logout() {
    let server = TestServer::start().await;
    let doc: Value = server.discovery().await;
    let issuer = &server.issuer;
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{issuer}/introspect")
    );
    assert_eq!(doc["revocation_endpoint"], format!("{issuer}/revoke"));
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/end_session"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

// RP-initiated logout.

#[tokio::test]
async fn logout_with_an_id_token_hint_returns_to_the_crm_with_state_and_ends_sso() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let tokens = crm_tokens(&server, &browser).await;
    assert_eq!(
        silent_error(&server, &browser, "emr", EMR_CALLBACK).await,
        None
    );

    let url = end_session_url(
        &server,
        &[
            ("id_token_hint", &string(&tokens, "id_token")),
            ("post_logout_redirect_uri", CRM_HOME),
            ("state", "bye 1"),
        ],
    );
    let back = browser.visit(&url).await.left();
    assert_eq!(back.as_str(), "http://127.0.0.1:8081/?state=bye+1");
    server.assert_signed_out_everywhere(&browser).await;
}

#[tokio::test]
async fn logout_by_post_with_a_hint_and_no_redirect_uri_ends_on_the_signed_out_page() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let tokens = crm_tokens(&server, &browser).await;
    let posted = browser
        .post(
            "/end_session",
            &[("id_token_hint".into(), string(&tokens, "id_token"))],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(posted.location.as_deref(), Some("/signed-out"));
    let page = browser.follow(posted).await.page();
    assert!(page.body.contains("You are signed out"), "{}", page.body);
    assert_eq!(
        silent_error(&server, &browser, "crm", CRM_CALLBACK)
            .await
            .as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn a_cross_site_logout_post_without_the_cookie_comes_back_by_get_and_asks() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let tokens = crm_tokens(&server, &browser).await;
    // SameSite=Lax: the browser does not send the cookie with an RP's cross-site POST.
    let response = server
        .post_form(
            "/end_session",
            None,
            &[
                ("id_token_hint", &string(&tokens, "id_token")),
                ("post_logout_redirect_uri", CRM_HOME),
                ("state", "x"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/end_session?"), "{location}");
    // The top-level GET that follows does carry it. The hint stayed behind (it must
    // not go into a URL), so the person confirms.
    let page = browser.visit(location).await.page();
    let back = browser.submit(&page, &[]).await.left();
    assert_eq!(back.as_str(), "http://127.0.0.1:8081/?state=x");
    assert_eq!(
        silent_error(&server, &browser, "crm", CRM_CALLBACK)
            .await
            .as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn an_expired_id_token_hint_still_signs_the_session_out() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let tokens = crm_tokens(&server, &browser).await;
    let id_token = string(&tokens, "id_token");
    let exp = claims(&id_token)["exp"].as_i64().unwrap();
    // Keep the session in use (idle limit 30 minutes) until the ID token has expired.
    while server.clock.now().unix_timestamp() <= exp {
        server.clock.advance(time::Duration::minutes(20));
        assert_eq!(
            silent_error(&server, &browser, "crm", CRM_CALLBACK).await,
            None
        );
    }
    let url = end_session_url(
        &server,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", CRM_HOME),
        ],
    );
    assert_eq!(browser.visit(&url).await.left().as_str(), CRM_HOME);
    assert_eq!(
        silent_error(&server, &browser, "crm", CRM_CALLBACK)
            .await
            .as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn a_foreign_post_logout_redirect_uri_gets_an_error_page_and_no_redirect() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let tokens = crm_tokens(&server, &browser).await;
    let id_token = string(&tokens, "id_token");
    for (hint, client_id, uri) in [
        (Some(id_token.as_str()), None, EMR_HOME),
        (Some(id_token.as_str()), None, "https://evil.example/"),
        (None, Some("crm"), "http://127.0.0.1:8081"),
        (None, None, CRM_HOME),
        (None, Some("no-such-client"), CRM_HOME),
        (Some(id_token.as_str()), Some("emr"), EMR_HOME),
    ] {
        let mut params = vec![("post_logout_redirect_uri", uri), ("state", "s")];
        params.extend(hint.map(|h| ("id_token_hint", h)));
        params.extend(client_id.map(|c| ("client_id", c)));
        let page = browser.get(&end_session_url(&server, &params)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{params:?}");
        assert!(page.location.is_none(), "{params:?}");
    }
    // Nothing was signed out.
    assert_eq!(
        silent_error(&server, &browser, "crm", CRM_CALLBACK).await,
        None
    );
}

#[tokio::test]
async fn a_tampered_id_token_hint_gets_an_error_page_and_the_session_survives() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let tokens = crm_tokens(&server, &browser).await;
    let mut tampered = string(&tokens, "id_token");
    tampered.insert(tampered.len() - 3, 'A');
    let access = string(&tokens, "access_token");
    for hint in [tampered.as_str(), access.as_str(), "junk"] {
        let page = browser
            .get(&end_session_url(&server, &[("id_token_hint", hint)]))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.location.is_none());
    }
    assert_eq!(
        silent_error(&server, &browser, "crm", CRM_CALLBACK).await,
        None
    );
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_then_returns_to_the_client() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    crm_tokens(&server, &browser).await;
    let url = end_session_url(
        &server,
        &[
            ("client_id", "crm"),
            ("post_logout_redirect_uri", CRM_HOME),
            ("state", "xyz"),
        ],
    );
    let page = browser.visit(&url).await.page();
    assert!(page.url.contains("/sign-out?"), "{}", page.url);
    assert!(page.body.contains("CarePortals CRM"), "{}", page.body);
    // Asking signed nobody out.
    assert_eq!(
        silent_error(&server, &browser, "emr", EMR_CALLBACK).await,
        None
    );

    let back = browser.submit(&page, &[]).await.left();
    assert_eq!(back.as_str(), "http://127.0.0.1:8081/?state=xyz");
    server.assert_signed_out_everywhere(&browser).await;
}

#[tokio::test]
async fn logout_with_nothing_at_all_asks_first_and_then_says_signed_out() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    crm_tokens(&server, &browser).await;
    let page = browser.visit("/end_session").await.page();
    let done = browser.submit(&page, &[]).await.page();
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("You are signed out"));
    assert_eq!(
        silent_error(&server, &browser, "crm", CRM_CALLBACK)
            .await
            .as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn a_hint_from_another_session_asks_before_signing_this_one_out() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let other = server.browser();
    let old = crm_tokens(&server, &other).await;
    let browser = server.browser();
    crm_tokens(&server, &browser).await;
    let url = end_session_url(
        &server,
        &[
            ("id_token_hint", &string(&old, "id_token")),
            ("post_logout_redirect_uri", CRM_HOME),
        ],
    );
    let page = browser.visit(&url).await.page();
    assert!(page.url.contains("/sign-out?"), "{}", page.url);
    // Neither session was ended by the link.
    for b in [&browser, &other] {
        assert_eq!(silent_error(&server, b, "crm", CRM_CALLBACK).await, None);
    }
}

#[tokio::test]
async fn logout_without_a_session_goes_straight_back_to_the_client() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let url = end_session_url(
        &server,
        &[
            ("client_id", "crm"),
            ("post_logout_redirect_uri", CRM_HOME),
            ("state", "s"),
        ],
    );
    match browser.visit(&url).await {
        Landing::Left(back) => assert_eq!(back.as_str(), "http://127.0.0.1:8081/?state=s"),
        Landing::Page(page) => panic!("expected a redirect, got {}", page.body),
    }
}

// Back-channel logout.

/// A relying party's back-channel endpoint on loopback: each POSTed form goes to the
/// channel.
async fn logout_listener() -> (String, mpsc::UnboundedReceiver<HashMap<String, String>>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let addr = receiver_on("127.0.0.1:0".parse().unwrap(), "/backchannel", sender).await;
    (format!("http://{addr}"), receiver)
}

/// A server whose clients include `rp`, with its back-channel endpoint at `base`.
async fn server_with_rp(base: &str) -> (TestServer, tempfile::TempDir) {
    let rp = format!(
        r#"client_id = "rp"
name = "Back-channel RP"
secret = "rp-demo-secret"
redirect_uris = ["{base}/callback"]
post_logout_redirect_uris = ["{base}/bye"]
backchannel_logout_uri = "{base}/backchannel"
allow_private_network = true
backchannel_logout_session_required = true
id_token_signed_response_alg = "ES256"
first_party = true
"#
    );
    let dir = clients_dir_with(&[("rp.toml", &rp)]);
    let path = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    server.add_account(ADA, "Ada").await;
    (server, dir)
}

/// Signs `browser` in to the RP and returns its token response.
async fn rp_tokens(server: &TestServer, browser: &Browser, base: &str) -> Value {
    let callback = format!("{base}/callback");
    let url = server.authorize_url("rp", &callback, &[]);
    let back = match browser.visit(&url).await {
        Landing::Left(back) => back,
        Landing::Page(_) => browser.sign_in(&url, ADA, careid_tests::PASSWORD).await,
    };
    let code = param(&back, "code").unwrap();
    let (status, tokens) = server
        .token(
            Some(("rp", "rp-demo-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &callback),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// The next logout token the listener receives, within ten seconds (a network delivery,
/// not an expiry).
async fn next_logout_token(
    receiver: &mut mpsc::UnboundedReceiver<HashMap<String, String>>,
) -> String {
    let form = tokio::time::timeout(Duration::from_secs(10), receiver.recv())
        .await
        .expect("a back-channel logout within ten seconds")
        .unwrap();
    form.get("logout_token")
        .expect("a logout_token field")
        .clone()
}

/// Verifies `token` against careid's published JWKS; returns its header and claims.
async fn verify_with_jwks(server: &TestServer, token: &str) -> (Value, Value) {
    let jwks = server
        .http()
        .get(format!("{}/jwks", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let set = josekit::jwk::JwkSet::from_bytes(&jwks).unwrap();
    let header = jwt::decode_header(token).unwrap();
    let kid = header.claim("kid").and_then(Value::as_str).unwrap();
    let jwk = set
        .get(kid)
        .into_iter()
        .next()
        .expect("the key is published");
    let verifier: Box<dyn JwsVerifier> = match header.claim("alg").and_then(Value::as_str) {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(jwk).unwrap()),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(jwk).unwrap()),
        other => panic!("unexpected alg {other:?}"),
    };
    let (payload, header) = jwt::decode_with_verifier(token, verifier.as_ref()).unwrap();
    (
        Value::Object(header.claims_set().clone()),
        Value::Object(payload.claims_set().clone()),
    )
}

#[tokio::test]
async fn rp_initiated_logout_sends_the_rp_a_logout_token_that_verifies_against_the_jwks() {
    let (base, mut receiver) = logout_listener().await;
    let (server, _clients) = server_with_rp(&base).await;
    let browser = server.browser();
    crm_tokens(&server, &browser).await;
    let tokens = rp_tokens(&server, &browser, &base).await;
    let id_claims = claims(&string(&tokens, "id_token"));

    let url = end_session_url(
        &server,
        &[
            ("id_token_hint", &string(&tokens, "id_token")),
            ("post_logout_redirect_uri", &format!("{base}/bye")),
            ("state", "done"),
        ],
    );
    let back = browser.visit(&url).await.left();
    assert_eq!(back.as_str(), format!("{base}/bye?state=done"));

    let logout_token = next_logout_token(&mut receiver).await;
    let (header, claims) = verify_with_jwks(&server, &logout_token).await;
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "ES256", "the client's ID-token algorithm");
    assert_eq!(claims["iss"], server.issuer.as_str());
    assert_eq!(claims["aud"], "rp");
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(
        claims["events"],
        json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert!(claims["jti"].is_string());
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > iat && exp - iat <= 120, "short-lived: {iat}..{exp}");
    // The CRM registered no back-channel URI; only the RP was called.
    assert!(receiver.try_recv().is_err());
}

#[tokio::test]
async fn signing_out_on_the_sign_out_page_tells_the_rp_too() {
    let (base, mut receiver) = logout_listener().await;
    let (server, _clients) = server_with_rp(&base).await;
    let browser = server.browser();
    let tokens = rp_tokens(&server, &browser, &base).await;
    let page = browser.visit("/sign-out").await.page();
    let done = browser.submit(&page, &[]).await.page();
    assert!(done.body.contains("You are signed out"));
    let (_, claims) = verify_with_jwks(&server, &next_logout_token(&mut receiver).await).await;
    assert_eq!(
        claims["sid"],
        self::claims(&string(&tokens, "id_token"))["sid"]
    );
}

#[tokio::test]
async fn only_the_session_the_rp_took_part_in_is_reported_to_it() {
    let (base, mut receiver) = logout_listener().await;
    let (server, _clients) = server_with_rp(&base).await;
    // One browser uses only the CRM, the other the RP.
    let crm_only = server.browser();
    crm_tokens(&server, &crm_only).await;
    let with_rp = server.browser();
    let tokens = rp_tokens(&server, &with_rp, &base).await;

    for browser in [&crm_only, &with_rp] {
        let page = browser.visit("/sign-out").await.page();
        browser.submit(&page, &[]).await.page();
    }
    let (_, claims) = verify_with_jwks(&server, &next_logout_token(&mut receiver).await).await;
    assert_eq!(
        claims["sid"],
        self::claims(&string(&tokens, "id_token"))["sid"]
    );
    assert!(
        receiver.try_recv().is_err(),
        "one session, one logout token"
    );
}
