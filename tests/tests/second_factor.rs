//! A second factor for staff (issue 17), end to end: a real server, a person adding an
//! authenticator app on `/account/security` from the `otpauth://` URI the page shows,
//! and codes computed here from that URI at the server's (settable) clock time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_policy::totp;
use careid_store::{AccountId, Clock, audit};
use careid_tests::{Browser, TestServer, browser::Page};
use reqwest::StatusCode;

const EMAIL: &str = "ada@clinic.example";

/// The text of the element with `id`, HTML entities decoded.
fn text_of(page: &Page, id: &str) -> Option<String> {
    let start = page.body.find(&format!("id=\"{id}\">"))? + id.len() + 6;
    let end = start + page.body[start..].find('<')?;
    Some(
        page.body[start..end]
            .replace("&#x2f;", "/")
            .replace("&#x2F;", "/")
            .replace("&amp;", "&"),
    )
}

/// The secret of an `otpauth://` URI.
fn secret_of(uri: &str) -> Vec<u8> {
    let secret = uri
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .expect("a secret in the URI");
    totp::from_base32(secret).expect("base32")
}

/// The code an authenticator app shows at the server's time, `steps` steps off.
fn code(server: &TestServer, secret: &[u8], steps: i64) -> String {
    totp::code_at(secret, totp::step_at(server.clock.now()) + steps)
}

/// Ada, signed in on a fresh browser.
async fn signed_in(server: &TestServer) -> Browser {
    let browser = server.browser();
    server.crm_code(&browser, EMAIL).await;
    browser
}

/// Opens `/account/security` and returns the page and the secret of its URI.
async fn enrolment_page(browser: &Browser) -> (Page, Vec<u8>) {
    let page = browser.visit("/account/security").await.page();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let uri = text_of(&page, "totp-uri").unwrap_or_else(|| panic!("no URI:\n{}", page.body));
    assert!(
        uri.starts_with("otpauth://totp/careid:ada@clinic.example?"),
        "{uri}"
    );
    for part in ["issuer=careid", "algorithm=SHA1", "digits=6", "period=30"] {
        assert!(uri.contains(part), "{part} in {uri}");
    }
    (page.clone(), secret_of(&uri))
}

async fn audit_kinds(server: &TestServer, account_id: AccountId) -> Vec<String> {
    audit::find_events(&server.accounts.db, Some(account_id), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[tokio::test]
async fn an_authenticator_is_on_only_after_a_current_code_from_the_uri() {
    let server = TestServer::start().await;
    let account = server.add_account(EMAIL, "Ada Okafor").await;
    let browser = signed_in(&server).await;
    let (page, secret) = enrolment_page(&browser).await;

    // Reloading shows the same secret: the app added from the first view still works.
    let (_, again) = enrolment_page(&browser).await;
    assert_eq!(again, secret);

    // A code two steps old is not current: refused, and the factor stays off.
    let stale = code(&server, &secret, -2);
    let refused = browser.submit(&page, &[("code", &stale)]).await.page();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("code-problem"), "{}", refused.body);
    assert!(!server.accounts.has_totp(account.id).await.unwrap());

    let current = code(&server, &secret, 0);
    let done = browser.submit(&refused, &[("code", &current)]).await.page();
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("is set up"), "{}", done.body);
    assert!(server.accounts.has_totp(account.id).await.unwrap());
    assert!(
        audit_kinds(&server, account.id)
            .await
            .contains(&"totp_enrolled".to_owned())
    );

    // The page no longer shows a secret.
    let after = browser.visit("/account/security").await.page();
    assert!(text_of(&after, "totp-uri").is_none(), "{}", after.body);
    assert!(after.body.contains("totp-on"), "{}", after.body);
}

#[tokio::test]
async fn the_security_page_needs_a_session() {
    let server = TestServer::start().await;
    let page = server.browser().get("/account/security").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/sign-in"));
}
