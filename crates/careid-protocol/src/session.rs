//! The browser's careid session as the protocol sees it: the cookie, and whether the
//! session it names still counts (policy limits, account status). `careid-ui` starts
//! sessions; both read them through here.

use axum::http::{HeaderMap, HeaderValue, header};
use careid_policy::{is_inactive_expired, is_session_live, one_time};
use careid_store::{
    AccountId, ConnectionTrait, StoreError,
    accounts::{self, Account, Status},
    profiles::{self, Profile, ProfileKey},
    sessions::{self, Session},
};

use crate::{Protocol, ProtocolError};

/// How stale a session's recorded last use may be before a request records it again.
const SEEN_RESOLUTION: time::Duration = time::Duration::MINUTE;

/// The session cookie's name on a plain-http (development) issuer.
pub const COOKIE: &str = "careid_session";

/// The session cookie's name on an https issuer. The `__Host-` prefix makes the browser
/// accept the cookie only with `Secure`, `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2),
/// so a sibling domain cannot plant or shadow it.
pub const HOST_COOKIE: &str = "__Host-careid_session";

/// The session cookie's name: `__Host-` prefixed whenever cookies are `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { HOST_COOKIE } else { COOKIE }
}

/// The session cookie's value in this request, if any.
pub fn secret<'a>(app: &Protocol, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie_value(headers, cookie_name(app.secure_cookies())).filter(|v| !v.is_empty())
}

/// A session that still signs its person in.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The stored session.
    pub session: Session,
    /// Its account, active and within the inactivity limit.
    pub account: Account,
}

/// Reads a cookie's value from the request headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The session the request's cookie names, if it is still live: not ended, within the
/// idle and absolute limits, and its account active and not idle-expired. A live
/// session's idle clock restarts.
pub async fn current(
    app: &Protocol,
    headers: &HeaderMap,
) -> Result<Option<LiveSession>, ProtocolError> {
    let Some(secret) = secret(app, headers) else {
        return Ok(None);
    };
    let now = app.clock.now();
    let digest = one_time::digest(secret);
    let Some((session, account)) =
        sessions::find_open_by_digest_with_account(&app.db, &digest).await?
    else {
        return Ok(None);
    };
    if !is_session_live(
        session.created_at,
        session.last_seen_at,
        now,
        &app.session_rules,
    ) {
        // Found lazily, the timeout still ends the session the one way: its clients
        // are told and its bound refresh tokens die.
        sessions::end_one(&app.db, session.id, now).await?;
        return Ok(None);
    }
    if !is_in_good_standing(app, &account) {
        sessions::end_one(&app.db, session.id, now).await?;
        return Ok(None);
    }
    // The idle clock is kept to the minute: a session used again within a minute of its
    // last recorded use costs no write (single sign-on hops between portals in seconds).
    if now - session.last_seen_at >= SEEN_RESOLUTION {
        sessions::update_seen(&app.db, session.id, now).await?;
    }
    Ok(Some(LiveSession { session, account }))
}

/// Whether the session `sid` still signs its person in. One found past its idle or
/// absolute limit is ended here, the one way, so its clients are told and its bound
/// refresh tokens die even when no browser comes back to find it.
pub async fn is_live_by_sid(app: &Protocol, sid: &str) -> Result<bool, StoreError> {
    let Some(session) = sessions::find_open_by_sid(&app.db, sid).await? else {
        return Ok(false);
    };
    let now = app.clock.now();
    if is_session_live(
        session.created_at,
        session.last_seen_at,
        now,
        &app.session_rules,
    ) {
        return Ok(true);
    }
    sessions::end_one(&app.db, session.id, now).await?;
    Ok(false)
}

/// The account, if it may still act: active and within the inactivity limit. The same
/// rule serves sessions, refresh tokens and userinfo, so a disabled or expired account
/// stops everywhere at once.
pub async fn account_in_good_standing(
    app: &Protocol,
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Option<Account>, StoreError> {
    let Some(account) = accounts::find_by_id(db, account_id).await? else {
        return Ok(None);
    };
    Ok(is_in_good_standing(app, &account).then_some(account))
}

/// Who a token speaks for: a profile and the account that owns it.
#[derive(Debug, Clone)]
pub struct Person {
    /// The profile: its `sub` and claims.
    pub profile: Profile,
    /// The owning account: its standing and email.
    pub account: Account,
}

/// A profile and its account, if the account may still act
/// ([`account_in_good_standing`]'s rule), read in one statement.
pub async fn person_in_good_standing(
    app: &Protocol,
    db: &impl ConnectionTrait,
    key: ProfileKey<'_>,
) -> Result<Option<Person>, StoreError> {
    let person = profiles::find_with_account(db, key).await?;
    Ok(person.and_then(|(profile, account)| in_good_standing(app, profile, account)))
}

/// The person of a profile and its account already read, if the account may still act.
pub(crate) fn in_good_standing(
    app: &Protocol,
    profile: Profile,
    account: Account,
) -> Option<Person> {
    is_in_good_standing(app, &account).then_some(Person { profile, account })
}

fn is_in_good_standing(app: &Protocol, account: &Account) -> bool {
    account.status() == Status::Active
        && !is_inactive_expired(
            account.activity_at,
            app.clock.now(),
            app.inactivity_expiry_days,
        )
}

/// A `Set-Cookie` value that installs a session secret: `HttpOnly; SameSite=Lax`, and
/// `Secure` with the `__Host-` name unless the issuer is plain http.
pub fn set_cookie(secret: &str, secure: bool) -> HeaderValue {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={secret}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("careid_session=; Path=/"))
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("careid_session=; Path=/; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; careid_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&headers, COOKIE), Some("xyz"));
        assert_eq!(cookie_value(&headers, "careid"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_lax_and_secure_on_https() {
        let cookie = set_cookie("s", true);
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Lax")
                && cookie.contains("Secure")
        );
        assert!(cookie.starts_with("__Host-careid_session=s;") && cookie.contains("Path=/;"));
        assert!(!cookie.contains("Domain"));
        let plain = set_cookie("s", false);
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("careid_session=s;") && !plain.contains("Secure"));
    }
}
