//! Third-party apps: dynamic client registration (RFC 7591) and its management
//! (RFC 7592), the consent page, removing an app's access from /account, and client
//! files that take effect in a running server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_store::Clock;
use careid_tests::{
    PASSWORD, TestServer, VERIFIER, assert_oauth_error,
    browser::{Browser, Landing, Page, param},
    html,
    rp::Rp,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The redirect URI of the registered test app (loopback http is allowed).
const APP_CALLBACK: &str = "http://127.0.0.1:9100/callback";

/// Registers the test app in open mode and returns the registration response.
async fn register_app(server: &TestServer, extra: Value) -> Value {
    let mut metadata = json!({
        "redirect_uris": [APP_CALLBACK],
        "client_name": "Wellness Diary",
        "logo_uri": "https://diary.example/logo.png",
        "policy_uri": "https://diary.example/privacy",
        "tos_uri": "https://diary.example/terms",
        "contacts": ["dev@diary.example"],
        "grant_types": ["authorization_code", "refresh_token"],
    });
    for (key, value) in extra.as_object().unwrap() {
        metadata[key] = value.clone();
    }
    let (status, body) = server.register(None, &metadata).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Signs in on the form `url` leads to and returns where careid went next.
async fn sign_in(browser: &Browser, url: &str, email: &str) -> Landing {
    let page = browser.visit(url).await.page();
    let form = page.form().expect("a sign-in form");
    let login = form.login_input().unwrap().name.clone();
    let secret = form.password_input().unwrap().name.clone();
    browser
        .submit(&page, &[(&login, email), (&secret, PASSWORD)])
        .await
}

/// Asserts that `landing` is the consent page and returns it.
fn consent_page(landing: Landing) -> Page {
    let page = landing.page();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.contains("/consent?request="), "{}", page.url);
    page
}

/// Presses "Deny" (the page's second form).
async fn deny(browser: &Browser, page: &Page) -> Landing {
    let form = &html::forms(&page.body)[1];
    assert!(
        form.fields(&[])
            .contains(&("decision".into(), "deny".into()))
    );
    let posted = browser.post(&form.action, &form.fields(&[])).await;
    browser.follow(posted).await
}

/// Exchanges a code of the registered app with its secret (HTTP Basic).
async fn exchange(server: &TestServer, app: &Value, code: &str) -> (StatusCode, Value) {
    server
        .token(
            Some((
                app["client_id"].as_str().unwrap(),
                app["client_secret"].as_str().unwrap(),
            )),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", APP_CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
}

fn app_id(app: &Value) -> &str {
    app["client_id"].as_str().unwrap()
}

#[tokio::test]
async fn a_registered_app_signs_a_person_in_through_the_consent_page() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    let discovery: Value = server.discovery().await;
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{}/register", server.url)
    );

    let app = register_app(&server, json!({})).await;
    assert_eq!(app["client_secret_expires_at"], 0);
    assert_eq!(app["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(app["response_types"], json!(["code"]));
    assert!(app["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(
        app["registration_client_uri"],
        format!("{}/register/{}", server.url, app_id(&app))
    );
    assert!(
        app["client_secret"].as_str().unwrap().len() >= 43,
        "256 bits"
    );

    // The relying party library discovers careid and runs the flow with the new id.
    let rp = Rp::discover(
        &server.url,
        app_id(&app),
        app["client_secret"].as_str().unwrap(),
        APP_CALLBACK,
    )
    .await;
    let pending = rp.start();
    let browser = server.browser();
    let page = consent_page(sign_in(&browser, pending.url.as_str(), "ada@example.org").await);
    for shown in [
        "Wellness Diary",
        // minijinja escapes `/` in attributes as `&#x2f;`.
        "diary.example&#x2f;logo.png",
        "diary.example&#x2f;privacy",
        "diary.example&#x2f;terms",
        "See your email address",
        "See your name",
    ] {
        assert!(page.body.contains(shown), "{shown} missing:\n{}", page.body);
    }
    let back = browser.submit(&page, &[]).await.left();
    assert!(back.as_str().starts_with(APP_CALLBACK), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(pending.state.secret().as_str())
    );
    let tokens = rp
        .exchange(&param(&back, "code").unwrap(), pending.verifier)
        .await;
    use openidconnect::OAuth2TokenResponse;
    let userinfo: Value = server
        .userinfo(tokens.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], "ada@example.org");

    // The same scopes again: remembered, no consent page.
    let url = server.authorize_url(app_id(&app), APP_CALLBACK, &[]);
    let back = browser.visit(&url).await.left();
    let (status, body) = exchange(&server, &app, &param(&back, "code").unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A scope not yet granted asks again.
    let url = server.authorize_url(
        app_id(&app),
        APP_CALLBACK,
        &[("scope", "openid profile email offline_access")],
    );
    let page = consent_page(browser.visit(&url).await);
    assert!(page.body.contains("Keep access while you are not using it"));
    browser.submit(&page, &[]).await.left();

    // prompt=consent asks even though everything is granted, then completes.
    let url = server.authorize_url(app_id(&app), APP_CALLBACK, &[("prompt", "consent")]);
    let page = consent_page(browser.visit(&url).await);
    let back = browser.submit(&page, &[]).await.left();
    let (status, body) = exchange(&server, &app, &param(&back, "code").unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn denying_consent_returns_access_denied_and_prompt_none_needs_consent_first() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    let app = register_app(&server, json!({})).await;
    let browser = server.browser();

    // Signed in through the CRM (first-party: no consent page), so a session exists.
    server.crm_code(&browser, "ada@example.org").await;

    // A registered app's error without the person acting on careid: the page naming
    // the app's address links there with the error (no redirect, see redirects.rs).
    let url = server.authorize_url(app_id(&app), APP_CALLBACK, &[("prompt", "none")]);
    let page = browser.visit(&url).await.page();
    let shown = page.body.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(
        shown.contains("error=consent_required") && shown.contains("state=st4te"),
        "{}",
        page.body
    );

    let url = server.authorize_url(app_id(&app), APP_CALLBACK, &[]);
    let page = consent_page(browser.visit(&url).await);
    let back = deny(&browser, &page).await.left();
    assert!(back.as_str().starts_with(APP_CALLBACK));
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("st4te"));
    assert_eq!(param(&back, "iss").as_deref(), Some(server.url.as_str()));
    assert_eq!(param(&back, "code"), None);

    // Nothing was remembered: the next request asks again.
    consent_page(browser.visit(&url).await);
}

#[tokio::test]
async fn invalid_metadata_is_refused_with_the_rfc_7591_error() {
    let server = TestServer::start().await;
    let cases = [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_name": "No redirect"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [APP_CALLBACK], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [APP_CALLBACK], "id_token_signed_response_alg": "HS256"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [APP_CALLBACK], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, error) in cases {
        let (status, body) = server.register(None, &metadata).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{metadata}: {body}");
        assert_eq!(body["error"], error, "{metadata}: {body}");
        assert!(body["error_description"].is_string());
    }
    // One step inside each limit is accepted.
    let (status, body) = server.register(None,
        &json!({"redirect_uris": ["https://app.example/cb"], "id_token_signed_response_alg": "ES256"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// RFC 6749 §5.2: `error_description` holds only %x20-21 / %x23-5B / %x5D-7E.
fn is_rfc_6749_description(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[tokio::test]
async fn registration_errors_quote_values_without_characters_rfc_6749_forbids() {
    let server = TestServer::start().await;
    let cases = [
        json!({"redirect_uris": ["http://app.example/cb"]}),
        json!({"redirect_uris": ["https://app.example/caf\u{e9}\"\\#frag"]}),
        json!({"redirect_uris": [APP_CALLBACK], "grant_types": ["pass\"word"]}),
        json!({"redirect_uris": [APP_CALLBACK], "scope": "openid caf\u{e9}"}),
        json!({"redirect_uris": [APP_CALLBACK], "id_token_signed_response_alg": "HS256"}),
        json!({"redirect_uris": "not a list"}),
    ];
    for metadata in cases {
        let (status, body) = server.register(None, &metadata).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{metadata}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            is_rfc_6749_description(description),
            "{metadata}: {description:?}"
        );
    }
    // The value is still named, in single quotes.
    let (_, body) = server
        .register(
            None,
            &json!({"redirect_uris": [APP_CALLBACK], "grant_types": ["password"]}),
        )
        .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("grant_types: 'password' is not supported"),
        "{body}"
    );
}

#[tokio::test]
async fn a_registration_with_a_symmetric_key_is_refused() {
    let server = TestServer::start().await;
    // An `oct` JWK is a shared secret (RFC 7518 §6.4): a client's keys here are public.
    let metadata = json!({
        "redirect_uris": [APP_CALLBACK],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0LXNoYXJlZC13aXRoLWNhcmVpZC0zMi1ieXRlcw"}]},
    });
    let (status, body) = server.register(None, &metadata).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}

#[tokio::test]
async fn the_registration_access_token_reads_updates_and_deletes_the_client() {
    let server = TestServer::start().await;
    let app = register_app(&server, json!({})).await;
    let uri = app["registration_client_uri"].as_str().unwrap().to_owned();
    let token = app["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = server.http();

    let read = http.get(&uri).bearer_auth(&token).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let body: Value = read.json().await.unwrap();
    assert_eq!(body["client_name"], "Wellness Diary");
    assert_eq!(body["client_id"], app["client_id"]);
    assert!(
        body.get("client_secret").is_none(),
        "only its digest is kept"
    );

    for wrong in [Some("not-the-token"), None] {
        let mut request = http.get(&uri);
        if let Some(wrong) = wrong {
            request = request.bearer_auth(wrong);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    // Another client's token does not open this one.
    let other = register_app(&server, json!({})).await;
    let response = http
        .get(&uri)
        .bearer_auth(other["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Update: the new name and redirect URI take effect at /authorize at once.
    let new_callback = "https://diary.example/callback";
    let update = json!({
        "client_id": app["client_id"],
        "redirect_uris": [new_callback],
        "client_name": "Wellness Diary 2",
    });
    let response = http
        .put(&uri)
        .bearer_auth(&token)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client_name"], "Wellness Diary 2");
    assert_eq!(body["redirect_uris"], json!([new_callback]));
    let invalid =
        json!({"client_id": app["client_id"], "redirect_uris": ["http://diary.example/cb"]});
    let response = http
        .put(&uri)
        .bearer_auth(&token)
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let wrong_token = http
        .put(&uri)
        .bearer_auth("nope")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);

    let browser = server.browser();
    let old = browser
        .visit(&server.authorize_url(app_id(&app), APP_CALLBACK, &[]))
        .await
        .page();
    assert_eq!(
        old.status,
        StatusCode::BAD_REQUEST,
        "the old redirect URI is gone"
    );
    let new = browser
        .visit(&server.authorize_url(app_id(&app), new_callback, &[]))
        .await
        .page();
    assert!(new.url.contains("/sign-in"), "{}", new.url);
    assert!(new.body.contains("Wellness Diary 2"), "{}", new.body);

    // The secret still works after the update.
    let (status, body) = server
        .token(
            Some((app_id(&app), app["client_secret"].as_str().unwrap())),
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", new_callback),
            ],
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let wrong_delete = http.delete(&uri).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong_delete.status(), StatusCode::UNAUTHORIZED);
    let deleted = http.delete(&uri).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = http.get(&uri).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
    let page = browser
        .visit(&server.authorize_url(app_id(&app), new_callback, &[]))
        .await
        .page();
    assert!(page.body.contains("Unknown application"), "{}", page.body);
    let (status, _) = server
        .token(
            Some((app_id(&app), app["client_secret"].as_str().unwrap())),
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", new_callback),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn mode_token_needs_an_initial_access_token_from_config_or_the_cli() {
    let configured = "a-configured-initial-access-token";
    let digest = careid_policy::one_time::digest(configured);
    let server = TestServer::start_with(|config| {
        config.registration.mode = careid_protocol::RegistrationMode::Token;
        config.registration.initial_access_tokens = vec![format!("sha256:{digest}")];
    })
    .await;
    let metadata = json!({"redirect_uris": [APP_CALLBACK]});

    let (status, body) = server.register(None, &metadata).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    let (status, _) = server.register(Some("a-guessed-token"), &metadata).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = server.register(Some(configured), &metadata).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // What `careid registration token issue` stores: the digest of a token shown once.
    let db = careid_store::connect(&server.database_url, 1)
        .await
        .unwrap();
    let made = careid_policy::one_time::new_token();
    careid_store::registration_tokens::insert_token(
        &db,
        &careid_policy::one_time::digest(&made),
        server.clock.now(),
        server.clock.now() + time::Duration::days(1),
    )
    .await
    .unwrap();
    let (status, body) = server.register(Some(&made), &metadata).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn mode_off_refuses_registration_and_hides_the_endpoint() {
    let server = TestServer::start_with(|config| {
        config.registration.mode = careid_protocol::RegistrationMode::Off;
    })
    .await;
    let (status, body) = server
        .register(None, &json!({"redirect_uris": [APP_CALLBACK]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "access_denied");
    let discovery: Value = server.discovery().await;
    assert!(discovery.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn removing_an_app_on_the_account_page_revokes_its_refresh_token() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    let app = register_app(&server, json!({})).await;
    let browser = server.browser();
    // A third-party app gets a refresh token for `offline_access`, once consented.
    let scope = [("scope", careid_tests::OFFLINE_SCOPE)];
    let url = server.authorize_url(app_id(&app), APP_CALLBACK, &scope);
    let page = consent_page(sign_in(&browser, &url, "ada@example.org").await);
    assert!(page.body.contains("Keep access while you are not using it"));
    let back = browser.submit(&page, &[]).await.left();
    let (status, tokens) = exchange(&server, &app, &param(&back, "code").unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let account = browser.visit("/account").await.page();
    assert!(account.body.contains("Wellness Diary"), "{}", account.body);
    let remove = html::forms(&account.body)
        .into_iter()
        .find(|f| f.action == "/account/apps/remove")
        .expect("a Remove access form");
    assert!(
        remove
            .fields(&[])
            .contains(&("client_id".into(), app_id(&app).into()))
    );
    let done = browser.post(&remove.action, &remove.fields(&[])).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let account = browser.visit("/account").await.page();
    assert!(!account.body.contains("Wellness Diary"), "{}", account.body);

    let (status, body) = server
        .token(
            Some((app_id(&app), app["client_secret"].as_str().unwrap())),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    // And the app must ask again.
    consent_page(browser.visit(&url).await);

    // A forged form without the CSRF field is refused.
    let mut fields = remove.fields(&[]);
    fields.retain(|(name, _)| name != "csrf");
    let refused = browser.post("/account/apps/remove", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

/// Waits for the running server's watcher to pick up a client file change: a bounded
/// poll (up to 5 s in 100 ms steps) for a file watcher, not for an expiry.
async fn until(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..50 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Whether /authorize accepts `redirect_uri` for the CRM (a sign-in page, not an error).
async fn crm_accepts(server: &TestServer, redirect_uri: &str) -> bool {
    let page = server
        .browser()
        .visit(&server.authorize_url("crm", redirect_uri, &[]))
        .await
        .page();
    page.status == StatusCode::OK && page.url.contains("/sign-in")
}

#[tokio::test]
async fn editing_a_client_file_changes_a_running_server_and_a_broken_edit_keeps_the_last_good_one()
{
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(careid_tests::workspace().join("config/clients")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let clients_dir = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = clients_dir).await;
    let old = careid_tests::CRM_CALLBACK;
    let new = "http://127.0.0.1:8081/new-callback";
    assert!(crm_accepts(&server, old).await);
    assert!(!crm_accepts(&server, new).await);

    let file = dir.path().join("crm.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace(old, new)).unwrap();
    assert!(
        until(async || crm_accepts(&server, new).await).await,
        "the edit took effect"
    );
    assert!(
        !crm_accepts(&server, old).await,
        "the old redirect URI is refused"
    );

    // A broken edit: reported, and the last good version stays in force.
    std::fs::write(&file, text.replace(old, new).replace("name = ", "name = [")).unwrap();
    let new_file = dir.path().join("diary.toml");
    std::fs::write(
        &new_file,
        "client_id = \"diary\"\nname = \"Diary\"\nsecret = \"s\"\nredirect_uris = [\"http://127.0.0.1:9100/callback\"]\n",
    )
    .unwrap();
    let diary_accepted = async || {
        let page = server
            .browser()
            .visit(&server.authorize_url("diary", APP_CALLBACK, &[]))
            .await
            .page();
        page.url.contains("/sign-in")
    };
    assert!(until(diary_accepted).await, "a new file adds its client");
    assert!(
        crm_accepts(&server, new).await,
        "the last good crm stays in force"
    );
    assert!(!crm_accepts(&server, old).await);

    // A removed file takes its client away.
    std::fs::remove_file(&new_file).unwrap();
    let diary_gone = async || {
        let page = server
            .browser()
            .visit(&server.authorize_url("diary", APP_CALLBACK, &[]))
            .await
            .page();
        page.body.contains("Unknown application")
    };
    assert!(until(diary_gone).await, "a removed file removes its client");
}
