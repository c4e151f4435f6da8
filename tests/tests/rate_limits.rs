//! Rate limits wherever a stranger can knock (issue 12, item 7): sign-in, "forgot
//! password", current-password checks, registration and failed client authentication.
//! Over a quota careid answers 429 with `Retry-After` (a themed page, or RFC-shaped JSON
//! on protocol endpoints) and audits `rate_limited`. Quotas are small here so a test
//! reaches them quickly; the clock is the server's settable one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_mail::testing::SmtpSink;
use careid_protocol::Limit;
use careid_store::ClientId;
use careid_tests::{
    Browser, PASSWORD, TestServer, assert_oauth_error, browser::Page, with_rate_limits,
};
use reqwest::StatusCode;
use time::Duration;

/// One sign-in on the sign-in page; the page careid answers with.
async fn sign_in(browser: &Browser, email: &str, password: &str) -> Page {
    let form = browser.visit("/sign-in").await.page();
    browser
        .submit(&form, &[("email", email), ("password", password)])
        .await
        .page()
}

async fn forgot(browser: &Browser, email: &str) -> Page {
    let form = browser.visit("/forgot-password").await.page();
    browser.submit(&form, &[("email", email)]).await.page()
}

fn limit(requests: u32, per_seconds: u32) -> Limit {
    Limit {
        requests,
        per_seconds,
    }
}

#[tokio::test]
async fn the_eleventh_sign_in_from_one_address_in_a_minute_gets_429_with_retry_after() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.sign_in.per_address = limit(10, 60);
        });
    })
    .await;
    let browser = server.browser();
    // Ten different emails: the address's quota, not an account's, is what runs out.
    for n in 0..10 {
        let page = sign_in(&browser, &format!("guess{n}@clinic.example"), "Wrong-1").await;
        assert_eq!(page.status, StatusCode::OK, "attempt {n}: {}", page.body);
        assert!(page.body.contains("incorrect"), "{}", page.body);
    }

    let refused = sign_in(&browser, "guess10@clinic.example", "Wrong-1").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // One attempt comes back every 60 s / 10.
    assert_eq!(refused.retry_after.as_deref(), Some("6"));
    assert!(
        refused.body.contains("Too many attempts"),
        "{}",
        refused.body
    );
    let audited = server.audit_events("rate_limited").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].ip.as_deref(), Some("127.0.0.1"));
    assert!(audited[0].detail.contains("\"sign_in\""), "{audited:?}");

    // Once the wait is over, one more attempt is allowed.
    server.clock.advance(Duration::seconds(6));
    let page = sign_in(&browser, "guess11@clinic.example", "Wrong-1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

#[tokio::test]
async fn one_account_gets_its_own_quota_whatever_the_address() {
    let server = TestServer::start_with(|config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        with_rate_limits(config, |limits| {
            limits.sign_in.per_account = limit(3, 60);
        });
    })
    .await;
    server.add_account("ada@clinic.example", "Ada").await;
    for n in 0..3 {
        let browser =
            Browser::with_header(&server.url, "x-forwarded-for", &format!("203.0.113.{n}"));
        let page = sign_in(&browser, "ada@clinic.example", "Wrong-Password-1").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    // A fourth address, and even the right password: the account's quota is spent.
    let browser = Browser::with_header(&server.url, "x-forwarded-for", "203.0.113.99");
    let refused = sign_in(&browser, "ADA@clinic.example ", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.retry_after.as_deref(), Some("20"));
}

#[tokio::test]
async fn a_forgot_password_flood_from_one_address_gets_429_and_sends_no_more_mail() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| {
        config.mail = mail;
        with_rate_limits(config, |limits| {
            limits.forgot_password.per_address = limit(2, 3600);
        });
    })
    .await;
    for n in 0..6 {
        server
            .add_account(&format!("person{n}@clinic.example"), "Someone")
            .await;
    }
    let browser = server.browser();
    for n in 0..2 {
        let page = forgot(&browser, &format!("person{n}@clinic.example")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    for n in 2..5 {
        let page = forgot(&browser, &format!("person{n}@clinic.example")).await;
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
        assert_eq!(page.retry_after.as_deref(), Some("1800"));
    }
    let mut first_two = [sink.next_message().await, sink.next_message().await];
    first_two.sort();
    assert!(first_two[0].contains("To: person0@clinic.example"));
    assert!(first_two[1].contains("To: person1@clinic.example"));

    // Half an hour later the address may ask once more; the next mail is that one, so
    // the refused requests sent none.
    server.clock.advance(Duration::minutes(30));
    let page = forgot(&browser, "person5@clinic.example").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let next = sink.next_message().await;
    assert!(next.contains("To: person5@clinic.example"), "{next}");
    assert!(sink.try_next_message().is_none());
}

#[tokio::test]
async fn client_secret_guessing_at_the_token_endpoint_is_refused_after_the_quota() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.client_auth_failures.per_client = limit(3, 60);
        });
    })
    .await;
    let grant = [("grant_type", "client_credentials")];
    // Successes are never charged: a busy client is not limited.
    for _ in 0..5 {
        let (status, body) = server.token(Some(("emr", "emr-demo-secret")), &grant).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for guess in 0..3 {
        let (status, body) = server
            .token(Some(("emr", &format!("guess-{guess}"))), &grant)
            .await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let response = server
        .post_form("/token", Some(("emr", "guess-3")), &grant)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "20");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    // Past the quota even the right secret is refused before it is checked, so a
    // guesser cannot tell a right guess from a wrong one.
    let (status, body) = server.token(Some(("emr", "emr-demo-secret")), &grant).await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );

    let failures = server.audit_events("client_auth_failed").await;
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(failures.iter().all(|event| {
        event.client_id.as_ref().map(ClientId::as_str) == Some("emr")
            && event.ip.as_deref() == Some("127.0.0.1")
    }));
    assert_eq!(server.audit_events("rate_limited").await.len(), 1);

    server.clock.advance(Duration::seconds(20));
    let (status, body) = server.token(Some(("emr", "emr-demo-secret")), &grant).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn guessing_at_introspection_counts_against_the_same_quota() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.client_auth_failures.per_address = limit(2, 60);
        });
    })
    .await;
    for path in ["/introspect", "/revoke"] {
        let response = server
            .post_form(path, Some(("crm", "wrong")), &[("token", "x")])
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let response = server
        .post_form(
            "/token",
            Some(("emr", "wrong")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn wrong_current_passwords_are_audited_and_limited() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.password_check.per_account = limit(2, 600);
        });
    })
    .await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    let change = async |current: &str| {
        let page = browser.visit("/account/password").await.page();
        let fill = [
            ("current_password", current),
            ("new_password", "Willow-Creek-17"),
            ("new_password_again", "Willow-Creek-17"),
        ];
        browser.submit(&page, &fill).await.page()
    };
    for _ in 0..2 {
        let page = change("Not-The-Password-1").await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    }
    let failed = server.audit_events("password_change_failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].ip.as_deref(), Some("127.0.0.1"));

    let refused = change(PASSWORD).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.retry_after.as_deref(), Some("300"));
}

