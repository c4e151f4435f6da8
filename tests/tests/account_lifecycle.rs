//! Accounts by email, end to end: invitations and activation, self-service resets (link
//! then code, and code only), administrator reset links, against a real SMTP listener on
//! loopback and a real server whose clock the test moves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_accounts::{AccountsError, Branding};
use careid_mail::{
    MailConfig,
    testing::{SmtpSink, links, text_part},
};
use careid_policy::PlainPassword;
use careid_store::{
    ClientId,
    accounts::{self, Status},
    audit,
};
use careid_tests::{
    Browser, PASSWORD, TestServer,
    browser::{Landing, Page},
    workspace,
};
use time::Duration;

const EMAIL: &str = "ada@clinic.example";
const NEW: &str = "Willow-Creek-17";

async fn server(sink: &SmtpSink) -> TestServer {
    let mail = sink.mail_config();
    TestServer::start_with(|config| config.mail = mail).await
}

fn crm() -> Branding {
    Branding {
        product: "CarePortals CRM".into(),
        theme: "crm".into(),
        is_code_only: false,
        signs_in_by_link: false,
    }
}

/// Invites `email` as `careid user invite EMAIL --client crm` does.
async fn invite(server: &TestServer, email: &str) {
    let invited = server
        .lifecycle
        .invite(email, "Ada Okafor", &crm(), Some(&ClientId::from("crm")))
        .await
        .unwrap();
    assert!(invited.is_sent);
}

async fn state(server: &TestServer, email: &str) -> (Status, String) {
    let account = accounts::find_by_email(&server.accounts.db, email)
        .await
        .unwrap()
        .unwrap();
    (account.status(), account.invitation_state)
}

