//! Registered clients: their metadata and how their secrets are checked.
//!
//! Client secrets are random, so a SHA-256 digest compared in constant time is as safe
//! as a slow hash and keeps argon2 off every token request (DESIGN.md, Configuration).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
};

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::keys::SigningAlg;

/// How a client authenticates at the token endpoint (RFC 6749 §2.3, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: no secret, PKCE required.
    None,
}

impl AuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
}

/// A client secret as configured: never kept in plain text once loaded.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// SHA-256 of the secret. `from_plain` records that the file held it in plain text,
    /// which `careid config check` flags outside demo files.
    Digest { sha256: [u8; 32], from_plain: bool },
    /// The secret is in this environment variable, read when checked.
    Env(String),
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Digest { .. } => f.write_str("ClientSecret(sha256:***)"),
            Self::Env(var) => write!(f, "ClientSecret(env:{var})"),
        }
    }
}

impl ClientSecret {
    /// Parses `sha256:<hex>`, `env:VAR`, or a plain secret.
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Some(hex) = value.strip_prefix("sha256:") {
            let bytes = hex::decode(hex)
                .map_err(|_| "sha256: must be followed by 64 hex digits".to_owned())?;
            let sha256: [u8; 32] = bytes
                .try_into()
                .map_err(|_| "sha256: must be followed by 64 hex digits".to_owned())?;
            Ok(Self::Digest {
                sha256,
                from_plain: false,
            })
        } else if let Some(var) = value.strip_prefix("env:") {
            if var.is_empty() {
                return Err("env: must name an environment variable".into());
            }
            Ok(Self::Env(var.to_owned()))
        } else if value.is_empty() {
            Err("a client secret cannot be empty".into())
        } else {
            Ok(Self::Digest {
                sha256: Sha256::digest(value.as_bytes()).into(),
                from_plain: true,
            })
        }
    }

    /// Whether the file held this secret in plain text.
    pub fn is_plain(&self) -> bool {
        matches!(
            self,
            Self::Digest {
                from_plain: true,
                ..
            }
        )
    }

    /// Compares a presented secret in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let expected: [u8; 32] = match self {
            Self::Digest { sha256, .. } => *sha256,
            Self::Env(var) => match std::env::var(var) {
                Ok(secret) if !secret.is_empty() => Sha256::digest(secret.as_bytes()).into(),
                _ => return false,
            },
        };
        digest.ct_eq(&expected).into()
    }
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A registered client (RP), as read from `config/clients/<id>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The `client_id`.
    pub client_id: String,
    /// The name people see on the sign-in and consent pages.
    pub name: String,
    /// The secret, unless the client is public.
    #[serde(default)]
    pub secret: Option<ClientSecret>,
    /// Redirect URIs, compared exactly (RFC 9700 §4.1.3).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants the client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<GrantType>,
    /// The one authentication method the client may use at /token.
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: AuthMethod,
    /// First-party clients (the practice's own portals) skip the consent page.
    #[serde(default)]
    pub first_party: bool,
    /// The theme folder for this client's pages and mail.
    #[serde(default = "default_theme")]
    pub theme: String,
    /// Sign-in methods the client allows: `password`, `magic_link`, `pin`.
    #[serde(default = "default_sign_in_methods")]
    pub sign_in_methods: Vec<String>,
    /// Scopes the client may ask for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The algorithm of this client's ID tokens.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// Overrides the access-token lifetime for this client.
    #[serde(default)]
    pub access_token_seconds: Option<u32>,
    /// Overrides the refresh-token lifetime for this client.
    #[serde(default)]
    pub refresh_token_days: Option<u32>,
    /// Logo shown on the sign-in and consent pages.
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// The app's privacy policy.
    #[serde(default)]
    pub policy_uri: Option<String>,
    /// The app's terms of service.
    #[serde(default)]
    pub tos_uri: Option<String>,
    /// How "Forgot password?" works for people who come from this client.
    #[serde(default)]
    pub reset_mode: ResetMode,
    /// Where careid POSTs a logout token when a session this client took part in ends
    /// (OIDC Back-Channel Logout 1.0 §2.2). Same scheme, host and port as a redirect URI.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Whether the client needs `sid` in logout tokens (§2.2). careid always sends it.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

/// How a self-service password reset proceeds for a client's people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetMode {
    /// The email holds a link; opening it sends a 6-digit code that works only in that
    /// browser. The default.
    #[default]
    LinkThenCode,
    /// The email holds the code; the person types it with their email on the page.
    CodeOnly,
}

fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}
fn default_auth_method() -> AuthMethod {
    AuthMethod::ClientSecretBasic
}
fn default_theme() -> String {
    "default".into()
}
fn default_sign_in_methods() -> Vec<String> {
    vec!["password".into()]
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "offline_access"]
        .map(String::from)
        .to_vec()
}

impl Client {
    /// Whether the client may use this grant.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// A public client has no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }

    /// Whether `uri` is one of the registered redirect URIs, compared as strings.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// Whether `uri` is one of the registered post-logout redirect URIs, compared as
    /// strings (OIDC RP-Initiated Logout 1.0 §3).
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// What is wrong with a back-channel logout URI: Back-Channel Logout 1.0 §2.2 wants
    /// an absolute URL without a fragment whose scheme, host and port are those of a
    /// registered redirect URI.
    fn backchannel_problem(&self, uri: &str) -> Option<String> {
        let Ok(url) = url::Url::parse(uri) else {
            return Some(format!("{uri:?} is not an absolute URL"));
        };
        if url.fragment().is_some() {
            return Some(format!("{uri:?} must not have a fragment"));
        }
        let origin = url.origin();
        let shares_origin = self
            .redirect_uris
            .iter()
            .filter_map(|r| url::Url::parse(r).ok())
            .any(|r| r.origin() == origin);
        (!shares_origin)
            .then(|| format!("{uri:?} must have the scheme, host and port of a redirect URI"))
    }

    /// Checks what a file cannot express in types. Returns each problem as a
    /// (key, message) pair.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.client_id.is_empty() {
            problems.push(("client_id", "must not be empty".into()));
        }
        if self.redirect_uris.is_empty() && self.allows(GrantType::AuthorizationCode) {
            problems.push((
                "redirect_uris",
                "the authorization_code grant needs at least one redirect URI".into(),
            ));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            match url::Url::parse(uri) {
                Err(_) => {
                    problems.push(("redirect_uris", format!("{uri:?} is not an absolute URL")))
                }
                Ok(url) if url.fragment().is_some() => {
                    problems.push(("redirect_uris", format!("{uri:?} must not have a fragment")))
                }
                Ok(_) => {}
            }
        }
        if let Some(uri) = &self.backchannel_logout_uri
            && let Some(problem) = self.backchannel_problem(uri)
        {
            problems.push(("backchannel_logout_uri", problem));
        }
        match (self.token_endpoint_auth_method, &self.secret) {
            (AuthMethod::None, Some(_)) => problems.push((
                "secret",
                "a public client (auth method none) has no secret".into(),
            )),
            (AuthMethod::None, None) if self.allows(GrantType::ClientCredentials) => {
                problems.push((
                    "grant_types",
                    "a public client cannot use client_credentials".into(),
                ))
            }
            (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, None) => {
                problems.push(("secret", "a confidential client needs a secret".into()))
            }
            _ => {}
        }
        problems
    }
}

/// The clients in force, replaced whole when the config files change.
#[derive(Default)]
pub struct Clients {
    by_id: RwLock<Arc<HashMap<String, Arc<Client>>>>,
}

impl Clients {
    /// A registry holding `clients`.
    pub fn new(clients: Vec<Client>) -> Self {
        let registry = Self::default();
        registry.replace(clients);
        registry
    }

    /// The client with this id.
    pub fn get(&self, client_id: &str) -> Option<Arc<Client>> {
        self.snapshot().get(client_id).cloned()
    }

    /// Every client, by id.
    pub fn snapshot(&self) -> Arc<HashMap<String, Arc<Client>>> {
        self.by_id
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Puts a new set of clients in force.
    pub fn replace(&self, clients: Vec<Client>) {
        let map = clients
            .into_iter()
            .map(|c| (c.client_id.clone(), Arc::new(c)))
            .collect();
        *self
            .by_id
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_secret_is_kept_only_as_its_digest() {
        let secret = ClientSecret::parse("crm-demo-secret").unwrap();
        assert!(secret.is_plain());
        assert!(secret.matches("crm-demo-secret"));
        assert!(!secret.matches("crm-demo-secreT"));
        assert!(!format!("{secret:?}").contains("crm-demo"));
    }

    #[test]
    fn a_sha256_secret_matches_its_preimage() {
        let hex = hex::encode(Sha256::digest(b"s3cret"));
        let secret = ClientSecret::parse(&format!("sha256:{hex}")).unwrap();
        assert!(!secret.is_plain());
        assert!(secret.matches("s3cret"));
        assert!(ClientSecret::parse("sha256:abcd").is_err());
    }

    #[test]
    fn an_env_secret_without_its_variable_matches_nothing() {
        let secret = ClientSecret::parse("env:CAREID_TEST_SECRET_THAT_IS_NOT_SET").unwrap();
        assert!(!secret.matches(""));
        assert!(!secret.matches("anything"));
    }

    fn with_backchannel(uri: &str) -> Client {
        toml::from_str(&format!(
            r#"client_id = "crm"
               name = "CRM"
               secret = "x"
               redirect_uris = ["https://crm.example/callback"]
               backchannel_logout_uri = "{uri}""#
        ))
        .unwrap()
    }

    #[test]
    fn a_backchannel_logout_uri_on_a_redirect_uris_origin_is_accepted() {
        let client = with_backchannel("https://crm.example/logout?from=careid");
        assert!(client.problems().is_empty(), "{:?}", client.problems());
        assert!(!client.backchannel_logout_session_required);
    }

    #[test]
    fn a_backchannel_logout_uri_elsewhere_or_with_a_fragment_is_a_problem() {
        for uri in [
            "https://crm.example:8443/logout",
            "http://crm.example/logout",
            "https://other.example/logout",
            "https://crm.example/logout#x",
            "/logout",
        ] {
            let problems = with_backchannel(uri).problems();
            assert_eq!(problems.len(), 1, "{uri}: {problems:?}");
            assert_eq!(problems[0].0, "backchannel_logout_uri");
        }
    }

    #[test]
    fn post_logout_redirect_uris_match_exactly() {
        let client: Client = toml::from_str(
            r#"client_id = "crm"
               name = "CRM"
               secret = "x"
               redirect_uris = ["https://crm.example/callback"]
               post_logout_redirect_uris = ["https://crm.example/"]"#,
        )
        .unwrap();
        assert!(client.has_post_logout_redirect_uri("https://crm.example/"));
        assert!(!client.has_post_logout_redirect_uri("https://crm.example"));
        assert!(!client.has_post_logout_redirect_uri("https://crm.example/?x=1"));
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let client: Client = toml::from_str(
            r#"client_id = "crm"
               name = "CRM"
               secret = "x"
               redirect_uris = ["http://127.0.0.1:8081/callback"]"#,
        )
        .unwrap();
        assert!(client.has_redirect_uri("http://127.0.0.1:8081/callback"));
        assert!(!client.has_redirect_uri("http://127.0.0.1:8081/callback/"));
        assert!(!client.has_redirect_uri("http://127.0.0.1:8081/callback?x=1"));
        assert!(client.problems().is_empty());
    }
}
