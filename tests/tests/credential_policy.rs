//! Credential rules through the real server: inactivity expiry, reactivation, disabled
//! accounts, lockout, password change under the history rule, and the audit trail each
//! of them leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_store::{AccountId, audit};
use careid_tests::{CRM_CALLBACK, PASSWORD, TestServer, assert_oauth_error, browser::param};
use reqwest::StatusCode;
use time::Duration;

/// The audit kinds recorded for an account, newest first.
async fn audit_kinds(server: &TestServer, account_id: AccountId) -> Vec<String> {
    audit::find_events(&server.accounts.db, Some(account_id), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// A server whose refresh tokens outlive the inactivity limit, so that a refused
/// refresh after 91 days proves the account rule and not the token's own expiry.
async fn long_refresh_server() -> TestServer {
    TestServer::start_with(|c| c.tokens.refresh_token_days = 365).await
}

async fn refresh(server: &TestServer, token: &str) -> (StatusCode, serde_json::Value) {
    server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

async fn sign_in_message(server: &TestServer, email: &str, password: &str) -> String {
    let browser = server.browser();
    let page = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let after = browser
        .submit(&page, &[("email", email), ("password", password)])
        .await
        .page();
    after.body
}

#[tokio::test]
async fn an_account_idle_for_89_days_still_refreshes_and_one_idle_for_91_days_is_expired() {
    let server = long_refresh_server().await;
    let account = server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    let (_, tokens) = server.crm_exchange(&code).await;

    server.clock.advance(Duration::days(89));
    let (status, rotated) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "day 89: {rotated}");

    server.clock.advance(Duration::days(2));
    // Day 91: the account has expired, though the refresh token has not.
    let (status, body) = refresh(&server, rotated["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let page = sign_in_message(&server, "ada@example.org", PASSWORD).await;
    assert!(
        page.contains("expired because it was not used for 90 days"),
        "{page}"
    );
    assert!(
        audit_kinds(&server, account.id)
            .await
            .contains(&"account_expired".to_owned())
    );
}

#[tokio::test]
async fn the_sweep_marks_idle_accounts_expired_and_reactivation_restarts_the_clock() {
    let server = long_refresh_server().await;
    let account = server.add_account("ada@example.org", "Ada").await;
    server.clock.advance(Duration::days(91));
    assert_eq!(server.accounts.sweep_inactive().await.unwrap(), 1);

    server.accounts.reactivate(account.id).await.unwrap();
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    assert!(param(&back, "code").is_some());
    server.clock.advance(Duration::days(90));
    assert_eq!(
        server.accounts.sweep_inactive().await.unwrap(),
        0,
        "90 days after the sign-in is still within the limit"
    );

    let kinds = audit_kinds(&server, account.id).await;
    for kind in ["account_expired", "account_reactivated", "sign_in"] {
        assert!(
            kinds.contains(&kind.to_owned()),
            "{kind} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn a_disabled_account_loses_its_session_and_tokens_at_once() {
    let server = TestServer::start().await;
    let account = server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let code = server.crm_code(&browser, "ada@example.org").await;
    let (_, tokens) = server.crm_exchange(&code).await;

    server.accounts.disable(account.id).await.unwrap();
    let back = browser
        .visit(&server.authorize_url(
            "emr",
            "http://127.0.0.1:8082/callback",
            &[("prompt", "none")],
        ))
        .await
        .left();
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    let (status, _) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let userinfo = server
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    let page = sign_in_message(&server, "ada@example.org", PASSWORD).await;
    assert!(page.contains("has been disabled"), "{page}");

    server.accounts.enable(account.id).await.unwrap();
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    assert!(param(&back, "code").is_some());
    let kinds = audit_kinds(&server, account.id).await;
    assert!(
        kinds.contains(&"account_disabled".to_owned())
            && kinds.contains(&"account_enabled".to_owned())
    );
}

#[tokio::test]
async fn four_wrong_passwords_do_not_lock_the_account() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    for _ in 0..4 {
        sign_in_message(&server, "ada@example.org", "Wrong-Password-1").await;
    }
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn after_five_wrong_passwords_the_sixth_attempt_is_locked_out_even_with_the_right_one() {
    let server = TestServer::start().await;
    let account = server.add_account("ada@example.org", "Ada").await;
    for _ in 0..5 {
        let page = sign_in_message(&server, "ada@example.org", "Wrong-Password-1").await;
        assert!(page.contains("incorrect"));
    }
    let page = sign_in_message(&server, "ada@example.org", PASSWORD).await;
    assert!(page.contains("locked"), "{page}");
    // The lock lasts 15 minutes.
    server.clock.advance(Duration::minutes(15));
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    assert!(param(&back, "code").is_some());
    let kinds = audit_kinds(&server, account.id).await;
    assert!(
        kinds.contains(&"account_locked".to_owned())
            && kinds.contains(&"sign_in_failed".to_owned())
    );
}

#[tokio::test]
async fn lockout_settings_come_from_the_environment_style_config() {
    let server = TestServer::start_with(|c| c.policy.lockout.max_failures = 2).await;
    server.add_account("ada@example.org", "Ada").await;
    for _ in 0..2 {
        sign_in_message(&server, "ada@example.org", "Wrong-Password-1").await;
    }
    let page = sign_in_message(&server, "ada@example.org", PASSWORD).await;
    assert!(page.contains("locked"), "{page}");
}

/// Signs in on a fresh browser and returns it.
async fn signed_in(server: &TestServer) -> careid_tests::Browser {
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    browser
}

async fn change_password(
    browser: &careid_tests::Browser,
    current: &str,
    new: &str,
    again: &str,
) -> careid_tests::browser::Page {
    let page = browser.visit("/account/password").await.page();
    assert!(
        page.body.contains("at least 10 characters") || page.body.contains("10 characters"),
        "rules shown before typing"
    );
    browser
        .submit(
            &page,
            &[
                ("current_password", current),
                ("new_password", new),
                ("new_password_again", again),
            ],
        )
        .await
        .page()
}

#[tokio::test]
async fn a_password_change_refuses_a_reused_password_with_the_history_message() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = signed_in(&server).await;
    let page = change_password(&browser, PASSWORD, PASSWORD, PASSWORD).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("last 5") || page.body.contains("last five"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_password_change_lists_every_broken_rule_and_a_wrong_current_password() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = signed_in(&server).await;
    let page = change_password(&browser, PASSWORD, "short", "short").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let problems = page
        .body
        .split("id=\"password-problems\"")
        .nth(1)
        .unwrap()
        .split("</div>")
        .next()
        .unwrap()
        .to_owned();
    assert!(problems.matches("<li>").count() >= 3, "{problems}");
    let page = change_password(
        &browser,
        "Not-My-Password-9",
        "Brand-New-Secret-77",
        "Brand-New-Secret-77",
    )
    .await;
    assert!(
        page.body.contains("current password is not correct"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_changed_password_ends_the_other_sessions_but_not_this_one() {
    let server = TestServer::start().await;
    let account = server.add_account("ada@example.org", "Ada").await;
    let here = signed_in(&server).await;
    let elsewhere = signed_in(&server).await;
    let page = change_password(
        &here,
        PASSWORD,
        "Brand-New-Secret-77",
        "Brand-New-Secret-77",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    let none = server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "none")]);
    assert!(
        param(&here.visit(&none).await.left(), "code").is_some(),
        "this session stays"
    );
    assert_eq!(
        param(&elsewhere.visit(&none).await.left(), "error").as_deref(),
        Some("login_required")
    );
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            "Brand-New-Secret-77",
        )
        .await;
    assert!(param(&back, "code").is_some());
    assert!(
        audit_kinds(&server, account.id)
            .await
            .contains(&"password_changed".to_owned())
    );
}

#[tokio::test]
async fn failures_from_one_address_are_limited_across_accounts() {
    let server = TestServer::start_with(|c| c.policy.lockout.ip_max_failures = 3).await;
    server.add_account("ada@example.org", "Ada").await;
    // Two failures on different accounts: the address may still sign in.
    for email in ["nobody@example.org", "someone@example.org"] {
        assert!(
            sign_in_message(&server, email, "Wrong-Password-1")
                .await
                .contains("incorrect")
        );
    }
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    assert!(
        param(&back, "code").is_some(),
        "two failures are under the limit of three"
    );
    // The third failure reaches the limit: the next attempt waits, right password or not.
    sign_in_message(&server, "third@example.org", "Wrong-Password-1").await;
    let browser = server.browser();
    let page = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let refused = browser
        .submit(
            &page,
            &[("email", "ada@example.org"), ("password", PASSWORD)],
        )
        .await
        .page();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused.body.contains("too many incorrect sign-ins"),
        "{}",
        refused.body
    );
    // The window passes.
    server.clock.advance(Duration::minutes(15));
    let back = server
        .browser()
        .sign_in(
            &server.authorize_url("crm", CRM_CALLBACK, &[]),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn during_a_lock_the_right_and_a_wrong_password_get_the_same_answer_and_both_count() {
    let server = TestServer::start().await;
    let account = server.add_account("ada@example.org", "Ada").await;
    for _ in 0..5 {
        sign_in_message(&server, "ada@example.org", "Wrong-Password-1").await;
    }
    let failures = |kinds: Vec<String>| kinds.iter().filter(|k| *k == "sign_in_failed").count();
    let before = failures(audit_kinds(&server, account.id).await);

    let right = sign_in_message(&server, "ada@example.org", PASSWORD).await;
    let wrong = sign_in_message(&server, "ada@example.org", "Wrong-Password-2").await;

    for page in [&right, &wrong] {
        assert!(page.contains("locked"), "{page}");
        assert!(!page.contains("email or password is incorrect"), "{page}");
        // The owner is told the two ways back in: wait, or set a new password.
        assert!(page.contains("Try again in 15 minutes"), "{page}");
        assert!(page.contains("set a new password"), "{page}");
    }
    let after = failures(audit_kinds(&server, account.id).await);
    assert_eq!(after, before + 2, "both attempts during the lock count");
}
