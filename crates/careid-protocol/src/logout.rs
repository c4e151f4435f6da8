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
    StoreError,
    sessions::{self, Session},
};

use crate::{Protocol, ProtocolError, session};

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
