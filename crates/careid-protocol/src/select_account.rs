//! `prompt=select_account` (OIDC Core §3.1.2.1): the client asks careid to show the
//! profile picker again although the session already acts as one profile, so a person
//! who acts for a partner or a dependent can switch. The authorize flow sends the browser
//! to the picker once; the picker then marks the request so that it is not asked again.

use time::Duration;

use careid_store::authorization_requests;

use crate::{
    Protocol, ProtocolError,
    pending::{self, StoredRequest},
};

/// Whether `request` must show the picker to a person with `profiles` profiles.
pub(crate) fn must_choose(request: &StoredRequest, profiles: usize) -> bool {
    request.has_prompt("select_account") && !request.profile_chosen && profiles > 1
}

/// The person chose a profile on the picker for request `request_id`: its
/// `prompt=select_account` is satisfied. `false` if the request expired.
pub async fn record_profile_choice(
    app: &Protocol,
    request_id: &str,
) -> Result<bool, ProtocolError> {
    let Some(mut request) = pending::load(app, request_id).await? else {
        return Ok(false);
    };
    if request.profile_chosen || !request.has_prompt("select_account") {
        return Ok(true);
    }
    request.profile_chosen = true;
    let json =
        serde_json::to_value(&request).map_err(|e| ProtocolError::Internal(e.to_string()))?;
    let now = app.clock.now();
    let expires = now + Duration::minutes(app.config.authorization_request_minutes.into());
    // The marked request replaces the unmarked one, or neither changes.
    let txn = app.db.begin().await?;
    authorization_requests::delete_request(&txn, request_id).await?;
    authorization_requests::insert_request(
        &txn,
        request_id,
        &request.client_id,
        &json,
        now,
        expires,
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}
