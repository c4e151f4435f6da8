//! Registered clients: their metadata and how their secrets are checked.
//!
//! Client secrets are random, so a SHA-256 digest compared in constant time is as safe
//! as a slow hash and keeps argon2 off every token request (DESIGN.md, Configuration).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
};

use careid_store::ClientId;
use josekit::jwk::Jwk;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    egress::Reach,
    keys::{AccessTokenAlg, SigningAlg},
};

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
    /// A JWT signed with one of the client's keys (RFC 7523 §2.2, OIDC Core §9); the
    /// keys are its `jwks` or behind its `jwks_uri`.
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
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

impl GrantType {
    /// Every grant type careid offers.
    const ALL: [Self; 3] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
    ];

    /// The `grant_type` value (RFC 6749) that names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// The grant type a `grant_type` value names, if careid offers it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|grant| grant.as_str() == text)
    }
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

/// A client's public keys given inline (RFC 7591 §2 `jwks`): in a client file a JSON
/// string, in a registration a JSON object. Only public keys are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineJwks(pub Vec<Jwk>);

impl InlineJwks {
    /// Parses a JWK Set: a `keys` array of public keys that josekit can read.
    pub fn from_value(value: serde_json::Value) -> Result<Self, String> {
        let serde_json::Value::Object(mut set) = value else {
            return Err("jwks must be a JWK Set (a JSON object with a keys array)".into());
        };
        let Some(serde_json::Value::Array(keys)) = set.remove("keys") else {
            return Err("jwks must be a JWK Set with a keys array".into());
        };
        let mut parsed = Vec::with_capacity(keys.len());
        for key in keys {
            let serde_json::Value::Object(map) = key else {
                return Err("every key in jwks must be a JSON object".into());
            };
            // Private parts (RFC 7518 §6.2.2, §6.3.2) must never be shared with careid.
            if map.contains_key("d") {
                return Err("jwks must hold public keys only".into());
            }
            // RFC 7518 §6.4: an `oct` key is a shared secret, and careid checks a
            // client's assertions with its public keys only (RFC 7523 §2.2).
            if map.get("kty").and_then(serde_json::Value::as_str) == Some("oct") {
                return Err("jwks must not hold symmetric (oct) keys".into());
            }
            parsed.push(Jwk::from_map(map).map_err(|err| format!("jwks: {err}"))?);
        }
        if parsed.is_empty() {
            return Err("jwks must hold at least one key".into());
        }
        Ok(Self(parsed))
    }
}

