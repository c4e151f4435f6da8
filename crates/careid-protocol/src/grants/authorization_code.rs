//! The authorization-code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3): one transaction
//! consumes the code and writes the refresh token.

use careid_policy::one_time;
use careid_store::{
    TransactionTrait, audit,
    codes::{self, Taken},
    refresh_tokens, sessions,
};
use serde_json::json;

use crate::{Client, Protocol, ProtocolError, grant::Grant, pkce, token::Form, tokens, userinfo};

/// Exchanges a code for tokens.
pub async fn redeem(
    app: &Protocol,
    client: &Client,
    form: &Form,
) -> Result<tokens::TokenResponse, ProtocolError> {
    let code = form.require("code", "code is required")?;
    let now = app.clock.now();
    let txn = app
        .db
        .begin()
        .await
        .map_err(careid_store::StoreError::from)?;
    let grant = match codes::take_code(&txn, &one_time::digest(code), now).await? {
        Taken::Fresh { client_id, grant } if client_id == client.client_id => {
            Grant::from_json(grant)?
        }
        Taken::Fresh { .. } | Taken::Invalid => {
            return Err(ProtocolError::InvalidGrant(
                "the code is invalid or expired",
            ));
        }
        Taken::Replayed { client_id, grant } => {
            // RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
            let grant = Grant::from_json(grant)?;
            if client_id == client.client_id {
                refresh_tokens::revoke_family(&txn, &grant.family_id, now).await?;
                audit::insert_event(
                    &txn,
                    audit::NewEvent {
                        kind: "code_replayed",
                        account_id: Some(grant.account_id),
                        client_id: Some(client_id),
                        ip: None,
                        detail: json!({ "family": grant.family_id }),
                    },
                    now,
                )
                .await?;
                txn.commit().await.map_err(careid_store::StoreError::from)?;
            }
            return Err(ProtocolError::InvalidGrant(
                "the code has already been used",
            ));
        }
    };
    // RFC 6749 §4.1.3: the redirect URI must be the one of the authorization request.
    if form.get("redirect_uri") != grant.redirect_uri.as_deref() {
        return Err(ProtocolError::InvalidGrant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let method = grant.code_challenge_method.as_deref().unwrap_or("plain");
            if !pkce::verify(method, challenge, verifier) {
                return Err(ProtocolError::InvalidGrant(
                    "the PKCE code_verifier does not match",
                ));
            }
        }
        (Some(_), None) => return Err(ProtocolError::InvalidGrant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(ProtocolError::InvalidGrant(
                "no code_challenge was sent for this code",
            ));
        }
        (None, None) => {}
    }
    let Some(account) = crate::session::account_in_good_standing(
        &txn,
        app.clock.as_ref(),
        grant.account_id,
        app.inactivity_expiry_days,
    )
    .await?
    else {
        return Err(ProtocolError::InvalidGrant(
            "the account can no longer sign in",
        ));
    };
    let claims = userinfo::claims_for(&txn, &account, grant.profile_id, &grant.scope).await?;
    let response = tokens::for_person(app, &txn, client, &grant, &grant.scope, claims, now).await?;
    // Back-Channel Logout 1.0 §2.7: when this session ends, this client is told.
    sessions::insert_client(&txn, &grant.sid, &client.client_id, &grant.subject, now).await?;
    txn.commit().await.map_err(careid_store::StoreError::from)?;
    Ok(response)
}