async fn events(server: &TestServer, email: &str) -> Vec<String> {
    let account = accounts::find_by_email(&server.accounts.db, email)
        .await
        .unwrap()
        .unwrap();
    audit::find_events(&server.accounts.db, Some(account.id), None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn only_link(raw: &str) -> String {
    let found = links(raw);
    assert_eq!(found.len(), 1, "{raw}");
    found[0].clone()
}

fn code_in(raw: &str) -> String {
    text_part(raw)
        .unwrap()
        .split_whitespace()
        .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
        .expect("a 6-digit code")
        .to_owned()
}

fn other_than(code: &str) -> &'static str {
    if code == "000000" { "000001" } else { "000000" }
}

async fn submit_page(browser: &Browser, page: &Page, fill: &[(&str, &str)]) -> Page {
    browser.submit(page, fill).await.page()
}

async fn set_password(browser: &Browser, page: &Page, password: &str) -> Page {
    submit_page(
        browser,
        page,
        &[("password", password), ("confirmation", password)],
    )
    .await
}

async fn signs_in(server: &TestServer, email: &str, password: &str) -> bool {
    server
        .accounts
        .sign_in_password(email, PlainPassword::new(password), None, None)
        .await
        .is_ok()
}

/// Forgot password → reset link → "send me a code": the code form in `browser`, and the code.
async fn code_form(sink: &mut SmtpSink, browser: &Browser, email: &str) -> (Page, String) {
    let forgot = browser.visit("/forgot-password").await.page();
    let sent = submit_page(browser, &forgot, &[("email", email)]).await;
    assert!(sent.body.contains("Check your email"), "{}", sent.body);
    let link = only_link(&sink.next_message().await);
    assert!(link.contains("/reset?token="), "{link}");
    let offer = browser.visit(&link).await.page();
    assert!(
        offer.body.contains("Send me a security code"),
        "{}",
        offer.body
    );
    let form = submit_page(browser, &offer, &[]).await;
    assert!(form.body.contains("Security code"), "{}", form.body);
    let code = code_in(&sink.next_message().await);
    (form, code)
}

async fn reset_with_code(browser: &Browser, form: &Page, code: &str, password: &str) -> Page {
    submit_page(
        browser,
        form,
        &[
            ("code", code),
            ("password", password),
            ("confirmation", password),
        ],
    )
    .await
}

const CHANGED: &str = "Your password has been changed";
const CODE_REFUSED: &str = "That security code is not right, or it no longer works";

#[tokio::test]
async fn an_invited_person_activates_from_the_email_and_signs_in_through_the_crm() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    invite(&server, EMAIL).await;
    assert_eq!(
        state(&server, EMAIL).await,
        (Status::Invited, "sent".into())
    );

    let raw = sink.next_message().await;
    assert!(raw.contains("CarePortals CRM"), "{raw}");
    let link = only_link(&raw);
    assert!(link.starts_with(&format!("{}/activate?token=", server.url)));

    let browser = server.browser();
    let form = browser.visit(&link).await.page();
    assert_eq!(
        state(&server, EMAIL).await,
        (Status::Invited, "opened".into())
    );
    // The rules are on the page before anything is typed.
    for rule in server.accounts.config.password.describe() {
        assert!(form.body.contains(&rule), "{rule} missing");
    }

    // One character short of the minimum, then everything wrong at once.
    let short = set_password(&browser, &form, "Correct-4").await;
    assert!(
        short.body.contains("at least 10 characters long"),
        "{}",
        short.body
    );
    let many = submit_page(
        &browser,
        &form,
        &[("password", "horse"), ("confirmation", "horses")],
    )
    .await;
    let listed = many.body.matches("<li>Your password").count()
        + many.body.matches("<li>The two passwords").count();
    assert!(listed >= 4, "{}", many.body);
    assert_eq!(state(&server, EMAIL).await.0, Status::Invited);

    let done = set_password(&browser, &form, PASSWORD).await;
    assert!(
        done.body.contains("Your account is active"),
        "{}",
        done.body
    );
    assert!(done.body.contains("href=\"/sign-in\""));
    assert_eq!(
        state(&server, EMAIL).await,
        (Status::Active, "accepted".into())
    );
    assert!(
        events(&server, EMAIL)
            .await
            .contains(&"invitation_accepted".into())
    );

    // The link is single-use.
    let again = browser.visit(&link).await.page();
    assert!(again.body.contains("already used"), "{}", again.body);

    let crm = server.browser();
    let code = server.crm_code(&crm, EMAIL).await;
    let (status, _) = server.crm_exchange(&code).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_expired_invitation_offers_the_reset_flow_which_activates_the_account() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    invite(&server, EMAIL).await;
    let link = only_link(&sink.next_message().await);
    server.clock.advance(Duration::days(7) + Duration::SECOND);

    let browser = server.browser();
    let expired = browser.visit(&link).await.page();
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("invitation link has expired"));
    assert!(expired.body.contains("href=\"/forgot-password\""));

    let (form, code) = code_form(&mut sink, &browser, EMAIL).await;
    let done = reset_with_code(&browser, &form, &code, PASSWORD).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);
    assert_eq!(
        state(&server, EMAIL).await,
        (Status::Active, "accepted".into())
    );
    let code = server.crm_code(&server.browser(), EMAIL).await;
    assert_eq!(server.crm_exchange(&code).await.0, 200);
}

#[tokio::test]
async fn forgot_password_for_an_unknown_email_looks_the_same_and_sends_nothing() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let unknown = "nobody@clinic.example";

    let form = browser.visit("/forgot-password").await.page();
    let for_unknown = submit_page(&browser, &form, &[("email", unknown)]).await;
    let form = browser.visit("/forgot-password").await.page();
    let for_known = submit_page(&browser, &form, &[("email", EMAIL)]).await;
    assert_eq!(for_unknown.status, for_known.status);
    assert_eq!(
        for_unknown.body.replace(unknown, "someone"),
        for_known.body.replace(EMAIL, "someone")
    );

    // Mail is sent in order of requests; the first to arrive is the known one's.
    let raw = sink.next_message().await;
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    assert!(sink.try_next_message().is_none());
}

