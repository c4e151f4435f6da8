//! The careid session: what keeps a person signed in across portals, and what ends it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_tests::{CRM_CALLBACK, PASSWORD, TestServer, VERIFIER, browser::param, pkce_s256};
use reqwest::StatusCode;

const PORTAL_CALLBACK: &str = "http://127.0.0.1:8083/callback";

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let page = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let form = page.form().unwrap();
    let action = url::Url::parse(&page.url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    let posted = browser
        .post(
            action.as_str(),
            &form.fields(&[("email", "ada@example.org"), ("password", PASSWORD)]),
        )
        .await;
    let cookie = posted
        .set_cookies
        .iter()
        .find(|c| c.starts_with("careid_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "an http://127.0.0.1 issuer cannot use Secure cookies"
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_for_every_portal() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    let page = browser.visit("/sign-out").await.page();
    let done = browser.submit(&page, &[]).await.page();
    assert_eq!(done.status, StatusCode::OK);
    server.assert_signed_out_everywhere(&browser).await;
}

#[tokio::test]
async fn a_session_idle_for_the_limit_still_signs_in_and_one_minute_more_does_not() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    server.clock.advance(time::Duration::minutes(30));
    let back = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "none")]))
        .await
        .left();
    assert!(
        param(&back, "code").is_some(),
        "30 idle minutes is within the limit"
    );
    server.clock.advance(time::Duration::minutes(31));
    let back = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "none")]))
        .await
        .left();
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn a_public_client_must_use_pkce_with_s256() {
    let server = TestServer::start().await;
    for extra in [
        vec![("code_challenge", ""), ("code_challenge_method", "")],
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let page = server
            .browser()
            .get(&server.authorize_url("client-portal", PORTAL_CALLBACK, &extra))
            .await;
        let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        assert_eq!(
            param(&location, "error").as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
    }
}

#[tokio::test]
async fn a_public_client_redeems_its_code_with_the_verifier_alone() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let url = server.authorize_url(
        "client-portal",
        PORTAL_CALLBACK,
        &[("code_challenge", &pkce_s256(VERIFIER))],
    );
    // The portal's people sign in by emailed link or PIN, not by password: the careid
    // session a CRM sign-in started signs Ada in to the portal without a prompt.
    let crm = server.authorize_url("crm", CRM_CALLBACK, &[]);
    browser.sign_in(&crm, "ada@example.org", PASSWORD).await;
    let back = browser.visit(&url).await.left();
    let code = param(&back, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "client-portal"),
        ("code", &code),
        ("redirect_uri", PORTAL_CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = server.token(None, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string());
}

/// Whether `browser`'s careid session still signs it in to the CRM without a prompt (and
/// so counts as a use of the session).
async fn signs_in_silently(server: &TestServer, browser: &careid_tests::Browser) -> bool {
    let back = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "none")]))
        .await
        .left();
    param(&back, "code").is_some()
}

// The idle clock is kept to the minute (a use within a minute of the last recorded one
// writes nothing), so its boundary is tested on both sides.

#[tokio::test]
async fn a_use_a_minute_after_the_last_recorded_one_restarts_the_idle_clock() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    server.clock.advance(time::Duration::minutes(1));
    assert!(signs_in_silently(&server, &browser).await);
    server.clock.advance(time::Duration::minutes(30));
    assert!(
        signs_in_silently(&server, &browser).await,
        "30 idle minutes since the recorded use"
    );
}

#[tokio::test]
async fn a_use_within_a_minute_of_the_last_recorded_one_leaves_the_idle_clock_alone() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    server.clock.advance(time::Duration::seconds(59));
    assert!(signs_in_silently(&server, &browser).await);
    server.clock.advance(time::Duration::minutes(30));
    assert!(
        !signs_in_silently(&server, &browser).await,
        "30 minutes 59 seconds since the last recorded use is past the limit"
    );
}
