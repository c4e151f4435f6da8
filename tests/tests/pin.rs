//! Staff-issued sign-in PINs, end to end (issue 13): a real server, a portal client that
//! offers `pin`, PINs issued as `careid pin issue` does (through the same service), the
//! person typing email and PIN on `/sign-in/pin`, and the settable clock for expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_accounts::{AccountsError, Branding, IssuedPin};
use careid_mail::testing::{SmtpSink, links};
use careid_store::{
    ClientId, Clock,
    accounts::{self, Status},
    audit,
};
use careid_tests::{
    Browser, OFFLINE_SCOPE, TestServer, VERIFIER,
    browser::{Landing, Page, param},
    clients_dir_with,
};
use reqwest::StatusCode;
use time::Duration;

const EMAIL: &str = "ada@clinic.example";
const PORTAL: (&str, &str) = ("pin-portal", "pin-portal-demo-secret");
const CALLBACK: &str = "http://127.0.0.1:8084/callback";
const CALL_THE_OFFICE: &str = "office for a new PIN";

/// A portal whose clients sign in with PINs only.
const PORTAL_FILE: &str = r#"client_id = "pin-portal"
name = "Practice Client Portal"
secret = "pin-portal-demo-secret"
redirect_uris = ["http://127.0.0.1:8084/callback"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "client_secret_basic"
first_party = true
theme = "client-portal"
sign_in_methods = ["pin"]
"#;

struct Portal {
    server: TestServer,
    _clients: tempfile::TempDir,
}

async fn portal() -> Portal {
    portal_with(|_| {}).await
}

async fn portal_with(adjust: impl FnOnce(&mut careid_server::Config)) -> Portal {
    let clients = clients_dir_with(&[("pin-portal.toml", PORTAL_FILE)]);
    let path = clients.path().to_owned();
    let server = TestServer::start_with(|c| {
        c.clients_dir = path;
        adjust(c);
    })
    .await;
    server.add_account(EMAIL, "Ada Okafor").await;
    Portal {
        server,
        _clients: clients,
    }
}

/// A PIN for `email`, as `careid pin issue EMAIL` makes it.
async fn issue(server: &TestServer, email: &str) -> IssuedPin {
    server
        .lifecycle
        .issue_pin(email, None, Some(&ClientId::from("pin-portal")))
        .await
        .unwrap()
}

/// The portal's authorization request.
fn portal_url(server: &TestServer) -> String {
    server.authorize_url(PORTAL.0, CALLBACK, &[("scope", OFFLINE_SCOPE)])
}

/// Opens the portal's authorization request in `browser` and returns the PIN page
/// for it.
async fn pin_page(server: &TestServer, browser: &Browser) -> Page {
    browser.pin_page(&portal_url(server)).await
}

/// Types `email` and `pin` on a fresh PIN page in `browser`.
async fn try_pin(server: &TestServer, browser: &Browser, email: &str, pin: &str) -> Landing {
    browser
        .sign_in_with_pin(&portal_url(server), email, pin)
        .await
}

/// A PIN that is not `pin` (same length, other digits).
fn other_than(pin: &str) -> String {
    pin.chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect()
}

/// The `reason` in an audit event's detail.
fn reason_of(event: &audit::AuditEvent) -> String {
    let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
    detail["reason"].as_str().unwrap_or_default().to_owned()
}

/// The audit `pin_failed` events whose reason is `reason`.
async fn failures(server: &TestServer, reason: &str) -> usize {
    server
        .audit_events("pin_failed")
        .await
        .iter()
        .filter(|e| reason_of(e) == reason)
        .count()
}

#[tokio::test]
async fn a_pin_signs_in_once_and_the_token_names_the_account() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    let browser = server.browser();
    let back = try_pin(&server, &browser, EMAIL, pin.pin.as_str())
        .await
        .left();
    let code = param(&back, "code").expect("a code");
    let (status, body) = server
        .token(
            Some(PORTAL),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let userinfo: serde_json::Value = server
        .userinfo(body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], EMAIL);
    assert_eq!(server.audit_events("pin_used").await.len(), 1);

    // The same PIN, again, in another browser: used up.
    let again = try_pin(&server, &server.browser(), EMAIL, pin.pin.as_str())
        .await
        .page();
    assert!(again.body.contains(CALL_THE_OFFICE), "{}", again.body);
    assert_eq!(failures(&server, "no_live_pin").await, 1);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_pin_read_alike() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    let wrong = other_than(pin.pin.as_str());
    let browser = server.browser();
    let unknown = try_pin(&server, &browser, "nobody@clinic.example", pin.pin.as_str())
        .await
        .page();
    let mistyped = try_pin(&server, &browser, EMAIL, &wrong).await.page();
    assert_eq!(unknown.status, mistyped.status);
    for page in [&unknown, &mistyped] {
        assert!(page.body.contains(CALL_THE_OFFICE), "{}", page.body);
    }
}

