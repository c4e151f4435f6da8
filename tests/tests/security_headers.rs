//! Headers every response carries (DESIGN.md, Security shape).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_tests::TestServer;

async fn discovery_headers(server: &TestServer) -> reqwest::header::HeaderMap {
    server
        .http()
        .get(format!("{}/.well-known/openid-configuration", server.url))
        .send()
        .await
        .unwrap()
        .headers()
        .clone()
}

#[tokio::test]
async fn an_https_issuer_sends_strict_transport_security() {
    let server =
        TestServer::start_with(|config| config.issuer = "https://id.clinic.example".into()).await;
    let headers = discovery_headers(&server).await;
    assert_eq!(
        headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn an_http_development_issuer_sends_no_strict_transport_security() {
    let server = TestServer::start().await;
    let headers = discovery_headers(&server).await;
    assert!(headers.get("strict-transport-security").is_none());
    assert_eq!(headers["x-content-type-options"], "nosniff");
}
