//! Initial access tokens for dynamic registration (issue 12, item 10): made by `careid
//! registration token issue`, they expire, can be listed and revoked; a refused one is
//! audited, as is a wrong registration access token (item 11).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_policy::one_time;
use careid_protocol::RegistrationMode;
use careid_server::cli::registration;
use careid_store::{ClientId, Clock, audit};
use careid_tests::{TestServer, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

fn metadata() -> Value {
    json!({"redirect_uris": ["https://diary.example/callback"], "client_name": "Diary"})
}

async fn token_mode() -> TestServer {
    TestServer::start_with(|config| config.registration.mode = RegistrationMode::Token).await
}

/// The kinds of audit events with `kind`, newest first.
async fn events(server: &TestServer, kind: &str) -> Vec<audit::AuditEvent> {
    audit::find_events(&server.accounts.db, None, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

#[tokio::test]
async fn an_issued_token_registers_until_it_expires() {
    let server = token_mode().await;
    let config = test_config(&server.issuer, &server.database_url);
    let (token, expires_at) = registration::issue(&config, Duration::hours(1), server.clock.now())
        .await
        .unwrap();
    assert_eq!(expires_at, server.clock.now() + Duration::hours(1));
    let (status, body) = server.register(Some(&token), &metadata()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // One second before the expiry it still works; at the expiry it does not.
    server
        .clock
        .advance(Duration::hours(1) - Duration::seconds(1));
    let (status, body) = server.register(Some(&token), &metadata()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.clock.advance(Duration::seconds(1));
    let (status, body) = server.register(Some(&token), &metadata()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token", "{body}");

    let rows = registration::list(&config, server.clock.now())
        .await
        .unwrap();
    let id = &one_time::digest(&token)[..12];
    assert!(
        rows.iter()
            .any(|r| r.starts_with(id) && r.ends_with("expired")),
        "{rows:?}"
    );
    assert_eq!(
        events(&server, "initial_access_token_refused").await.len(),
        1
    );
}

#[tokio::test]
async fn a_revoked_token_registers_no_more() {
    let server = token_mode().await;
    let config = test_config(&server.issuer, &server.database_url);
    let now = server.clock.now();
    let (kept, _) = registration::issue(&config, Duration::days(30), now)
        .await
        .unwrap();
    let (revoked, _) = registration::issue(&config, Duration::days(30), now)
        .await
        .unwrap();
    let (status, _) = server.register(Some(&revoked), &metadata()).await;
    assert_eq!(status, StatusCode::CREATED);

    let id = one_time::digest(&revoked)[..12].to_owned();
    registration::revoke(&config, &id, now).await.unwrap();
    assert!(
        registration::revoke(&config, &id, now).await.is_err(),
        "revoking twice says so"
    );
    let (status, body) = server.register(Some(&revoked), &metadata()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token", "{body}");
    // The other token is untouched.
    let (status, body) = server.register(Some(&kept), &metadata()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let rows = registration::list(&config, now).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&id) && r.contains("revoked")),
        "{rows:?}"
    );
    let kept_id = &one_time::digest(&kept)[..12];
    assert!(
        rows.iter()
            .any(|r| r.starts_with(kept_id) && r.ends_with("active")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_wrong_registration_access_token_is_audited() {
    let server = TestServer::start().await;
    let app = server.register_ok(&metadata()).await;
    let client_id = app["client_id"].as_str().unwrap();
    let uri = app["registration_client_uri"].as_str().unwrap();
    let response = server
        .http()
        .get(uri)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let refused = events(&server, "registration_access_token_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0].client_id.as_ref().map(ClientId::as_str),
        Some(client_id)
    );

    // The right token is not audited as refused.
    let response = server
        .http()
        .get(uri)
        .bearer_auth(app["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        events(&server, "registration_access_token_refused")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_name_imitating_a_practice_application_is_refused() {
    let server = TestServer::start().await;
    // The shipped client files: "CarePortals CRM", "CarePortals EMR", "Client Portal".
    for name in [
        "CarePortals CRM",
        "careportals  crm",
        "CarePortaIs CRM",
        "C4rePortals EMR",
        "Client Portal Login",
        "\u{421}lient Portal",
        "careid",
    ] {
        let (status, body) = server
            .register(
                None,
                &json!({"redirect_uris": ["https://diary.example/callback"], "client_name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{name}: {body}");
    }
    let app = server.register_ok(&metadata()).await;
    // Renaming to an imitation is refused as well.
    let response = server
        .http()
        .put(app["registration_client_uri"].as_str().unwrap())
        .bearer_auth(app["registration_access_token"].as_str().unwrap())
        .json(&json!({
            "client_id": app["client_id"],
            "redirect_uris": ["https://diary.example/callback"],
            "client_name": "CarePortals  CRM",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}
