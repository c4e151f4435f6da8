//! Client addresses behind proxies (issue 12, item 5): `Forwarded` and `X-Forwarded-For`
//! are believed only from `trusted_proxies`, and then read from the right, so the audit
//! trail and every per-address limit see the client, not the load balancer, and a client
//! cannot choose the address it is counted under.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_protocol::Limit;
use careid_tests::{Browser, TestServer, with_rate_limits};
use reqwest::StatusCode;

/// One failed sign-in from `browser`; its status.
async fn fail_sign_in(browser: &Browser) -> StatusCode {
    let form = browser.visit("/sign-in").await.page();
    let fill = [("email", "nobody@clinic.example"), ("password", "Wrong-1")];
    browser.submit(&form, &fill).await.page().status
}

/// The address the newest `sign_in_failed` row names.
async fn audited_address(server: &TestServer) -> Option<String> {
    server.audit_events("sign_in_failed").await[0].ip.clone()
}

async fn behind(trusted: &[&str]) -> TestServer {
    let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
    TestServer::start_with(move |config| {
        config.trusted_proxies = trusted;
        with_rate_limits(config, |limits| {
            limits.sign_in.per_address = Limit {
                requests: 1,
                per_seconds: 60,
            };
        });
    })
    .await
}

#[tokio::test]
async fn without_trusted_proxies_a_forged_forwarded_for_is_ignored() {
    let server = behind(&[]).await;
    let forger = Browser::with_header(&server.url, "x-forwarded-for", "203.0.113.9");
    assert_eq!(fail_sign_in(&forger).await, StatusCode::OK);
    assert_eq!(audited_address(&server).await.as_deref(), Some("127.0.0.1"));

    // A forged address does not buy a fresh quota: the limit is the peer's.
    let another = Browser::with_header(&server.url, "x-forwarded-for", "198.51.100.7");
    assert_eq!(fail_sign_in(&another).await, StatusCode::TOO_MANY_REQUESTS);
    let refused = server.audit_events("rate_limited").await;
    assert_eq!(refused[0].ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_by_the_rightmost_untrusted_hop() {
    let server = behind(&["127.0.0.1/32", "10.0.0.0/8"]).await;
    // The client wrote 192.0.2.1 itself; the outer balancer (10.0.0.5) saw 203.0.113.9.
    let chain = "192.0.2.1, 203.0.113.9, 10.0.0.5";
    let client = Browser::with_header(&server.url, "x-forwarded-for", chain);
    assert_eq!(fail_sign_in(&client).await, StatusCode::OK);
    assert_eq!(
        audited_address(&server).await.as_deref(),
        Some("203.0.113.9")
    );

    // Per-address limits follow the client: another client behind the same proxy has
    // its own quota, the same one again does not.
    let other = Browser::with_header(&server.url, "x-forwarded-for", "198.51.100.7");
    assert_eq!(fail_sign_in(&other).await, StatusCode::OK);
    let again = Browser::with_header(&server.url, "x-forwarded-for", "1.1.1.1, 203.0.113.9");
    assert_eq!(fail_sign_in(&again).await, StatusCode::TOO_MANY_REQUESTS);
    let refused = server.audit_events("rate_limited").await;
    assert_eq!(refused[0].ip.as_deref(), Some("203.0.113.9"));
}

#[tokio::test]
async fn a_trusted_proxy_may_use_the_forwarded_header() {
    let server = behind(&["127.0.0.1/32"]).await;
    let client = Browser::with_header(
        &server.url,
        "forwarded",
        "for=192.0.2.1, for=\"[2001:db8:cafe::17]:4711\";proto=https",
    );
    assert_eq!(fail_sign_in(&client).await, StatusCode::OK);
    assert_eq!(
        audited_address(&server).await.as_deref(),
        Some("2001:db8:cafe::17")
    );
}

#[tokio::test]
async fn failed_client_authentication_is_audited_with_the_forwarded_address() {
    let server = behind(&["127.0.0.1/32"]).await;
    let response = server
        .http()
        .post(format!("{}/token", server.url))
        .header("x-forwarded-for", "203.0.113.9")
        .basic_auth("emr", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let failed = server.audit_events("client_auth_failed").await;
    assert_eq!(failed[0].ip.as_deref(), Some("203.0.113.9"));
}
