//! PKCE for every client (issue 12, item 10): a confidential client needs a S256
//! challenge too, unless its file says `require_pkce = false`; `plain` is never
//! advertised.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_tests::{PASSWORD, TestServer, browser::param, clients_dir_with};
use reqwest::StatusCode;
use serde_json::json;

const BACKEND_CALLBACK: &str = "http://127.0.0.1:8090/callback";
const LEGACY_CALLBACK: &str = "http://127.0.0.1:8091/callback";

fn client_file(id: &str, callback: &str, extra: &str) -> String {
    format!(
        "client_id = \"{id}\"\nname = \"{id}\"\nsecret = \"{id}-secret\"\nredirect_uris = [\"{callback}\"]\nfirst_party = true\n{extra}"
    )
}

#[tokio::test]
async fn a_confidential_client_needs_pkce_unless_its_file_turns_it_off() {
    let backend = client_file("backend", BACKEND_CALLBACK, "");
    let legacy = client_file("legacy", LEGACY_CALLBACK, "require_pkce = false\n");
    let dir = clients_dir_with(&[("backend.toml", &backend), ("legacy.toml", &legacy)]);
    let clients_dir = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = clients_dir).await;
    server.add_account("ada@example.org", "Ada").await;
    assert_eq!(
        server.discovery().await["code_challenge_methods_supported"],
        json!(["S256"])
    );

    let no_pkce = [("code_challenge", ""), ("code_challenge_method", "")];
    let browser = server.browser();
    let back = browser
        .visit(&server.authorize_url("backend", BACKEND_CALLBACK, &no_pkce))
        .await
        .left();
    assert!(back.as_str().starts_with(BACKEND_CALLBACK), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
    assert!(
        param(&back, "error_description").unwrap().contains("PKCE"),
        "{back}"
    );

    // `require_pkce = false`: the same request signs in, and the code is exchanged
    // without a verifier.
    let back = browser
        .sign_in(
            &server.authorize_url("legacy", LEGACY_CALLBACK, &no_pkce),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    let code = param(&back, "code").expect("a code");
    let (status, tokens) = server
        .token(
            Some(("legacy", "legacy-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", LEGACY_CALLBACK),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
}
