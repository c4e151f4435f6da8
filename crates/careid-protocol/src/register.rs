//! Dynamic Client Registration (RFC 7591) at `POST /register`, and its management
//! protocol (RFC 7592) at `GET/PUT/DELETE /register/{client_id}` with the registration
//! access token handed out at registration.
//!
//! Registered clients are third-party: they always get the consent page. Only SHA-256
//! digests of their secrets and registration access tokens are stored.

mod imitation;

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use careid_policy::one_time;
use careid_store::{ClientId, audit, clients, registration_tokens};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::client_metadata::Metadata;

use crate::{Protocol, ProtocolError, config::RegistrationMode};

/// `POST /register`.
pub async fn create(
    State(app): State<Arc<Protocol>>,
    address: crate::ClientAddress,
    headers: HeaderMap,
    crate::params::Body(body): crate::params::Body,
) -> Result<Response, ProtocolError> {
    app.rate_limit(crate::Bucket::Registration, &address, None)
        .await?;
    match app.registration.mode {
        RegistrationMode::Off => return Err(ProtocolError::RegistrationOff),
        RegistrationMode::Open => {}
        RegistrationMode::Token => check_initial_access_token(&app, &headers).await?,
    }
    let metadata = parse(&headers, &body)?.validated()?;
    check_name(&app, &metadata)?;
    let client_id = ClientId::new(one_time::new_token());
    let secret = metadata.is_confidential().then(one_time::new_token);
    let secret_digest = secret.as_deref().map(one_time::digest);
    let access_token = one_time::new_token();
    let now = app.clock.now();
    let stored =
        serde_json::to_value(&metadata).map_err(|err| ProtocolError::Internal(err.to_string()))?;
    // The client and its audit event are written together: a crash leaves both or neither.
    let txn = app.db.begin().await?;
    clients::insert_client(
        &txn,
        &client_id,
        &stored,
        secret_digest,
        Some(one_time::digest(&access_token)),
        now,
    )
    .await?;
    record(&app, &txn, "client_registered", &client_id, &metadata).await?;
    txn.commit().await?;

    let mut body = response_body(&app, &client_id, &stored, now.unix_timestamp());
    body["registration_access_token"] = json!(access_token);
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    Ok(no_store(StatusCode::CREATED, body))
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    Path(client_id): Path<ClientId>,
) -> Result<Response, ProtocolError> {
    let stored = authorized(&app, &headers, &client_id).await?;
    let metadata: Value = serde_json::from_str(&stored.metadata)
        .map_err(|err| ProtocolError::Internal(err.to_string()))?;
    let body = response_body(
        &app,
        &client_id,
        &metadata,
        stored.created_at.unix_timestamp(),
    );
    Ok(no_store(StatusCode::OK, body))
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the request replaces every metadata
/// value. A client that becomes confidential gets a secret; one that stays keeps it.
pub async fn update(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    Path(client_id): Path<ClientId>,
    crate::params::Body(body): crate::params::Body,
) -> Result<Response, ProtocolError> {
    let stored = authorized(&app, &headers, &client_id).await?;
    let raw: Value = serde_json::from_slice(&body)
        .map_err(|_| client_metadata_error("the body must be a JSON object"))?;
    if raw.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
        return Err(ProtocolError::InvalidRequest(
            "client_id in the body must name this client",
        ));
    }
    if let Some(presented) = raw.get("client_secret").and_then(Value::as_str) {
        let matches = stored
            .secret_digest
            .as_deref()
            .is_some_and(|digest| one_time::digests_match(digest, &one_time::digest(presented)));
        if !matches {
            return Err(ProtocolError::InvalidRequest(
                "client_secret does not match this client's secret",
            ));
        }
    }
    let metadata = parse(&headers, &body)?.validated()?;
    check_name(&app, &metadata)?;
    let mut new_secret = None;
    let secret_digest = match (&stored.secret_digest, metadata.is_confidential()) {
        (_, false) => None,
        (Some(digest), true) => Some(digest.clone()),
        (None, true) => {
            let secret = one_time::new_token();
            let digest = one_time::digest(&secret);
            new_secret = Some(secret);
            Some(digest)
        }
    };
    let now = app.clock.now();
    let value =
        serde_json::to_value(&metadata).map_err(|err| ProtocolError::Internal(err.to_string()))?;
    let txn = app.db.begin().await?;
    clients::update_client(&txn, &client_id, &value, secret_digest, now).await?;
    record(&app, &txn, "client_updated", &client_id, &metadata).await?;
    txn.commit().await?;
    let mut body = response_body(&app, &client_id, &value, stored.created_at.unix_timestamp());
    if let Some(secret) = new_secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    Ok(no_store(StatusCode::OK, body))
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3).
pub async fn delete(
    State(app): State<Arc<Protocol>>,
    headers: HeaderMap,
    Path(client_id): Path<ClientId>,
) -> Result<Response, ProtocolError> {
    authorized(&app, &headers, &client_id).await?;
    let txn = app.db.begin().await?;
    clients::delete_client(&txn, &client_id).await?;
    audit::insert_event(
        &txn,
        audit::NewEvent {
            kind: "client_deleted",
            client_id: Some(client_id),
            ..Default::default()
        },
        app.clock.now(),
    )
    .await?;
    txn.commit().await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "no-store")],
    )
        .into_response())
}

