//! Who must use a second factor, and what the tokens say about it (issue 17), end to end:
//! a person an administrator requires a second factor of (`careid user require-mfa`, the
//! admin API's `require_mfa`) is taken through enrolment before any code is issued, or,
//! with an authenticator app already, asked for a code alone (step-up, in the same
//! session); `acr_values` asking for the multi-factor level does the same; ID and access
//! tokens name the level reached in `acr`. Codes are computed here from the
//! `otpauth://` URI at the server's (settable) clock time; the CRM is an
//! `openidconnect` relying party where it reads ID tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_mail::testing::{SmtpSink, text_part};
use careid_policy::totp;
use careid_protocol::acr::{MULTI_FACTOR, SINGLE_FACTOR};
use careid_store::Clock;
use careid_tests::{
    Browser, CRM_CALLBACK, EMR_CALLBACK, OFFLINE_SCOPE, PASSWORD, TestServer,
    admin::ALL_SCOPES,
    browser::{Landing, Page, param},
    rp::{Pending, Rp},
};
use openidconnect::{TokenResponse, core::CoreIdTokenClaims};
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
    assert_eq!(id_token["acr"], MULTI_FACTOR);
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
    assert_eq!(id_token["acr"], SINGLE_FACTOR);

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

/// Where careid sent the browser for the RP's `pending` request, exchanged by the RP:
/// the ID token's claims as the RP verified them, and its raw claims (for `sid`).
async fn through_rp(rp: &Rp, landing: Landing, pending: Pending) -> (CoreIdTokenClaims, Value) {
    let back = landing.left();
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(pending.state.secret().as_str())
    );
    let code = param(&back, "code").expect("a code");
    let tokens = rp.exchange(&code, pending.verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let verified = id_token
        .claims(&rp.client.id_token_verifier(), &pending.nonce)
        .unwrap()
        .clone();
    (verified, claims(&id_token.to_string()))
}

fn acr_of(claims: &CoreIdTokenClaims) -> String {
    claims
        .auth_context_ref()
        .map(|acr| acr.as_str().to_owned())
        .unwrap_or_default()
}

fn amr_of(claims: &CoreIdTokenClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .map(|amr| amr.iter().map(|m| m.as_str().to_owned()).collect())
        .unwrap_or_default()
}

/// The session cookie a response sets.
fn session_cookie(page: &Page) -> String {
    page.set_cookies
        .iter()
        .find_map(|c| c.strip_prefix("careid_session="))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", page.set_cookies))
        .to_owned()
}

#[tokio::test]
async fn acr_values_for_mfa_ask_a_password_session_for_the_code_alone() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let rp = Rp::crm(&server.issuer).await;

    // A password session, from before her authenticator app: the ID token says so.
    let browser = server.browser();
    let pending = rp.start();
    let form = browser.visit(pending.url.as_str()).await.page();
    let fields = form
        .form()
        .unwrap()
        .fields(&[("email", EMAIL), ("password", PASSWORD)]);
    let signed_in = browser.post(&form.url, &fields).await;
    let old_cookie = session_cookie(&signed_in);
    let landing = browser.follow(signed_in).await;
    let (first, first_raw) = through_rp(&rp, landing, pending).await;
    assert_eq!(acr_of(&first), SINGLE_FACTOR);
    assert_eq!(amr_of(&first), ["pwd"]);
    let secret = enrolled_elsewhere(&server).await;

    // The CRM asks for the multi-factor level: the same session is asked for a code,
    // not for the password.
    let pending = rp.start_asking_acr(&[MULTI_FACTOR]);
    let page = browser.visit(pending.url.as_str()).await.page();
    assert!(
        page.url.contains("/sign-in/step-up?request="),
        "{}",
        page.url
    );
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
    assert!(page.body.contains(EMAIL), "{}", page.body);
    let fields = page
        .form()
        .unwrap()
        .fields(&[("code", &code(&server, &secret))]);
    let posted = browser.post("/sign-in/step-up", &fields).await;
    let new_cookie = session_cookie(&posted);
    let landing = browser.follow(posted).await;
    let (raised, raised_raw) = through_rp(&rp, landing, pending).await;
    assert_eq!(acr_of(&raised), MULTI_FACTOR);
    assert_eq!(amr_of(&raised), ["pwd", "otp", "mfa"]);
    // The same session, raised: its sid and its sign-in time stay.
    assert_eq!(raised_raw["sid"], first_raw["sid"]);
    assert_eq!(raised.auth_time(), first.auth_time());
    assert_eq!(server.audit_events("step_up").await.len(), 1);

    // Its cookie changed with its privilege: the old secret signs nobody in.
    assert_ne!(old_cookie, new_cookie);
    let old = format!("careid_session={old_cookie}");
    let stolen = Browser::with_header(&server.url, "cookie", &old);
    assert_eq!(stolen.get("/account").await.status, StatusCode::SEE_OTHER);
    let new = format!("careid_session={new_cookie}");
    let kept = Browser::with_header(&server.url, "cookie", &new);
    assert_eq!(kept.get("/account").await.status, StatusCode::OK);

    // Single sign-on goes on: the EMR gets a code at once.
    let silent = server.authorize_url("emr", EMR_CALLBACK, &[("prompt", "none")]);
    let back = browser.visit(&silent).await.left();
    assert!(param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn without_acr_values_or_with_unknown_ones_the_tokens_say_single_factor() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let back = password_at_crm(&server, &browser, EMAIL, &[]).await.left();
    let (id_token, access) = tokens_for(&server, &back).await;
    assert_eq!(id_token["acr"], SINGLE_FACTOR);
    // RFC 9068 §2.2.3.1: the access token says the same.
    assert_eq!(access["acr"], SINGLE_FACTOR);
    assert_eq!(access["amr"], json!(["pwd"]));

    // A level careid does not know is a voluntary request: answered with what was
    // reached, without a step-up (OIDC Core §3.1.2.1).
    let url = server.authorize_url(
        "crm",
        CRM_CALLBACK,
        &[("scope", OFFLINE_SCOPE), ("acr_values", "urn:example:gold")],
    );
    let back = browser.visit(&url).await.left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["acr"], SINGLE_FACTOR);
    // A request that accepts the single-factor level too needs no step-up either.
    let both = format!("{MULTI_FACTOR} {SINGLE_FACTOR}");
    let url = server.authorize_url(
        "crm",
        CRM_CALLBACK,
        &[("scope", OFFLINE_SCOPE), ("acr_values", &both)],
    );
    let back = browser.visit(&url).await.left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["acr"], SINGLE_FACTOR);
}

