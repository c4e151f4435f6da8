//! The end-to-end harness: a real careid server on an ephemeral port over a real
//! database (a SQLite file, or a fresh PostgreSQL database when
//! `CAREID_TEST_DATABASE_URL` names a server), a clock the test moves, and a cookie-keeping
//! browser that reads careid's HTML forms the way any client would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod backchannel;
pub mod browser;
pub mod client_key;
pub mod demo;
pub mod loopback;
pub mod passkey;
pub mod process;
pub mod registration;
pub mod rp;
pub mod webdriver;

/// The form reader the tests' browser uses (shared with `careid bench`).
pub use careid_bench::html;

use std::{path::PathBuf, sync::Arc};

use careid_accounts::{Accounts, Lifecycle};
use careid_policy::PlainPassword;
use careid_server::{App, Config};
use careid_store::{ConnectionTrait, ManualClock};
use tokio::net::TcpListener;

pub use browser::Browser;

/// The password every test account gets unless a test says otherwise.
pub const PASSWORD: &str = "Correct-Horse-42";

/// A running server and handles on what is behind it.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`: where this instance listens.
    pub url: String,
    /// The issuer: this instance's address, or the first instance's for a second one.
    pub issuer: String,
    /// The server's clock.
    pub clock: Arc<ManualClock>,
    /// The account service, to create and inspect accounts.
    pub accounts: Arc<Accounts>,
    /// Invitations and resets by email, as the CLI uses them.
    pub lifecycle: Arc<Lifecycle>,
    /// The database the server uses.
    pub database_url: String,
    /// The protocol state behind the server (keys, clients), to act as its background
    /// jobs would without waiting for them.
    pub protocol: Arc<careid_protocol::Protocol>,
    /// The server's database handle, to count the statements a request runs.
    pub db: careid_store::Db,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// The workspace root (for the shipped config, clients and themes).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database on the server
/// `CAREID_TEST_DATABASE_URL` points at.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("CAREID_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("careid_t_{}", hex_id());
            let admin = careid_store::connect(&admin_url, 1)
                .await
                .expect("connect to CAREID_TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.unwrap();
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}/careid.db?mode=rwc", dir.display()),
    }
}

fn hex_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configuration tests run with: the shipped dev config, this server's issuer and
/// database, cheap password hashing.
pub fn test_config(issuer: &str, database_url: &str) -> Config {
    let mut config = Config::load(&workspace().join("config/careid.toml")).unwrap();
    config.issuer = issuer.to_owned();
    config.listen = "127.0.0.1:0".into();
    config.database_url = database_url.to_owned();
    config.database_max_connections = 4;
    config.clients_dir = workspace().join("config/clients");
    config.themes_dir = workspace().join("themes");
    config.demo = false;
    // OWASP parameters cost ~20 ms a hash; rules are the same at any cost.
    config.policy.hash.memory_kib = 1024;
    config.policy.hash.iterations = 1;
    // The clock stands still in tests, so a quota would be a total for the whole test:
    // the rate limits are off unless a test turns them on ([`with_rate_limits`]).
    config.rate_limit.enabled = false;
    // Mail to the outbox stays beside the test's database, not in the checkout (the
    // default, `data/outbox`, is relative to the tests crate when tests run).
    config.mail.outbox_dir = careid_store::sqlite_file(database_url)
        .and_then(|file| file.parent().map(|dir| dir.join("outbox")))
        .unwrap_or_else(|| std::env::temp_dir().join("careid-tests-outbox"));
    config
}

