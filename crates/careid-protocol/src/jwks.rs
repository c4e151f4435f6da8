//! The JSON Web Key Set (RFC 7517 §5): the public half of every key in force.

use std::sync::Arc;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use crate::Protocol;

/// `GET /jwks`.
pub async fn show(State(app): State<Arc<Protocol>>) -> Response {
    let body = app.keys.jwks();
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body.as_ref().clone(),
    )
        .into_response()
}