impl<'de> Deserialize<'de> for InlineJwks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(raw) => serde_json::from_str(&raw)
                .map_err(|err| serde::de::Error::custom(format!("jwks is not JSON: {err}")))?,
            value => value,
        };
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Where the keys of a `private_key_jwt` client are.
#[derive(Debug, Clone, Copy)]
pub enum KeySource<'a> {
    /// Given inline.
    Inline(&'a InlineJwks),
    /// Published by the client at this URL, fetched and cached by careid.
    Uri(&'a str),
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
    pub client_id: ClientId,
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
    /// Whether its people must sign in with a second factor (issue 17): a session
    /// without `mfa` in its `amr` gets no code for this client, and a person without an
    /// authenticator app is taken to add one first.
    #[serde(default)]
    pub require_mfa: bool,
    /// The theme folder for this client's pages and mail.
    #[serde(default = "default_theme")]
    pub theme: String,
    /// Sign-in methods the client allows: `password`, `magic_link`, `pin`, `passkey`.
    #[serde(default = "default_sign_in_methods")]
    pub sign_in_methods: Vec<String>,
    /// Scopes the client may ask for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Admin API scopes (`admin:accounts.read`…) the client may get by
    /// client_credentials, acting for itself. None by default; only a client file sets
    /// them, a registered client never has any.
    #[serde(default)]
    pub admin_scopes: Vec<String>,
    /// The algorithm of this client's ID tokens and logout tokens (OIDC Registration
    /// §2): RS256 unless the client asks for ES256, PS256 or EdDSA.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// The algorithm of this client's access tokens (RFC 9068 §2.1): ES256 unless the
    /// client asks for RS256 or EdDSA.
    #[serde(default)]
    pub access_token_signed_response_alg: AccessTokenAlg,
    /// Overrides the access-token lifetime for this client.
    #[serde(default)]
    pub access_token_seconds: Option<u32>,
    /// Overrides the refresh-token lifetime for this client.
    #[serde(default)]
    pub refresh_token_days: Option<u32>,
    /// Whether the client gets a refresh token without `offline_access`, bound to the
    /// browser session: it ends when the session does. Off by default: OIDC Core §11
    /// issues refresh tokens for `offline_access` only.
    #[serde(default)]
    pub session_refresh_tokens: bool,
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
    /// The public keys of a `private_key_jwt` client, inline.
    #[serde(default)]
    pub jwks: Option<InlineJwks>,
    /// Where a `private_key_jwt` client publishes its public keys: https on port 443
    /// at a public address (see `allow_private_network`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Development only: lets careid fetch this client's `jwks_uri` and post to its
    /// `backchannel_logout_uri` over http, on any port, at loopback and private
    /// addresses. Only a client file can set it; a registered client never has it.
    #[serde(default)]
    pub allow_private_network: bool,
    /// Whether the client must send a PKCE challenge (S256) with every authorization
    /// request, confidential or not (RFC 9700 §2.1.1). On unless the file says
    /// `require_pkce = false`; a public client needs PKCE whatever this says.
    #[serde(default = "default_require_pkce")]
    pub require_pkce: bool,
    /// Which `sub` the client sees (OIDC Core §8): the profile's own subject, or one
    /// derived for the client's sector so that two apps cannot match their records.
    #[serde(default)]
    pub subject_type: SubjectType,
    /// Registered over HTTP (RFC 7591) by a third party rather than defined in a client
    /// file by the operator. careid only redirects to such a client's URIs after the
    /// person has acted on a careid page in the same request (RFC 9700 §4.11.2); it is
    /// never read from a file.
    #[serde(skip)]
    pub dynamically_registered: bool,
}

/// The scopes of the admin API (`/admin/v1/`), granted by client_credentials to a client
/// whose file lists them in `admin_scopes`.
pub const ADMIN_SCOPES: [&str; 4] = [
    "admin:accounts.read",
    "admin:accounts.write",
    "admin:pins",
    "admin:audit.read",
];

/// Whether `scope` belongs to the admin API's namespace (`admin:`), known or not.
pub fn is_admin_scope(scope: &str) -> bool {
    scope.starts_with("admin:")
}

/// The kind of subject identifier a client receives (OIDC Core §8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// The same `sub` for every client.
    #[default]
    Public,
    /// A `sub` derived per sector identifier (§8.1).
    Pairwise,
}

impl SubjectType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
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
/// The sign-in methods careid knows: a password, an emailed link, a PIN from the office,
/// a passkey on its own (WebAuthn; as a second factor after a password it needs no
/// listing).
pub const SIGN_IN_METHODS: [&str; 4] = ["password", "magic_link", "pin", "passkey"];

fn default_sign_in_methods() -> Vec<String> {
    vec!["password".into()]
}
fn default_require_pkce() -> bool {
    true
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "offline_access"]
        .map(String::from)
        .to_vec()
}

impl Client {
    /// Whether the client lets people sign in by `method` (`password`, `magic_link`,
    /// `pin`, `passkey`).
    pub fn allows_sign_in(&self, method: &str) -> bool {
        self.sign_in_methods.iter().any(|m| m == method)
    }

    /// Whether the client may use this grant.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// A public client has no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }

    /// Whether an authorization request of this client needs a PKCE challenge: always
    /// for a public client, and for a confidential one unless its file turned it off.
    pub fn needs_pkce(&self) -> bool {
        self.is_public() || self.require_pkce
    }

    /// The host whose redirect URIs make up the client's sector (OIDC Core §8.1): the
    /// one host of its redirect URIs. `None` when they name several hosts (or none),
    /// which would need a `sector_identifier_uri`, and careid fetches none.
    pub fn sector_identifier(&self) -> Option<String> {
        let mut hosts = self
            .redirect_uris
            .iter()
            .filter_map(|uri| url::Url::parse(uri).ok()?.host_str().map(str::to_owned));
        let first = hosts.next()?;
        hosts.all(|host| host == first).then_some(first)
    }

