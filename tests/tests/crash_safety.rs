//! Crash safety, end to end. The real `careid` binary is killed (SIGKILL: no shutdown,
//! nothing flushed) in the middle of a burst of registrations, activations, password
//! changes and token requests, then started again on the same database: every request
//! that was answered with success is there, and nothing is half-written. And a write that
//! fails between the steps of an activation or a reset (a database trigger stands in for
//! a full disk or a lost connection) leaves the link and the account as they were.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use careid_accounts::Branding;
use careid_mail::testing::{SmtpSink, links};
use careid_policy::{PlainPassword, one_time};
use careid_server::App;
use careid_store::{
    ClientId, ConnectionTrait, SystemClock,
    accounts::{self, Status},
    clients, one_time_tokens, refresh_tokens,
};
use careid_tests::{
    Browser, CRM_CALLBACK, OFFLINE_SCOPE, PASSWORD, TestServer, VERIFIER, authorize_url_at,
    browser::{self, Landing, Page},
    fresh_database, test_config, workspace,
};
use reqwest::StatusCode;
use sea_orm::{DbBackend, Statement};
use serde_json::{Value, json};
use tokio::sync::Notify;

const CRM_SECRET: &str = "crm-demo-secret";

/// A `careid serve` process: the real binary, killed when dropped.
struct Careid {
    child: Child,
    url: String,
}

impl Careid {
    /// Starts the binary on `port` over `database_url` with the shipped configuration
    /// (OWASP hashing included) and returns once it listens.
    async fn start(port: u16, database_url: &str, outbox: &Path) -> Self {
        let url = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_careid-under-test"))
            .arg("serve")
            .current_dir(workspace())
            .env("CAREID_CONFIG", workspace().join("config/careid.toml"))
            .env("CAREID_ISSUER", &url)
            .env("CAREID_LISTEN", format!("127.0.0.1:{port}"))
            .env("CAREID_DATABASE_URL", database_url)
            .env("CAREID_DEMO", "false")
            .env("CAREID_REGISTRATION__MODE", "open")
            .env("CAREID_MAIL__OUTBOX_DIR", outbox)
            .env("CAREID_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        // The log is read to its end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("careid is serving")
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(());
                }
                if line.contains("ERROR") || line.contains("panicked") {
                    eprintln!("careid: {line}");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(120), is_ready)
            .await
            .expect("careid started within two minutes")
            .expect("careid logged that it serves before it exited");
        Self { child, url }
    }
}

