//! Every way a request must fail, and how: error pages where the client cannot be
//! trusted, error redirects where it can, RFC 6749 JSON at the token endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_store::ClientId;
use careid_tests::{
    CRM_CALLBACK, PASSWORD, TestServer, VERIFIER, assert_oauth_error, browser::param,
};
use reqwest::StatusCode;

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_gives_no_code() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let page = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let again = browser
        .submit(
            &page,
            &[
                ("email", "ada@example.org"),
                ("password", "Wrong-Password-1"),
            ],
        )
        .await
        .page();
    assert!(again.body.contains("incorrect"), "{}", again.body);
    assert!(
        again
            .form()
            .and_then(|f| f.password_input().cloned())
            .is_some(),
        "the form is shown again"
    );
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_as_a_wrong_password() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let page = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let wrong = browser
        .submit(
            &page,
            &[
                ("email", "ada@example.org"),
                ("password", "Wrong-Password-1"),
            ],
        )
        .await
        .page();
    let page = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let unknown = browser
        .submit(
            &page,
            &[
                ("email", "nobody@example.org"),
                ("password", "Wrong-Password-1"),
            ],
        )
        .await
        .page();
    assert_eq!(wrong.status, unknown.status);
    let message = |body: &str| {
        body.lines()
            .find(|l| l.contains("incorrect"))
            .map(str::trim)
            .map(str::to_owned)
    };
    assert_eq!(message(&wrong.body), message(&unknown.body));
}

#[tokio::test]
async fn an_unknown_client_gets_an_error_page_and_no_redirect() {
    let server = TestServer::start().await;
    let page = server
        .browser()
        .get(&server.authorize_url("nobody", CRM_CALLBACK, &[]))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location.is_none());
    assert!(page.body.contains("not registered"), "{}", page.body);
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_no_redirect() {
    let server = TestServer::start().await;
    for uri in [
        "http://evil.example/callback",
        "http://127.0.0.1:8081/callback/",
        "http://127.0.0.1:8082/callback",
    ] {
        let page = server
            .browser()
            .get(&server.authorize_url("crm", uri, &[]))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.location.is_none(), "{uri} must not be redirected to");
    }
    let missing = server
        .browser()
        .get(&server.authorize_url("crm", "", &[]))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.location.is_none());
}

