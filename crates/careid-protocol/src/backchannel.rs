//! OIDC Back-Channel Logout 1.0: when a session ends, every client that received
//! tokens in it and registered a `backchannel_logout_uri` gets a signed logout token,
//! POSTed from careid to the client directly.
//!
//! Ending a session queues the deliveries as rows (`careid_store::logout_deliveries`,
//! written in the ending's own transaction); [`deliver_due`] sends them. The server runs
//! it on every instance; each row is claimed by one conditional UPDATE, so two instances
//! never send the same one, and an accepted delivery is never sent again. A failure is
//! retried with exponential backoff (measured on the `Clock`) for [`GIVE_UP_AFTER`],
//! then given up; every outcome is logged.

use careid_policy::one_time;
use careid_store::logout_deliveries::{self, LogoutDelivery};
use serde_json::{Map, json};
use time::OffsetDateTime;

use crate::{Client, Protocol, ProtocolError};

/// The event a logout token announces (§2.4).
pub(crate) const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: long enough to cross the network, short enough
/// that a captured one is soon useless (§2.4 recommends at most two minutes). Tokens are
/// signed at each attempt, so a retry carries a fresh one.
const TOKEN_SECONDS: i64 = 120;

/// How long a claimed delivery stays invisible to other instances. Longer than an
/// attempt can take, so a live sender always reports first; an instance that died
/// mid-send leaves the row due again after it.
const LEASE: time::Duration = time::Duration::minutes(1);

/// The first retry's delay; each further one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: time::Duration = time::Duration::seconds(30);

/// The longest delay between two attempts.
const MAX_BACKOFF: time::Duration = time::Duration::hours(1);

/// How long after the session ended careid keeps trying. A client down for a day has
/// a stale session view anyway; its own session checks must take over.
pub const GIVE_UP_AFTER: time::Duration = time::Duration::hours(24);

/// How many rows one pass looks at.
const BATCH: u64 = 50;

/// What one pass did, for the logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Accepted by the client (2xx).
    pub delivered: usize,
    /// Failed, to be tried again.
    pub retrying: usize,
    /// Failed for the last time, or nothing to send (no back-channel URI).
    pub given_up: usize,
}

/// The delay before the attempt after `attempts` failed ones: 30 s, 1 min, 2 min, …,
/// at most an hour.
fn backoff(attempts: i32) -> time::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let delay = FIRST_BACKOFF * 2_i32.pow(doublings);
    delay.min(MAX_BACKOFF)
}

/// One pass of the delivery job: claims the deliveries due now, sends each, and records
/// the outcome. Called by the server's job loop on every instance.
pub async fn deliver_due(app: &Protocol) -> Result<DeliveryCounts, ProtocolError> {
    let now = app.clock.now();
    let mut counts = DeliveryCounts::default();
    for candidate in logout_deliveries::find_due(&app.db, now, BATCH).await? {
        let Some(claimed) =
            logout_deliveries::take_due(&app.db, candidate.id, now, now + LEASE).await?
        else {
            continue; // Another instance has it.
        };
        match attempt(app, &claimed, now).await {
            Attempt::Delivered => {
                logout_deliveries::update_delivered(&app.db, claimed.id, app.clock.now()).await?;
                tracing::info!(client = %claimed.client_id, attempts = claimed.attempts, "back-channel logout delivered");
                counts.delivered += 1;
            }
            Attempt::NothingToSend => {
                logout_deliveries::update_gave_up(&app.db, claimed.id, now).await?;
                counts.given_up += 1;
            }
            Attempt::Failed(why) => {
                let next = now + backoff(claimed.attempts);
                if next - claimed.created_at > GIVE_UP_AFTER {
                    logout_deliveries::update_gave_up(&app.db, claimed.id, now).await?;
                    tracing::warn!(client = %claimed.client_id, attempts = claimed.attempts, %why, "back-channel logout given up");
                    counts.given_up += 1;
                } else {
                    logout_deliveries::update_retry(&app.db, claimed.id, next).await?;
                    tracing::warn!(client = %claimed.client_id, attempts = claimed.attempts, %why, "back-channel logout failed; will retry");
                    counts.retrying += 1;
                }
            }
        }
    }
    Ok(counts)
}

enum Attempt {
    Delivered,
    NothingToSend,
    Failed(String),
}

/// Signs a fresh logout token for the delivery and POSTs it through the outbound
/// policy (`egress`): https on port 443 to a public address unless the client's file
/// allows its private network; no redirects followed (§2.5: the client answers 200 or
/// 204 itself); a bounded wait. A refused address is a failure like any other and is
/// retried on the backoff: DNS may change, and a refusal costs no request.
async fn attempt(app: &Protocol, delivery: &LogoutDelivery, now: OffsetDateTime) -> Attempt {
    let client = match app.find_client(&delivery.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Attempt::NothingToSend,
        Err(err) => return Attempt::Failed(format!("client lookup: {err}")),
    };
    let Some(uri) = &client.backchannel_logout_uri else {
        return Attempt::NothingToSend;
    };
    let token = match logout_token(app, &client, &delivery.sid, &delivery.subject, now) {
        Ok(token) => token,
        Err(err) => return Attempt::Failed(format!("signing: {err}")),
    };
    let form = [("logout_token", token.as_str())];
    match app.egress.post_form(uri, client.reach(), &form).await {
        Ok(()) => Attempt::Delivered,
        Err(err) => Attempt::Failed(err.to_string()),
    }
}

/// A logout token (§2.4) for `client` about the session `sid` of `subject`: signed with
/// the client's ID-token algorithm, `typ: logout+jwt` (§2.4, RFC 8417 style), with the
/// `events` claim and never a `nonce`.
pub(crate) fn logout_token(
    app: &Protocol,
    client: &Client,
    sid: &str,
    subject: &str,
    now: OffsetDateTime,
) -> Result<String, ProtocolError> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(app.issuer));
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now.unix_timestamp()));
    claims.insert("exp".into(), json!(now.unix_timestamp() + TOKEN_SECONDS));
    claims.insert("jti".into(), json!(one_time::new_token()));
    claims.insert("sub".into(), json!(subject));
    claims.insert("sid".into(), json!(sid));
    claims.insert("events".into(), json!({ LOGOUT_EVENT: {} }));
    app.keys
        .sign(client.id_token_signed_response_alg, "logout+jwt", claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        let delays: Vec<i64> = (1..=9).map(|n| backoff(n).whole_seconds()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(i32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), FIRST_BACKOFF);
    }
}
