//! The request of an authenticated client at `/token`, `/introspect` and `/revoke`: the
//! form body read by RFC 6749 §3.2's rules, then the client authenticated by
//! `client_auth` (RFC 6749 §2.3, RFC 7662 §2.1, RFC 7009 §2.1). One extractor, so the
//! three endpoints read and authenticate the same way and in the same order.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};

use crate::{
    Client, ClientAddress, Protocol, ProtocolError, client_auth, form::Form, params::Body,
};

/// A client's POST whose sender has authenticated.
pub(crate) struct ClientRequest {
    /// The authenticated client.
    pub client: Arc<Client>,
    /// The form it posted.
    pub form: Form,
}

impl FromRequest<Arc<Protocol>> for ClientRequest {
    type Rejection = ProtocolError;

    async fn from_request(req: Request, app: &Arc<Protocol>) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let (mut parts, body) = req.into_parts();
        let Ok(address) = ClientAddress::from_request_parts(&mut parts, app).await;
        let req = Request::from_parts(parts, body);
        let Body(body) = Body::from_request(req, app).await?;
        let form = Form::read(&headers, &body)?;
        let client = client_auth::authenticate(app, &address, &headers, &form).await?;
        Ok(Self { client, form })
    }
}
