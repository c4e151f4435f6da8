//! One module per grant type of the token endpoint.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use careid_store::{ConnectionTrait, audit, refresh_tokens};
use serde_json::json;
use time::OffsetDateTime;

use crate::ProtocolError;

/// Revokes a refresh-token family whose code or token was presented twice (RFC 6749
/// §4.1.2 and §10.4: it has leaked) and records `kind` in the audit trail.
pub(crate) async fn revoke_leaked_family(
    db: &impl ConnectionTrait,
    kind: &'static str,
    account_id: i64,
    client_id: &str,
    family_id: &str,
    now: OffsetDateTime,
) -> Result<(), ProtocolError> {
    refresh_tokens::revoke_family(db, family_id, now).await?;
    let event = audit::NewEvent {
        kind,
        account_id: Some(account_id),
        client_id: Some(client_id.to_owned()),
        ip: None,
        detail: json!({ "family": family_id }),
    };
    audit::insert_event(db, event, now).await?;
    Ok(())
}
