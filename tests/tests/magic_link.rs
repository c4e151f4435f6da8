//! Sign-in by emailed link (issue 13), end to end: the client portal's sign-in page, the
//! link mailed through a real SMTP listener on loopback, its confirmation page, the
//! continued authorization request up to an ID token in the `openidconnect` relying
//! party, and the rules (once, only the newest, 24 hours by the server's clock), plus the
//! welcome link of an invitation for a passwordless client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_accounts::Branding;
use careid_mail::testing::{SmtpSink, links, text_part};
use careid_store::{
    ClientId,
    accounts::{self, Status},
    profiles,
};
use careid_tests::{
    Browser, PASSWORD, TestServer,
    browser::{Page, param},
    clients_dir_with,
    rp::Rp,
    test_config, with_rate_limits,
};
use openidconnect::TokenResponse;
use reqwest::StatusCode;
use time::Duration;

const EMAIL: &str = "ada@clinic.example";
const PORTAL_HOME: &str = "http://127.0.0.1:8083/";

async fn server(sink: &SmtpSink) -> TestServer {
    let mail = sink.mail_config();
    TestServer::start_with(|config| config.mail = mail).await
}

/// The client portal's sign-in page in `browser`, and the RP's pending request.
async fn portal_sign_in(
    server: &TestServer,
    browser: &Browser,
) -> (Rp, careid_tests::rp::Pending, Page) {
    let rp = Rp::client_portal(&server.issuer).await;
    let pending = rp.start();
    let page = browser.visit(pending.url.as_str()).await.page();
    (rp, pending, page)
}

/// Asks for a link for `email` on the sign-in page `page` and returns the answer.
async fn ask_on(browser: &Browser, page: &Page, email: &str) -> Page {
    let form = page.form().expect("a form");
    assert_eq!(form.action, "/magic-link", "{}", page.body);
    browser.submit(page, &[("email", email)]).await.page()
}

/// The one link of the next message.
async fn next_link(sink: &mut SmtpSink) -> String {
    next_link_in(&sink.next_message().await)
}

/// The one link of the message `raw`, a sign-in link.
fn next_link_in(raw: &str) -> String {
    let found = links(raw);
    assert_eq!(found.len(), 1, "{raw}");
    assert!(found[0].contains("/magic-link/sign-in?token="), "{raw}");
    found[0].clone()
}

/// Asks for a link from the portal's sign-in page in `browser` and returns it.
async fn ask(server: &TestServer, sink: &mut SmtpSink, browser: &Browser) -> String {
    let (_, _, page) = portal_sign_in(server, browser).await;
    let sent = ask_on(browser, &page, EMAIL).await;
    assert!(sent.body.contains("Check your email"), "{}", sent.body);
    next_link(sink).await
}

/// Opens a link: the confirmation page, which must not use it up.
async fn open(browser: &Browser, link: &str) -> Page {
    let page = browser.visit(link).await.page();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("You are signing in as"), "{}", page.body);
    page
}

#[tokio::test]
async fn a_link_continues_the_authorization_request_and_the_rp_gets_the_profiles_sub() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    let account = server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let (rp, pending, page) = portal_sign_in(&server, &browser).await;
    // The portal allows exactly magic links and PINs: no password field.
    assert!(
        page.body.contains("Email me a sign-in link"),
        "{}",
        page.body
    );
    assert!(page.body.contains("/sign-in/pin?request="), "{}", page.body);
    assert!(!page.body.contains(r#"name="password""#), "{}", page.body);
    let sent = ask_on(&browser, &page, EMAIL).await;
    assert!(sent.body.contains("Check your email"), "{}", sent.body);
    let raw = sink.next_message().await;
    assert!(
        raw.contains("Sign in to your Client Portal client portal"),
        "{raw}"
    );
    assert!(
        text_part(&raw).unwrap().contains("expires in 1 day"),
        "{raw}"
    );
    let link = links(&raw)[0].clone();
    // Opening the link (a mail scanner, or the person twice) uses nothing up.
    open(&browser, &link).await;
    let confirm = open(&browser, &link).await;
    let back = browser.submit(&confirm, &[]).await.left();
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(pending.state.secret().as_str())
    );
    let code = param(&back, "code").expect("a code");
    let tokens = rp.exchange(&code, pending.verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.client.id_token_verifier(), &pending.nonce)
        .unwrap();
    let profile = &profiles::find_for_account(&server.accounts.db, account.id)
        .await
        .unwrap()[0];
    assert_eq!(claims.subject().as_str(), profile.subject);
    assert_eq!(server.audit_events("magic_link_used").await.len(), 1);
    // Used once: the same link now explains itself and offers a new one.
    let again = browser.visit(&link).await.page();
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("already used"), "{}", again.body);
    assert!(again.body.contains("Send me a new link"), "{}", again.body);
}