#[tokio::test]
async fn four_wrong_pins_leave_the_pin_working() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    let wrong = other_than(pin.pin.as_str());
    let browser = server.browser();
    for _ in 0..4 {
        try_pin(&server, &browser, EMAIL, &wrong).await.page();
    }
    let back = try_pin(&server, &browser, EMAIL, pin.pin.as_str())
        .await
        .left();
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn five_wrong_pins_void_the_pin() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    let wrong = other_than(pin.pin.as_str());
    let browser = server.browser();
    for _ in 0..5 {
        try_pin(&server, &browser, EMAIL, &wrong).await.page();
    }
    let right = try_pin(&server, &browser, EMAIL, pin.pin.as_str())
        .await
        .page();
    assert!(right.body.contains(CALL_THE_OFFICE), "{}", right.body);
    assert_eq!(failures(&server, "wrong_pin").await, 5);
    let voided = server.audit_events("pin_voided").await;
    assert_eq!(voided.len(), 1);
    assert_eq!(reason_of(&voided[0]), "attempts_spent");
}

#[tokio::test]
async fn thirty_wrong_pins_sent_at_once_get_five_comparisons_between_them() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    let wrong = other_than(pin.pin.as_str());
    // Every browser loads its form first, so that only the guesses race.
    let mut ready = Vec::new();
    for _ in 0..30 {
        let browser = server.browser();
        let page = pin_page(&server, &browser).await;
        ready.push((browser, page));
    }
    let guesses = ready.iter().map(|(browser, page)| {
        let wrong = wrong.clone();
        async move {
            browser
                .submit(page, &[("email", EMAIL), ("pin", &wrong)])
                .await
                .page()
        }
    });
    let pages = futures_util::future::join_all(guesses).await;
    assert!(pages.iter().all(|p| p.body.contains(CALL_THE_OFFICE)));
    // Exactly five guesses were compared; every other one found the attempts spent or
    // the PIN void.
    assert_eq!(failures(&server, "wrong_pin").await, 5);
    let refused_unseen =
        failures(&server, "attempts_spent").await + failures(&server, "no_live_pin").await;
    assert_eq!(refused_unseen, 25);
    let right = try_pin(&server, &server.browser(), EMAIL, pin.pin.as_str())
        .await
        .page();
    assert!(right.body.contains(CALL_THE_OFFICE));
}

#[tokio::test]
async fn a_newer_pin_voids_the_older() {
    let Portal { server, _clients } = portal().await;
    let older = issue(&server, EMAIL).await;
    let newer = issue(&server, EMAIL).await;
    let browser = server.browser();
    let refused = try_pin(&server, &browser, EMAIL, older.pin.as_str()).await;
    if older.pin != newer.pin {
        assert!(refused.page().body.contains(CALL_THE_OFFICE));
    }
    let voided = server.audit_events("pin_voided").await;
    assert_eq!(reason_of(&voided[0]), "superseded");
    let back = try_pin(&server, &browser, EMAIL, newer.pin.as_str())
        .await
        .left();
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn staff_can_void_a_pin() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    assert!(server.lifecycle.void_pin(EMAIL).await.unwrap());
    assert!(!server.lifecycle.void_pin(EMAIL).await.unwrap());
    let page = try_pin(&server, &server.browser(), EMAIL, pin.pin.as_str())
        .await
        .page();
    assert!(page.body.contains(CALL_THE_OFFICE));
}

#[tokio::test]
async fn a_pin_works_until_its_fifteen_minutes_are_up() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    server
        .clock
        .advance(Duration::minutes(15) - Duration::SECOND);
    let back = try_pin(&server, &server.browser(), EMAIL, pin.pin.as_str())
        .await
        .left();
    assert!(param(&back, "code").is_some());
}