#[tokio::test]
async fn a_followed_reset_link_is_refused_the_second_time() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let form = browser.visit("/forgot-password").await.page();
    submit_page(&browser, &form, &[("email", EMAIL)]).await;
    let link = only_link(&sink.next_message().await);
    let offer = browser.visit(&link).await.page();
    submit_page(&browser, &offer, &[]).await;
    let second = browser.visit(&link).await.page();
    assert_eq!(second.status, 400);
    assert!(
        second.body.contains("reset link was already used"),
        "{}",
        second.body
    );
    // Posting the used link again sends no second code.
    let replay = submit_page(&browser, &offer, &[]).await;
    assert!(replay.body.contains("already used"));
    sink.next_message().await; // the one code
    assert!(sink.try_next_message().is_none());
}

#[tokio::test]
async fn a_code_guessed_wrong_five_times_is_dead_but_four_wrong_guesses_leave_it_working() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    server.add_account("bea@clinic.example", "Bea").await;

    let browser = server.browser();
    let (form, code) = code_form(&mut sink, &browser, EMAIL).await;
    for _ in 0..4 {
        let wrong = reset_with_code(&browser, &form, other_than(&code), NEW).await;
        assert!(wrong.body.contains(CODE_REFUSED));
    }
    let done = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);

    let other = server.browser();
    let (form, code) = code_form(&mut sink, &other, "bea@clinic.example").await;
    for _ in 0..5 {
        reset_with_code(&other, &form, other_than(&code), NEW).await;
    }
    let dead = reset_with_code(&other, &form, &code, NEW).await;
    assert!(dead.body.contains(CODE_REFUSED), "{}", dead.body);
    assert!(signs_in(&server, "bea@clinic.example", PASSWORD).await);
    assert!(
        events(&server, "bea@clinic.example")
            .await
            .contains(&"reset_code_failed".into())
    );
}

#[tokio::test]
async fn a_code_entered_in_another_browser_is_refused() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let (form, code) = code_form(&mut sink, &browser, EMAIL).await;

    // Another browser, with a CSRF cookie of its own but no binding cookie.
    let thief = server.browser();
    let their_page = thief.visit("/forgot-password").await.page();
    let csrf = their_page.form().unwrap().fields(&[]);
    let csrf = csrf.iter().find(|(n, _)| n == "csrf").unwrap().1.clone();
    let fields: Vec<(String, String)> = form.form().unwrap().fields(&[
        ("csrf", &csrf),
        ("code", &code),
        ("password", NEW),
        ("confirmation", NEW),
    ]);
    let refused = thief.post("/reset/code", &fields).await;
    assert!(
        refused.body.contains("only in the browser"),
        "{}",
        refused.body
    );
    assert!(signs_in(&server, EMAIL, PASSWORD).await);

    let done = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(done.body.contains(CHANGED));
}

#[tokio::test]
async fn a_reset_code_works_until_its_fifteen_minutes_are_up() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    server.add_account("bea@clinic.example", "Bea").await;
    let ada = server.browser();
    let (ada_form, ada_code) = code_form(&mut sink, &ada, EMAIL).await;
    let bea = server.browser();
    let (bea_form, bea_code) = code_form(&mut sink, &bea, "bea@clinic.example").await;

    server
        .clock
        .advance(Duration::minutes(15) - Duration::SECOND);
    let in_time = reset_with_code(&ada, &ada_form, &ada_code, NEW).await;
    assert!(in_time.body.contains(CHANGED), "{}", in_time.body);
    server.clock.advance(Duration::SECOND);
    let late = reset_with_code(&bea, &bea_form, &bea_code, NEW).await;
    assert!(late.body.contains(CODE_REFUSED), "{}", late.body);
}

#[tokio::test]
async fn the_reset_path_keeps_the_password_history_and_ends_other_sessions() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let elsewhere = server.browser();
    server.crm_code(&elsewhere, EMAIL).await;

    let browser = server.browser();
    let (form, code) = code_form(&mut sink, &browser, EMAIL).await;
    let reused = reset_with_code(&browser, &form, &code, PASSWORD).await;
    assert!(
        reused.body.contains("used this password recently"),
        "{}",
        reused.body
    );
    // The refusal did not use the code up.
    let done = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);
    assert!(signs_in(&server, EMAIL, NEW).await);
    // The other browser's session ended: the CRM asks it to sign in again.
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    assert!(matches!(elsewhere.visit(&url).await, Landing::Page(_)));
    let kinds = events(&server, EMAIL).await;
    for kind in ["reset_requested", "reset_code_sent", "password_reset"] {
        assert!(kinds.contains(&kind.to_string()), "{kind}");
    }
}

