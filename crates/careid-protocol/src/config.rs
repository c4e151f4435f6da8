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
            authorization_request_minutes: 30,
        }
    }
}
