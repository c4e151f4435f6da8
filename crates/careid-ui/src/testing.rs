//! Test fixtures: the pages' router over a real SQLite database in a temporary folder,
//! the shipped themes, a manual clock, cheap argon2 and three clients.

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, Response, header},
};
use careid_accounts::{Accounts, AccountsConfig, ManualClock, Profile};
use careid_policy::{HashParams, PlainPassword, SessionRules};
use careid_protocol::{Client, Clients, Keys, Protocol, ProtocolConfig};
use serde_json::json;
use tempfile::TempDir;
use time::macros::datetime;
use tower::ServiceExt;

use crate::{ThemedErrorPage, Themes, Ui, csrf::CsrfKey};

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
        careid_accounts::migrate(&url).await.unwrap();
        let db = careid_accounts::connect(&url, 4).await.unwrap();
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
        let csrf = accounts.install_secret("csrf").await.unwrap();
        let ui = Arc::new(Ui::new(protocol, accounts, themes, CsrfKey::new(&csrf)));
        // The protocol's endpoints too: pending requests come from a real /authorize.
        let router = crate::router(ui.clone()).merge(careid_protocol::router(ui.protocol.clone()));
        Self {
            router,
            ui,
            clock,
            _dir: dir,
        }
    }

    /// An active account with [`PASSWORD`]; returns its own profile.
    pub async fn account(&self, email: &str) -> Profile {
        let pw = || PlainPassword::new(PASSWORD);
        let account = self
            .ui
            .accounts
            .create_account(email, "Ada Okafor", pw(), pw())
            .await
            .unwrap();
        let id = account.id;
        self.ui.accounts.profiles(id).await.unwrap().remove(0)
    }

    /// A pending authorization request of `client_id`, made by a browser without a
    /// session at the real `/authorize` (code flow, PKCE, a `login_hint`).
    pub async fn pending(&self, client_id: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair(
                "redirect_uri",
                &format!("https://{client_id}.example/callback"),
            )
            .append_pair("scope", "openid")
            .append_pair(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            )
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", "ada@clinic.example")
            .finish();
        let response = self.get(&format!("/authorize?{query}"), "").await;
        let to = location(&response);
        to.strip_prefix("/sign-in?request=")
            .unwrap_or_else(|| panic!("/authorize went to {to}"))
            .to_owned()
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

    /// Signs `email` in; returns the cookie header that carries the session and the
    /// pre-session CSRF cookie.
    pub async fn signed_in(&self, email: &str) -> String {
        let pre = "careid_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let token = self.csrf(pre);
        let form = [
            ("csrf", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ];
        let response = self.post("/sign-in", pre, &form).await;
        let session = set_cookie(&response, "careid_session").unwrap();
        format!("{pre}; {session}")
    }

    /// The CSRF token a form would carry for a browser with these cookies.
    pub fn csrf(&self, cookies: &str) -> String {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::COOKIE, cookies.parse().unwrap());
        crate::csrf::token(&self.ui, &headers).0
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
