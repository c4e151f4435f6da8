//! Calling careid's admin API as a portal does: an access token by client_credentials
//! for the demo `crm-admin` client, then JSON requests with it as the bearer token.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::TestServer;

/// The demo admin client (config/clients/crm-admin.toml).
pub const ADMIN_CLIENT: (&str, &str) = ("crm-admin", "crm-admin-demo-secret");

/// Every admin scope the demo client may have.
pub const ALL_SCOPES: &str = "admin:accounts.read admin:accounts.write admin:pins admin:audit.read";

/// An admin API answer: status, headers and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, parsed.
    pub body: Value,
}

impl Answer {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl TestServer {
    /// A client_credentials access token of `crm-admin` for `scope`.
    pub async fn admin_token(&self, scope: &str) -> String {
        let (status, body) = self
            .token(
                Some(ADMIN_CLIENT),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Calls `method path` under `/admin/v1` with `token` (if any) and a JSON body (if
    /// any).
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .http()
            .request(method, format!("{}/admin/v1{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }
}