/// Refuses a `client_name` that imitates careid's or a client file's name: people
/// trust the practice's own applications, and a registered app must not borrow that.
fn check_name(app: &Protocol, metadata: &Metadata) -> Result<(), ProtocolError> {
    let Some(name) = &metadata.client_name else {
        return Ok(());
    };
    let files = app.clients.snapshot();
    let protected = files
        .values()
        .map(|client| client.name.as_str())
        .chain(["careid"]);
    for own in protected {
        if imitation::imitates(name, own) {
            return Err(ProtocolError::InvalidClientMetadata(format!(
                "client_name: '{own}' is the name of one of this practice's applications; choose a name of your own"
            )));
        }
    }
    Ok(())
}

fn client_metadata_error(why: &str) -> ProtocolError {
    ProtocolError::InvalidClientMetadata(why.to_owned())
}

/// Reads a JSON registration request.
pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Metadata, ProtocolError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ProtocolError::InvalidRequest(
            "the registration request must be application/json",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| client_metadata_error("the body is not valid JSON"))?;
    if !value.is_object() {
        return Err(client_metadata_error("the body must be a JSON object"));
    }
    serde_json::from_value(value)
        .map_err(|err| ProtocolError::InvalidClientMetadata(format!("malformed metadata: {err}")))
}

/// The `Bearer` token of the request, if any: a malformed header counts as none.
fn bearer(headers: &HeaderMap) -> Option<String> {
    crate::access_token::bearer(headers).ok().flatten()
}

/// Mode `token`: the request must carry an initial access token (RFC 7591 §3) whose
/// digest is configured or was made by `careid registration token issue`, unexpired and
/// not revoked. A refusal is audited, so token guessing shows in the audit trail.
async fn check_initial_access_token(
    app: &Protocol,
    headers: &HeaderMap,
) -> Result<(), ProtocolError> {
    let token = bearer(headers).ok_or(ProtocolError::InvalidToken(
        "an initial access token is required to register a client",
    ))?;
    let digest = one_time::digest(&token);
    let configured = app
        .registration
        .token_digests()
        .map_err(ProtocolError::Internal)?;
    let mut is_configured = false;
    for expected in &configured {
        is_configured |= bool::from(expected.as_bytes().ct_eq(digest.as_bytes()));
    }
    let now = app.clock.now();
    if is_configured || registration_tokens::is_usable(&app.db, &digest, now).await? {
        return Ok(());
    }
    refused(app, "initial_access_token_refused", None).await;
    Err(ProtocolError::InvalidToken(
        "the initial access token is not valid, expired or revoked",
    ))
}

/// The stored client, if the request carries its registration access token. An unknown
/// client and a wrong token answer alike (RFC 7592 §2: 401, no hint which); a wrong
/// token is audited with the client it named.
async fn authorized(
    app: &Protocol,
    headers: &HeaderMap,
    client_id: &ClientId,
) -> Result<clients::StoredClient, ProtocolError> {
    let refusal = ProtocolError::InvalidToken("the registration access token is not valid");
    let Some(token) = bearer(headers) else {
        refused(app, "registration_access_token_refused", Some(client_id)).await;
        return Err(ProtocolError::InvalidToken(
            "the registration access token is required",
        ));
    };
    let stored = clients::find_by_id(&app.db, client_id).await?;
    let presented = one_time::digest(&token);
    match stored {
        Some(stored)
            if stored
                .registration_token_digest
                .as_deref()
                .is_some_and(|expected| one_time::digests_match(expected, &presented)) =>
        {
            Ok(stored)
        }
        _ => {
            refused(app, "registration_access_token_refused", Some(client_id)).await;
            Err(refusal)
        }
    }
}

/// Audits a refused registration or management request. The refusal stands whether
/// or not it could be recorded.
async fn refused(app: &Protocol, kind: &'static str, client_id: Option<&ClientId>) {
    let event = audit::NewEvent {
        kind,
        client_id: client_id.cloned(),
        ..Default::default()
    };
    if let Err(err) = audit::insert_event(&app.db, event, app.clock.now()).await {
        tracing::error!(%err, kind, "refused registration request not audited");
    }
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3).
fn response_body(app: &Protocol, client_id: &ClientId, metadata: &Value, issued_at: i64) -> Value {
    let mut body = metadata.clone();
    body["client_id"] = json!(client_id);
    body["client_id_issued_at"] = json!(issued_at);
    body["registration_client_uri"] = json!(app.url(&format!("/register/{client_id}")));
    body
}

fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Records a registration or update in the audit trail: the names, never a secret.
async fn record(
    app: &Protocol,
    db: &impl careid_store::ConnectionTrait,
    kind: &'static str,
    client_id: &ClientId,
    metadata: &Metadata,
) -> Result<(), ProtocolError> {
    audit::insert_event(
        db,
        audit::NewEvent {
            kind,
            client_id: Some(client_id.to_owned()),
            detail: json!({
                "client_name": metadata.client_name,
                "redirect_uris": metadata.redirect_uris,
                "token_endpoint_auth_method": metadata.token_endpoint_auth_method,
            }),
            ..Default::default()
        },
        app.clock.now(),
    )
    .await?;
    Ok(())
}
