//! Running careid as a service, end to end: the health and readiness probes, the
//! Prometheus metrics, JSON logs with a request id on every line of a request, a stop on
//! SIGTERM that lets the request in flight finish, and a `--config` that names no file.
//! Most run the real `careid` binary as a child process: logs, signals and exit codes
//! are only seen there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use careid_policy::PlainPassword;
use careid_server::App;
use careid_store::{ClientId, ConnectionTrait, SystemClock};
use careid_tests::{
    Browser, CRM_CALLBACK, PASSWORD, TestServer, authorize_url_at,
    browser::Landing,
    fresh_database,
    process::{CareidProcess, careid_command},
    test_config,
};
use reqwest::StatusCode;
use sea_orm::DbBackend;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EMAIL: &str = "ada@clinic.example";
/// The demo client portal's callback (config/clients/client-portal.toml).
const PORTAL_CALLBACK: &str = "http://127.0.0.1:8083/callback";

/// The real `careid` binary.
const CAREID: &str = env!("CARGO_BIN_EXE_careid-under-test");

async fn probe(base: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn healthz_answers_and_readyz_follows_the_database() {
    let server = TestServer::start().await;
    let (status, body) = probe(&server.url, "/healthz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = probe(&server.url, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A newer careid migrated the database: this one must not take traffic.
    let db = &server.db;
    db.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m9999_from_the_future', 0)",
    )
    .await
    .unwrap();
    let (status, body) = probe(&server.url, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("m9999_from_the_future"),
        "{body}"
    );
    db.execute_unprepared("DELETE FROM seaql_migrations WHERE version = 'm9999_from_the_future'")
        .await
        .unwrap();
    assert_eq!(probe(&server.url, "/readyz").await.0, StatusCode::OK);

    // The database file is gone (a lost volume): open connections would go on writing
    // into a file no restart finds again.
    if db.get_database_backend() == DbBackend::Sqlite {
        let file = careid_store::sqlite_file(&server.database_url).unwrap();
        let aside = file.with_extension("moved");
        std::fs::rename(&file, &aside).unwrap();
        let (status, body) = probe(&server.url, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["reason"].as_str().unwrap().contains("missing"),
            "{body}"
        );
        // Liveness does no I/O: the process is fine, only not ready.
        assert_eq!(probe(&server.url, "/healthz").await.0, StatusCode::OK);
        std::fs::rename(&aside, &file).unwrap();
        assert_eq!(probe(&server.url, "/readyz").await.0, StatusCode::OK);
    }
}

/// A database with one active account, [`EMAIL`] with [`PASSWORD`], as the CLI makes it.
async fn database_with_an_account(dir: &std::path::Path) -> String {
    let database_url = fresh_database(dir).await;
    let config = test_config("http://127.0.0.1:1", &database_url);
    let app = App::build(&config, Arc::new(SystemClock)).await.unwrap();
    let password = PlainPassword::new(PASSWORD);
    app.accounts
        .create_account(EMAIL, "Ada", password.clone(), password)
        .await
        .unwrap();
    database_url
}

/// Submits the CRM's sign-in form on `base`; whether careid sent the browser back.
async fn sign_in(base: &str, password: &str) -> bool {
    let browser = Browser::new(base);
    let page = browser
        .visit(&authorize_url_at(base, "crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let form = page.form().unwrap();
    let login = form.login_input().unwrap().name.clone();
    let secret = form.password_input().unwrap().name.clone();
    let landing = browser
        .submit(&page, &[(&login, EMAIL), (&secret, password)])
        .await;
    matches!(landing, Landing::Left(_))
}

#[tokio::test]
async fn metrics_count_pin_sign_ins_under_their_own_method() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = database_with_an_account(dir.path()).await;
    // The PIN is kept as an HMAC under the install's key, which lives in the database
    // the process will serve.
    let config = test_config("http://127.0.0.1:1", &database_url);
    let app = App::build(&config, Arc::new(SystemClock)).await.unwrap();
    let issued = app
        .lifecycle
        .issue_pin(EMAIL, None, Some(&ClientId::from("client-portal")))
        .await
        .unwrap();
    drop(app);
    let careid = CareidProcess::serve(CAREID, &database_url, dir.path(), |_| {}).await;
    let series = |result: &'static str| {
        let careid = &careid;
        async move {
            let labels = format!("method=\"pin\",result=\"{result}\"");
            careid.metric("careid_sign_ins_total", &labels).await
        }
    };
    let portal = authorize_url_at(&careid.url, "client-portal", PORTAL_CALLBACK, &[]);
    let wrong = if issued.pin.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };

    let refused = Browser::new(&careid.url)
        .sign_in_with_pin(&portal, EMAIL, wrong)
        .await;
    assert!(matches!(refused, Landing::Page(_)), "{refused:?}");
    let signed_in = Browser::new(&careid.url)
        .sign_in_with_pin(&portal, EMAIL, issued.pin.as_str())
        .await;
    assert!(matches!(signed_in, Landing::Left(_)), "{signed_in:?}");

    assert_eq!(series("wrong_credentials").await, 1.0);
    assert_eq!(series("success").await, 1.0);
    let password = "method=\"password\",result=\"success\"";
    assert_eq!(careid.metric("careid_sign_ins_total", password).await, 0.0);
}