#[tokio::test]
async fn registration_floods_from_one_address_are_refused() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.registration.per_address = limit(2, 3600);
        });
    })
    .await;
    let register = async || {
        server
            .http()
            .post(format!("{}/register", server.url))
            .json(&serde_json::json!({
                "client_name": "Some App",
                "redirect_uris": ["https://app.example/callback"],
            }))
            .send()
            .await
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(register().await.status(), StatusCode::CREATED);
    }
    let refused = register().await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1800");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

#[tokio::test]
async fn with_rate_limits_off_nothing_is_refused() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.enabled = false;
            limits.sign_in.per_address = limit(1, 60);
        });
    })
    .await;
    let browser = server.browser();
    for n in 0..3 {
        let page = sign_in(&browser, &format!("guess{n}@clinic.example"), "Wrong-1").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    assert!(server.audit_events("rate_limited").await.is_empty());
}

#[tokio::test]
async fn the_limits_are_on_by_default() {
    assert!(careid_server::Config::default().rate_limit.enabled);
    let server = TestServer::start_with(|config| with_rate_limits(config, |_| {})).await;
    let browser = server.browser();
    // The default allows ten attempts a minute at one account.
    for _ in 0..10 {
        let page = sign_in(&browser, "ada@clinic.example", "Wrong-1").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let refused = sign_in(&browser, "ada@clinic.example", "Wrong-1").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn pending_authorization_requests_are_capped_per_address() {
    let server = TestServer::start_with(|config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        with_rate_limits(config, |limits| {
            limits.pending_authorizations_per_address = 3;
        });
    })
    .await;
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    // Each request waits for a sign-in that never comes.
    let browser = server.browser();
    for _ in 0..3 {
        let page = browser.visit(&url).await.page();
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.url.contains("/sign-in?request="), "{}", page.url);
    }
    let refused = browser.get(&url).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert_eq!(refused.retry_after.as_deref(), Some("60"));
    assert!(refused.body.contains("Too many sign-ins are waiting"));
    let audited = server.audit_events("rate_limited").await;
    assert!(
        audited[0].detail.contains("pending_authorizations"),
        "{audited:?}"
    );

    // Another address has its own allowance.
    let elsewhere = Browser::with_header(&server.url, "x-forwarded-for", "203.0.113.9");
    assert_eq!(elsewhere.get(&url).await.status, StatusCode::SEE_OTHER);

    // Expired requests no longer count.
    server.clock.advance(Duration::minutes(31));
    let page = browser.visit(&url).await.page();
    assert!(page.url.contains("/sign-in?request="), "{}", page.url);
}

#[tokio::test]
async fn a_finished_authorization_request_frees_its_place() {
    let server = TestServer::start_with(|config| {
        with_rate_limits(config, |limits| {
            limits.pending_authorizations_per_address = 1;
        });
    })
    .await;
    server.add_account("ada@clinic.example", "Ada").await;
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    let browser = server.browser();
    let form = browser.visit(&url).await.page();
    let fill = [("email", "ada@clinic.example"), ("password", PASSWORD)];
    let back = browser.submit(&form, &fill).await.left();
    assert!(
        back.as_str().starts_with(careid_tests::CRM_CALLBACK),
        "{back}"
    );

    let other = server.browser();
    let page = other.visit(&url).await.page();
    assert!(page.url.contains("/sign-in?request="), "{}", page.url);
}