#[tokio::test]
async fn an_admin_reset_link_works_until_its_expiry_and_not_after() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    server.add_account("bea@clinic.example", "Bea").await;
    let life = &server.lifecycle;
    let hours = Duration::hours(48);
    let ada = life
        .issue_admin_reset_link(EMAIL, hours, true, &crm(), Some(&ClientId::from("crm")))
        .await
        .unwrap();
    assert_eq!(ada.is_sent, Some(true));
    let mailed = sink.next_message().await;
    assert_eq!(only_link(&mailed), ada.link);
    let bea = life
        .issue_admin_reset_link("bea@clinic.example", hours, false, &crm(), None)
        .await
        .unwrap();
    let beyond = life
        .issue_admin_reset_link(
            EMAIL,
            Duration::days(7) + Duration::MINUTE,
            false,
            &crm(),
            None,
        )
        .await;
    assert!(matches!(
        beyond,
        Err(AccountsError::LifetimeOutOfRange { .. })
    ));

    server.clock.advance(hours - Duration::SECOND);
    let browser = server.browser();
    // Straight to the new password: no code step.
    let form = browser.visit(&ada.link).await.page();
    assert!(form.body.contains("Your administrator sent you this link"));
    assert!(!form.body.contains("Security code"));
    let done = set_password(&browser, &form, NEW).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);
    assert!(signs_in(&server, EMAIL, NEW).await);

    server.clock.advance(Duration::SECOND);
    let late = server.browser().visit(&bea.link).await.page();
    assert_eq!(late.status, 400);
    assert!(late.body.contains("reset link has expired"));
    assert!(
        events(&server, EMAIL)
            .await
            .contains(&"admin_reset_link_issued".into())
    );
}

/// A server whose CRM client has `reset_mode = "code_only"`; keep the folder alive as
/// long as the server.
async fn code_only_server(sink: &SmtpSink) -> (TestServer, tempfile::TempDir) {
    let clients = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(workspace().join("config/clients")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "crm.toml" {
            text = format!("reset_mode = \"code_only\"\n{text}");
        }
        std::fs::write(clients.path().join(path.file_name().unwrap()), text).unwrap();
    }
    let mail = sink.mail_config();
    let dir = clients.path().to_owned();
    let server = TestServer::start_with(|config| {
        config.mail = mail;
        config.clients_dir = dir;
    })
    .await;
    server.add_account(EMAIL, "Ada").await;
    (server, clients)
}

/// "Forgot password?" from the CRM's sign-in page in `browser`: the code-and-password
/// form careid answers with.
async fn code_only_form(server: &TestServer, browser: &Browser) -> Page {
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    let sign_in = browser.visit(&url).await.page();
    let request = sign_in
        .url
        .split("request=")
        .nth(1)
        .expect("the sign-in page carries its request")
        .to_owned();
    let forgot = browser
        .visit(&format!("/forgot-password?request={request}"))
        .await
        .page();
    let form = submit_page(browser, &forgot, &[("email", EMAIL)]).await;
    assert!(form.body.contains("6-digit security code"), "{}", form.body);
    form
}

#[tokio::test]
async fn a_code_only_client_mails_the_code_directly() {
    let mut sink = SmtpSink::start().await.unwrap();
    let (server, _clients) = code_only_server(&sink).await;
    let browser = server.browser();
    let form = code_only_form(&server, &browser).await;
    let raw = sink.next_message().await;
    assert!(links(&raw).is_empty(), "a code-only mail has no link");
    let code = code_in(&raw);
    let done = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);
    assert!(signs_in(&server, EMAIL, NEW).await);
}

