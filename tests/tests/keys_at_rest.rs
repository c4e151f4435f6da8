//! Signing keys at rest and their rotation: sealed with the key-encryption key, refused
//! without it, rotated with a publish delay and retired once their tokens expire
//! (`careid keys rotate|retire`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::{path::Path, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_protocol::{Kek, SigningAlg};
use careid_server::{App, cli::keys};
use careid_store::{Clock, ManualClock, signing_keys};
use careid_tests::{TestServer, test_config};
use reqwest::StatusCode;
use time::Duration;

/// Writes a fresh KEK into `dir` and returns its path.
fn kek_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("careid.kek");
    std::fs::write(&path, format!("{}\n", Kek::generate())).unwrap();
    path
}

/// The stored private parts of every signing key.
async fn stored_private_keys(database_url: &str) -> Vec<String> {
    let db = careid_store::connect(database_url, 1).await.unwrap();
    let keys = signing_keys::find_all(&db).await.unwrap();
    assert!(!keys.is_empty());
    keys.into_iter().map(|key| key.private_pem).collect()
}

/// The `kid` in a JWT's header.
fn kid_of(token: &serde_json::Value) -> String {
    let head = token.as_str().unwrap().split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The key ids the server publishes.
async fn published_kids(server: &TestServer) -> Vec<String> {
    let jwks: serde_json::Value = server
        .http()
        .get(format!("{}/jwks", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

/// Signs in (or reuses the session) and returns the CRM's token response.
async fn crm_tokens(server: &TestServer, browser: &careid_tests::Browser) -> serde_json::Value {
    let code = server.crm_code(browser, "ada@example.org").await;
    let (status, tokens) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

#[tokio::test]
async fn with_a_kek_no_private_key_is_stored_as_pem_and_plain_keys_are_sealed_at_start() {
    let plain = TestServer::start().await;
    assert!(
        stored_private_keys(&plain.database_url)
            .await
            .iter()
            .all(|pem| pem.contains("PRIVATE KEY"))
    );
    let kids_before = published_kids(&plain).await;

    // The same database, started again with a KEK: the keys are sealed, and unchanged.
    let dir = tempfile::tempdir().unwrap();
    let kek = kek_file(dir.path());
    let sealed = TestServer::start_on(dir, plain.database_url.clone(), None, |config| {
        config.keys.key_encryption_key_file = Some(kek);
    })
    .await;
    for stored in stored_private_keys(&sealed.database_url).await {
        assert!(stored.starts_with("kek1:"), "{stored}");
        assert!(!stored.contains("PRIVATE KEY"));
    }
    assert_eq!(published_kids(&sealed).await, kids_before);

    // And it signs with them.
    sealed.add_account("ada@example.org", "Ada").await;
    let tokens = crm_tokens(&sealed, &sealed.browser()).await;
    assert!(kids_before.contains(&kid_of(&tokens["id_token"])));
    let userinfo = sealed
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(userinfo.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_start_over_sealed_keys_without_the_kek_or_with_another_fails_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek_file(dir.path());
    let server = TestServer::start_with(|config| {
        config.keys.key_encryption_key_file = Some(kek);
    })
    .await;
    let clock = Arc::new(ManualClock::starting_now());

    let without = test_config(&server.issuer, &server.database_url);
    let err = App::build(&without, clock.clone()).await.err().unwrap();
    let message = format!("{err:#}");
    assert!(
        message.contains("encrypted") && message.contains("CAREID_KEK"),
        "{message}"
    );

    let other_dir = tempfile::tempdir().unwrap();
    let mut with_another = test_config(&server.issuer, &server.database_url);
    with_another.keys.key_encryption_key_file = Some(kek_file(other_dir.path()));
    let err = App::build(&with_another, clock).await.err().unwrap();
    assert!(format!("{err:#}").contains("does not open"), "{err:#}");
}

#[tokio::test]
async fn a_rotated_key_is_published_at_once_signs_after_the_delay_and_old_tokens_still_verify() {
    let server = TestServer::start_with(|config| {
        // Old access tokens must outlive the publish delay to be checked after it.
        config.tokens.access_token_seconds = 3600;
    })
    .await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let config = test_config(&server.issuer, &server.database_url);
    let before = published_kids(&server).await;
    let old_tokens = crm_tokens(&server, &browser).await;

    let added = keys::rotate(&config, &SigningAlg::ALL, server.clock.now())
        .await
        .unwrap();
    assert_eq!(added.len(), SigningAlg::ALL.len());
    assert!(added.iter().all(|key| key.generation == 2));
    server.reload_keys().await;

    // Published at once, beside the old keys.
    let published = published_kids(&server).await;
    assert_eq!(published.len(), 2 * before.len());
    assert!(added.iter().all(|key| published.contains(&key.kid)));
    assert!(before.iter().all(|kid| published.contains(kid)));

    // Not signing yet: one second before the delay ends, the old keys still sign, and
    // the old key cannot be retired, since it is the only one that signs.
    server
        .clock
        .advance(Duration::minutes(10) - Duration::SECOND);
    let tokens = crm_tokens(&server, &browser).await;
    for token in ["id_token", "access_token"] {
        assert_eq!(
            kid_of(&tokens[token]),
            kid_of(&old_tokens[token]),
            "{token}"
        );
    }
    let old_id_kid = kid_of(&old_tokens["id_token"]);
    let refused = keys::retire(&config, &old_id_kid, server.clock.now())
        .await
        .unwrap_err();
    assert!(format!("{refused:#}").contains("only"), "{refused:#}");

    // Once the delay has passed, the new keys sign; the old tokens still verify.
    server.clock.advance(Duration::SECOND);
    let tokens = crm_tokens(&server, &browser).await;
    for token in ["id_token", "access_token"] {
        let kid = kid_of(&tokens[token]);
        assert!(added.iter().any(|key| key.kid == kid), "{token}: {kid}");
    }
    let old_access = old_tokens["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo(old_access).await.status(), StatusCode::OK);

    // Retired, the old key stays published until its tokens have expired, then goes.
    let until = keys::retire(&config, &old_id_kid, server.clock.now())
        .await
        .unwrap();
    server.reload_keys().await;
    assert!(published_kids(&server).await.contains(&old_id_kid));
    server
        .clock
        .advance(until - server.clock.now() + Duration::SECOND);
    server.reload_keys().await;
    assert!(!published_kids(&server).await.contains(&old_id_kid));

    // Both administrator actions are in the audit trail.
    let kinds: Vec<String> = careid_store::audit::find_events(&server.accounts.db, None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect();
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(count("signing_key_added"), added.len());
    assert_eq!(count("signing_key_retired"), 1);
}

#[tokio::test]
async fn with_a_kek_an_authenticator_apps_secret_is_sealed_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek_file(dir.path());
    let server = TestServer::start_with(|config| {
        config.keys.key_encryption_key_file = Some(kek);
    })
    .await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    let page = browser.visit("/account/security").await.page();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    let ada = server
        .accounts
        .account_by_email("ada@example.org")
        .await
        .unwrap();
    let factor = careid_store::totp_factors::find_by_account(&server.accounts.db, ada.id)
        .await
        .unwrap()
        .unwrap();
    // Sealed under the key derived from the KEK, not the install secret in the database.
    assert!(
        factor.sealed_secret.starts_with("totp2:"),
        "{}",
        factor.sealed_secret
    );
}