/// Turns the rate limits on, with the defaults except as `adjust` changes them.
pub fn with_rate_limits(
    config: &mut Config,
    adjust: impl FnOnce(&mut careid_protocol::RateLimitConfig),
) {
    config.rate_limit = careid_protocol::RateLimitConfig::default();
    adjust(&mut config.rate_limit);
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(dir.path()).await;
        Self::start_on(dir, database_url, None, adjust).await
    }

    /// Starts a second instance over this server's database, behind the same issuer, as
    /// a load balancer would see it.
    pub async fn another_instance(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_on(
            dir,
            self.database_url.clone(),
            Some(self.issuer.clone()),
            |_| {},
        )
        .await
    }

    /// Starts a server over `database_url`; its issuer is its own address unless given.
    pub async fn start_on(
        dir: tempfile::TempDir,
        database_url: String,
        issuer: Option<String>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let issuer = move |url: &str| issuer.unwrap_or_else(|| url.to_owned());
        Self::launch(dir, database_url, issuer, adjust, true).await
    }

    /// Starts a server whose issuer names its address `localhost` rather than
    /// `127.0.0.1` (the browser still connects to 127.0.0.1): WebAuthn needs a domain
    /// name as the relying party id, so only such a server has passkeys.
    pub async fn start_on_localhost_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(dir.path()).await;
        let issuer = |url: &str| url.replace("://127.0.0.1:", "://localhost:");
        Self::launch(dir, database_url, issuer, adjust, true).await
    }

    /// Starts a server whose background jobs (file and key watchers, back-channel
    /// sender) never run, so that every statement it sends comes from a request.
    pub async fn start_without_jobs() -> Self {
        Self::start_without_jobs_with(|_| {}).await
    }

    /// [`Self::start_without_jobs`] with `adjust` applied to the configuration first.
    pub async fn start_without_jobs_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(dir.path()).await;
        Self::launch(dir, database_url, str::to_owned, adjust, false).await
    }

    /// Starts a server on a fresh port; `issuer` makes its issuer from its address.
    async fn launch(
        dir: tempfile::TempDir,
        database_url: String,
        issuer: impl FnOnce(&str) -> String,
        adjust: impl FnOnce(&mut Config),
        jobs: bool,
    ) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let issuer = issuer(&url);
        let mut config = test_config(&issuer, &database_url);
        adjust(&mut config);
        let mut app = App::build(&config, clock.clone()).await.unwrap();
        let accounts = app.accounts.clone();
        let lifecycle = app.lifecycle.clone();
        let protocol = app.protocol.clone();
        let db = app.db.clone();
        // Client files and keys changed elsewhere take effect, as under `careid serve`;
        // the watchers stop when the server is dropped.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        if jobs {
            app.watch(stopped);
        }
        tokio::spawn(app.serve(listener, std::future::pending()));
        Self {
            url,
            issuer,
            clock,
            accounts,
            lifecycle,
            database_url,
            protocol,
            db,
            _stop: stop,
            _dir: dir,
        }
    }

    /// Creates an active account with [`PASSWORD`].
    pub async fn add_account(&self, email: &str, name: &str) -> careid_store::accounts::Account {
        let password = PlainPassword::new(PASSWORD);
        self.accounts
            .create_account(email, name, password.clone(), password)
            .await
            .unwrap()
    }

    /// A fresh browser (no cookies).
    pub fn browser(&self) -> Browser {
        Browser::new(&self.url)
    }

    /// An HTTP client that does not follow redirects, for back-channel calls.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }
}

/// The S256 PKCE challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A verifier and its S256 challenge, fixed so tests read easily.
pub const VERIFIER: &str = "a-verifier-that-is-long-enough-to-satisfy-rfc-7636-ok";

/// The scope that gets a refresh token outliving the browser session (OIDC Core §11):
/// without `offline_access` a client gets none unless its file sets
/// `session_refresh_tokens = true`.
pub const OFFLINE_SCOPE: &str = "openid profile email offline_access";

/// The CRM's registered redirect URI.
pub const CRM_CALLBACK: &str = "http://127.0.0.1:8081/callback";

/// The EMR's registered redirect URI.
pub const EMR_CALLBACK: &str = "http://127.0.0.1:8082/callback";

