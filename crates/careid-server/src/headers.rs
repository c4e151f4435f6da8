//! Security headers on every response (DESIGN.md, Security shape).

use axum::{
    Router,
    http::{HeaderName, HeaderValue, header},
};
use tower_http::set_header::SetResponseHeaderLayer;

/// Content-Security-Policy of careid's pages: its own scripts and styles only, never
/// framed (clickjacking on the sign-in form).
const CSP: &str = "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; \
                   frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// RFC 6797: browsers that once reached careid over https use nothing else for a year.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the headers to every response that does not set them itself; with an https
/// issuer, `Strict-Transport-Security` too (DESIGN.md, Security shape). It is left out for
/// an http issuer, where browsers ignore it anyway and a development setup must not
/// teach a browser to refuse plain http on that host.
pub fn secure(router: Router, is_https: bool) -> Router {
    let mut headers: Vec<(HeaderName, &'static str)> = vec![
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    if is_https {
        headers.push((header::STRICT_TRANSPORT_SECURITY, HSTS));
    }
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}