#[tokio::test]
async fn a_pin_fails_once_its_fifteen_minutes_are_up() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    server.clock.advance(Duration::minutes(15));
    let page = try_pin(&server, &server.browser(), EMAIL, pin.pin.as_str())
        .await
        .page();
    assert!(page.body.contains(CALL_THE_OFFICE));
}

#[tokio::test]
async fn staff_cannot_make_a_pin_outlive_the_configured_bound() {
    let Portal { server, _clients } = portal().await;
    let lifecycle = &server.lifecycle;
    let max = Duration::minutes(1440);
    assert!(lifecycle.issue_pin(EMAIL, Some(max), None).await.is_ok());
    let over = lifecycle
        .issue_pin(EMAIL, Some(max + Duration::MINUTE), None)
        .await;
    assert!(matches!(
        over,
        Err(AccountsError::PinLifetimeOutOfRange { max_minutes: 1440 })
    ));
    let issued = server.audit_events("pin_issued").await;
    assert_eq!(issued.len(), 1);
}

#[tokio::test]
async fn a_client_without_pin_refuses_the_pin_page() {
    let Portal { server, _clients } = portal().await;
    let pin = issue(&server, EMAIL).await;
    let browser = server.browser();
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    let sign_in = browser.visit(&url).await.page();
    let request = param(&url::Url::parse(&sign_in.url).unwrap(), "request").unwrap();
    let page = browser
        .get(&format!("/sign-in/pin?request={request}"))
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    // A PIN posted anyway is refused the same, and not spent.
    let form = pin_page(&server, &browser).await.form().unwrap();
    let mut fields = form.fields(&[("email", EMAIL), ("pin", pin.pin.as_str())]);
    for (name, value) in &mut fields {
        if name == "request" {
            value.clone_from(&request);
        }
    }
    let posted = browser.post("/sign-in/pin", &fields).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    assert!(server.audit_events("pin_failed").await.is_empty());
    assert!(server.audit_events("pin_used").await.is_empty());
}

#[tokio::test]
async fn an_invited_account_signing_in_with_a_pin_becomes_active() {
    let Portal { server, _clients } = portal().await;
    let email = "bo@clinic.example";
    // Invited as `careid user invite` leaves an account: no password, not active.
    let invited = accounts::NewAccount {
        email: email.into(),
        password_hash: None,
        status: Status::Invited,
        invitation_state: "sent",
        name: "Bo Lindqvist".into(),
        subject: "sub-bo".into(),
    };
    let account = accounts::insert_account(&server.accounts.db, invited, server.clock.now())
        .await
        .unwrap();
    assert_eq!(account.status(), Status::Invited);
    let pin = issue(&server, email).await;
    let back = try_pin(&server, &server.browser(), email, pin.pin.as_str())
        .await
        .left();
    assert!(param(&back, "code").is_some());
    let account = accounts::find_by_id(&server.accounts.db, account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status(), Status::Active);
    assert_eq!(account.invitation_state, "accepted");
    let kinds: Vec<String> = audit::find_events(&server.accounts.db, Some(account.id), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"account_activated".to_string()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"pin_issued".to_string()));
    assert!(kinds.contains(&"pin_used".to_string()));
}

#[tokio::test]
async fn pin_guesses_from_one_address_share_the_sign_in_quota() {
    let Portal { server, _clients } = portal_with(|config| {
        careid_tests::with_rate_limits(config, |limits| {
            limits.sign_in.per_address = careid_protocol::Limit {
                requests: 3,
                per_seconds: 60,
            };
        });
    })
    .await;
    let browser = server.browser();
    // Three different emails: the address's quota runs out, not an account's.
    for n in 0..3 {
        let page = try_pin(
            &server,
            &browser,
            &format!("guess{n}@clinic.example"),
            "000000",
        )
        .await
        .page();
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let refused = try_pin(&server, &browser, "guess3@clinic.example", "000000")
        .await
        .page();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.retry_after.as_deref(), Some("20"));
}