#[tokio::test]
async fn metrics_count_a_sign_in_and_a_failed_one() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = database_with_an_account(dir.path()).await;
    let careid = CareidProcess::serve(CAREID, &database_url, dir.path(), |_| {}).await;
    let series = |result: &'static str| {
        let careid = &careid;
        async move {
            let labels = format!("method=\"password\",result=\"{result}\"");
            careid.metric("careid_sign_ins_total", &labels).await
        }
    };
    let failed_events = || careid.metric("careid_audit_events_total", "kind=\"sign_in_failed\"");
    let (ok, wrong) = (series("success").await, series("wrong_credentials").await);
    let audited = failed_events().await;

    assert!(sign_in(&careid.url, PASSWORD).await);
    assert!(!sign_in(&careid.url, "Not-The-Password-1").await);

    assert_eq!(series("success").await, ok + 1.0);
    assert_eq!(series("wrong_credentials").await, wrong + 1.0);
    // The failure is in the audit counts too, and the requests by their route.
    assert_eq!(failed_events().await, audited + 1.0);
    let text = reqwest::get(format!("{}/metrics", careid.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("careid_http_requests_total{")
                && line.contains("route=\"/authorize\"")),
        "{text}"
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_that_the_response_echoes() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let careid = CareidProcess::serve(CAREID, &database_url, dir.path(), |command| {
        command.env("CAREID_LOG__FORMAT", "json");
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A caller's well-formed id is kept and echoed.
    let state = "state-that-must-not-be-logged";
    let url = authorize_url_at(&careid.url, "crm", CRM_CALLBACK, &[("state", state)]);
    let response = http
        .get(&url)
        .header("X-Request-Id", "trace-0123456789")
        .send()
        .await
        .unwrap();
    // On to the sign-in page.
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["x-request-id"], "trace-0123456789");

    // An id that is too long, or could forge a log field, is replaced by a fresh one.
    let forged = format!("{}\" level=\"ERROR", "x".repeat(80));
    let response = http
        .get(format!("{}/.well-known/openid-configuration", careid.url))
        .header("X-Request-Id", &forged)
        .send()
        .await
        .unwrap();
    let fresh = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, forged);
    assert!(!fresh.is_empty() && fresh.len() <= 64, "{fresh}");

    // Access lines come after the response is sent: wait for the second one.
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = careid.log();
        if lines.iter().any(|line| line.contains(&fresh)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every line is a JSON object (no colour codes: stderr is a pipe).
    let entries: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let of = |id: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|entry| entry["span"]["request_id"] == id)
            .collect()
    };
    let access = of("trace-0123456789")
        .into_iter()
        .find(|entry| entry["fields"]["message"] == "request served")
        .unwrap_or_else(|| panic!("no access line: {lines:#?}"));
    assert_eq!(access["span"]["route"], "/authorize");
    assert_eq!(access["span"]["method"], "GET");
    assert_eq!(access["fields"]["status"], 303);
    assert!(access["fields"]["duration_ms"].as_f64().is_some());
    assert!(!of(&fresh).is_empty());
    // The query string (state, code, tokens) is never written.
    assert!(!lines.iter().any(|line| line.contains(state)), "{lines:#?}");
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let mut careid = CareidProcess::serve(CAREID, &database_url, dir.path(), |_| {}).await;
    let address = careid.url.strip_prefix("http://").unwrap().to_owned();

    // A token request whose body is still on its way when the signal comes.
    let body = "grant_type=client_credentials";
    let (first, rest) = body.split_at(10);
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic Y3JtOmNybS1kZW1vLXNlY3JldA==\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Ordering, not expiry: the server reads the head before the signal arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    careid.terminate();
    for _ in 0..100 {
        if careid
            .log()
            .iter()
            .any(|line| line.contains("shutting down"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        careid
            .log()
            .iter()
            .any(|line| line.contains("shutting down")),
        "{:#?}",
        careid.log()
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut answer))
        .await
        .expect("the answer came")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"access_token\""), "{answer}");

    let status = careid.exit_within(Duration::from_secs(30)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{:#?}",
        careid.log()
    );
    assert!(
        careid
            .log()
            .iter()
            .any(|line| line.contains("careid stopped"))
    );
}

#[tokio::test]
async fn serve_with_a_config_file_that_does_not_exist_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let mut child = careid_command(CAREID)
        .args(["serve", "--config"])
        .arg(&missing)
        // Were the file ignored, the server must not take a port or a real database.
        .env("CAREID_LISTEN", "127.0.0.1:0")
        .env(
            "CAREID_DATABASE_URL",
            format!("sqlite://{}/careid.db?mode=rwc", dir.path().display()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if waited > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    };
    let status = status.expect("careid exited instead of serving on defaults");
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
