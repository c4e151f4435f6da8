//! No open redirects (issue 12, item 4) and no ID token in a URL (item 10): careid sends
//! the browser to an address a third party registered over HTTP only after the person
//! acted on a careid page in the same request; otherwise it shows a page naming the
//! destination. Client files (the operator's own portals) keep their redirects.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_store::{AccountId, ClientId};
use careid_tests::{
    CRM_CALLBACK, TestServer,
    browser::{Page, param},
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const ADA: &str = "ada@example.org";
const APP_CALLBACK: &str = "https://diary.example/callback";
const APP_BYE: &str = "https://diary.example/signed-out";
const CRM_HOME: &str = "http://127.0.0.1:8081/";

/// A third-party app registered over HTTP (open mode, as the shipped dev config).
async fn diary(server: &TestServer) -> Value {
    server
        .register_ok(&json!({
            "client_name": "Wellness Diary",
            "redirect_uris": [APP_CALLBACK],
            "post_logout_redirect_uris": [APP_BYE],
        }))
        .await
}

fn end_session_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/end_session", server.url)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// Asserts that careid answered with the page naming `host`, not a redirect, and that
/// the page links to `to`.
#[track_caller]
fn assert_leaving_page(page: &Page, host: &str, to: &str) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.location.is_none(), "no redirect: {:?}", page.location);
    // minijinja writes `/` as `&#x2f;` in HTML.
    let shown = page.body.replace("&#x2f;", "/");
    assert!(
        shown.contains(&format!("You are leaving careid for https://{host}")),
        "{}",
        page.body
    );
    assert!(shown.contains(&format!("href=\"{to}")), "{}", page.body);
}

#[tokio::test]
async fn a_registered_apps_logout_redirect_without_a_session_shows_where_it_leads() {
    let server = TestServer::start().await;
    let app = diary(&server).await;
    let client_id = app["client_id"].as_str().unwrap();
    let browser = server.browser();
    let url = end_session_url(
        &server,
        &[
            ("client_id", client_id),
            ("post_logout_redirect_uri", APP_BYE),
            ("state", "s"),
        ],
    );
    let page = browser.get(&url).await;
    assert_leaving_page(&page, "diary.example", APP_BYE);

    // The sign-out page, reached by a link with nothing to sign out, likewise.
    let mut sign_out = url::Url::parse(&format!("{}/sign-out", server.url)).unwrap();
    sign_out
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("post_logout_redirect_uri", APP_BYE);
    let page = browser.get(sign_out.as_str()).await;
    assert_leaving_page(&page, "diary.example", APP_BYE);
}

#[tokio::test]
async fn a_registered_apps_hint_signs_out_and_then_shows_where_it_leads() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let app = diary(&server).await;
    let browser = server.browser();
    let tokens = server
        .registered_tokens(&browser, &app, APP_CALLBACK, ADA)
        .await;
    let url = end_session_url(
        &server,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", APP_BYE),
        ],
    );
    let page = browser.get(&url).await;
    assert_leaving_page(&page, "diary.example", APP_BYE);
    assert!(
        page.set_cookies
            .iter()
            .any(|c| c.starts_with("careid_session=;")),
        "the session cookie is removed: {:?}",
        page.set_cookies
    );
    server.assert_signed_out_everywhere(&browser).await;
}

#[tokio::test]
async fn a_confirmed_sign_out_returns_to_the_registered_app_at_once() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let app = diary(&server).await;
    let browser = server.browser();
    server
        .registered_tokens(&browser, &app, APP_CALLBACK, ADA)
        .await;
    let url = end_session_url(
        &server,
        &[
            ("client_id", app["client_id"].as_str().unwrap()),
            ("post_logout_redirect_uri", APP_BYE),
            ("state", "x"),
        ],
    );
    let page = browser.visit(&url).await.page();
    assert!(page.url.contains("/sign-out?"), "{}", page.url);
    let back = browser.submit(&page, &[]).await.left();
    assert_eq!(back.as_str(), format!("{APP_BYE}?state=x"));
}

#[tokio::test]
async fn an_authorization_error_for_a_registered_app_shows_where_it_leads() {
    let server = TestServer::start().await;
    let app = diary(&server).await;
    let client_id = app["client_id"].as_str().unwrap();
    let browser = server.browser();
    for extra in [
        vec![("response_type", "token")],
        vec![("scope", "profile")],
        vec![("prompt", "none")],
    ] {
        let page = browser
            .get(&server.authorize_url(client_id, APP_CALLBACK, &extra))
            .await;
        assert_leaving_page(&page, "diary.example", APP_CALLBACK);
    }
}

