//! One module per grant type of the token endpoint.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use careid_store::{ConnectionTrait, StoreError, audit, refresh_tokens, revoked_access_tokens};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{Client, Protocol, ProtocolError, grant::Grant, tokens};

/// Revokes a refresh-token family whose code or token was presented twice (RFC 6749
/// §4.1.2 and §10.4: it has leaked), denies the access tokens already issued from it,
/// and records `kind` in the audit trail.
pub(crate) async fn revoke_leaked_family(
    app: &Protocol,
    db: &impl ConnectionTrait,
    kind: &'static str,
    client: &Client,
    grant: &Grant,
    now: OffsetDateTime,
) -> Result<(), ProtocolError> {
    revoke_family_and_its_access_tokens(app, db, client, grant, now).await?;
    let event = audit::NewEvent {
        kind,
        account_id: Some(grant.account_id),
        client_id: Some(client.client_id.clone()),
        ip: None,
        detail: json!({ "family": grant.family_id }),
    };
    audit::insert_event(db, event, now).await?;
    Ok(())
}

/// Revokes the grant's refresh tokens and, until the last of them would have expired,
/// the access tokens issued from it (RFC 7009 §2.1). Returns the refresh tokens revoked.
pub(crate) async fn revoke_family_and_its_access_tokens(
    app: &Protocol,
    db: &impl ConnectionTrait,
    client: &Client,
    grant: &Grant,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let revoked = refresh_tokens::revoke_family(db, &grant.family_id, now).await?;
    let lifetime = Duration::seconds(tokens::access_token_seconds(app, client).into());
    revoked_access_tokens::insert_revoked_grant(
        db,
        &crate::access_token::grant_id(grant),
        now + lifetime,
    )
    .await?;
    Ok(revoked)
}
