//! Revoked means revoked (RFC 6749 §4.1.2, RFC 7009 §2.1, RFC 9700 §4.14.2): when a grant
//! is found leaked or is revoked, the access tokens already issued from it stop working
//! too, and a refresh-token family cannot be kept alive for ever by rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_tests::{TestServer, assert_oauth_error};
use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

const EMAIL: &str = "ada@clinic.example";
const CRM: Option<(&str, &str)> = Some(("crm", "crm-demo-secret"));

/// Tokens from a fresh CRM sign-in: (code, token response).
async fn signed_in(server: &TestServer) -> (String, Value) {
    let code = server.crm_code(&server.browser(), EMAIL).await;
    let (status, tokens) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (code, tokens)
}

async fn refresh(server: &TestServer, token: &str) -> (StatusCode, Value) {
    server
        .token(
            CRM,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

/// Whether the access token still works at both places that accept it.
async fn access_token_works(server: &TestServer, access_token: &str) -> bool {
    let userinfo = server.userinfo(access_token).await.status() == StatusCode::OK;
    let introspection: Value = server
        .post_form("/introspect", CRM, &[("token", access_token)])
        .await
        .json()
        .await
        .unwrap();
    let is_active = introspection["active"] == Value::Bool(true);
    assert_eq!(userinfo, is_active, "userinfo and introspection disagree");
    is_active
}

#[tokio::test]
async fn a_replayed_code_stops_the_access_token_it_was_exchanged_for() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada").await;
    let (code, tokens) = signed_in(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert!(access_token_works(&server, access).await);

    let (status, body) = server.crm_exchange(&code).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    assert!(!access_token_works(&server, access).await);
}

#[tokio::test]
async fn a_reused_refresh_token_stops_every_access_token_of_its_family() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada").await;
    let (_, first) = signed_in(&server).await;
    let old_refresh = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&server, old_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let latest_access = second["access_token"].as_str().unwrap();
    // Another sign-in of the same person is another grant, and is left alone.
    let (_, other) = signed_in(&server).await;
    let other_access = other["access_token"].as_str().unwrap();

    let (status, body) = refresh(&server, old_refresh).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    assert!(!access_token_works(&server, latest_access).await);
    assert!(!access_token_works(&server, first["access_token"].as_str().unwrap()).await);
    assert!(access_token_works(&server, other_access).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_stops_the_access_tokens_of_its_grant() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada").await;
    let (_, tokens) = signed_in(&server).await;
    let access = tokens["access_token"].as_str().unwrap();

    let revoked = server
        .post_form(
            "/revoke",
            CRM,
            &[
                ("token", tokens["refresh_token"].as_str().unwrap()),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);

    assert!(!access_token_works(&server, access).await);
}

#[tokio::test]
async fn rotation_cannot_keep_a_refresh_family_alive_past_its_cap() {
    let server = TestServer::start_with(|config| {
        config.tokens.refresh_token_days = 7;
        config.tokens.refresh_family_days = 10;
    })
    .await;
    server.add_account(EMAIL, "Ada").await;
    let (_, tokens) = signed_in(&server).await;
    let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        server.clock.advance(Duration::days(3));
        let (status, next) = refresh(&server, &refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        refresh_token = next["refresh_token"].as_str().unwrap().to_owned();
    }
    // Rotated on day 9, a 7-day token would live to day 16; the family ends on day 10.
    server.clock.advance(Duration::days(1) - Duration::SECOND);
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    server.clock.advance(Duration::SECOND);
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}
