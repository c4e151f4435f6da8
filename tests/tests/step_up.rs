//! Who must use a second factor (issue 17), end to end: a person an administrator
//! requires a second factor of (`careid user require-mfa`, the admin API's
//! `require_mfa`) is taken through enrolment before any code is issued, or, with an
//! authenticator app already, asked for a code alone (step-up, in the same session).
//! Codes are computed here from the `otpauth://` URI at the server's (settable) clock
//! time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::totp;
use careid_store::Clock;
use careid_tests::{
    Browser, CRM_CALLBACK, OFFLINE_SCOPE, PASSWORD, TestServer,
    admin::ALL_SCOPES,
    browser::{Landing, Page, param},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

const EMAIL: &str = "ada@clinic.example";
const BO: &str = "bo@clinic.example";

/// The payload of a JWT, unverified (the relying party verifies ID tokens below).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The secret of the `otpauth://` URI a security page shows.
fn secret_on(page: &Page) -> Vec<u8> {
    let start = page
        .body
        .find("id=\"totp-uri\">")
        .unwrap_or_else(|| panic!("no URI:\n{}", page.body));
    let uri = &page.body[start..];
    let secret = uri
        .split(['?', '&', ';'])
        .find_map(|part| part.strip_prefix("secret="))
        .expect("a secret in the URI");
    let secret: String = secret
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    totp::from_base32(&secret).expect("base32")
}

/// The code an authenticator app shows now, at the server's time.
fn code(server: &TestServer, secret: &[u8]) -> String {
    totp::code_at(secret, totp::step_at(server.clock.now()))
}

/// Opens the CRM's authorization URL (with `extra` parameters) on `browser` and types
/// `email`'s password: where that leads.
async fn password_at_crm(
    server: &TestServer,
    browser: &Browser,
    email: &str,
    extra: &[(&str, &str)],
) -> Landing {
    let mut params = vec![("scope", OFFLINE_SCOPE)];
    params.extend_from_slice(extra);
    let url = server.authorize_url("crm", CRM_CALLBACK, &params);
    let form = browser.visit(&url).await.page();
    browser
        .submit(&form, &[("email", email), ("password", PASSWORD)])
        .await
}

/// Adds an authenticator app for whoever is signed in on `browser` from its security
/// page (`page`, or `/account/security`): the app's secret. The clock then moves one step
/// on, so the enrolment's code is not the next one typed.
async fn enrol(server: &TestServer, browser: &Browser, page: Option<Page>) -> (Vec<u8>, Page) {
    let page = match page {
        Some(page) => page,
        None => browser.visit("/account/security").await.page(),
    };
    let secret = secret_on(&page);
    let done = browser
        .submit(&page, &[("code", &code(server, &secret))])
        .await
        .page();
    assert!(done.body.contains("is set up"), "{}", done.body);
    server.clock.advance(Duration::seconds(totp::STEP_SECONDS));
    (secret, done)
}

/// Ada's authenticator app, added on a browser of her own: its secret.
async fn enrolled_elsewhere(server: &TestServer) -> Vec<u8> {
    let browser = server.browser();
    server.crm_code(&browser, EMAIL).await;
    enrol(server, &browser, None).await.0
}

/// The claims of the ID token and of the access token a CRM code brings.
async fn tokens_for(server: &TestServer, back: &url::Url) -> (Value, Value) {
    let code = param(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let (status, body) = server.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        claims(body["id_token"].as_str().unwrap()),
        claims(body["access_token"].as_str().unwrap()),
    )
}

/// What `careid user show` prints for `email`.
async fn user_show(server: &TestServer, email: &str) -> String {
    let output = server.careid_command(&["user", "show", email]).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `careid` with `args`: its standard output, after checking it succeeded.
async fn careid(server: &TestServer, args: &[&str]) -> String {
    let output = server.careid_command(args).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}{:?}", output.stderr);
    stdout
}

#[tokio::test]
async fn an_account_that_requires_mfa_is_taken_through_enrolment_before_any_code() {
    let server = TestServer::start().await;
    let ada = server.add_account(EMAIL, "Ada Okafor").await;
    server.add_account(BO, "Bo Lind").await;
    let stdout = careid(&server, &["user", "require-mfa", "ADA@clinic.example"]).await;
    assert!(
        stdout.contains("must now sign in with a second factor"),
        "{stdout}"
    );
    assert!(user_show(&server, EMAIL).await.contains("require mfa: yes"));
    assert!(user_show(&server, BO).await.contains("require mfa: no"));
    let changed = server.audit_events("require_mfa_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].account_id, Some(ada.id));

    // Bo's account does not require one: his password brings the CRM its code.
    let bo = server.browser();
    let back = password_at_crm(&server, &bo, BO, &[]).await.left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["amr"], json!(["pwd"]));

    // Ada's right password brings no code: the security page, to add an app first.
    let browser = server.browser();
    let landing = password_at_crm(&server, &browser, EMAIL, &[]).await;
    let Landing::Page(page) = landing else {
        panic!("a code was issued before a second factor: {landing:?}");
    };
    assert!(
        page.url.contains("/account/security?request="),
        "{}",
        page.url
    );
    assert!(page.body.contains("mfa-required"), "{}", page.body);
    let (_, done) = enrol(&server, &browser, Some(page)).await;
    let next = continue_link(&done);
    let back = browser.visit(&next).await.left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["amr"], json!(["pwd", "otp", "mfa"]));
}