#[tokio::test]
async fn prompt_none_asking_for_mfa_without_it_is_refused_not_answered() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    password_at_crm(&server, &browser, EMAIL, &[]).await.left();
    let silent = server.authorize_url(
        "crm",
        CRM_CALLBACK,
        &[("prompt", "none"), ("acr_values", MULTI_FACTOR)],
    );
    // No authenticator app: adding one is interaction careid cannot have silently.
    let back = browser.visit(&silent).await.left();
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("interaction_required")
    );
    assert_eq!(param(&back, "code"), None);
    // With one, the missing code is authentication: login_required (OIDC Core §3.1.2.6).
    enrolled_elsewhere(&server).await;
    let back = browser.visit(&silent).await.left();
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&back, "code"), None);
    // Without acr_values the same session is still answered silently.
    let plain = server.authorize_url("crm", CRM_CALLBACK, &[("prompt", "none")]);
    let back = browser.visit(&plain).await.left();
    assert!(param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn max_age_makes_an_mfa_person_sign_in_again_with_password_and_code() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let secret = enrolled_elsewhere(&server).await;
    let browser = server.browser();
    let page = password_at_crm(&server, &browser, EMAIL, &[]).await.page();
    assert!(page.url.contains("/sign-in/code"), "{}", page.url);
    let back = browser
        .submit(&page, &[("code", &code(&server, &secret))])
        .await
        .left();
    let (first, _) = tokens_for(&server, &back).await;
    assert_eq!(first["acr"], MULTI_FACTOR);

    server.clock.advance(Duration::seconds(120));
    // max_age=60 after two minutes: the password again, then a code again.
    let page = password_at_crm(&server, &browser, EMAIL, &[("max_age", "60")])
        .await
        .page();
    assert!(page.url.contains("/sign-in/code"), "{}", page.url);
    let back = browser
        .submit(&page, &[("code", &code(&server, &secret))])
        .await
        .left();
    let (again, _) = tokens_for(&server, &back).await;
    assert_eq!(again["acr"], MULTI_FACTOR);
    assert_eq!(again["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(
        again["auth_time"].as_i64().unwrap(),
        first["auth_time"].as_i64().unwrap() + 120
    );
}

#[tokio::test]
async fn a_wrong_step_up_code_is_refused_and_counts_towards_the_lockout() {
    let server = TestServer::start().await;
    let ada = server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    password_at_crm(&server, &browser, EMAIL, &[]).await.left();
    let secret = enrolled_elsewhere(&server).await;
    let url = server.authorize_url(
        "crm",
        CRM_CALLBACK,
        &[("scope", OFFLINE_SCOPE), ("acr_values", MULTI_FACTOR)],
    );
    let page = browser.visit(&url).await.page();
    let near: Vec<String> = (-1..=1)
        .map(|s| totp::code_at(&secret, totp::step_at(server.clock.now()) + s))
        .collect();
    let wrong = (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap();
    let refused = browser.submit(&page, &[("code", &wrong)]).await.page();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("not correct"), "{}", refused.body);
    let failures = careid_store::accounts::find_by_id(&server.accounts.db, ada.id)
        .await
        .unwrap()
        .unwrap()
        .failed_attempts;
    assert_eq!(failures, 1);
    let back = browser
        .submit(&refused, &[("code", &code(&server, &secret))])
        .await
        .left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["acr"], MULTI_FACTOR);
}

#[tokio::test]
async fn discovery_lists_the_acr_values_and_the_acr_claim() {
    let server = TestServer::start().await;
    let doc = server.discovery().await;
    assert_eq!(
        doc["acr_values_supported"],
        json!([SINGLE_FACTOR, MULTI_FACTOR])
    );
    assert!(
        doc["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("acr"))
    );
}

#[tokio::test]
async fn a_recovery_code_typed_at_step_up_mails_the_owner() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| config.mail = mail).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    password_at_crm(&server, &browser, EMAIL, &[]).await.left();
    // Her app, and its recovery codes, added on another browser.
    let elsewhere = server.browser();
    server.crm_code(&elsewhere, EMAIL).await;
    let (_, done) = enrol(&server, &elsewhere, None).await;
    let recovery = done
        .body
        .split("<code class=\"recovery-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a recovery code")
        .to_owned();

    let url = server.authorize_url(
        "crm",
        CRM_CALLBACK,
        &[("scope", OFFLINE_SCOPE), ("acr_values", MULTI_FACTOR)],
    );
    let page = browser.visit(&url).await.page();
    let back = browser.submit(&page, &[("code", &recovery)]).await.left();
    let (id_token, _) = tokens_for(&server, &back).await;
    assert_eq!(id_token["acr"], MULTI_FACTOR);
    let raw = sink.next_message().await;
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    let text = text_part(&raw).unwrap();
    assert!(text.contains("you have 9 unused codes left"), "{text}");
}