#[tokio::test]
async fn a_link_signs_in_once() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let link = ask(&server, &mut sink, &browser).await;
    // Opened in two places (two tabs, or a phone and a laptop), confirmed in one.
    let other = server.browser();
    let other_confirm = open(&other, &link).await;
    let confirm = open(&browser, &link).await;
    browser.submit(&confirm, &[]).await.left();
    let late = other.submit(&other_confirm, &[]).await.page();
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);
    assert!(
        late.body.contains("This sign-in link was already used"),
        "{}",
        late.body
    );
    assert!(
        !late
            .set_cookies
            .iter()
            .any(|c| c.contains("careid_session="))
    );
    let page = browser.visit(&link).await.page();
    assert!(page.body.contains("already used"), "{}", page.body);
    let refused = server.audit_events("magic_link_refused").await;
    assert!(!refused.is_empty());
    assert!(
        refused[0].detail.contains(r#""reason":"used""#),
        "{}",
        refused[0].detail
    );
}

#[tokio::test]
async fn an_older_link_fails_once_a_newer_was_sent() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let older = ask(&server, &mut sink, &browser).await;
    let older_confirm = open(&browser, &older).await;
    server.clock.advance(Duration::MINUTE);
    let newer = ask(&server, &mut sink, &browser).await;
    assert_ne!(older, newer);
    // Opened, and confirmed from the page opened before the newer link came.
    let opened = browser.visit(&older).await.page();
    assert_eq!(opened.status, StatusCode::BAD_REQUEST);
    assert!(
        opened.body.contains("A newer sign-in link was sent"),
        "{}",
        opened.body
    );
    assert!(
        opened.body.contains("Send me a new link"),
        "{}",
        opened.body
    );
    let confirmed = browser.submit(&older_confirm, &[]).await.page();
    assert!(
        confirmed.body.contains("A newer sign-in link was sent"),
        "{}",
        confirmed.body
    );
    assert!(
        !server
            .audit_events("magic_link_superseded")
            .await
            .is_empty()
    );
    // The newest works.
    let confirm = open(&browser, &newer).await;
    let back = browser.submit(&confirm, &[]).await.left();
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn a_link_works_at_23_hours_and_not_after_24() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let link = ask(&server, &mut sink, &browser).await;
    server.clock.advance(Duration::hours(23));
    // The authorization request has long expired: the link still signs in, to the portal.
    let confirm = open(&browser, &link).await;
    let landed = browser.submit(&confirm, &[]).await.left();
    assert_eq!(landed.as_str(), PORTAL_HOME);

    let late = ask(&server, &mut sink, &server.browser()).await;
    server.clock.advance(Duration::hours(24));
    let page = browser.visit(&late).await.page();
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("This sign-in link has expired"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_magic_link_only_client_refuses_a_password_post() {
    let sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = server.browser();
    let (_, _, page) = portal_sign_in(&server, &browser).await;
    let mut fields = page.form().unwrap().fields(&[("email", EMAIL)]);
    fields.push(("password".into(), PASSWORD.into()));
    let posted = browser.post("/sign-in", &fields).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(
        posted
            .body
            .contains("This way of signing in is not available here")
    );
    assert!(
        !posted
            .set_cookies
            .iter()
            .any(|c| c.contains("careid_session="))
    );
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_page_and_no_mail() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let mut answers = Vec::new();
    for email in ["nobody@clinic.example", EMAIL] {
        let browser = server.browser();
        let (_, _, page) = portal_sign_in(&server, &browser).await;
        let request = page
            .form()
            .unwrap()
            .fields(&[])
            .into_iter()
            .find(|(name, _)| name == "request")
            .unwrap()
            .1;
        let sent = ask_on(&browser, &page, email).await;
        let cookies: Vec<String> = sent
            .set_cookies
            .iter()
            .map(|c| c.replace(&request, "REQUEST"))
            .collect();
        let body = sent
            .body
            .replace(email, "EMAIL")
            .replace(&request, "REQUEST");
        answers.push((sent.status, body, cookies));
    }
    assert_eq!(answers[0], answers[1]);
    let raw = sink.next_message().await;
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    assert!(sink.try_next_message().is_none());
    let requested = server.audit_events("magic_link_requested").await;
    assert_eq!(requested.len(), 2);
}

#[tokio::test]
async fn a_request_does_the_same_database_work_for_a_known_and_an_unknown_email() {
    let mut sink = SmtpSink::start().await.unwrap();
    // No background jobs: their polling would add statements to one side of the count.
    let mail = sink.mail_config();
    let server = TestServer::start_without_jobs_with(|config| config.mail = mail).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let portal = Branding {
        product: "Client Portal".into(),
        theme: "client-portal".into(),
        is_code_only: false,
        signs_in_by_link: true,
    };
    // What the request costs up to its answer, through the service the page calls. The
    // test runs on one thread, so nothing the request left to a background task can run
    // between the answer and the reading.
    let mut costs = Vec::new();
    for email in ["nobody@clinic.example", EMAIL] {
        let before = server.db.tally();
        server
            .lifecycle
            .request_magic_link(email, portal.clone(), Some("client-portal".into()), None)
            .await
            .unwrap();
        costs.push(server.db.tally() - before);
    }
    assert_eq!(costs[0], costs[1], "unknown, then known: {costs:?}");
    // The known email still gets its link, and it works.
    let link = next_link(&mut sink).await;
    let browser = server.browser();
    let confirm = open(&browser, &link).await;
    assert_eq!(
        browser.submit(&confirm, &[]).await.left().as_str(),
        PORTAL_HOME
    );
    assert!(sink.try_next_message().is_none());
}

#[tokio::test]
async fn a_link_opened_in_another_browser_starts_a_fresh_session_for_the_portal() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let link = ask(&server, &mut sink, &server.browser()).await;
    let phone = server.browser();
    let confirm = open(&phone, &link).await;
    let landed = phone.submit(&confirm, &[]).await.left();
    assert_eq!(landed.as_str(), PORTAL_HOME);
    // The portal's own sign-in now finds the session: no page, straight back with a code.
    let rp = Rp::client_portal(&server.issuer).await;
    let back = phone.visit(rp.start().url.as_str()).await.left();
    assert!(param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn requests_are_limited_per_email() {
    let sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| {
        config.mail = mail;
        with_rate_limits(config, |limits| {
            limits.magic_link.per_account = "2/hour".to_owned().try_into().unwrap();
        });
    })
    .await;
    let browser = server.browser();
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (_, _, page) = portal_sign_in(&server, &browser).await;
        let fields = page
            .form()
            .unwrap()
            .fields(&[("email", "nobody@clinic.example")]);
        let answer = browser.post("/magic-link", &fields).await;
        assert_eq!(answer.status, expected, "{}", answer.body);
    }
}

