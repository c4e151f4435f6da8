//! Ending a browser's careid session: the one way both `/end_session` (RP-initiated
//! logout) and the sign-out page end it. The session row is closed, the cookie cleared,
//! and every client that received tokens in the session is told by back-channel logout
//! (`backchannel`). Deciding whether to ask the person first is the callers' job.

use axum::http::{HeaderMap, HeaderValue};
use careid_policy::one_time;
use careid_store::{
    StoreError,
    sessions::{self, Session},
};

use crate::{Protocol, backchannel, session};

/// The open session the request's cookie names, live or not (an idle session that was
/// never closed still has clients to tell).
pub async fn browser_session(
    app: &Protocol,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let Some(secret) = session::cookie_value(headers, session::COOKIE) else {
        return Ok(None);
    };
    sessions::find_open_by_digest(&app.db, &one_time::digest(secret)).await
}

/// Ends `ended` and sends a logout token to each of its clients that registered a
/// back-channel URI. Delivery happens in the background; this returns once the session
/// is closed.
pub async fn end(app: &Protocol, ended: &Session) -> Result<(), StoreError> {
    let now = app.clock.now();
    sessions::end_session(&app.db, ended.id, now).await?;
    let participants = sessions::find_clients(&app.db, &ended.sid).await?;
    backchannel::send(backchannel::deliveries(app, &ended.sid, &participants, now).await);
    Ok(())
}

/// Ends the session the request's cookie names, if any, and returns the `Set-Cookie`
/// value that removes the cookie.
pub async fn end_browser_session(
    app: &Protocol,
    headers: &HeaderMap,
) -> Result<HeaderValue, StoreError> {
    if let Some(open) = browser_session(app, headers).await? {
        end(app, &open).await?;
    }
    Ok(session::clear_cookie(app.secure_cookies()))
}