#[tokio::test]
async fn other_bad_requests_are_redirected_back_with_an_error_and_the_state() {
    let server = TestServer::start().await;
    let cases = [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("code_challenge_method", "S512")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
    ];
    for (extra, error) in cases {
        let page = server
            .browser()
            .get(&server.authorize_url("crm", CRM_CALLBACK, &extra))
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{extra:?}");
        let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        assert!(location.as_str().starts_with(CRM_CALLBACK));
        assert_eq!(
            param(&location, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(param(&location, "state").as_deref(), Some("st4te"));
        assert_eq!(
            param(&location, "iss").as_deref(),
            Some(server.url.as_str())
        );
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_an_invalid_request() {
    let server = TestServer::start().await;
    let url = format!(
        "{}&scope=openid",
        server.authorize_url("crm", CRM_CALLBACK, &[])
    );
    let page = server.browser().get(&url).await;
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
}

/// Where careid sent the browser for an /authorize URL: its error, or `None` when it
/// went on to the sign-in page.
async fn authorize_error(server: &TestServer, url: &str) -> Option<String> {
    let page = server.browser().get(url).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.unwrap();
    if location.starts_with("/sign-in?request=") {
        return None;
    }
    assert!(location.starts_with(CRM_CALLBACK), "{location}");
    param(&url::Url::parse(&location).unwrap(), "error")
}

#[tokio::test]
async fn state_nonce_and_login_hint_may_hold_512_bytes_and_no_more() {
    let server = TestServer::start().await;
    let at_limit = "s".repeat(512);
    let past_limit = "s".repeat(513);
    for name in ["state", "nonce", "login_hint"] {
        let url = server.authorize_url("crm", CRM_CALLBACK, &[(name, &at_limit)]);
        assert_eq!(authorize_error(&server, &url).await, None, "{name}");
        let url = server.authorize_url("crm", CRM_CALLBACK, &[(name, &past_limit)]);
        assert_eq!(
            authorize_error(&server, &url).await.as_deref(),
            Some("invalid_request"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_600_byte_state_is_refused_back_to_the_client() {
    let server = TestServer::start().await;
    let state = "x".repeat(600);
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("state", &state)]);
    let page = server.browser().get(&url).await;
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert!(location.as_str().starts_with(CRM_CALLBACK), "{location}");
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn an_authorization_request_may_be_8_kib_long_and_no_longer() {
    let server = TestServer::start().await;
    let base = server.authorize_url("crm", CRM_CALLBACK, &[]);
    let query_len = base.len() - base.find('?').unwrap() - 1;
    // An unknown parameter pads the query to exactly 8 KiB, then one byte more.
    let padding = |extra: usize| {
        let room = 8 * 1024 - query_len - "&padding=".len() + extra;
        format!("{base}&padding={}", "p".repeat(room))
    };
    assert_eq!(authorize_error(&server, &padding(0)).await, None);
    assert_eq!(
        authorize_error(&server, &padding(1)).await.as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn an_authorization_request_may_have_64_parameters_and_no_more() {
    let server = TestServer::start().await;
    let base = server.authorize_url("crm", CRM_CALLBACK, &[]);
    let given = url::Url::parse(&base).unwrap().query_pairs().count();
    let with = |count: usize| {
        let extra: String = (given..count).map(|i| format!("&x{i}=1")).collect();
        format!("{base}{extra}")
    };
    assert_eq!(authorize_error(&server, &with(64)).await, None);
    assert_eq!(
        authorize_error(&server, &with(65)).await.as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn a_64_kib_token_request_of_distinct_parameters_is_an_invalid_request() {
    let server = TestServer::start().await;
    let mut body = String::from("grant_type=client_credentials");
    let mut i = 0;
    while body.len() < 64 * 1024 - 16 {
        body.push_str(&format!("&p{i}="));
        i += 1;
    }
    body.push_str(&"z".repeat(64 * 1024 - body.len()));
    assert_eq!(body.len(), 64 * 1024);
    assert_token_body_refused(&server, body).await;
}

#[tokio::test]
async fn a_token_request_over_64_kib_is_an_invalid_request() {
    let server = TestServer::start().await;
    let body = format!(
        "grant_type=client_credentials&pad={}",
        "z".repeat(64 * 1024)
    );
    assert_token_body_refused(&server, body).await;
}

#[tokio::test]
async fn plain_pkce_is_refused_for_every_client_and_not_advertised() {
    let server = TestServer::start().await;
    // The CRM is confidential: even so, plain (explicit, or implied by a missing
    // method, RFC 7636 §4.3) is refused; RFC 9700 §2.1.1 leaves S256.
    for extra in [
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", VERIFIER), ("code_challenge_method", "")],
    ] {
        let url = server.authorize_url("crm", CRM_CALLBACK, &extra);
        assert_eq!(
            authorize_error(&server, &url).await.as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
    }
    let discovery: serde_json::Value = server.discovery().await;
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}

#[tokio::test]
async fn authorize_accepts_a_form_post() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let url = url::Url::parse(&server.authorize_url("crm", CRM_CALLBACK, &[])).unwrap();
    let fields: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let browser = server.browser();
    let page = browser
        .post(&format!("{}/authorize", server.url), &fields)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/sign-in?request="));
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let server = TestServer::start().await;
    let page = server
        .browser()
        .get(&server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "none")]))
        .await;
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert!(location.as_str().starts_with(CRM_CALLBACK));
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&location, "state").as_deref(), Some("st4te"));
}

#[tokio::test]
async fn prompt_login_asks_for_the_password_again() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    let landing = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "login")]))
        .await
        .page();
    assert!(
        landing
            .form()
            .and_then(|f| f.password_input().cloned())
            .is_some()
    );
    let back = browser
        .submit(
            &landing,
            &[("email", "ada@example.org"), ("password", PASSWORD)],
        )
        .await
        .left();
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn max_age_past_the_sign_in_asks_for_the_password_again() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, "ada@example.org").await;
    server.clock.advance(time::Duration::seconds(61));
    let at_limit = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[("max_age", "61")]))
        .await
        .left();
    assert!(
        param(&at_limit, "code").is_some(),
        "61 s after sign-in, max_age=61 still holds"
    );
    let past = browser
        .visit(&server.authorize_url("crm", CRM_CALLBACK, &[("max_age", "60")]))
        .await
        .page();
    assert!(
        past.form()
            .and_then(|f| f.password_input().cloned())
            .is_some()
    );
}