#[tokio::test]
async fn a_code_only_code_works_only_in_the_browser_that_asked_for_it() {
    let mut sink = SmtpSink::start().await.unwrap();
    let (server, _clients) = code_only_server(&sink).await;
    let browser = server.browser();
    let form = code_only_form(&server, &browser).await;
    let code = code_in(&sink.next_message().await);

    // The right code from a second cookie jar (a CSRF cookie of its own, no binding
    // cookie) is refused as a wrong one, and costs an attempt.
    let thief = server.browser();
    let their_page = thief.visit("/forgot-password").await.page();
    let csrf = their_page.form().unwrap().fields(&[]);
    let csrf = csrf.iter().find(|(n, _)| n == "csrf").unwrap().1.clone();
    let fields: Vec<(String, String)> = form.form().unwrap().fields(&[
        ("csrf", &csrf),
        ("code", &code),
        ("password", NEW),
        ("confirmation", NEW),
    ]);
    let refused = thief.post("/reset/code", &fields).await;
    assert!(refused.body.contains(CODE_REFUSED), "{}", refused.body);
    assert!(
        !refused
            .body
            .contains("only in the browser where you opened")
    );
    assert!(signs_in(&server, EMAIL, PASSWORD).await);
    let account = accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let failures: Vec<_> = audit::find_events(&server.accounts.db, Some(account.id), None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "reset_code_failed")
        .collect();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].detail.contains("other_browser"),
        "{}",
        failures[0].detail
    );

    // The browser that asked sets the password with the same code.
    let done = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);
    assert!(signs_in(&server, EMAIL, NEW).await);
}

#[tokio::test]
async fn the_outbox_transport_writes_a_readable_eml_file() {
    let outbox = tempfile::tempdir().unwrap();
    let mail = MailConfig::outbox(outbox.path());
    let server = TestServer::start_with(|config| config.mail = mail).await;
    invite(&server, EMAIL).await;
    let files: Vec<_> = std::fs::read_dir(outbox.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
    assert!(
        text_part(&raw)
            .unwrap()
            .contains("You have been invited to CarePortals CRM")
    );
    let link = only_link(&raw);
    let page = server.browser().visit(&link).await.page();
    assert!(page.body.contains("Activate your account"));
}

#[tokio::test]
async fn thirty_concurrent_guesses_at_one_reset_code_get_only_five_comparisons() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let (form, code) = code_form(&mut sink, &browser, EMAIL).await;

    let guesses = (0..30).map(|_| reset_with_code(&browser, &form, other_than(&code), NEW));
    let pages = futures_util::future::join_all(guesses).await;

    for page in &pages {
        assert!(page.body.contains(CODE_REFUSED), "{}", page.body);
    }
    let account = accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let compared = audit::find_events(&server.accounts.db, Some(account.id), None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "reset_code_failed" && e.detail.contains("wrong_code"))
        .count();
    assert_eq!(compared, 5, "only five guesses were compared with the code");
    // The attempts are spent: the right code no longer works.
    let dead = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(dead.body.contains(CODE_REFUSED), "{}", dead.body);
    assert!(signs_in(&server, EMAIL, PASSWORD).await);
}

#[tokio::test]
async fn a_password_reset_unlocks_a_locked_account() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    for _ in 0..5 {
        assert!(!signs_in(&server, EMAIL, "Wrong-Password-1").await);
    }
    assert!(
        !signs_in(&server, EMAIL, PASSWORD).await,
        "the account is locked"
    );

    let browser = server.browser();
    let (form, code) = code_form(&mut sink, &browser, EMAIL).await;
    let done = reset_with_code(&browser, &form, &code, NEW).await;
    assert!(done.body.contains(CHANGED), "{}", done.body);

    assert!(
        signs_in(&server, EMAIL, NEW).await,
        "the reset ended the lock"
    );
}

/// Asks for a reset of `email` on the forgot-password page; the page it answers with.
async fn forgot(browser: &Browser, email: &str) -> Page {
    let forgot = browser.visit("/forgot-password").await.page();
    submit_page(browser, &forgot, &[("email", email)]).await
}

