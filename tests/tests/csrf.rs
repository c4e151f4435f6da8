//! CSRF tokens on careid's forms (DESIGN.md, Security shape): signed with the
//! installation's key, bound to the browser's session (or, before sign-in, to a
//! pre-session cookie), new at every sign-in, and kept in `__Host-` cookies on https.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_tests::{PASSWORD, TestServer, browser::Page, html};
use reqwest::{StatusCode, header};

/// The `name=value` of the cookie `name` among a response's `Set-Cookie`s.
fn cookie_pair(page: &Page, name: &str) -> String {
    page.set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", page.set_cookies))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The `csrf` field of the page's first form that posts.
fn csrf_field(page: &Page) -> String {
    let form = page
        .form()
        .unwrap_or_else(|| panic!("no form:\n{}", page.body));
    form.inputs
        .iter()
        .find(|i| i.name == "csrf")
        .expect("a csrf field")
        .value
        .clone()
}

/// A POST with exactly these cookies, as a browser holding them would send it.
async fn post_with_cookies(
    server: &TestServer,
    path: &str,
    cookies: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    server
        .http()
        .post(format!("{}{path}", server.url))
        .header(header::COOKIE, cookies)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_csrf_token_taken_from_another_browser_session_is_refused() {
    let server = TestServer::start().await;
    server.add_account("ada@clinic.example", "Ada Okafor").await;

    // The attacker fetches a form in a browser of their own: a pre-session cookie and
    // the token that goes with it.
    let attacker = server.browser().get("/sign-in").await;
    let planted = cookie_pair(&attacker, "careid_csrf");
    let token = csrf_field(&attacker);

    // Ada signs in in her own browser.
    let ada = server.browser();
    let page = ada.get("/sign-in").await;
    let fields = page
        .form()
        .unwrap()
        .fields(&[("email", "ada@clinic.example"), ("password", PASSWORD)]);
    let signed_in = ada.post("/sign-in", &fields).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let session = cookie_pair(&signed_in, "careid_session");

    // A sibling site plants the attacker's cookie in Ada's browser and makes it post
    // the attacker's token: the token was made for another browser, so it is refused.
    let cookies = format!("{planted}; {session}");
    let forged = post_with_cookies(&server, "/sign-out", &cookies, &[("csrf", &token)]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let still = ada.get("/account").await;
    assert_eq!(still.status, StatusCode::OK, "Ada is still signed in");

    // Ada's own token, from her own session, works.
    let confirm = ada.get("/sign-out").await;
    let own = csrf_field(&confirm);
    let signed_out = post_with_cookies(&server, "/sign-out", &cookies, &[("csrf", &own)]).await;
    assert_eq!(signed_out.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_csrf_token_changes_at_sign_in_and_the_old_one_stops_working() {
    let server = TestServer::start().await;
    server.add_account("ada@clinic.example", "Ada Okafor").await;
    let browser = server.browser();
    let page = browser.get("/sign-in").await;
    let before = csrf_field(&page);
    let landed = browser
        .submit(
            &page,
            &[("email", "ada@clinic.example"), ("password", PASSWORD)],
        )
        .await
        .page();
    assert!(landed.url.ends_with("/account"), "{}", landed.url);

    let confirm = browser.get("/sign-out").await;
    let after = csrf_field(&confirm);
    assert_ne!(before, after, "signing in gives every form a new token");

    let stale = [("csrf".to_owned(), before)];
    let refused = browser.post("/sign-out", &stale).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_https_issuer_names_its_cookies_with_the_host_prefix() {
    let server =
        TestServer::start_with(|config| config.issuer = "https://id.clinic.example".into()).await;
    server.add_account("ada@clinic.example", "Ada Okafor").await;
    // A cookie jar would keep `Secure` cookies away from this plain-http test port, so
    // the cookies travel by hand.
    let http = server.http();
    let response = http
        .get(format!("{}/sign-in", server.url))
        .send()
        .await
        .unwrap();
    let set = set_cookies(&response);
    let body = response.text().await.unwrap();
    assert_host_prefixed(&set);
    let pre = set[0].split(';').next().unwrap().to_owned();
    assert!(pre.starts_with("__Host-careid_csrf="), "{pre}");
    let form = &html::forms(&body)[0];
    let fields = form.fields(&[("email", "ada@clinic.example"), ("password", PASSWORD)]);
    let response = http
        .post(format!("{}/sign-in", server.url))
        .header(header::COOKIE, &pre)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&response);
    assert_host_prefixed(&set);
    assert!(
        set.iter().any(|c| c.starts_with("__Host-careid_session=")),
        "{set:?}"
    );
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Every cookie is `__Host-`: `Secure`, `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2).
fn assert_host_prefixed(set: &[String]) {
    assert!(!set.is_empty(), "the response sets a cookie");
    for cookie in set {
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        assert!(
            cookie.contains("; Secure") && cookie.contains("Path=/;"),
            "{cookie}"
        );
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
}
