//! A second factor for staff (issue 17), end to end: a real server, a person adding an
//! authenticator app on `/account/security` from the `otpauth://` URI the page shows,
//! and codes computed here from that URI at the server's (settable) clock time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use careid_mail::testing::{SmtpSink, links, text_part};
use careid_policy::totp;
use careid_store::{AccountId, Clock, audit};
use careid_tests::{
    Browser, CRM_CALLBACK, OFFLINE_SCOPE, PASSWORD, TestServer, VERIFIER,
    browser::{Landing, Page, param},
    clients_dir_with,
};
use reqwest::StatusCode;
use time::Duration;

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

/// What the QR code on the page says: its SVG image (a `data:` URI in `id="totp-qr"`)
/// drawn module by module and read back by a QR decoder, as a phone's camera would.
fn qr_text_of(page: &Page) -> String {
    let marker = "id=\"totp-qr\" src=\"";
    let start = page.body.find(marker).expect("a QR image") + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    let src = page.body[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#x3d;", "=")
        .replace("&#x3D;", "=")
        .replace("&#x2b;", "+")
        .replace("&#x2B;", "+");
    let svg = src
        .strip_prefix("data:image/svg+xml;base64,")
        .expect("an SVG data URI");
    let svg = String::from_utf8(STANDARD.decode(svg).unwrap()).unwrap();
    let number = |name: &str| -> usize {
        let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
    };
    let (width, height) = (number("width"), number("height"));
    // The dark modules: `M{left} {top}h{w}v{h}H{left}V{top}` each.
    let path = &svg[svg.find(" d=\"").unwrap() + 4..];
    let path = &path[..path.find('"').unwrap()];
    let mut dark = vec![false; width * height];
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        let numbers: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let [left, top, w, h, ..] = numbers[..] else {
            panic!("a rectangle: {rect}")
        };
        for y in top..top + h {
            for x in left..left + w {
                dark[y * width + x] = true;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_bitmap(width, height, |x, y| dark[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("a readable QR code").1
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
    // The QR code to scan carries the same setup link, byte for byte.
    assert_eq!(qr_text_of(&page), uri);
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

/// Ada with an authenticator app set up (on a browser of her own); its secret. The clock
/// then moves one step on, so the enrolment's code is not the next one typed.
async fn enrolled(server: &TestServer) -> Vec<u8> {
    enrolled_with_codes(server).await.0
}

/// As [`enrolled`], with the recovery codes the confirmation showed and the browser.
async fn enrolled_with_codes(server: &TestServer) -> (Vec<u8>, Vec<String>, Browser) {
    let browser = signed_in(server).await;
    let (page, secret) = enrolment_page(&browser).await;
    let current = code(server, &secret, 0);
    let done = browser.submit(&page, &[("code", &current)]).await.page();
    assert!(done.body.contains("is set up"), "{}", done.body);
    let codes = recovery_codes_on(&done);
    assert_eq!(codes.len(), 10, "{}", done.body);
    server.clock.advance(Duration::seconds(totp::STEP_SECONDS));
    (secret, codes, browser)
}

/// The recovery codes a page shows.
fn recovery_codes_on(page: &Page) -> Vec<String> {
    page.body
        .split("<code class=\"recovery-code\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

/// Opens the CRM's authorization URL on `browser` and types Ada's password: the page
/// that comes next, which must be the code page.
async fn code_page(server: &TestServer, browser: &Browser) -> Page {
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let form = browser.visit(&url).await.page();
    let next = browser
        .submit(&form, &[("email", EMAIL), ("password", PASSWORD)])
        .await
        .page();
    assert!(
        next.url.contains("/sign-in/code"),
        "{}:\n{}",
        next.url,
        next.body
    );
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    next
}

/// The `amr` of the ID token a CRM code brings.
async fn amr_of(server: &TestServer, back: &url::Url) -> Vec<String> {
    let code = param(back, "code").expect("a code");
    let (status, body) = server.crm_exchange(&code).await;
    amr_in(status, body)
}

/// The `amr` of the ID token in a token response.
fn amr_in(status: StatusCode, body: serde_json::Value) -> Vec<String> {
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_token = body["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    serde_json::from_value(claims["amr"].clone()).unwrap()
}

#[tokio::test]
async fn a_correct_code_after_the_password_signs_in_with_otp_in_the_amr() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let secret = enrolled(&server).await;
    let browser = server.browser();
    let page = code_page(&server, &browser).await;
    // The password alone gave no session: the account page still asks to sign in.
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);

    let current = code(&server, &secret, 0);
    let back = browser.submit(&page, &[("code", &current)]).await.left();
    assert_eq!(amr_of(&server, &back).await, ["pwd", "otp", "mfa"]);
}

#[tokio::test]
async fn a_password_only_sign_in_keeps_amr_pwd() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let back = browser.sign_in(&url, EMAIL, PASSWORD).await;
    assert_eq!(amr_of(&server, &back).await, ["pwd"]);
}

#[tokio::test]
async fn a_code_that_signed_in_once_is_refused_the_second_time() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let secret = enrolled(&server).await;
    let current = code(&server, &secret, 0);

    let first = server.browser();
    let page = code_page(&server, &first).await;
    first.submit(&page, &[("code", &current)]).await.left();

    let second = server.browser();
    let page = code_page(&server, &second).await;
    let replayed = second.submit(&page, &[("code", &current)]).await.page();
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST);
    assert!(replayed.body.contains("not correct"), "{}", replayed.body);

    // The next step's code works.
    server.clock.advance(Duration::seconds(totp::STEP_SECONDS));
    let next = code(&server, &secret, 0);
    second.submit(&replayed, &[("code", &next)]).await.left();
}

/// A server that locks an account after three wrong attempts.
async fn three_strikes() -> TestServer {
    let server = TestServer::start_with(|c| c.policy.lockout.max_failures = 3).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    server
}

/// Types a wrong code `times` times on `page` and returns the last answer.
async fn wrong_codes(browser: &Browser, page: &Page, wrong: &str, times: usize) -> Page {
    let mut page = page.clone();
    for _ in 0..times {
        page = browser.submit(&page, &[("code", wrong)]).await.page();
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.body.contains("not correct"), "{}", page.body);
    }
    page
}

/// A six-digit code that is not the current one (nor one step either side).
fn wrong_code(server: &TestServer, secret: &[u8]) -> String {
    let near: Vec<String> = (-1..=1).map(|s| code(server, secret, s)).collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

#[tokio::test]
async fn two_wrong_codes_of_three_allowed_leave_the_right_code_working() {
    let server = three_strikes().await;
    let secret = enrolled(&server).await;
    let browser = server.browser();
    let page = code_page(&server, &browser).await;
    let page = wrong_codes(&browser, &page, &wrong_code(&server, &secret), 2).await;
    let current = code(&server, &secret, 0);
    browser.submit(&page, &[("code", &current)]).await.left();
}

#[tokio::test]
async fn wrong_codes_count_towards_the_password_lockout_and_are_audited() {
    let server = three_strikes().await;
    let secret = enrolled(&server).await;
    let browser = server.browser();
    let page = code_page(&server, &browser).await;
    let wrong = wrong_code(&server, &secret);
    wrong_codes(&browser, &page, &wrong, 2).await;
    // Typing the password again buys no new guesses: the count goes on.
    let page = code_page(&server, &browser).await;
    let page = wrong_codes(&browser, &page, &wrong, 1).await;
    let current = code(&server, &secret, 0);
    let locked = browser.submit(&page, &[("code", &current)]).await.page();
    assert!(locked.body.contains("locked"), "{}", locked.body);

    let account = careid_store::accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let events = audit::find_events(&server.accounts.db, Some(account.id), None, 100)
        .await
        .unwrap();
    let failures: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "sign_in_failed")
        .map(|e| e.detail.as_str())
        .collect();
    let wrong_codes = failures
        .iter()
        .filter(|d| d.contains("\"wrong_code\""))
        .count();
    assert_eq!(wrong_codes, 3, "{failures:?}");
    assert!(
        failures.iter().any(|d| d.contains("attempt_while_locked")),
        "{failures:?}"
    );
    assert!(events.iter().any(|e| e.kind == "account_locked"));
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_not_twice() {
    let server = TestServer::start().await;
    let account = server.add_account(EMAIL, "Ada Okafor").await;
    let (_, codes, _) = enrolled_with_codes(&server).await;

    let first = server.browser();
    let page = code_page(&server, &first).await;
    // Typed loosely: lower case, spaces for dashes.
    let typed = codes[0].to_lowercase().replace('-', " ");
    let back = first.submit(&page, &[("code", &typed)]).await.left();
    assert_eq!(amr_of(&server, &back).await, ["pwd", "otp", "mfa"]);

    let second = server.browser();
    let page = code_page(&server, &second).await;
    let again = second.submit(&page, &[("code", &codes[0])]).await.page();
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("not correct"), "{}", again.body);
    // Another code of the set still works.
    second.submit(&again, &[("code", &codes[1])]).await.left();

    let events = audit::find_events(&server.accounts.db, Some(account.id), None, 100)
        .await
        .unwrap();
    let by_recovery = events
        .iter()
        .filter(|e| e.kind == "sign_in" && e.detail.contains("recovery_code"))
        .count();
    assert_eq!(by_recovery, 2);
    assert_eq!(
        server
            .accounts
            .unused_recovery_codes(account.id)
            .await
            .unwrap(),
        8
    );
}

#[tokio::test]
async fn a_recovery_code_sign_in_mails_the_owner_and_an_app_code_does_not() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| config.mail = mail).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let (secret, codes, _) = enrolled_with_codes(&server).await;

    // The app's code first: should it mail, that message would be the next one below.
    let browser = server.browser();
    let page = code_page(&server, &browser).await;
    let current = code(&server, &secret, 0);
    browser.submit(&page, &[("code", &current)]).await.left();

    let other = server.browser();
    let page = code_page(&server, &other).await;
    other.submit(&page, &[("code", &codes[0])]).await.left();
    let raw = sink.next_message().await;
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    assert!(raw.contains("Subject: A recovery code signed in"), "{raw}");
    let text = text_part(&raw).unwrap();
    assert!(text.contains("you have 9 unused codes left"), "{text}");
    assert_eq!(links(&raw), [format!("{}/account/security", server.issuer)]);
    assert!(sink.try_next_message().is_none(), "one message");
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let server = TestServer::start().await;
    let account = server.add_account(EMAIL, "Ada Okafor").await;
    let (_, old, browser) = enrolled_with_codes(&server).await;
    let security = browser.visit("/account/security").await.page();
    assert!(
        security.body.contains("10 unused recovery codes"),
        "{}",
        security.body
    );
    assert!(recovery_codes_on(&security).is_empty(), "shown only once");
    let made = browser.submit(&security, &[]).await.page();
    let new = recovery_codes_on(&made);
    assert_eq!(new.len(), 10, "{}", made.body);
    assert!(new.iter().all(|c| !old.contains(c)));
    assert!(
        audit_kinds(&server, account.id)
            .await
            .contains(&"recovery_codes_regenerated".to_owned())
    );

    let other = server.browser();
    let page = code_page(&server, &other).await;
    let refused = other.submit(&page, &[("code", &old[0])]).await.page();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    other.submit(&refused, &[("code", &new[0])]).await.left();
}

/// What `careid user show` prints for Ada.
async fn user_show(server: &TestServer) -> String {
    let output = server.careid_command(&["user", "show", EMAIL]).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn staff_reset_removes_the_second_factor_and_is_audited() {
    let server = TestServer::start().await;
    let account = server.add_account(EMAIL, "Ada Okafor").await;
    enrolled(&server).await;
    let before = user_show(&server).await;
    let enrolled_at = (server.clock.now() - Duration::seconds(totp::STEP_SECONDS))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(
        before.contains(&format!(
            "2nd factor:  authenticator app, added {enrolled_at}, last used "
        )),
        "{before}"
    );
    assert!(
        before.contains(&format!(
            "             recovery codes (10 of 10 unused), added {enrolled_at}, last used never"
        )),
        "{before}"
    );

    let mut sink = SmtpSink::start().await.unwrap();
    let port = sink.mail_config().smtp.port.to_string();
    let output = server
        .careid_command_with(
            &["user", "reset-mfa", "ADA@clinic.example"],
            &[
                ("CAREID_ISSUER", server.issuer.as_str()),
                ("CAREID_MAIL__TRANSPORT", "smtp"),
                ("CAREID_MAIL__SMTP__HOST", "127.0.0.1"),
                ("CAREID_MAIL__SMTP__PORT", port.as_str()),
                ("CAREID_MAIL__SMTP__SECURITY", "none"),
            ],
        )
        .await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}{:?}", output.stderr);
    assert!(stdout.contains("second factors removed"), "{stdout}");
    assert!(stdout.contains("the owner was told by mail"), "{stdout}");
    // Ada learns of it, with the way back to her security page.
    let raw = sink.next_message().await;
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    let text = text_part(&raw).unwrap();
    assert!(text.contains("Hello Ada Okafor"), "{text}");
    assert!(
        text.contains("an administrator removed the authenticator app"),
        "{text}"
    );
    assert_eq!(links(&raw), [format!("{}/account/security", server.issuer)]);
    assert!(user_show(&server).await.contains("2nd factor:  none"));
    assert!(!server.accounts.has_totp(account.id).await.unwrap());
    assert_eq!(
        server
            .accounts
            .unused_recovery_codes(account.id)
            .await
            .unwrap(),
        0
    );
    assert!(
        audit_kinds(&server, account.id)
            .await
            .contains(&"mfa_reset".to_owned())
    );
    // The password alone signs in again.
    let browser = server.browser();
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let back = browser.sign_in(&url, EMAIL, PASSWORD).await;
    assert_eq!(amr_of(&server, &back).await, ["pwd"]);

    let output = server
        .careid_command(&["user", "reset-mfa", "nobody@clinic.example"])
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no account has this email"), "{stderr}");
}

const STRICT_CALLBACK: &str = "http://127.0.0.1:8085/callback";

/// A client whose people must sign in with a second factor.
const STRICT_FILE: &str = r#"client_id = "strict-app"
name = "Prescribing"
secret = "strict-app-demo-secret"
redirect_uris = ["http://127.0.0.1:8085/callback"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "client_secret_basic"
first_party = true
require_mfa = true
"#;

#[tokio::test]
async fn a_require_mfa_client_sends_a_password_only_person_through_enrolment_first() {
    let clients = clients_dir_with(&[("strict-app.toml", STRICT_FILE)]);
    let path = clients.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let url = server.authorize_url("strict-app", STRICT_CALLBACK, &[]);
    let form = browser.visit(&url).await.page();
    // The password is right, but no code comes back: the security page does.
    let landing = browser
        .submit(&form, &[("email", EMAIL), ("password", PASSWORD)])
        .await;
    let Landing::Page(page) = landing else {
        panic!("a code was issued before a second factor: {landing:?}");
    };
    assert!(
        page.url.contains("/account/security?request="),
        "{}",
        page.url
    );
    assert!(page.body.contains("mfa-required"), "{}", page.body);
    let uri = text_of(&page, "totp-uri").unwrap();
    let secret = secret_of(&uri);

    let current = code(&server, &secret, 0);
    let done = browser.submit(&page, &[("code", &current)]).await.page();
    assert_eq!(recovery_codes_on(&done).len(), 10, "{}", done.body);
    let next = href_after(&done, "id=\"continue\"");
    let back = browser.visit(&next).await.left();
    assert_eq!(strict_amr(&server, &back).await, ["pwd", "otp", "mfa"]);
}

/// The first link after `marker` on `page`, HTML entities decoded.
fn href_after(page: &Page, marker: &str) -> String {
    page.body
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split("href=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link after {marker}:\n{}", page.body))
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

/// The `amr` of the ID token the strict client's code brings.
async fn strict_amr(server: &TestServer, back: &url::Url) -> Vec<String> {
    let code = param(back, "code").expect("a code");
    let (status, body) = server
        .token(
            Some(("strict-app", "strict-app-demo-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", STRICT_CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    amr_in(status, body)
}

#[tokio::test]
async fn a_require_mfa_client_asks_a_session_without_a_code_for_the_code_alone() {
    let clients = clients_dir_with(&[("strict-app.toml", STRICT_FILE)]);
    let path = clients.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    // A session from before her authenticator app was added: password only.
    let browser = server.browser();
    server.crm_code(&browser, EMAIL).await;
    let secret = enrolled(&server).await;

    // prompt=none cannot ask for a code: the client hears login_required.
    let silent = server.authorize_url("strict-app", STRICT_CALLBACK, &[("prompt", "none")]);
    let refused = browser.visit(&silent).await.left();
    assert_eq!(param(&refused, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&refused, "code"), None);

    // Otherwise the step-up page asks for a code, and not for her password again: the
    // code brings the strict client its code.
    let url = server.authorize_url("strict-app", STRICT_CALLBACK, &[]);
    let page = browser.visit(&url).await.page();
    assert!(
        page.url.contains("/sign-in/step-up?request="),
        "{}",
        page.url
    );
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
    let current = code(&server, &secret, 0);
    let back = browser.submit(&page, &[("code", &current)]).await.left();
    assert_eq!(strict_amr(&server, &back).await, ["pwd", "otp", "mfa"]);
}

#[tokio::test]
async fn the_security_page_points_a_session_without_a_code_to_the_step_up_page() {
    let clients = clients_dir_with(&[("strict-app.toml", STRICT_FILE)]);
    let path = clients.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    server.crm_code(&browser, EMAIL).await;
    enrolled(&server).await;
    // The strict client's request, carried to the security page (an old link, a
    // bookmark): the page says the app is on and links to the step-up page.
    let url = server.authorize_url("strict-app", STRICT_CALLBACK, &[]);
    let step_up = browser.visit(&url).await.page();
    let request = step_up.url.split("request=").nth(1).unwrap().to_owned();
    let page = browser
        .visit(&format!("/account/security?request={request}"))
        .await
        .page();
    assert!(page.body.contains("totp-on"), "{}", page.body);
    let link = href_after(&page, "id=\"step-up\"");
    assert_eq!(link, format!("/sign-in/step-up?request={request}"));
}
