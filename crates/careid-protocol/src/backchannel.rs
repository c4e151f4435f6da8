//! OIDC Back-Channel Logout 1.0: when a session ends, every client that received
//! tokens in it and registered a `backchannel_logout_uri` gets a signed logout token,
//! POSTed from careid to the client directly. Which session ended, and when, is
//! `logout`'s business.
//!
//! Delivery runs in a spawned task with a short timeout, so a slow or unreachable client
//! never holds up the person signing out; a failed delivery is logged and not retried.

use std::time::Duration;

use careid_policy::one_time;
use careid_store::sessions::SessionClient;
use serde_json::{Map, json};
use time::OffsetDateTime;

use crate::{Client, Protocol, ProtocolError};

/// The event a logout token announces (§2.4).
pub(crate) const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: long enough to cross the network, short enough
/// that a captured one is soon useless (§2.4 recommends at most two minutes).
const TOKEN_SECONDS: i64 = 120;

/// How long careid waits for one client's back-channel endpoint.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A logout token on its way to one client.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The client it is for, for the logs.
    pub client_id: String,
    /// The client's `backchannel_logout_uri`.
    pub uri: String,
    /// The signed logout token.
    pub token: String,
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

/// The deliveries for the clients of an ended session: one per client and subject,
/// for the clients that registered a back-channel URI. A client that cannot be looked
/// up or a token that cannot be signed is logged and skipped; the others still go.
pub(crate) async fn deliveries(
    app: &Protocol,
    sid: &str,
    participants: &[SessionClient],
    now: OffsetDateTime,
) -> Vec<Delivery> {
    let mut out = Vec::new();
    for participant in participants {
        let client = match app.find_client(&participant.client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => continue,
            Err(err) => {
                tracing::warn!(client = %participant.client_id, %err, "could not look up a client to log out");
                continue;
            }
        };
        let Some(uri) = &client.backchannel_logout_uri else {
            continue;
        };
        match logout_token(app, &client, sid, &participant.subject, now) {
            Ok(token) => out.push(Delivery {
                client_id: client.client_id.clone(),
                uri: uri.clone(),
                token,
            }),
            Err(err) => {
                tracing::warn!(client = %client.client_id, %err, "could not sign a logout token");
            }
        }
    }
    out
}

/// Sends the deliveries in the background, each with a timeout. Returns at once.
pub(crate) fn send(deliveries: Vec<Delivery>) {
    if deliveries.is_empty() {
        return;
    }
    // Logout happens inside a request, so a runtime is there; without one (a caller
    // outside tokio), say so rather than panic.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime to send back-channel logouts on");
        return;
    };
    runtime.spawn(async move {
        // §2.5: redirects are not followed; the client answers 200 (or 204) itself.
        let http = match reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(http) => http,
            Err(err) => {
                tracing::warn!(%err, "no HTTP client for back-channel logout");
                return;
            }
        };
        let sends = deliveries.into_iter().map(|delivery| {
            let http = http.clone();
            tokio::spawn(async move { deliver(&http, delivery).await })
        });
        for send in sends.collect::<Vec<_>>() {
            if let Err(err) = send.await {
                tracing::warn!(%err, "a back-channel logout task failed");
            }
        }
    });
}

async fn deliver(http: &reqwest::Client, delivery: Delivery) {
    let outcome = http
        .post(&delivery.uri)
        .header(reqwest::header::CACHE_CONTROL, "no-store")
        .form(&[("logout_token", delivery.token.as_str())])
        .send()
        .await;
    match outcome {
        Ok(response) if response.status().is_success() => {
            tracing::debug!(client = %delivery.client_id, "back-channel logout delivered");
        }
        Ok(response) => tracing::warn!(
            client = %delivery.client_id,
            status = %response.status(),
            "the client refused a back-channel logout"
        ),
        Err(err) => tracing::warn!(
            client = %delivery.client_id,
            %err,
            "could not deliver a back-channel logout"
        ),
    }
}