#[tokio::test]
async fn the_pin_commands_print_a_pin_that_signs_in_and_refuse_one_over_the_bound() {
    let Portal { server, _clients } = portal().await;
    let issued = server
        .careid_command(&["pin", "issue", EMAIL, "--client", "pin-portal"])
        .await;
    let stdout = String::from_utf8(issued.stdout).unwrap();
    assert!(issued.status.success(), "{stdout}");
    let pin = stdout.lines().next().unwrap().trim().to_owned();
    assert!(
        pin.len() == 6 && pin.chars().all(|c| c.is_ascii_digit()),
        "{stdout}"
    );
    let back = try_pin(&server, &server.browser(), EMAIL, &pin)
        .await
        .left();
    assert!(param(&back, "code").is_some());

    let over = server
        .careid_command(&["pin", "issue", EMAIL, "--expires", "25h"])
        .await;
    assert!(!over.status.success());
    let stderr = String::from_utf8(over.stderr).unwrap();
    assert!(stderr.contains("lifecycle.pin_max_minutes"), "{stderr}");

    let fresh = server.careid_command(&["pin", "issue", EMAIL]).await;
    assert!(fresh.status.success());
    let fresh_pin = String::from_utf8(fresh.stdout).unwrap();
    let voided = server.careid_command(&["pin", "void", EMAIL]).await;
    assert!(voided.status.success());
    let page = try_pin(
        &server,
        &server.browser(),
        EMAIL,
        fresh_pin.lines().next().unwrap(),
    )
    .await
    .page();
    assert!(page.body.contains(CALL_THE_OFFICE));
}

/// A portal whose server mails through `sink`.
async fn portal_mailing_to(sink: &SmtpSink) -> Portal {
    let mail = sink.mail_config();
    portal_with(|c| c.mail = mail).await
}

/// Invites `email` as `careid user invite EMAIL --client CLIENT` does, in `branding`,
/// and returns the one link of the mail.
async fn invite_link(
    server: &TestServer,
    sink: &mut SmtpSink,
    email: &str,
    branding: &Branding,
    client: &str,
) -> String {
    let invited = server
        .lifecycle
        .invite(
            email,
            "Bo Lindqvist",
            branding,
            Some(&ClientId::from(client)),
        )
        .await
        .unwrap();
    assert!(invited.is_sent);
    let found = links(&sink.next_message().await);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// Signs `email` in with a fresh PIN on the portal and checks that it went through.
async fn sign_in_with_a_pin(server: &TestServer, email: &str) {
    let pin = issue(server, email).await;
    let back = try_pin(server, &server.browser(), email, pin.pin.as_str())
        .await
        .left();
    assert!(param(&back, "code").is_some(), "{back}");
    let account = accounts::find_by_email(&server.accounts.db, email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status(), Status::Active);
}

#[tokio::test]
async fn the_activation_link_of_an_account_activated_by_a_pin_reads_as_used() {
    let mut sink = SmtpSink::start().await.unwrap();
    let Portal { server, _clients } = portal_mailing_to(&sink).await;
    let email = "bo@clinic.example";
    // A password client's invitation: an activation link that sets a password.
    let link = invite_link(&server, &mut sink, email, &Branding::default(), "crm").await;
    assert!(link.contains("/activate?token="), "{link}");
    sign_in_with_a_pin(&server, email).await;
    let page = server.browser().visit(&link).await.page();
    assert!(
        page.body.contains("This invitation link was already used"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("name=\"password\""), "{}", page.body);
}

#[tokio::test]
async fn the_welcome_link_of_an_account_activated_by_a_pin_no_longer_signs_in() {
    let mut sink = SmtpSink::start().await.unwrap();
    let Portal { server, _clients } = portal_mailing_to(&sink).await;
    let email = "bo@clinic.example";
    // As `careid user invite EMAIL --client client-portal` brands it: a welcome link that
    // signs in, living as long as an invitation (a week).
    let portal = Branding {
        product: "Client Portal".into(),
        theme: "client-portal".into(),
        is_code_only: false,
        signs_in_by_link: true,
    };
    let link = invite_link(&server, &mut sink, email, &portal, "client-portal").await;
    assert!(link.contains("/magic-link/sign-in?token="), "{link}");
    // She called the office before she read her mail.
    sign_in_with_a_pin(&server, email).await;
    server.clock.advance(Duration::days(2));
    let browser = server.browser();
    let page = browser.visit(&link).await.page();
    assert!(
        page.body.contains("This sign-in link was already used"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("You are signing in as"),
        "{}",
        page.body
    );
    assert_eq!(
        server.audit_events("invitation_links_voided").await.len(),
        1
    );
}