#[tokio::test]
async fn a_fourth_reset_request_within_the_hour_sends_nothing_and_voids_nothing() {
    let mut sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    let mut links = Vec::new();
    for _ in 0..3 {
        assert!(
            forgot(&browser, EMAIL)
                .await
                .body
                .contains("Check your email")
        );
        links.push(only_link(&sink.next_message().await));
    }

    // The fourth looks the same to whoever asked, but the person gets no fourth mail and
    // the newest link still works.
    let fourth = forgot(&browser, EMAIL).await;
    assert!(fourth.body.contains("Check your email"), "{}", fourth.body);
    assert!(
        events(&server, EMAIL)
            .await
            .contains(&"reset_throttled".into())
    );
    let offer = browser.visit(&links[2]).await.page();
    assert!(
        offer.body.contains("Send me a security code"),
        "{}",
        offer.body
    );

    // An hour later the person can ask again.
    server.clock.advance(Duration::hours(1));
    forgot(&browser, EMAIL).await;
    assert!(only_link(&sink.next_message().await).contains("/reset?token="));
    assert!(
        sink.try_next_message().is_none(),
        "the fourth request sent no mail"
    );
}

#[tokio::test]
async fn an_address_asking_for_too_many_resets_is_told_to_wait() {
    let sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    let browser = server.browser();
    for n in 0..20 {
        let page = forgot(&browser, &format!("nobody{n}@clinic.example")).await;
        assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    }

    let forgot_page = browser.visit("/forgot-password").await.page();
    let form = forgot_page.form().unwrap();
    let action = url::Url::parse(&forgot_page.url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    let response = browser
        .http
        .post(action)
        .form(&form.fields(&[("email", "one-more@clinic.example")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3600");
    assert!(response.text().await.unwrap().contains("Too many requests"));
}

#[tokio::test]
async fn ten_concurrent_reset_requests_for_one_account_send_three() {
    let sink = SmtpSink::start().await.unwrap();
    let server = server(&sink).await;
    server.add_account(EMAIL, "Ada").await;
    let mut askers = Vec::new();
    for _ in 0..10 {
        let browser = server.browser();
        let page = browser.visit("/forgot-password").await.page();
        askers.push((browser, page));
    }

    let fill = [("email", EMAIL)];
    let asked = askers
        .iter()
        .map(|(browser, page)| submit_page(browser, page, &fill));
    for page in futures_util::future::join_all(asked).await {
        assert!(page.body.contains("Check your email"), "{}", page.body);
    }

    let kinds = events(&server, EMAIL).await;
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(count("reset_requested"), 3, "{kinds:?}");
    assert_eq!(count("reset_throttled"), 7, "{kinds:?}");
}

#[tokio::test]
async fn with_the_outbox_transport_an_invitation_is_written_to_outbox_not_sent() {
    let outbox = tempfile::tempdir().unwrap();
    let mail = MailConfig::outbox(outbox.path());
    let server = TestServer::start_with(|config| config.mail = mail).await;
    let invited = server
        .lifecycle
        .invite(EMAIL, "Ada Okafor", &crm(), Some(&ClientId::from("crm")))
        .await
        .unwrap();
    assert!(invited.is_sent);
    assert_eq!(
        state(&server, EMAIL).await,
        (Status::Invited, "written_to_outbox".into())
    );
    assert_eq!(
        careid_accounts::invitation_state_label(&invited.account.invitation_state),
        "written to outbox"
    );
    // The account's trail says which file holds the message, and no "sent" is claimed.
    let file = invited.outbox_file.expect("the outbox file");
    assert!(
        file.starts_with(outbox.path()) && file.is_file(),
        "{file:?}"
    );
    let recorded = server.audit_events("invitation_written_to_outbox").await;
    let detail: serde_json::Value = serde_json::from_str(&recorded[0].detail).unwrap();
    assert_eq!(detail["outbox_file"], file.display().to_string());
    assert!(
        !events(&server, EMAIL)
            .await
            .contains(&"invitation_sent".into())
    );

    // The message in the file works: following its link opens the invitation.
    let raw = std::fs::read_to_string(&file).unwrap();
    let token = only_link(&raw).split("token=").nth(1).unwrap().to_owned();
    server.lifecycle.open_invitation(&token).await.unwrap();
    assert_eq!(
        state(&server, EMAIL).await,
        (Status::Invited, "opened".into())
    );
}