    /// Where the client's assertion keys are: `None` unless exactly one of `jwks` and
    /// `jwks_uri` is set.
    pub fn key_source(&self) -> Option<KeySource<'_>> {
        match (&self.jwks, &self.jwks_uri) {
            (Some(jwks), None) => Some(KeySource::Inline(jwks)),
            (None, Some(uri)) => Some(KeySource::Uri(uri)),
            _ => None,
        }
    }

    /// Which addresses careid may reach for this client's `jwks_uri` and
    /// `backchannel_logout_uri` (the outbound policy, `egress`).
    pub fn reach(&self) -> Reach {
        if self.allow_private_network {
            Reach::PrivateNetwork
        } else {
            Reach::PublicOnly
        }
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

    /// Why careid would refuse to send a request to `uri` for this client, as far as
    /// the URL tells (its addresses are checked at each request).
    fn egress_problem(&self, uri: &str) -> Option<String> {
        let refusal = crate::egress::check_url(uri, self.reach()).err()?;
        let hint = match self.reach() {
            Reach::PublicOnly => {
                " (a development client file may set allow_private_network = true)"
            }
            Reach::PrivateNetwork => "",
        };
        Some(format!("{uri:?} {refusal}{hint}"))
    }

    /// Checks what a file cannot express in types. Returns each problem as a
    /// (key, message) pair.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.client_id.as_str().is_empty() {
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
            && let Some(problem) = self
                .backchannel_problem(uri)
                .or_else(|| self.egress_problem(uri))
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
            (AuthMethod::PrivateKeyJwt, Some(_)) => problems.push((
                "secret",
                "a private_key_jwt client authenticates with its keys, not a secret".into(),
            )),
            _ => {}
        }
        if self.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt
            && self.key_source().is_none()
        {
            problems.push((
                "jwks",
                "a private_key_jwt client needs exactly one of jwks and jwks_uri".into(),
            ));
        }
        if let Some(uri) = &self.jwks_uri
            && let Some(problem) = self.egress_problem(uri)
        {
            problems.push(("jwks_uri", problem));
        }
        if self.require_mfa && !self.allows_sign_in("password") {
            problems.push((
                "require_mfa",
                "needs `password` in sign_in_methods: the second factor follows a password".into(),
            ));
        }
        if self.sign_in_methods.is_empty() {
            problems.push((
                "sign_in_methods",
                format!(
                    "name at least one of {}; with none, nobody can sign in",
                    SIGN_IN_METHODS.join(", ")
                ),
            ));
        }
        for method in &self.sign_in_methods {
            if !SIGN_IN_METHODS.contains(&method.as_str()) {
                problems.push((
                    "sign_in_methods",
                    format!(
                        "{method:?} is not a sign-in method; use {}",
                        SIGN_IN_METHODS.join(", ")
                    ),
                ));
            }
        }
        for scope in &self.admin_scopes {
            if !ADMIN_SCOPES.contains(&scope.as_str()) {
                problems.push((
                    "admin_scopes",
                    format!(
                        "{scope:?} is not an admin scope (one of {})",
                        ADMIN_SCOPES.join(", ")
                    ),
                ));
            }
        }
        if !self.admin_scopes.is_empty() && !self.allows(GrantType::ClientCredentials) {
            problems.push((
                "admin_scopes",
                "admin scopes are granted by client_credentials only: add it to grant_types".into(),
            ));
        }
        if let Some(scope) = self.scopes.iter().find(|s| is_admin_scope(s)) {
            problems.push((
                "scopes",
                format!("{scope:?} is an admin scope: list it in admin_scopes"),
            ));
        }
        if self.subject_type == SubjectType::Pairwise && self.sector_identifier().is_none() {
            problems.push((
                "subject_type",
                "pairwise subjects need redirect URIs on one host (careid does not fetch a sector_identifier_uri)".into(),
            ));
        }
        problems
    }
}

/// Whether `url` is https, or http on a loopback host (RFC 8252 §7.3: native and
/// development apps).
pub(crate) fn is_https_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
        _ => false,
    }
}

/// The clients in force, replaced whole when the config files change.
#[derive(Default)]
pub struct Clients {
    by_id: RwLock<Arc<HashMap<ClientId, Arc<Client>>>>,
}

impl Clients {
    /// A registry holding `clients`.
    pub fn new(clients: Vec<Client>) -> Self {
        let registry = Self::default();
        registry.replace(clients);
        registry
    }

    /// The client with this id.
    pub fn get(&self, client_id: &ClientId) -> Option<Arc<Client>> {
        self.snapshot().get(client_id).cloned()
    }

