//! The authorization-code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3): one transaction
//! consumes the code and writes the refresh token.

use careid_policy::one_time;
use careid_store::{
    codes::{self, Taken},
    sessions,
};

use crate::{Client, Protocol, ProtocolError, grant::Grant, pkce, token::Form, tokens};

/// Exchanges a code for tokens.
pub async fn redeem(
    app: &Protocol,
    client: &Client,
    form: &Form,
) -> Result<tokens::TokenResponse, ProtocolError> {
    let code = form.require("code", "code is required")?;
    let now = app.clock.now();
    let txn = app.db.begin().await?;
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
                super::revoke_leaked_family(app, &txn, "code_replayed", client, &grant, now)
                    .await?;
                txn.commit().await?;
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
    let Some(person) = tokens::person_of(app, &txn, &grant).await? else {
        return Err(ProtocolError::InvalidGrant(
            "the account can no longer sign in",
        ));
    };
    let prepared =
        tokens::prepare_for_person(app, &txn, client, &grant, &person, &grant.scope, true, now)
            .await?;
    // Back-Channel Logout 1.0 §2.7: when this session ends, this client is told.
    sessions::insert_client(&txn, &grant.sid, &client.client_id, &grant.subject, now).await?;
    txn.commit().await?;
    prepared.sign(app, client, &grant, now)
}