#[tokio::test]
async fn file_clients_are_still_redirected_at_once() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let page = browser
        .get(&server.authorize_url("crm", CRM_CALLBACK, &[("response_type", "token")]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let back = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert!(back.as_str().starts_with(CRM_CALLBACK), "{back}");
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("unsupported_response_type")
    );

    let url = end_session_url(
        &server,
        &[("client_id", "crm"), ("post_logout_redirect_uri", CRM_HOME)],
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some(CRM_HOME));
}

#[tokio::test]
async fn a_posted_id_token_hint_never_lands_in_a_url() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let code = server.crm_code(&browser, ADA).await;
    let (_, tokens) = server.crm_exchange(&code).await;
    let hint = tokens["id_token"].as_str().unwrap();

    // An RP's cross-site form: the browser sends no SameSite=Lax cookie with it.
    let response = server
        .post_form(
            "/end_session",
            None,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", CRM_HOME),
                ("state", "x"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with("/end_session?"), "{location}");
    assert!(
        !location.contains("id_token_hint") && !location.contains(hint),
        "{location}"
    );
    assert!(location.contains("client_id=crm"), "{location}");

    // Coming back by GET, the person confirms, since nothing proves who asked; no page
    // on the way carries the hint either.
    let page = browser.visit(&location).await.page();
    assert!(page.url.contains("/sign-out?"), "{}", page.url);
    assert!(!page.url.contains(hint) && !page.body.contains(hint));
    let back = browser.submit(&page, &[]).await.left();
    assert_eq!(back.as_str(), format!("{CRM_HOME}?state=x"));
    server.assert_signed_out_everywhere(&browser).await;

    // A forged hint is refused on the POST itself.
    let mut forged = hint.to_owned();
    forged.insert(forged.len() - 3, 'A');
    let response = server
        .post_form("/end_session", None, &[("id_token_hint", &forged)])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
}

/// The audit events of `account_id`, oldest first, as (kind, client_id, detail).
async fn audited(
    server: &TestServer,
    account_id: AccountId,
) -> Vec<(String, Option<String>, Value)> {
    let mut events =
        careid_store::audit::find_events(&server.accounts.db, Some(account_id), None, 1000)
            .await
            .unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|e| {
            let detail = serde_json::from_str(&e.detail).unwrap();
            (e.kind, e.client_id.map(ClientId::into_string), detail)
        })
        .collect()
}

#[tokio::test]
async fn consent_answers_and_sign_outs_are_audited() {
    let server = TestServer::start().await;
    let account = server.add_account(ADA, "Ada").await;
    let app = diary(&server).await;
    let app_id = app["client_id"].as_str().unwrap().to_owned();
    let browser = server.browser();
    let tokens = server
        .registered_tokens(&browser, &app, APP_CALLBACK, ADA)
        .await;

    // Deny on a second consent page.
    let url = server.authorize_url(&app_id, APP_CALLBACK, &[("prompt", "consent")]);
    let page = browser.visit(&url).await.page();
    let deny = &careid_tests::html::forms(&page.body)[1];
    let back = browser
        .follow(browser.post(&deny.action, &deny.fields(&[])).await)
        .await
        .left();
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));

    // RP-initiated logout with a hint naming the session ends it at once.
    let hint = tokens["id_token"].as_str().unwrap();
    browser
        .get(&end_session_url(&server, &[("id_token_hint", hint)]))
        .await;
    // Signing in again and out on the sign-out page.
    server.crm_code(&browser, ADA).await;
    let page = browser.visit("/sign-out").await.page();
    browser.submit(&page, &[]).await.page();

    let events = audited(&server, account.id).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|(kind, _, _)| kind.as_str())
        .filter(|k| k.starts_with("consent_") || *k == "signed_out")
        .collect();
    assert_eq!(
        kinds,
        [
            "consent_granted",
            "consent_denied",
            "signed_out",
            "signed_out"
        ],
        "{events:?}"
    );
    let of = |kind: &'static str| events.iter().filter(move |(k, _, _)| k == kind);
    let granted = of("consent_granted").next().unwrap();
    assert_eq!(granted.1.as_deref(), Some(app_id.as_str()));
    assert_eq!(granted.2["scope"], "openid profile email");
    assert_eq!(
        of("consent_denied").next().unwrap().1.as_deref(),
        Some(app_id.as_str())
    );
    let outs: Vec<_> = of("signed_out").collect();
    assert_eq!(outs[0].1.as_deref(), Some(app_id.as_str()));
    assert_eq!(outs[0].2["via"], "end_session");
    assert_eq!(outs[1].1, None);
    assert_eq!(outs[1].2["via"], "sign_out_page");
}