    /// Every client, by id.
    pub fn snapshot(&self) -> Arc<HashMap<ClientId, Arc<Client>>> {
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
    fn require_mfa_needs_password_sign_in() {
        let file = |extra: &str| -> Client {
            toml::from_str(&format!(
                r#"client_id = "rx"
                   name = "Prescribing"
                   secret = "rx-secret"
                   redirect_uris = ["https://rx.example/callback"]
                   require_mfa = true
                   {extra}"#
            ))
            .unwrap()
        };
        assert!(file("").problems().is_empty(), "{:?}", file("").problems());
        let links_only = file(r#"sign_in_methods = ["magic_link"]"#);
        let keys: Vec<_> = links_only.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["require_mfa"]);
    }

    #[test]
    fn a_client_file_sends_to_loopback_or_private_addresses_only_if_it_allows_them() {
        let file = |extra: &str| -> Client {
            toml::from_str(&format!(
                r#"client_id = "dev"
                   name = "Dev"
                   redirect_uris = ["http://127.0.0.1:9000/callback"]
                   token_endpoint_auth_method = "private_key_jwt"
                   jwks_uri = "http://127.0.0.1:9000/jwks"
                   backchannel_logout_uri = "http://127.0.0.1:9000/logout"
                   {extra}"#
            ))
            .unwrap()
        };
        let strict = file("");
        assert_eq!(strict.reach(), Reach::PublicOnly);
        let keys: Vec<_> = strict.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["backchannel_logout_uri", "jwks_uri"]);
        assert!(
            strict.problems()[1].1.contains("allow_private_network"),
            "{:?}",
            strict.problems()
        );
        let dev = file("allow_private_network = true");
        assert_eq!(dev.reach(), Reach::PrivateNetwork);
        assert!(dev.problems().is_empty(), "{:?}", dev.problems());
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

    fn key_client(extra: &str) -> Client {
        toml::from_str(&format!(
            r#"client_id = "backend"
               name = "Backend"
               redirect_uris = ["https://backend.example/callback"]
               token_endpoint_auth_method = "private_key_jwt"
               {extra}"#
        ))
        .unwrap()
    }

    fn jwks_toml() -> String {
        let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
        let set = serde_json::json!({"keys": [pair.to_jwk_public_key()]});
        format!("jwks = '{set}'")
    }

    #[test]
    fn a_private_key_jwt_client_file_names_its_keys_inline_or_by_uri() {
        let inline = key_client(&jwks_toml());
        assert!(matches!(inline.key_source(), Some(KeySource::Inline(_))));
        assert!(inline.problems().is_empty(), "{:?}", inline.problems());
        let by_uri = key_client(r#"jwks_uri = "https://backend.example/jwks""#);
        assert!(matches!(by_uri.key_source(), Some(KeySource::Uri(_))));
        assert!(by_uri.problems().is_empty(), "{:?}", by_uri.problems());
    }

    #[test]
    fn a_private_key_jwt_client_file_without_keys_with_both_or_with_a_secret_is_a_problem() {
        let both = format!(
            "{}\njwks_uri = \"https://backend.example/jwks\"",
            jwks_toml()
        );
        for (extra, key) in [
            ("", "jwks"),
            (both.as_str(), "jwks"),
            (r#"jwks_uri = "http://backend.example/jwks""#, "jwks_uri"),
        ] {
            let problems = key_client(extra).problems();
            assert!(
                problems.iter().any(|(k, _)| *k == key),
                "{extra}: {problems:?}"
            );
        }
        let with_secret = key_client(&format!("secret = \"x\"\n{}", jwks_toml()));
        assert_eq!(with_secret.problems()[0].0, "secret");
        let bad_json = toml::from_str::<Client>(
            r#"client_id = "b"
               name = "B"
               redirect_uris = ["https://b.example/cb"]
               token_endpoint_auth_method = "private_key_jwt"
               jwks = '{"keys": '"#,
        );
        assert!(
            bad_json
                .unwrap_err()
                .to_string()
                .contains("jwks is not JSON")
        );
    }

    #[test]
    fn admin_scopes_must_be_known_and_granted_by_client_credentials_only() {
        let file = |extra: &str| -> Client {
            toml::from_str(&format!(
                r#"client_id = "admin"
                   name = "Admin"
                   secret = "demo"
                   redirect_uris = []
                   {extra}"#
            ))
            .unwrap()
        };
        let keys = |client: Client| -> Vec<&'static str> {
            client.problems().into_iter().map(|(k, _)| k).collect()
        };
        let good = file(
            r#"grant_types = ["client_credentials"]
               admin_scopes = ["admin:accounts.read", "admin:audit.read"]"#,
        );
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        assert!(file("").admin_scopes.is_empty(), "none by default");
        let unknown = file(
            r#"grant_types = ["client_credentials"]
               admin_scopes = ["admin:everything"]"#,
        );
        assert_eq!(keys(unknown), ["admin_scopes"]);
        let no_grant = file(
            r#"grant_types = ["refresh_token"]
               admin_scopes = ["admin:accounts.read"]"#,
        );
        assert!(keys(no_grant).contains(&"admin_scopes"));
        let smuggled = file(
            r#"grant_types = ["client_credentials"]
               scopes = ["admin:accounts.write"]"#,
        );
        assert_eq!(keys(smuggled), ["scopes"]);
    }
}
