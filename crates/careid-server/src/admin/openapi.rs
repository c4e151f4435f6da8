//! The OpenAPI 3.1 document of the admin API. Paths and schemas come from the handlers'
//! `#[utoipa::path]` attributes as `mod.rs` registers them; this module adds what is
//! global (title, security scheme, scopes) and serves the result as prebuilt bytes.

use std::sync::Arc;

use axum::{
    Extension,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme},
};

/// The document's global parts.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "careid admin API",
        description = "Manage careid accounts from a portal. Authenticate with an access token \
                       from the client_credentials grant; errors are RFC 9457 problem details \
                       (docs/admin-api.md).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security),
    components(schemas(super::problem::Problem)),
)]
struct Base;

/// The document before the routes are added.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes = Scopes::from_iter([
            (
                super::ACCOUNTS_READ,
                "Read accounts, their profiles and sessions",
            ),
            (
                super::ACCOUNTS_WRITE,
                "Create, change and delete accounts, profiles and sessions",
            ),
            (super::PINS, "Issue and void sign-in PINs"),
            (super::AUDIT_READ, "Read an account's audit trail"),
        ]);
        let flow = Flow::ClientCredentials(ClientCredentials::new("/token", scopes));
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [flow],
                "An access token from careid's /token endpoint by client_credentials",
            )),
        );
    }
}

/// The serialised document, built once with the router.
#[derive(Clone)]
pub struct Document(Arc<Vec<u8>>);

impl Document {
    /// Serialises `doc`.
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Self {
        Self(Arc::new(serde_json::to_vec(doc).unwrap_or_default()))
    }
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn show(Extension(doc): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_ref().clone(),
    )
        .into_response()
}
