//! Authorization requests waiting for the person: stored by /authorize, read by the
//! sign-in pages and by /authorize/continue on whichever instance the browser reaches.

use std::sync::Arc;

use careid_store::{StoreError, authorization_requests};
use serde::{Deserialize, Serialize};

use crate::{Client, Protocol, ProtocolError};

/// A validated authorization request, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes that will be granted, space-separated.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub max_age: Option<i64>,
    pub prompt: Vec<String>,
    pub login_hint: Option<String>,
    /// A session that was present but may not satisfy this request (`prompt=login`, or
    /// `max_age` exceeded): the person must sign in again, which starts a new session.
    pub stale_sid: Option<String>,
    /// The person approved this very request on the consent page, so `prompt=consent`
    /// is satisfied and must not ask again.
    #[serde(default)]
    pub consent_given: bool,
    /// The person chose a profile on the picker for this very request, so
    /// `prompt=select_account` is satisfied and must not ask again.
    #[serde(default)]
    pub profile_chosen: bool,
}

impl StoredRequest {
    pub fn has_prompt(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }
}

/// What the sign-in pages need to know about a pending request.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// The request id, carried through the sign-in form.
    pub id: String,
    /// The client asking, for its name, theme and allowed sign-in methods.
    pub client: Arc<Client>,
    /// The email the client suggested (OIDC Core `login_hint`).
    pub login_hint: Option<String>,
    /// The scopes the client will receive.
    pub scopes: Vec<String>,
}

/// The pending request `id`, unless it expired or its client is gone.
pub async fn find_pending(
    app: &Protocol,
    id: &str,
) -> Result<Option<PendingRequest>, ProtocolError> {
    let Some(request) = load(app, id).await? else {
        return Ok(None);
    };
    let Some(client) = app.find_client(&request.client_id).await? else {
        return Ok(None);
    };
    Ok(Some(PendingRequest {
        id: id.to_owned(),
        client,
        login_hint: request.login_hint,
        scopes: crate::scope::split(&request.scope),
    }))
}

pub(crate) async fn load(app: &Protocol, id: &str) -> Result<Option<StoredRequest>, StoreError> {
    let Some(json) = authorization_requests::find_live(&app.db, id, app.clock.now()).await? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_value(json)?))
}
