//! Who calls the admin API: a portal with a client_credentials access token for the
//! admin scopes (docs/admin-api.md). The token is checked by the protocol's own
//! access-token verification (`careid_protocol::verify_admin_token`); this module turns
//! its answer into RFC 6750 responses through the [`Caller`] extractor and records every
//! authenticated call in the audit trail with the caller's client id.

use std::sync::{Arc, Mutex};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, header, request::Parts},
    middleware::Next,
    response::Response,
};
use careid_protocol::AdminToken;
use careid_store::{AccountId, ClientId};
use serde_json::json;

use super::{Admin, AdminError};

/// Reading accounts, their sessions and profiles.
pub const ACCOUNTS_READ: &str = "admin:accounts.read";
/// Creating, changing and deleting accounts, their sessions and profiles.
pub const ACCOUNTS_WRITE: &str = "admin:accounts.write";
/// Issuing and voiding an account's sign-in PINs.
pub const PINS: &str = "admin:pins";
/// Reading an account's audit trail.
pub const AUDIT_READ: &str = "admin:audit.read";

/// The verified caller: extracting it checks the bearer token (401 without a usable
/// one), so a handler that takes a `Caller` cannot run for an unknown client, and a
/// request the router refuses (404, 405) never reaches the check.
#[derive(Debug, Clone)]
pub struct Caller(pub AdminToken);

impl Caller {
    /// `Ok` when the token carries `scope`, else `InsufficientScope` (403).
    pub fn require(&self, scope: &'static str) -> Result<(), AdminError> {
        if self.0.has_scope(scope) {
            Ok(())
        } else {
            Err(AdminError::InsufficientScope(scope))
        }
    }

    /// The calling client's id.
    pub fn client_id(&self) -> &ClientId {
        &self.0.client_id
    }
}

impl FromRequestParts<Arc<Admin>> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        admin: &Arc<Admin>,
    ) -> Result<Self, Self::Rejection> {
        let token = careid_protocol::bearer(&parts.headers)
            .map_err(|_| AdminError::InvalidToken)?
            .ok_or(AdminError::NoToken)?;
        let token = careid_protocol::verify_admin_token(&admin.protocol, &token)
            .await?
            .ok_or(AdminError::InvalidToken)?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.fill(&token.client_id);
        }
        Ok(Self(token))
    }
}

/// Where the [`Caller`] extractor leaves the client id for [`audit_calls`] to find once
/// the response is made.
#[derive(Clone, Default)]
struct CallerSlot(Arc<Mutex<Option<ClientId>>>);

impl CallerSlot {
    fn fill(&self, client_id: &ClientId) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(client_id.to_owned());
    }

    fn take(&self) -> Option<ClientId> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// Runs the request, then records it in the audit trail (method, path, status) with the
/// calling client's id and, for a path under `/accounts/{id}`, that account: every call
/// a known client made, allowed or refused. Responses are never cached (they name
/// people).
pub async fn audit_calls(
    State(admin): State<Arc<Admin>>,
    mut req: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let Some(client_id) = slot.take() else {
        return response;
    };
    let detail = json!({
        "method": method,
        "path": path,
        "status": response.status().as_u16(),
    });
    if let Err(err) = admin
        .accounts
        .record_admin_call(&client_id, account_in(&path), detail)
        .await
    {
        // The call happened; a lost audit row is logged loudly rather than turning a
        // done action into an error the portal would retry.
        tracing::error!(%err, client = %client_id, "admin API call not audited");
    }
    response
}

/// The account id in a path such as `/admin/v1/accounts/42/sessions`.
fn account_in(path: &str) -> Option<AccountId> {
    let rest = path.split("/accounts/").nth(1)?;
    rest.split('/').next()?.parse().ok().map(AccountId::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_a_path_is_its_id_segment() {
        assert_eq!(
            account_in("/admin/v1/accounts/42"),
            Some(AccountId::new(42))
        );
        assert_eq!(
            account_in("/admin/v1/accounts/42/sessions/7"),
            Some(AccountId::new(42))
        );
        assert_eq!(account_in("/admin/v1/accounts"), None);
        assert_eq!(account_in("/admin/v1/accounts/x"), None);
    }
}
