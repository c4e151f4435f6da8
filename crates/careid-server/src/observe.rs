//! What every request leaves behind: a request id (the caller's `X-Request-Id` when it
//! is short and plain, else a new one), echoed in the response and carried by every log
//! line the request writes; one access log line (method, matched route, status,
//! duration: never the raw path or query, which may hold a code or a token); and the
//! request metrics by route and status.

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method},
    middleware::{self, Next},
    response::Response,
};
use metrics::SharedString;
use rand::Rng;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

/// The header a proxy or client may set, and careid answers with.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a caller: enough for a UUID or a trace id, too
/// short to flood the logs.
const MAX_ID_LEN: usize = 64;

/// The route label of a request no route matched (404s): never the raw path, which a
/// scanner could fill the metrics with.
const UNMATCHED: &str = "unmatched";

/// Wraps `router` (all of its routes) in the request id, the span, the access log line
/// and the request metrics.
pub fn layer(router: Router) -> Router {
    router
        .layer(middleware::from_fn(observe))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, RandomId))
        .layer(middleware::from_fn(drop_malformed_id))
}

/// Makes a request id: a random (version 4) UUID from the thread's own generator.
/// `uuid`'s `new_v4`, which tower-http's `MakeRequestUuid` calls, asks the kernel for
/// every one (a `getrandom` system call per request); a request id needs to be unique,
/// not secret.
#[derive(Clone, Copy)]
struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let uuid = uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid();
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// Whether a caller's request id may be logged as it is: letters, digits and `-_.:`,
/// at most [`MAX_ID_LEN`] of them.
fn is_well_formed(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Removes a request id that is not [`is_well_formed`], so a new one is made: a log line
/// must not carry what a caller chose to inject into it.
async fn drop_malformed_id(mut req: Request, next: Next) -> Response {
    if req
        .headers()
        .get(&X_REQUEST_ID)
        .is_some_and(|value| !is_well_formed(value))
    {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    next.run(req).await
}

/// The `method` label of a request: one of HTTP's own methods, or `OTHER`. A client may
/// send any token as a method, and each would otherwise become a series of its own.
fn method_label(method: &Method) -> &'static str {
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("OTHER", Method::as_str)
}

async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    // One shared string for the route's span field and both metrics.
    let route: SharedString = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(SharedString::const_str(UNMATCHED), |matched| {
            SharedString::from(Arc::<str>::from(matched.as_str()))
        });
    let method = method_label(req.method());
    let id = req.extensions().get::<RequestId>().cloned();
    let id = id
        .as_ref()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id, %method, route = %&*route);
    let response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        let status = status.as_u16();
        // Probes come every few seconds: their lines would bury the others.
        if &*route == "/healthz" || &*route == "/readyz" {
            tracing::debug!(target: "careid::access", status, duration_ms, "request served");
        } else {
            tracing::info!(target: "careid::access", status, duration_ms, "request served");
        }
    });
    metrics::counter!(
        "careid_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    metrics::histogram!(
        "careid_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_short_request_id_is_kept_and_anything_else_replaced() {
        let id = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(is_well_formed(&id("0f8fad5b-d9cb-469f-a165-70867728950e")));
        assert!(is_well_formed(&id(&"a".repeat(MAX_ID_LEN))));
        assert!(!is_well_formed(&id(&"a".repeat(MAX_ID_LEN + 1))));
        assert!(!is_well_formed(&id("")));
        assert!(!is_well_formed(&id("x\" injected=\"1")));
    }

    #[test]
    fn a_made_request_id_is_a_fresh_version_4_uuid_that_passes_our_own_check() {
        let req = axum::http::Request::new(());
        let mut make = RandomId;
        let first = make.make_request_id(&req).unwrap();
        let second = make.make_request_id(&req).unwrap();
        let text = first.header_value().to_str().unwrap();
        let uuid = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(text, uuid.hyphenated().to_string());
        assert!(is_well_formed(first.header_value()));
        assert_ne!(first.header_value(), second.header_value());
    }

    #[test]
    fn only_http_methods_name_their_own_series() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        let brew = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&brew), "OTHER");
    }
}