impl Drop for Careid {
    /// SIGKILL (what `Child::kill` sends on Unix), then reap the process.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now, for both lives of the server (the issuer stays the
/// same, so tokens from before the crash stay valid after it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A form POST that reports a dropped connection as `None` instead of panicking.
async fn try_submit(browser: &Browser, page: &Page, fill: &[(&str, &str)]) -> Option<Page> {
    let form = page.form().expect("a form");
    let action = url::Url::parse(&page.url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    browser.try_post(action.as_str(), &form.fields(fill)).await
}

/// Whether `email` signs in with `password` on the CRM through careid's sign-in page.
async fn signs_in(base: &str, email: &str, password: &str) -> bool {
    let browser = Browser::new(base);
    let url = authorize_url_at(base, "crm", CRM_CALLBACK, &[]);
    let page = browser.visit(&url).await.page();
    let form = page.form().expect("a sign-in form");
    let login = form.login_input().unwrap().name.clone();
    let secret = form.password_input().unwrap().name.clone();
    matches!(
        browser
            .submit(&page, &[(&login, email), (&secret, password)])
            .await,
        Landing::Left(_)
    )
}

/// Signs `email` in on the CRM in `browser` (its session stays there) and returns the
/// refresh token of the code exchange.
async fn sign_in_for_refresh_token(base: &str, browser: &Browser, email: &str) -> String {
    let url = authorize_url_at(base, "crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let back = browser.sign_in(&url, email, PASSWORD).await;
    let code = browser::param(&back, "code").unwrap();
    let (status, body) = token(
        base,
        ("crm", CRM_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CRM_CALLBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// POSTs to /token with HTTP Basic; `None` when the connection drops.
async fn token(
    base: &str,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> Option<(StatusCode, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .ok()?;
    let status = response.status();
    Some((status, response.json().await.ok()?))
}

/// What one kind of request got: answers counted as they come, so the kill lands while
/// every kind is still in flight.
#[derive(Default)]
struct Tally {
    registered: AtomicUsize,
    activated: AtomicUsize,
    changed: AtomicUsize,
    refreshed: AtomicUsize,
    enough: Notify,
}

impl Tally {
    fn count(&self, which: &AtomicUsize) {
        which.fetch_add(1, Ordering::SeqCst);
        let each = [
            &self.registered,
            &self.activated,
            &self.changed,
            &self.refreshed,
        ]
        .map(|c| c.load(Ordering::SeqCst));
        // Half the activations answered, and every other kind at least once.
        if each[1] >= ACTIVATIONS / 2 && each.iter().all(|n| *n > 0) {
            self.enough.notify_one();
        }
    }
}

const ACTIVATIONS: usize = 10;
const CHANGERS: usize = 3;
const REFRESHERS: usize = 3;
const REGISTRARS: usize = 2;
/// How many requests one looping worker sends at most, if the kill never came.
const ROUNDS: usize = 200;

/// One account's password changes: the last one answered with success, and the one in
/// flight when the server died (it may or may not have been written).
struct Changes {
    email: String,
    answered: String,
    in_flight: Option<String>,
}

/// One refresh-token chain: the last token answered, and whether a rotation of it was
/// in flight when the server died.
struct Chain {
    answered: String,
    was_in_flight: bool,
}

async fn rows(db: &impl ConnectionTrait, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_burst_keeps_every_answered_write_and_half_of_none() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let outbox = dir.path().join("outbox");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    // Accounts and invitations made as the CLI makes them, before the server runs.
    let mut sink = SmtpSink::start().await.unwrap();
    let mut config = test_config(&base, &database_url);
    config.mail = sink.mail_config();
    let app = App::build(&config, Arc::new(SystemClock)).await.unwrap();
    let active = |i: usize, kind: &str| format!("{kind}{i}@clinic.example");
    for i in 0..CHANGERS.max(REFRESHERS) {
        for kind in ["changer", "refresher"] {
            let pw = PlainPassword::new(PASSWORD);
            app.accounts
                .create_account(&active(i, kind), "Crash Test", pw.clone(), pw)
                .await
                .unwrap();
        }
    }
    let mut invitations = Vec::new();
    for i in 0..ACTIVATIONS {
        let email = active(i, "invited");
        app.lifecycle
            .invite(
                &email,
                "Crash Test",
                &Branding::default(),
                Some(&ClientId::from("crm")),
            )
            .await
            .unwrap();
        let link = links(&sink.next_message().await)[0].clone();
        invitations.push((email, link));
    }
    drop(app);

    let careid = Careid::start(port, &database_url, &outbox).await;

    // Everything the burst needs is fetched first: forms, sessions, refresh tokens.
    let mut change_forms = Vec::new();
    for i in 0..CHANGERS {
        let browser = Browser::new(&base);
        let email = active(i, "changer");
        let url = authorize_url_at(&base, "crm", CRM_CALLBACK, &[]);
        browser.sign_in(&url, &email, PASSWORD).await;
        let page = browser.visit("/account/password").await.page();
        change_forms.push((browser, email, page));
    }
    let mut refresh = Vec::new();
    for i in 0..REFRESHERS {
        let browser = Browser::new(&base);
        refresh.push(sign_in_for_refresh_token(&base, &browser, &active(i, "refresher")).await);
    }
    let mut activation_forms = Vec::new();
    for (email, link) in &invitations {
        let browser = Browser::new(&base);
        let page = browser.visit(link).await.page();
        assert!(page.body.contains("Activate your account"), "{}", page.body);
        activation_forms.push((browser, email.clone(), page));
    }

    let tally = Arc::new(Tally::default());
    let registered = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut registrars = Vec::new();
    for worker in 0..REGISTRARS {
        let (tally, registered, base) = (tally.clone(), registered.clone(), base.clone());
        registrars.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for round in 0..ROUNDS {
                let metadata = json!({
                    "redirect_uris": [format!("https://app{worker}-{round}.example/cb")],
                    "grant_types": ["authorization_code", "client_credentials"],
                    "client_name": format!("Crash test app {worker}-{round}"),
                });
                let Ok(response) = http
                    .post(format!("{base}/register"))
                    .json(&metadata)
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() != StatusCode::CREATED {
                    continue;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let id = body["client_id"].as_str().unwrap().to_owned();
                let secret = body["client_secret"].as_str().unwrap().to_owned();
                registered.lock().unwrap().push((id, secret));
                tally.count(&tally.registered);
            }
        }));
    }
    let mut activations = Vec::new();
    for (i, (browser, email, page)) in activation_forms.into_iter().enumerate() {
        let tally = tally.clone();
        activations.push(tokio::spawn(async move {
            let password = format!("Crash-Activate-{i}!");
            let fill = [("password", &*password), ("confirmation", &*password)];
            let answer = try_submit(&browser, &page, &fill).await?;
            answer.body.contains("Your account is active").then(|| {
                tally.count(&tally.activated);
                (email, password)
            })
        }));
    }
    let mut changers = Vec::new();
    for (i, (browser, email, page)) in change_forms.into_iter().enumerate() {
        let tally = tally.clone();
        changers.push(tokio::spawn(async move {
            let mut changes = Changes {
                email,
                answered: PASSWORD.to_owned(),
                in_flight: None,
            };
            for round in 0..ROUNDS {
                let new = format!("Crash-Change-{i}-{round}!");
                changes.in_flight = Some(new.clone());
                let fill = [
                    ("current_password", changes.answered.as_str()),
                    ("new_password", &new),
                    ("new_password_again", &new),
                ];
                let Some(answer) = try_submit(&browser, &page, &fill).await else {
                    break;
                };
                changes.in_flight = None;
                if answer.body.contains("Your password has been changed") {
                    changes.answered = new;
                    tally.count(&tally.changed);
                }
            }
            changes
        }));
    }
    let mut refreshers = Vec::new();
    for first in refresh {
        let (tally, base) = (tally.clone(), base.clone());
        refreshers.push(tokio::spawn(async move {
            let mut chain = Chain {
                answered: first,
                was_in_flight: false,
            };
            for _ in 0..ROUNDS {
                chain.was_in_flight = true;
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", chain.answered.as_str()),
                ];
                let Some((status, body)) = token(&base, ("crm", CRM_SECRET), &form).await else {
                    break;
                };
                chain.was_in_flight = false;
                if status == StatusCode::OK {
                    chain.answered = body["refresh_token"].as_str().unwrap().to_owned();
                    tally.count(&tally.refreshed);
                } else {
                    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                }
            }
            chain
        }));
    }

    // The kill: once every kind of request has been answered and half the activations
    // are done, so the rest are somewhere between their first and last write.
    let _ = tokio::time::timeout(Duration::from_secs(60), tally.enough.notified()).await;
    drop(careid);

    let registered = {
        for worker in registrars {
            worker.await.unwrap();
        }
        registered.lock().unwrap().clone()
    };
    let mut activated = Vec::new();
    for worker in activations {
        activated.extend(worker.await.unwrap());
    }
    let mut changed = Vec::new();
    for worker in changers {
        changed.push(worker.await.unwrap());
    }
    let mut chains = Vec::new();
    for worker in refreshers {
        chains.push(worker.await.unwrap());
    }
    eprintln!(
        "answered before the kill: {} registrations, {} activations, {} password changes, {} refreshes",
        registered.len(),
        activated.len(),
        tally.changed.load(Ordering::SeqCst),
        tally.refreshed.load(Ordering::SeqCst),
    );
    assert!(!registered.is_empty() && !activated.is_empty());
    assert!(tally.changed.load(Ordering::SeqCst) > 0 && tally.refreshed.load(Ordering::SeqCst) > 0);

    // Started again on the same database.
    let careid = Careid::start(port, &database_url, &outbox).await;
    let db = careid_store::connect(&database_url, 2).await.unwrap();

    // Every registration answered 201 is stored, and its client authenticates.
    for (id, secret) in &registered {
        assert!(
            clients::find_by_id(&db, &ClientId::from(id.as_str()))
                .await
                .unwrap()
                .is_some(),
            "{id}"
        );
        let (status, body) = token(
            &careid.url,
            (id, secret),
            &[("grant_type", "client_credentials")],
        )
        .await
        .unwrap();
        assert_eq!(status, StatusCode::OK, "client {id}: {body}");
    }
    // Every activation answered "active" signs in with its password.
    for (email, password) in &activated {
        assert!(signs_in(&careid.url, email, password).await, "{email}");
    }
    // Every password change answered "changed" holds, unless a later one, in flight at
    // the kill, was written without its answer.
    for changes in &changed {
        let holds = signs_in(&careid.url, &changes.email, &changes.answered).await;
        let later = match &changes.in_flight {
            Some(password) if !holds => signs_in(&careid.url, &changes.email, password).await,
            _ => false,
        };
        assert!(
            holds || later,
            "{}: neither password signs in",
            changes.email
        );
    }
    // Every refresh token handed out is stored; one not rotated since still refreshes.
    for chain in &chains {
        let stored = refresh_tokens::find_by_digest(&db, &one_time::digest(&chain.answered))
            .await
            .unwrap()
            .expect("an answered refresh token is stored");
        assert!(stored.revoked_at.is_none());
        assert!(stored.rotated_at.is_none() || chain.was_in_flight);
        if stored.rotated_at.is_none() {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", chain.answered.as_str()),
            ];
            let (status, body) = token(&careid.url, ("crm", CRM_SECRET), &form)
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    // Nothing half-written. An invitation link is used up exactly when its account has
    // its password, is active and has accepted.
    for (email, link) in &invitations {
        let token = link.split("token=").nth(1).unwrap();
        let stored = one_time_tokens::find_by_digest(&db, &one_time::digest(token), "invitation")
            .await
            .unwrap()
            .unwrap();
        let account = accounts::find_by_email(&db, email).await.unwrap().unwrap();
        let is_activated = account.status() == Status::Active
            && account.invitation_state == "accepted"
            && account.password_hash.is_some();
        let is_untouched = account.status() == Status::Invited && account.password_hash.is_none();
        assert!(
            (stored.used_at.is_some() && is_activated)
                || (stored.used_at.is_none() && is_untouched),
            "{email}: link used {}, status {:?}, invitation {}, password set {}",
            stored.used_at.is_some(),
            account.status(),
            account.invitation_state,
            account.password_hash.is_some(),
        );
    }
    // Every password set or changed has its history entry and its audit event, written
    // together (a sign-in may rehash the password in place: that is no new entry). An
    // account created active starts with one entry, an invited one with none.
    let entries = rows(
        &db,
        "SELECT a.email, a.status, \
         (SELECT COUNT(*) FROM password_history h WHERE h.account_id = a.id) AS entries, \
         (SELECT COUNT(*) FROM audit_events e WHERE e.account_id = a.id \
          AND e.kind IN ('password_changed', 'password_set')) AS changes \
         FROM accounts a",
    )
    .await;
    for row in &entries {
        let email: String = row.try_get("", "email").unwrap();
        let entries: i64 = row.try_get("", "entries").unwrap();
        let changes: i64 = row.try_get("", "changes").unwrap();
        let first = i64::from(!email.starts_with("invited"));
        assert_eq!(
            entries,
            changes + first,
            "{email}: history and audit disagree"
        );
    }
    // A refresh-token family that is not revoked has exactly one live token.
    let broken = rows(
        &db,
        "SELECT family_id FROM refresh_tokens GROUP BY family_id \
         HAVING SUM(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END) > 0 \
         AND SUM(CASE WHEN rotated_at IS NULL AND revoked_at IS NULL THEN 1 ELSE 0 END) <> 1",
    )
    .await;
    assert!(
        broken.is_empty(),
        "refresh-token families without one live token"
    );
    // Every stored client has its registration in the audit trail.
    let unaudited = rows(
        &db,
        "SELECT c.id FROM clients c WHERE NOT EXISTS (SELECT 1 FROM audit_events e \
         WHERE e.client_id = c.id AND e.kind = 'client_registered')",
    )
    .await;
    assert!(
        unaudited.is_empty(),
        "clients without their registration event"
    );
    if db.get_database_backend() == DbBackend::Sqlite {
        let check = rows(&db, "PRAGMA integrity_check").await;
        let verdict: String = check[0].try_get_by_index(0).unwrap();
        assert_eq!(verdict, "ok");
    }
}

/// Makes the database refuse to record audit events of `kind`, as a full disk or a lost
/// connection would fail a write between the steps of a request.
async fn fail_on_event(db: &impl ConnectionTrait, kind: &str) {
    let statements = match db.get_database_backend() {
        DbBackend::Sqlite => vec![format!(
            "CREATE TRIGGER injected_failure BEFORE INSERT ON audit_events \
             WHEN NEW.kind = '{kind}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        _ => vec![
            "CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON audit_events FOR EACH ROW \
                 WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION injected_failure()"
            ),
        ],
    };
    for sql in statements {
        db.execute_unprepared(&sql).await.unwrap();
    }
}

/// Undoes [`fail_on_event`].
async fn heal(db: &impl ConnectionTrait) {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => "DROP TRIGGER injected_failure",
        _ => "DROP TRIGGER injected_failure ON audit_events",
    };
    db.execute_unprepared(sql).await.unwrap();
}

const EMAIL: &str = "ada@clinic.example";
const NEW: &str = "Willow-Creek-17";

async fn signs_in_directly(server: &TestServer, password: &str) -> bool {
    server
        .accounts
        .sign_in_password(EMAIL, PlainPassword::new(password), None, None)
        .await
        .is_ok()
}

#[tokio::test]
async fn an_activation_that_fails_half_way_leaves_the_invitation_as_it_was() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| config.mail = mail).await;
    server
        .lifecycle
        .invite(EMAIL, "Ada", &Branding::default(), None)
        .await
        .unwrap();
    let link = links(&sink.next_message().await)[0].clone();
    let browser = server.browser();
    let form = browser.visit(&link).await.page();

    // The last write of an activation fails.
    fail_on_event(&server.accounts.db, "invitation_accepted").await;
    let fill = [("password", NEW), ("confirmation", NEW)];
    let failed = browser.submit(&form, &fill).await.page();
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let account = accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status(), Status::Invited);
    assert!(
        account.password_hash.is_none(),
        "no password without its activation"
    );
    assert!(!signs_in_directly(&server, NEW).await);

    // The same link still activates the account once the database writes again.
    heal(&server.accounts.db).await;
    let done = browser.submit(&form, &fill).await.page();
    assert!(
        done.body.contains("Your account is active"),
        "{}",
        done.body
    );
    let account = accounts::find_by_email(&server.accounts.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (account.status(), account.invitation_state.as_str()),
        (Status::Active, "accepted")
    );
    assert!(signs_in_directly(&server, NEW).await);
}

#[tokio::test]
async fn a_reset_that_fails_half_way_changes_no_password_and_keeps_the_link() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada").await;
    let issued = server
        .lifecycle
        .issue_admin_reset_link(
            EMAIL,
            time::Duration::hours(1),
            false,
            &Branding::default(),
            None,
        )
        .await
        .unwrap();
    let browser = server.browser();
    let form = browser.visit(&issued.link).await.page();

    // The reset's audit event cannot be written: the reset must not half happen.
    fail_on_event(&server.accounts.db, "password_reset").await;
    let fill = [("password", NEW), ("confirmation", NEW)];
    let failed = browser.submit(&form, &fill).await.page();
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        signs_in_directly(&server, PASSWORD).await,
        "the old password still holds"
    );
    assert!(!signs_in_directly(&server, NEW).await);

    heal(&server.accounts.db).await;
    let done = browser.submit(&form, &fill).await.page();
    assert!(
        done.body.contains("Your password has been changed"),
        "{}",
        done.body
    );
    assert!(signs_in_directly(&server, NEW).await);
}
