//! What a code or refresh token stands for: who, for which client, with which scope,
//! authenticated when and how. Stored as JSON beside the code or token.

use careid_store::{AccountId, ClientId, ProfileId};
use serde::{Deserialize, Serialize};

/// The authorization a person gave a client. Codes carry the PKCE challenge and nonce
/// of their request; refresh tokens carry the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The account that signed in.
    pub account_id: AccountId,
    /// The profile the client sees.
    pub profile_id: ProfileId,
    /// That profile's OIDC subject.
    pub subject: String,
    /// The client it was granted to.
    pub client_id: ClientId,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The redirect URI of the request (codes only, RFC 6749 §4.1.3).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The request's nonce, echoed in the ID token.
    #[serde(default)]
    pub nonce: Option<String>,
    /// PKCE challenge and method (codes only).
    #[serde(default)]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub code_challenge_method: Option<String>,
    /// When the person authenticated (Unix seconds).
    pub auth_time: i64,
    /// How (RFC 8176 values).
    pub amr: Vec<String>,
    /// The browser session's public id.
    pub sid: String,
    /// The refresh-token family this grant's tokens belong to, fixed when the code is
    /// issued so that a replayed code can revoke what it produced.
    pub family_id: String,
}

impl Grant {
    /// As stored.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// From storage.
    pub fn from_json(value: serde_json::Value) -> Result<Self, crate::ProtocolError> {
        serde_json::from_value(value)
            .map_err(|e| crate::ProtocolError::Internal(format!("stored grant: {e}")))
    }
}
