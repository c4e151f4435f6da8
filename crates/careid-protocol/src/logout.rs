//! Ending a browser's careid session from the browser: `/end_session` (RP-initiated
//! logout), the sign-out page and a new sign-in replacing the session come here. The
//! ending itself is `careid_store::sessions::end_sessions`, the one function every
//! ending passes through: it closes the session, revokes its session-bound refresh
//! tokens and queues a back-channel logout for each of its clients (`backchannel` sends
//! them). This module finds the session and clears the cookie. Deciding whether to ask
//! the person first is the callers' job.

use axum::http::{HeaderMap, HeaderValue};
use careid_policy::one_time;
use careid_store::{
    ClientId, StoreError, audit,
    sessions::{self, Ending, Session},
};
use serde_json::json;

use crate::{Protocol, ProtocolError, session};

/// Who ended a session from the browser, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOut<'a> {
    /// The person pressed "Sign out" on careid's page, perhaps for a client.
    Page {
        /// The client that sent them there, if one did.
        client_id: Option<&'a ClientId>,
    },
    /// RP-initiated logout (`/end_session`) ended it without asking.
    EndSession {
        /// The client that asked, if it said.
        client_id: Option<&'a ClientId>,
    },
}

impl SignOut<'_> {
    fn via(self) -> &'static str {
        match self {
            Self::Page { .. } => "sign_out_page",
            Self::EndSession { .. } => "end_session",
        }
    }

    fn client_id(self) -> Option<ClientId> {
        match self {
            Self::Page { client_id } | Self::EndSession { client_id } => client_id.cloned(),
        }
    }
}

/// The open session the request's cookie names, live or not (an idle session that was
/// never closed still has clients to tell).
pub async fn browser_session(
    app: &Protocol,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let Some(secret) = session::secret(app, headers) else {
        return Ok(None);
    };
    sessions::find_open_by_digest(&app.db, &one_time::digest(secret)).await
}

/// Ends `ended`: its session-bound refresh tokens go with it, and each of its clients
/// is queued a logout token, which the delivery job sends.
pub async fn end(app: &Protocol, ended: &Session) -> Result<(), StoreError> {
    sessions::end_one(&app.db, ended.id, app.clock.now()).await?;
    Ok(())
}

/// Ends `ended` because the person signed out (`how`), and records `signed_out` in the
/// audit trail in the same transaction, like every other account event.
pub async fn sign_out(app: &Protocol, ended: &Session, how: SignOut<'_>) -> Result<(), StoreError> {
    let now = app.clock.now();
    let txn = app.db.begin().await?;
    let closed = sessions::end_sessions(&txn, Ending::Session(ended.id), now).await?;
    if !closed.is_empty() {
        let event = audit::NewEvent {
            kind: "signed_out",
            account_id: Some(ended.account_id),
            client_id: how.client_id(),
            ip: None,
            detail: json!({ "via": how.via(), "sid": ended.sid }),
        };
        audit::insert_event(&txn, event, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Signs out the session the request's cookie names, if any (the sign-out page), and
/// returns the `Set-Cookie` value that removes the cookie.
pub async fn sign_out_browser(
    app: &Protocol,
    headers: &HeaderMap,
    client_id: Option<&ClientId>,
) -> Result<HeaderValue, ProtocolError> {
    if let Some(open) = browser_session(app, headers).await? {
        sign_out(app, &open, SignOut::Page { client_id }).await?;
    }
    Ok(session::clear_cookie(app.secure_cookies()))
}

/// Ends the session the request's cookie names, if any, and returns the `Set-Cookie`
/// value that removes the cookie.
pub async fn end_browser_session(
    app: &Protocol,
    headers: &HeaderMap,
) -> Result<HeaderValue, ProtocolError> {
    if let Some(open) = browser_session(app, headers).await? {
        end(app, &open).await?;
    }
    Ok(session::clear_cookie(app.secure_cookies()))
}
