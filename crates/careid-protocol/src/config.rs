//! Protocol settings: token lifetimes. The issuer comes from the server's config.

use serde::Deserialize;

/// Lifetimes of what the protocol hands out, in the `[tokens]` section of careid.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Authorization codes: short, single use (RFC 9700 §4.2: about a minute).
    pub code_seconds: u32,
    /// Access tokens (JWT, RFC 9068).
    pub access_token_seconds: u32,
    /// ID tokens.
    pub id_token_seconds: u32,
    /// Refresh tokens, rotated on every use.
    pub refresh_token_days: u32,
    /// The most a refresh-token family can live, counted from the sign-in that started
    /// it: rotation slides `refresh_token_days` forward, never past this.
    pub refresh_family_days: u32,
    /// How long a person has to finish signing in after /authorize.
    pub authorization_request_minutes: u32,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            code_seconds: 60,
            access_token_seconds: 600,
            id_token_seconds: 3600,
            refresh_token_days: 30,
            refresh_family_days: 90,
            authorization_request_minutes: 30,
        }
    }
}

impl ProtocolConfig {
    /// How long a key must stay published after it last signed: the longest lifetime
    /// of a token careid signs (access and ID tokens; refresh tokens are opaque), plus
    /// five minutes for relying parties' clock leeway.
    pub fn signed_token_lifetime(&self) -> time::Duration {
        let longest = self.access_token_seconds.max(self.id_token_seconds);
        time::Duration::seconds(longest.into()) + time::Duration::minutes(5)
    }
}

/// Who may register clients over HTTP (RFC 7591 §3), the `[registration]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone may register a client (development; registered clients are always
    /// third-party and get a consent page).
    Open,
    /// A registration needs an initial access token (RFC 7591 §3): a `sha256:<hex>`
    /// digest from `initial_access_tokens` or one made by `careid registration token
    /// issue`.
    #[default]
    Token,
    /// No dynamic registration.
    Off,
}

/// Dynamic client registration settings, the `[registration]` section of careid.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    /// `open`, `token` (the default) or `off`.
    pub mode: RegistrationMode,
    /// Digests (`sha256:<hex>`) of initial access tokens accepted in mode `token`.
    pub initial_access_tokens: Vec<String>,
}

impl RegistrationConfig {
    /// The configured initial access token digests as lowercase hex, or the first
    /// entry that is not `sha256:` followed by 64 hex digits.
    pub fn token_digests(&self) -> Result<Vec<String>, String> {
        self.initial_access_tokens
            .iter()
            .map(|entry| {
                entry
                    .strip_prefix("sha256:")
                    .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| format!("{entry:?} is not sha256: followed by 64 hex digits"))
            })
            .collect()
    }
}