/// An /authorize URL on the careid at `base` for `client_id` with PKCE S256 over
/// [`VERIFIER`]; `extra` adds or (with an empty value) removes parameters.
pub fn authorize_url_at(
    base: &str,
    client_id: &str,
    redirect_uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let challenge = pkce_s256(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile email"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

impl TestServer {
    /// An /authorize URL for `client_id` with PKCE S256 over [`VERIFIER`]; `extra`
    /// adds or (with an empty value) removes parameters.
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> String {
        authorize_url_at(&self.url, client_id, redirect_uri, extra)
    }

    /// A CRM code for `email`, asking for [`OFFLINE_SCOPE`] so that its exchange brings
    /// a refresh token: signs in on the form if `browser` has no session yet.
    pub async fn crm_code(&self, browser: &Browser, email: &str) -> String {
        let url = self.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
        let back = match browser.visit(&url).await {
            browser::Landing::Left(back) => back,
            browser::Landing::Page(_) => browser.sign_in(&url, email, PASSWORD).await,
        };
        browser::param(&back, "code").expect("a code")
    }

    /// POSTs a form to /token with HTTP Basic client credentials.
    pub async fn token(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.http().post(format!("{}/token", self.url)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Exchanges a CRM code with [`VERIFIER`].
    pub async fn crm_exchange(&self, code: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.token(
            Some(("crm", "crm-demo-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CRM_CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }
}

/// A folder with copies of the shipped client files plus `extra` (file name, TOML), for
/// `TestServer::start_with(|c| c.clients_dir = dir.path().into())`. Keep it alive as
/// long as the server.
pub fn clients_dir_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(workspace().join("config/clients")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    for (name, toml) in extra {
        std::fs::write(dir.path().join(name), toml).unwrap();
    }
    dir
}

impl TestServer {
    /// POSTs a form to `path` on careid, with HTTP Basic client credentials if given,
    /// and returns the response as it came.
    pub async fn post_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.http().post(format!("{}{path}", self.url)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }
}

/// Asserts an RFC 6749 §5.2 error answer: its status and its `error` code.
#[track_caller]
pub fn assert_oauth_error(
    status: reqwest::StatusCode,
    body: &serde_json::Value,
    expected_status: reqwest::StatusCode,
    error: &str,
) {
    assert_eq!(
        (status, body["error"].as_str()),
        (expected_status, Some(error)),
        "{body}"
    );
}

impl TestServer {
    /// The audit events of `kind`, newest first.
    pub async fn audit_events(&self, kind: &str) -> Vec<careid_store::audit::AuditEvent> {
        careid_store::audit::find_events(&self.accounts.db, None, None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event.kind == kind)
            .collect()
    }

    /// `GET path` on careid, its body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.http()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Makes this instance read the signing keys now, as its watcher would within a
    /// second.
    pub async fn reload_keys(&self) {
        self.protocol.reload_keys_if_changed().await.unwrap();
    }

    /// The discovery document (OpenID Connect Discovery 1.0 §4).
    pub async fn discovery(&self) -> serde_json::Value {
        self.get_json("/.well-known/openid-configuration").await
    }

    /// `GET /userinfo` with `access_token` as the bearer token.
    pub async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        self.http()
            .get(format!("{}/userinfo", self.url))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// Asserts that neither the CRM nor the EMR can sign in silently (`prompt=none`)
    /// in `browser`: the careid session is gone for every portal.
    pub async fn assert_signed_out_everywhere(&self, browser: &Browser) {
        for (client, callback) in [("crm", CRM_CALLBACK), ("emr", EMR_CALLBACK)] {
            let back = browser
                .visit(&self.authorize_url(client, callback, &[("prompt", "none")]))
                .await
                .left();
            assert_eq!(
                browser::param(&back, "error").as_deref(),
                Some("login_required"),
                "{client}"
            );
        }
    }
}

impl TestServer {
    /// Runs the `careid` binary with `args` over this server's database and the shipped
    /// configuration, as staff would on the server, and returns its exit status and
    /// output.
    pub async fn careid_command(&self, args: &[&str]) -> std::process::Output {
        self.careid_command_with(args, &[]).await
    }

    /// [`Self::careid_command`] with settings of its own in the environment (such as
    /// `CAREID_MAIL__…`, to send to a test's SMTP listener), set after the defaults.
    pub async fn careid_command_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Output {
        // `CARGO_BIN_EXE_*` exists only when an integration test is compiled, not this
        // library: the binary sits beside `deps/`, where the running test lives.
        let test = std::env::current_exe().unwrap();
        let target = test.parent().and_then(|deps| deps.parent()).unwrap();
        let binary = target.join(format!("careid-under-test{}", std::env::consts::EXE_SUFFIX));
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
            .current_dir(workspace())
            .env("CAREID_CONFIG", workspace().join("config/careid.toml"))
            .env("CAREID_DATABASE_URL", &self.database_url)
            .env("CAREID_CLIENTS_DIR", workspace().join("config/clients"))
            .env("CAREID_DEMO", "false")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied());
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}