#[tokio::test]
async fn the_welcome_link_of_a_magic_link_client_activates_and_signs_in() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    // As `careid user invite EMAIL --client client-portal` brands it.
    let portal = Branding {
        product: "Client Portal".into(),
        theme: "client-portal".into(),
        is_code_only: false,
        signs_in_by_link: true,
    };
    let invited = server
        .lifecycle
        .invite(
            EMAIL,
            "Ada Okafor",
            &portal,
            Some(&ClientId::from("client-portal")),
        )
        .await
        .unwrap();
    assert!(invited.is_sent);
    let raw = sink.next_message().await;
    assert!(raw.contains("Welcome to Client Portal"), "{raw}");
    let link = links(&raw)[0].clone();
    assert!(link.contains("/magic-link/sign-in?token="), "{link}");
    let browser = server.browser();
    let confirm = open(&browser, &link).await;
    let landed = browser.submit(&confirm, &[]).await.left();
    assert_eq!(landed.as_str(), PORTAL_HOME);
    let account = accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status(), Status::Active);
    assert_eq!(account.invitation_state, "accepted");
    assert_eq!(server.audit_events("invitation_accepted").await.len(), 1);
    // Signed in: the portal gets a code without a sign-in page.
    let rp = Rp::client_portal(&server.issuer).await;
    let back = browser.visit(rp.start().url.as_str()).await.left();
    assert!(param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn careid_user_invite_for_the_portal_mails_a_welcome_link_that_signs_in() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    let port = sink.mail_config().smtp.port.to_string();
    // Staff on the server, with the server's mail settings: its relay is the sink.
    let out = server
        .careid_command_with(
            &[
                "user",
                "invite",
                EMAIL,
                "--name",
                "Ada Okafor",
                "--client",
                "client-portal",
            ],
            &[
                ("CAREID_ISSUER", server.issuer.as_str()),
                ("CAREID_MAIL__TRANSPORT", "smtp"),
                ("CAREID_MAIL__SMTP__HOST", "127.0.0.1"),
                ("CAREID_MAIL__SMTP__PORT", port.as_str()),
                ("CAREID_MAIL__SMTP__SECURITY", "none"),
            ],
        )
        .await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = sink.next_message().await;
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    let link = next_link_in(&raw);
    assert!(link.starts_with(&server.issuer), "{link}");
    let account = accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status(), Status::Invited);
    // One click on the confirmation page signs in and activates.
    let browser = server.browser();
    let confirm = open(&browser, &link).await;
    let landed = browser.submit(&confirm, &[]).await.left();
    assert_eq!(landed.as_str(), PORTAL_HOME);
    let account = accounts::find_by_id(&server.accounts.db, account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status(), Status::Active);
    assert_eq!(account.invitation_state, "accepted");
    let rp = Rp::client_portal(&server.issuer).await;
    let back = browser.visit(rp.start().url.as_str()).await.left();
    assert!(param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn serve_refuses_a_client_with_an_unknown_sign_in_method() {
    let bad = "client_id = \"odd\"\nname = \"Odd\"\nsecret = \"x\"\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\nsign_in_methods = [\"sms\"]\n";
    let clients = clients_dir_with(&[("odd.toml", bad)]);
    let dir = tempfile::tempdir().unwrap();
    let database_url = careid_tests::fresh_database(dir.path()).await;
    let mut config = test_config("http://127.0.0.1:9", &database_url);
    config.clients_dir = clients.path().into();
    let clock = std::sync::Arc::new(careid_store::ManualClock::starting_now());
    let refused = careid_server::App::build(&config, clock).await;
    let err = refused.err().expect("serve refuses to start").to_string();
    assert!(err.contains("odd.toml:5: sign_in_methods"), "{err}");
}
