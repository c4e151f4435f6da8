//! What every page response shares: `Cache-Control: no-store` (a sign-in page or a
//! profile list must never be served from a cache), 303 redirects, and where a finished
//! page sends the browser. Security headers (CSP, frame denial) are added for the whole
//! server by `careid-server`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use url::form_urlencoded;

/// A page with this status, `no-store`, and the cookies to set.
pub(crate) fn respond(
    status: StatusCode,
    html: Html<String>,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// A 303 to a path on careid, with the cookies to set. 303 so that a POSTed form is
/// never sent again (RFC 9110 §15.4.4).
pub(crate) fn see_other(
    location: &str,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(value) => headers.insert(header::LOCATION, value),
        Err(_) => headers.insert(header::LOCATION, HeaderValue::from_static("/account")),
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// `path?request=<id>`, the id form-encoded, or `path` alone without a request.
pub(crate) fn with_request(path: &str, request: Option<&str>) -> String {
    match request {
        Some(id) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("request", id)
                .finish();
            format!("{path}?{query}")
        }
        None => path.to_owned(),
    }
}

/// Where the browser goes once a page is done: back to the protocol to finish the
/// authorization request, or to the account page for a person who came to careid directly.
pub(crate) fn next_step(request: Option<&str>) -> String {
    match request {
        Some(_) => with_request("/authorize/continue", request),
        None => "/account".to_owned(),
    }
}

/// The query of a page's `GET` that may be part of an authorization request
/// (`?request=…`), as most pages are.
#[derive(serde::Deserialize)]
pub(crate) struct RequestQuery {
    pub(crate) request: Option<String>,
}

/// A form or query `request` field: an empty one counts as absent.
pub(crate) fn request_id(raw: Option<&str>) -> Option<&str> {
    raw.filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_page_goes_back_to_the_protocol_with_its_request() {
        assert_eq!(
            next_step(Some("a b&c")),
            "/authorize/continue?request=a+b%26c"
        );
        assert_eq!(next_step(None), "/account");
    }

    #[test]
    fn an_empty_request_field_counts_as_absent() {
        assert_eq!(request_id(Some("")), None);
        assert_eq!(request_id(Some("x")), Some("x"));
    }

    #[test]
    fn pages_are_never_cached() {
        let response = respond(StatusCode::OK, Html(String::new()), None);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }
}
