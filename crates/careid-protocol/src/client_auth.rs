//! Client authentication at the token endpoint (RFC 6749 §2.3): HTTP Basic, form post
//! or a signed JWT (`private_key_jwt`, checked in `client_assertion`), and only the
//! method the client registered.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use careid_store::{ClientId, audit};
use serde_json::json;

use crate::{AuthMethod, Bucket, Client, ClientAddress, Protocol, ProtocolError, client_assertion};

/// Identifies and authenticates the client of a token request. A failure is audited
/// with the client it claimed to be and the address it came from, so secret guessing
/// shows in the audit trail, and is charged to both: past either quota every attempt is
/// refused before any check, so a guesser cannot tell a right guess from a wrong one.
/// Successes are never charged, so a busy resource server introspecting is not limited.
pub async fn authenticate(
    app: &Protocol,
    address: &ClientAddress,
    headers: &HeaderMap,
    form: &super::form::Form,
) -> Result<Arc<Client>, ProtocolError> {
    let claimed = basic_credentials(headers)
        .ok()
        .flatten()
        .map(|(id, _)| id)
        .or_else(|| form.get("client_id").map(str::to_owned));
    let bucket = Bucket::ClientAuthFailure;
    app.rate_limits
        .refuse_if_over(bucket, address, claimed.as_deref())?;
    let outcome = identify(app, headers, form).await;
    if let Err(ProtocolError::InvalidClient { reason, .. }) = &outcome {
        let event = audit::NewEvent {
            kind: "client_auth_failed",
            client_id: claimed.clone().map(ClientId::new),
            ip: address.for_audit(),
            detail: json!({ "reason": reason }),
            ..Default::default()
        };
        // The refusal stands whether or not it could be recorded.
        if let Err(err) = audit::insert_event(&app.db, event, app.clock.now()).await {
            tracing::error!(%err, "client_auth_failed not audited");
        }
        app.rate_limit(bucket, address, claimed.as_deref()).await?;
    }
    outcome
}

async fn identify(
    app: &Protocol,
    headers: &HeaderMap,
    form: &super::form::Form,
) -> Result<Arc<Client>, ProtocolError> {
    let basic = basic_credentials(headers)?;
    let body_secret = form.get("client_secret");
    let assertion_type = form.get("client_assertion_type");
    let assertion = form.get("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        // RFC 6749 §2.3: a client uses exactly one authentication method per request.
        if basic.is_some() || body_secret.is_some() {
            return Err(ProtocolError::InvalidRequest(
                "use one client authentication method, not two",
            ));
        }
        let Some(assertion) = assertion else {
            return Err(ProtocolError::InvalidRequest(
                "client_assertion is required with client_assertion_type",
            ));
        };
        if assertion_type != Some(client_assertion::JWT_BEARER) {
            return Err(ProtocolError::InvalidRequest(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        return client_assertion::authenticate(app, form, assertion).await;
    }
    let (client_id, secret, method) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(ProtocolError::InvalidRequest(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
            if form.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(ProtocolError::InvalidRequest(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret), AuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id = form.get("client_id").ok_or(ProtocolError::InvalidClient {
                reason: "client_id is required",
                basic: false,
            })?;
            (
                id.to_owned(),
                Some(secret.to_owned()),
                AuthMethod::ClientSecretPost,
            )
        }
        (None, None) => {
            let id = form.get("client_id").ok_or(ProtocolError::InvalidClient {
                reason: "client authentication is required",
                basic: true,
            })?;
            (id.to_owned(), None, AuthMethod::None)
        }
    };
    let is_basic = method == AuthMethod::ClientSecretBasic;
    let fail = |reason| ProtocolError::InvalidClient {
        reason,
        basic: is_basic,
    };
    let client_id = ClientId::new(client_id);
    let client = app
        .find_client(&client_id)
        .await?
        .ok_or(fail("unknown client or wrong credentials"))?;
    if client.token_endpoint_auth_method != method {
        return Err(fail(
            "this client must authenticate with its registered method",
        ));
    }
    match (&client.secret, secret) {
        (Some(expected), Some(presented)) if expected.matches(&presented) => Ok(client),
        (None, None) => Ok(client),
        _ => Err(fail("unknown client or wrong credentials")),
    }
}

/// The id and secret of an `Authorization: Basic` header, form-decoded (RFC 6749
/// §2.3.1). `None` when there is no Basic header.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, ProtocolError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ProtocolError::InvalidClient {
        reason: "malformed Basic credentials",
        basic: true,
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let Some((id, secret)) = decoded.split_once(':') else {
        return Err(malformed());
    };
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// Decodes one `application/x-www-form-urlencoded` value.
fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20app:p%40ss+word");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers).unwrap(),
            Some(("my app".into(), "p@ss word".into()))
        );
    }

    #[test]
    fn a_bearer_header_is_not_client_authentication() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_credentials(&headers).unwrap(), None);
    }
}
