//! Third-party apps in tests: registering one over HTTP (RFC 7591) and signing a person
//! into it through careid's consent page.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{Browser, PASSWORD, TestServer, VERIFIER, browser::Landing};

impl TestServer {
    /// POSTs `metadata` to /register, with `bearer` as the initial access token if given.
    pub async fn register(&self, bearer: Option<&str>, metadata: &Value) -> (StatusCode, Value) {
        let mut request = self
            .http()
            .post(format!("{}/register", self.url))
            .json(metadata);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Registers `metadata` (open mode) and returns the registration response; panics
    /// unless careid answers 201.
    pub async fn register_ok(&self, metadata: &Value) -> Value {
        let (status, body) = self.register(None, metadata).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Signs `email` into the registered `app` at `redirect_uri` in `browser` (signing
    /// in with [`PASSWORD`] if there is no session, consenting if asked) and exchanges
    /// the code with the app's secret: the token response.
    pub async fn registered_tokens(
        &self,
        browser: &Browser,
        app: &Value,
        redirect_uri: &str,
        email: &str,
    ) -> Value {
        let client_id = app["client_id"].as_str().unwrap();
        let url = self.authorize_url(client_id, redirect_uri, &[]);
        let mut landing = browser.visit(&url).await;
        for _ in 0..3 {
            let page = match landing {
                Landing::Left(_) => break,
                Landing::Page(page) => page,
            };
            landing = if page.url.contains("/sign-in") {
                let form = page.form().expect("a sign-in form");
                let login = form.login_input().unwrap().name.clone();
                let secret = form.password_input().unwrap().name.clone();
                browser
                    .submit(&page, &[(&login, email), (&secret, PASSWORD)])
                    .await
            } else if page.url.contains("/consent") {
                browser.submit(&page, &[]).await
            } else {
                panic!("unexpected page at {}:\n{}", page.url, page.body);
            };
        }
        let back = landing.left();
        let code = crate::browser::param(&back, "code").expect("a code");
        let (status, tokens) = self
            .token(
                Some((client_id, app["client_secret"].as_str().unwrap())),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }
}
