//! `GET /static/{theme}/{*path}`: a theme's stylesheets, images and fonts, each falling
//! back to the default theme's file of the same path. Path safety and the fallback are
//! [`crate::Themes::read_static`]'s; this module adds the content type and caching.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{Ui, UiError};

/// Static files change only with a deployment; an hour keeps pages fast without
/// stranding browsers on an old stylesheet for long.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// `GET /static/{theme}/{*path}`.
pub(crate) async fn serve(
    State(ui): State<Arc<Ui>>,
    Path((theme, path)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let bytes = ui
        .themes
        .read_static(&theme, &path)
        .await?
        .ok_or(UiError::NotFound)?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&path)),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    Ok((StatusCode::OK, headers, bytes).into_response())
}

/// The media type of a static file, by extension.
fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_files_get_their_media_type() {
        assert_eq!(content_type("careid.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("img/Logo.SVG"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}

#[cfg(test)]
mod router_tests {
    use axum::http::header;

    use crate::testing::{Fixture, text};

    #[tokio::test]
    async fn a_brand_stylesheet_overrides_and_the_rest_falls_back() {
        let fx = Fixture::new().await;
        let response = fx.get("/static/crm/careid.css", "").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=3600"
        );
        assert!(text(response).await.contains("--brand"));
        let brand = text(fx.get("/static/crm/brand.css", "").await).await;
        assert!(brand.contains("CarePortals CRM"));
    }

    #[tokio::test]
    async fn a_path_out_of_the_static_folder_is_not_found() {
        let fx = Fixture::new().await;
        for uri in [
            "/static/crm/..%2Ftemplates%2Fbrand.html",
            "/static/crm/%2E%2E/%2E%2E/default/templates/base.html",
            "/static/..%2F..%2FCargo.toml/x",
        ] {
            let response = fx.get(uri, "").await;
            assert_eq!(response.status(), 404, "{uri}");
            assert!(text(response).await.contains("Page not found"));
        }
    }
}
