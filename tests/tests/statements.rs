//! How much database work each hot operation costs: the statements and transactions
//! one request sends, counted by the store (issue #10, "fewer statements per request").
//! A budget here is the count today; a change that adds a statement to a hot path must
//! say why by raising it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_tests::{CRM_CALLBACK, OFFLINE_SCOPE, PASSWORD, TestServer, browser::param};
use reqwest::StatusCode;
use serde_json::Value;

/// What a request may cost at most.
#[derive(Debug, Clone, Copy)]
struct Budget {
    statements: u64,
    transactions: u64,
}

/// Runs `request` alone on a server without background jobs and checks what it cost.
async fn within<T>(
    server: &TestServer,
    what: &str,
    budget: Budget,
    request: impl std::future::Future<Output = T>,
) -> T {
    let before = server.db.tally();
    let out = request.await;
    let cost = server.db.tally() - before;
    println!(
        "{what}: {} statements, {} transactions",
        cost.statements, cost.transactions
    );
    assert!(
        cost.statements <= budget.statements && cost.transactions <= budget.transactions,
        "{what} cost {cost:?}, over its budget {budget:?}"
    );
    // A budget far above the cost hides a regression as well as none at all.
    assert!(
        cost.statements + 1 >= budget.statements,
        "{what} cost {cost:?}: lower its budget {budget:?}"
    );
    out
}

fn form_json(response: reqwest::Response) -> impl std::future::Future<Output = Value> {
    assert_eq!(response.status(), StatusCode::OK);
    async move { response.json::<Value>().await.unwrap() }
}

#[tokio::test]
async fn each_hot_operation_stays_within_its_statement_budget() {
    let server = TestServer::start_without_jobs().await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    let browser = server.browser();
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);

    // Sign-in with a password: the form page is rendered first, then the post counted.
    let page = browser.visit(&url).await.page();
    let form = page.form().expect("a sign-in form");
    let login = form.login_input().unwrap().name.clone();
    let secret = form.password_input().unwrap().name.clone();
    let back = within(
        &server,
        "password sign-in",
        // 13: one more than before issue 17, to ask whether the account has an
        // authenticator app once its password is right.
        Budget {
            statements: 13,
            transactions: 1,
        },
        browser.submit(&page, &[(&login, "ada@example.org"), (&secret, PASSWORD)]),
    )
    .await
    .left();
    let code = param(&back, "code").unwrap();

    let (status, tokens) = within(
        &server,
        "code exchange",
        Budget {
            statements: 4,
            transactions: 1,
        },
        server.crm_exchange(&code),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    // Single sign-on: the session is reused, no form.
    let back = within(
        &server,
        "SSO authorize",
        Budget {
            statements: 3,
            transactions: 0,
        },
        browser.visit(&url),
    )
    .await
    .left();
    let code = param(&back, "code").unwrap();
    let (status, _) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK);

    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) = within(
        &server,
        "refresh",
        Budget {
            statements: 5,
            transactions: 1,
        },
        server.token(
            Some(("crm", "crm-demo-secret")),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let access_token = refreshed["access_token"].as_str().unwrap();

    let response = within(
        &server,
        "userinfo",
        Budget {
            statements: 1,
            transactions: 0,
        },
        server.userinfo(access_token),
    )
    .await;
    let claims = form_json(response).await;
    assert_eq!(claims["email"], "ada@example.org");

    let response = within(
        &server,
        "introspection",
        Budget {
            statements: 1,
            transactions: 0,
        },
        server.post_form(
            "/introspect",
            Some(("crm", "crm-demo-secret")),
            &[("token", access_token)],
        ),
    )
    .await;
    let answer = form_json(response).await;
    assert_eq!(answer["active"], true);

    let (status, granted) = within(
        &server,
        "client credentials",
        Budget {
            statements: 0,
            transactions: 0,
        },
        server.token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "client_credentials")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
}

/// The budget check can fail: creating an account writes, so a zero budget is broken.
#[tokio::test]
#[should_panic(expected = "over its budget")]
async fn a_request_over_its_budget_is_caught() {
    let server = TestServer::start_without_jobs().await;
    let zero = Budget {
        statements: 0,
        transactions: 0,
    };
    within(
        &server,
        "account creation",
        zero,
        server.add_account("bea@example.org", "Bea"),
    )
    .await;
}
