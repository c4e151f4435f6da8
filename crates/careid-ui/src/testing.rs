//! Test fixtures: the pages' router over a real SQLite database in a temporary folder,
//! the shipped themes, a manual clock, cheap argon2 and three clients.

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, Response, header},
};
use careid_accounts::{Accounts, AccountsConfig};
use careid_policy::{HashParams, PlainPassword, SessionRules};
use careid_protocol::{Client, Clients, Keys, Protocol, ProtocolConfig};
use careid_store::{Clock, ManualClock, accounts::Account, authorization_requests};
use serde_json::json;
use tempfile::TempDir;
use time::{Duration, macros::datetime};
use tower::ServiceExt;

use crate::{ThemedErrorPage, Themes, Ui};

/// A password every default rule accepts.
pub(crate) const PASSWORD: &str = "Tulip-Harbor-42";

pub(crate) struct Fixture {
    pub ui: Arc<Ui>,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    _dir: TempDir,
}

fn client(id: &str, name: &str, theme: &str, methods: &[&str]) -> Client {
    serde_json::from_value(json!({
        "client_id": id,
        "name": name,
        "secret": "demo-secret",
        "redirect_uris": [format!("https://{id}.example/callback")],
        "first_party": true,
        "theme": theme,
        "sign_in_methods": methods,
    }))
    .unwrap()
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        careid_store::migrate(&url).await.unwrap();
        let db = careid_store::connect(&url, 4).await.unwrap();
        let clock = Arc::new(ManualClock::new(datetime!(2026-01-05 09:00 UTC)));
        let themes_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
        let themes = Arc::new(Themes::new(themes_dir).unwrap());
        let clients = Clients::new(vec![
            client("crm", "CarePortals CRM", "crm", &["password"]),
            client("portal", "Client Portal", "client-portal", &["magic_link"]),
        ]);
        let protocol = Arc::new(Protocol::new(
            db.clone(),
            clock.clone(),
            "http://127.0.0.1:8080",
            ProtocolConfig::default(),
            SessionRules::default(),
            90,
            clients,
            Keys::load_or_create(&db, clock.clone(), None)
                .await
                .unwrap(),
            Arc::new(ThemedErrorPage::new(themes.clone())),
        ));
        let config = AccountsConfig {
            hash: HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            ..AccountsConfig::default()
        };
        let accounts = Arc::new(Accounts::new(db, clock.clone(), config));
        let ui = Arc::new(Ui::new(protocol, accounts, themes));
        Self {
            router: crate::router(ui.clone()),
            ui,
            clock,
            _dir: dir,
        }
    }

    /// An active account with [`PASSWORD`].
    pub async fn account(&self, email: &str) -> Account {
        let pw = || PlainPassword::new(PASSWORD);
        self.ui
            .accounts
            .create_account(email, "Ada Okafor", pw(), pw())
            .await
            .unwrap()
    }

    /// A pending authorization request of `client_id`, as /authorize stores it.
    pub async fn pending(&self, client_id: &str) -> String {
        let id = careid_policy::one_time::new_token();
        let request = json!({
            "client_id": client_id,
            "redirect_uri": format!("https://{client_id}.example/callback"),
            "scope": "openid",
            "state": null, "nonce": null,
            "code_challenge": null, "code_challenge_method": null,
            "max_age": null, "prompt": [],
            "login_hint": "ada@clinic.example",
            "stale_sid": null,
        });
        let now = self.clock.now();
        let expires = now + Duration::minutes(30);
        authorization_requests::insert_request(
            &self.ui.protocol.db,
            &id,
            client_id,
            &request,
            now,
            expires,
        )
        .await
        .unwrap();
        id
    }

    pub async fn get(&self, uri: &str, cookies: &str) -> Response<Body> {
        let req = Request::get(uri).header(header::COOKIE, cookies);
        self.router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    pub async fn post(&self, uri: &str, cookies: &str, form: &[(&str, &str)]) -> Response<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = Request::post(uri)
            .header(header::COOKIE, cookies)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap()
    }

    /// Signs `email` in; returns the cookie header that carries the session and CSRF.
    pub async fn signed_in(&self, email: &str) -> String {
        let csrf = "careid_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let form = [
            ("csrf", &csrf[12..]),
            ("email", email),
            ("password", PASSWORD),
        ];
        let response = self.post("/sign-in", csrf, &form).await;
        let session = set_cookie(&response, "careid_session").unwrap();
        format!("{csrf}; {session}")
    }
}

/// The `name=value` of the cookie `name` the response sets.
pub(crate) fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

pub(crate) fn location(response: &Response<Body>) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

pub(crate) async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}