/// The "Continue" link of a security page that finished an enrolment.
fn continue_link(page: &Page) -> String {
    page.body
        .split("id=\"continue\"")
        .nth(1)
        .and_then(|rest| rest.split("href=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no continue link:\n{}", page.body))
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn careid_user_require_mfa_off_lets_the_password_alone_sign_in_again() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    careid(&server, &["user", "require-mfa", EMAIL]).await;
    let stdout = careid(&server, &["user", "require-mfa", EMAIL, "--off"]).await;
    assert!(
        stdout.contains("no longer needs a second factor"),
        "{stdout}"
    );
    assert!(user_show(&server, EMAIL).await.contains("require mfa: no"));
    let details: Vec<String> = server
        .audit_events("require_mfa_changed")
        .await
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details.iter().any(|d| d.contains("\"require_mfa\":false")));

    let browser = server.browser();
    let back = password_at_crm(&server, &browser, EMAIL, &[]).await.left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["amr"], json!(["pwd"]));

    let output = server
        .careid_command(&["user", "require-mfa", "nobody@clinic.example"])
        .await;
    assert!(!output.status.success());
}

#[tokio::test]
async fn require_mfa_round_trips_through_the_admin_api_and_takes_effect() {
    let server = TestServer::start().await;
    let token = server.admin_token(ALL_SCOPES).await;
    let ada = server.add_account(EMAIL, "Ada Okafor").await;
    let path = format!("/accounts/{}", ada.id);
    let read = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(read.body["require_mfa"], false, "{:?}", read.body);

    let set = |value: Value| server.admin(Method::PATCH, &path, Some(&token), Some(value));
    let on = set(json!({ "require_mfa": true })).await;
    assert_eq!(on.status, StatusCode::OK, "{:?}", on.body);
    assert_eq!(on.body["require_mfa"], true);
    let read = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(read.body["require_mfa"], true);
    let listed = server
        .admin(Method::GET, "/accounts", Some(&token), None)
        .await;
    assert_eq!(listed.body["items"][0]["require_mfa"], true);
    assert!(user_show(&server, EMAIL).await.contains("require mfa: yes"));

    // It takes effect at once: the password alone brings no code.
    let browser = server.browser();
    let page = password_at_crm(&server, &browser, EMAIL, &[]).await.page();
    assert!(
        page.url.contains("/account/security?request="),
        "{}",
        page.url
    );

    // An empty change changes nothing; a wrong type or an unknown field is refused.
    let same = set(json!({})).await;
    assert_eq!(same.body["require_mfa"], true, "{:?}", same.body);
    for bad in [
        json!({ "require_mfa": "yes" }),
        json!({ "requires_mfa": false }),
    ] {
        let refused = set(bad.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            refused.body
        );
    }
    let off = set(json!({ "require_mfa": false })).await;
    assert_eq!(off.body["require_mfa"], false);
    assert_eq!(server.audit_events("require_mfa_changed").await.len(), 2);

    let missing = server
        .admin(
            Method::PATCH,
            "/accounts/999999",
            Some(&token),
            Some(json!({ "require_mfa": true })),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);
    let reader = server.admin_token("admin:accounts.read").await;
    let forbidden = server
        .admin(
            Method::PATCH,
            &path,
            Some(&reader),
            Some(json!({ "require_mfa": true })),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let read = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(read.body["require_mfa"], false);
}

#[tokio::test]
async fn an_account_that_requires_mfa_asks_a_password_session_for_the_code_alone() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    password_at_crm(&server, &browser, EMAIL, &[]).await.left();
    let secret = enrolled_elsewhere(&server).await;
    careid(&server, &["user", "require-mfa", EMAIL]).await;

    // Her password session from before gets no code: the step-up page asks for a code,
    // not for her password.
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let page = browser.visit(&url).await.page();
    assert!(
        page.url.contains("/sign-in/step-up?request="),
        "{}",
        page.url
    );
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
    let back = browser
        .submit(&page, &[("code", &code(&server, &secret))])
        .await
        .left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["amr"], json!(["pwd", "otp", "mfa"]));
    // The raised session is answered at once from then on.
    let back = browser.visit(&url).await.left();
    assert!(param(&back, "code").is_some(), "{back}");
}