#[tokio::test]
async fn a_code_cannot_be_redeemed_twice_and_the_replay_revokes_its_tokens() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    let (status, first) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(second["error"], "invalid_grant");
    // RFC 6749 §4.1.2: what the code produced is revoked.
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_expires_after_a_minute() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    server.clock.advance(time::Duration::seconds(60));
    let (status, body) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_one_second_before_expiry_is_redeemed() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    server.clock.advance(time::Duration::seconds(59));
    let (status, _) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_missing_or_wrong_pkce_verifier_is_refused() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let basic = Some(("crm", "crm-demo-secret"));
    let code = server.crm_code(&browser, "ada@example.org").await;
    let (status, body) = server
        .token(
            basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CRM_CALLBACK),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let code = server.crm_code(&browser, "ada@example.org").await;
    let wrong = VERIFIER.replace('a', "b");
    let (status, body) = server
        .token(
            basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CRM_CALLBACK),
                ("code_verifier", &wrong),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_code_needs_the_redirect_uri_of_its_request() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn another_client_cannot_redeem_the_crm_code() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    let (status, body) = server
        .token(
            Some(("emr", "emr-demo-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CRM_CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_token_reused_after_rotation_revokes_its_family() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    let (_, tokens) = server.crm_exchange(&code).await;
    let basic = Some(("crm", "crm-demo-secret"));
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = server
        .token(
            basic,
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    // The old token again: refused, and the family with it.
    let (status, body) = server
        .token(
            basic,
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = server
        .token(
            basic,
            &[("grant_type", "refresh_token"), ("refresh_token", &second)],
        )
        .await;
    // The rotated-to token is refused too: the whole family is revoked.
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let browser = server.browser();
    let back = browser
        .sign_in(
            &server.authorize_url(
                "crm",
                CRM_CALLBACK,
                &[("scope", "openid email offline_access")],
            ),
            "ada@example.org",
            PASSWORD,
        )
        .await;
    let (_, tokens) = server.crm_exchange(&param(&back, "code").unwrap()).await;
    let basic = Some(("crm", "crm-demo-secret"));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = server
        .token(
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", "openid profile"),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope");
    let (status, body) = server
        .token(
            basic,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid");
}

#[tokio::test]
async fn a_wrong_client_secret_gets_401_invalid_client() {
    let server = TestServer::start().await;
    let response = server
        .http()
        .post(format!("{}/token", server.url))
        .basic_auth("crm", Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("www-authenticate").is_some());
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_client_must_use_its_registered_authentication_method() {
    let server = TestServer::start().await;
    let (status, body) = server
        .token(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "crm"),
                ("client_secret", "crm-demo-secret"),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn client_credentials_gives_an_access_token_and_nothing_else() {
    let server = TestServer::start().await;
    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported() {
    let server = TestServer::start().await;
    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "password")],
        )
        .await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}

#[tokio::test]
async fn userinfo_refuses_a_missing_or_forged_token() {
    let server = TestServer::start().await;
    let http = server.http();
    let response = http
        .get(format!("{}/userinfo", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let response = http
        .get(format!("{}/userinfo", server.url))
        .bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn userinfo_answers_by_post_as_well() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada").await;
    let code = server.crm_code(&server.browser(), "ada@example.org").await;
    let (_, tokens) = server.crm_exchange(&code).await;
    let response = server
        .http()
        .post(format!("{}/userinfo", server.url))
        .form(&[("access_token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.org");
}

#[tokio::test]
async fn a_wrong_client_secret_is_audited_with_the_client_it_claimed() {
    let server = TestServer::start().await;
    for path in ["/token", "/introspect", "/revoke"] {
        let response = server
            .post_form(
                path,
                Some(("crm", "not-the-secret")),
                &[("grant_type", "client_credentials"), ("token", "x")],
            )
            .await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let failures: Vec<_> = careid_store::audit::find_events(&server.accounts.db, None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "client_auth_failed")
        .collect();
    assert_eq!(failures.len(), 3);
    assert!(
        failures
            .iter()
            .all(|e| e.client_id.as_ref().map(ClientId::as_str) == Some("crm"))
    );
}

/// POSTs `body` as the CRM's form to /token and expects `invalid_request`.
async fn assert_token_body_refused(server: &TestServer, body: String) {
    let response = server
        .http()
        .post(format!("{}/token", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .basic_auth("crm", Some("crm-demo-secret"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_oauth_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
}
