//! Writes under contention, end to end: concurrent requests that each read and then write
//! the same tables must all be answered (DESIGN.md, "Storage and scale": writes never fail
//! from contention), and counters must count every request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_store::{ConnectionTrait, accounts, audit};
use careid_tests::{TestServer, assert_oauth_error};
use futures_util::future::join_all;
use reqwest::StatusCode;

const EMAIL: &str = "ada@clinic.example";

#[tokio::test]
async fn thirty_two_concurrent_refreshes_of_thirty_two_tokens_all_succeed() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let mut refresh_tokens = Vec::new();
    for _ in 0..32 {
        let code = server.crm_code(&browser, EMAIL).await;
        let (status, body) = server.crm_exchange(&code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
    }

    let server = &server;
    let refreshes = refresh_tokens.iter().map(|token| async move {
        server
            .token(
                Some(("crm", "crm-demo-secret")),
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            )
            .await
    });
    let answers = join_all(refreshes).await;

    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert!(body["refresh_token"].is_string(), "{body}");
    }
    // Each rotation happened once: the old tokens are now spent.
    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_tokens[0]),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn twenty_concurrent_wrong_passwords_are_each_counted() {
    let server = TestServer::start().await;
    let account = server.add_account(EMAIL, "Ada").await;
    // Every guesser has its own browser and its own sign-in page, as twenty attackers would.
    let authorize = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    let mut guessers = Vec::new();
    for _ in 0..20 {
        let browser = server.browser();
        let page = browser.visit(&authorize).await.page();
        guessers.push((browser, page));
    }

    let fill = [("email", EMAIL), ("password", "Tulip-Harbor-43")];
    let guesses = guessers
        .iter()
        .map(|(browser, page)| browser.submit(page, &fill));
    let landings = join_all(guesses).await;

    for landing in landings {
        // The sign-in page again, with its message: never a 500 or a 503.
        let page = landing.page();
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.form().is_some(), "{}", page.body);
    }
    let events = audit::find_events(&server.accounts.db, Some(account.id), None, 100)
        .await
        .unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(
        count("sign_in_failed"),
        20,
        "every guess is in the audit trail"
    );
    assert_eq!(
        count("account_locked"),
        1,
        "the fifth guess locked the account once"
    );
    let stored = accounts::find_by_id(&server.accounts.db, account.id)
        .await
        .unwrap()
        .unwrap();
    // The fifth failure locked the account once and restarted the count; the fifteen
    // attempts during the lock each counted.
    assert_eq!((stored.lockouts, stored.failed_attempts), (1, 15));
    assert!(stored.locked_until.is_some());
}

#[tokio::test]
async fn a_write_kept_waiting_past_its_bound_is_answered_503_with_retry_after() {
    let server = TestServer::start_with(|config| config.database_wait_ms = 300).await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let code = server.crm_code(&browser, EMAIL).await;
    let (_, body) = server.crm_exchange(&code).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
    let basic = Some(("crm", "crm-demo-secret"));

    // Another process holds the lock the rotation needs: SQLite's write lock, or on
    // PostgreSQL the refresh tokens' row locks.
    let holder = careid_store::connect(&server.database_url, 1)
        .await
        .unwrap();
    let txn = holder.begin().await.unwrap();
    txn.execute_unprepared("UPDATE refresh_tokens SET client_id = client_id")
        .await
        .unwrap();
    let response = server.post_form("/token", basic, &form).await;
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_oauth_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
    assert_eq!(retry_after.unwrap(), "1");

    // Once the lock is gone the same refresh goes through: nothing was half-written.
    txn.rollback().await.unwrap();
    let (status, body) = server.token(basic, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    holder.close().await.unwrap();
}
