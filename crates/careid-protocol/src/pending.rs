//! Authorization requests waiting for the person: stored by /authorize, read by the
//! sign-in pages and by /authorize/continue on whichever instance the browser reaches.

use std::sync::Arc;

use careid_store::{ClientId, ConnectionTrait, StoreError, authorization_requests};
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::{Client, Protocol, ProtocolError};

/// A validated authorization request, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRequest {
    pub client_id: ClientId,
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
    /// The known values of `acr_values`, in the client's order ([`crate::acr::known`]).
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// A session that was present but may not satisfy this request (`prompt=login`, or
    /// `max_age` exceeded): the person must sign in again, which starts a new session.
    pub stale_sid: Option<String>,
    /// The person approved this very request on the consent page, so `prompt=consent`
    /// is satisfied and must not ask again.
    #[serde(default)]
    pub consent_given: bool,
    /// The person picked a profile for this very request on the picker, so
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

/// Stores `request` again under `id` (a page changed it), with a fresh expiry, in the
/// caller's transaction.
pub(crate) async fn replace(
    app: &Protocol,
    db: &impl ConnectionTrait,
    id: &str,
    request: &StoredRequest,
) -> Result<(), ProtocolError> {
    let now = app.clock.now();
    let json = serde_json::to_value(request).map_err(|e| ProtocolError::Internal(e.to_string()))?;
    let expires = now + Duration::minutes(app.config.authorization_request_minutes.into());
    authorization_requests::delete_request(db, id).await?;
    authorization_requests::insert_request(db, id, &request.client_id, &json, now, expires).await?;
    Ok(())
}

/// The person picked a profile on the picker for the pending request `id`: marks it so
/// that `prompt=select_account` is satisfied. `false` if the request expired.
pub async fn record_profile_choice(app: &Protocol, id: &str) -> Result<bool, ProtocolError> {
    let Some(mut request) = load(app, id).await? else {
        return Ok(false);
    };
    if request.profile_chosen {
        return Ok(true);
    }
    request.profile_chosen = true;
    let txn = app.db.begin().await?;
    replace(app, &txn, id, &request).await?;
    txn.commit().await?;
    Ok(true)
}
