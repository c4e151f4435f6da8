//! The refresh-token grant (RFC 6749 §6): rotation and reuse detection.

use careid_policy::one_time;
use careid_store::refresh_tokens;

use crate::{Client, Protocol, ProtocolError, form::Form, grant::Grant, scope, tokens};

/// Exchanges a refresh token for new tokens and a new refresh token of the same family.
pub async fn rotate(
    app: &Protocol,
    client: &Client,
    form: &Form,
) -> Result<tokens::TokenResponse, ProtocolError> {
    let presented = form.require("refresh_token", "refresh_token is required")?;
    let now = app.clock.now();
    let invalid = ProtocolError::InvalidGrant("the refresh token is invalid, expired or revoked");
    // Read on a reader; the rotation below is the conditional write that decides.
    let Some(token) = refresh_tokens::find_by_digest(&app.db, &one_time::digest(presented)).await?
    else {
        return Err(invalid);
    };
    if token.client_id != client.client_id {
        return Err(invalid);
    }
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Err(invalid);
    }
    if token.rotated_at.is_some() {
        return Err(reused(app, client, &token, now).await);
    }
    let grant = Grant::from_json(token.grant()?)?;
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one. The new
    // refresh token keeps the original grant.
    let scope = match form.get("scope") {
        None => grant.scope.clone(),
        Some(requested) => {
            let requested = scope::split(requested);
            if requested.iter().any(|s| !scope::contains(&grant.scope, s)) {
                return Err(ProtocolError::InvalidScope(
                    "a refresh cannot widen the granted scope",
                ));
            }
            requested.join(" ")
        }
    };
    let Some(person) = tokens::person_of(app, &app.db, &grant).await? else {
        refresh_tokens::revoke_family(&app.db, &token.family_id, now).await?;
        return Err(ProtocolError::InvalidGrant(
            "the account can no longer sign in",
        ));
    };
    // An ended (or timed-out) session takes its bound tokens with it; an offline token
    // lives on but gets no ID token for the dead session (OIDC Core §11, §12.2).
    let is_session_live = crate::session::is_live_by_sid(app, &grant.sid).await?;
    if token.sid.is_some() && !is_session_live {
        return Err(ProtocolError::InvalidGrant("the session has ended"));
    }
    let txn = app.db.begin().await?;
    // The conditional UPDATE lets exactly one of two concurrent rotations through; the
    // other finds the token rotated, as a replay would.
    if !refresh_tokens::take_for_rotation(&txn, token.id, now).await? {
        drop(txn);
        return Err(reused(app, client, &token, now).await);
    }
    let prepared = tokens::prepare_for_person(
        app,
        &txn,
        client,
        &grant,
        &person,
        &scope,
        is_session_live,
        now,
    )
    .await?;
    txn.commit().await?;
    prepared.sign(app, client, &grant, now)
}

/// RFC 6749 §10.4, RFC 9700 §4.14.2: a rotated token seen again has leaked (or two
/// parties hold it), so its whole family is revoked. Returns the error to answer: the
/// refusal, or what stopped the revocation.
async fn reused(
    app: &Protocol,
    client: &Client,
    token: &refresh_tokens::RefreshToken,
    now: time::OffsetDateTime,
) -> ProtocolError {
    metrics::counter!("careid_refresh_token_reuse_total").increment(1);
    let revoked = async {
        let grant = Grant::from_json(token.grant()?)?;
        let txn = app.db.begin().await?;
        super::revoke_leaked_family(app, &txn, "refresh_token_reused", client, &grant, now).await?;
        txn.commit().await?;
        Ok::<_, ProtocolError>(())
    };
    match revoked.await {
        Ok(()) => ProtocolError::InvalidGrant("the refresh token is invalid, expired or revoked"),
        Err(err) => err,
    }
}
