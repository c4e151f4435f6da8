//! Sending the browser away from careid to a client's address (a redirect URI with a
//! code or an error, a post-logout redirect URI).
//!
//! RFC 9700 §4.11.2: an authorization server should redirect on its own only to
//! addresses it trusts. The operator vouches for the clients of `config/clients/`, so
//! their addresses get a 303 at once. A client registered over HTTP (RFC 7591) is anyone's,
//! and redirecting to it without a person's say would make careid an open redirector
//! for whoever registered it: its addresses get a 303 only after the person acted on a
//! careid page in the same request (signed in, consented, confirmed the sign-out);
//! otherwise careid shows a page naming where the link goes ([`ErrorPage::leaving`]).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{Client, Protocol};

/// What the page shown instead of a redirect says.
#[derive(Debug, Clone, Copy)]
pub struct Leaving<'a> {
    /// The theme of the client's pages.
    pub theme: &'a str,
    /// The client's name.
    pub client_name: &'a str,
    /// Scheme, host and port of the destination, as the page names it.
    pub origin: &'a str,
    /// The whole destination, as the page links to it.
    pub url: &'a str,
}

/// Whether the person did something on a careid page in this request, which makes a
/// redirect to a third-party client's address theirs rather than the link's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonActed {
    /// They did (signed in, consented, confirmed signing out).
    Yes,
    /// The browser came by a link alone.
    No,
}

/// Sends the browser to `url`, an address registered for `client`: a 303 when careid
/// may redirect on its own, else the page that names the destination. `cookie` (a
/// `Set-Cookie` value) goes with either.
pub(crate) fn to_client(
    app: &Protocol,
    client: &Client,
    url: &str,
    acted: PersonActed,
    cookie: Option<HeaderValue>,
) -> Response {
    let mut response = if client.dynamically_registered && acted == PersonActed::No {
        let origin = url::Url::parse(url)
            .map(|parsed| parsed.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_owned());
        app.error_page.leaving(Leaving {
            theme: &client.theme,
            client_name: &client.name,
            origin: &origin,
            url,
        })
    } else {
        see_other(url)
    };
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A 303 (a POSTed form is never sent again, RFC 9700 §4.12), `no-store`.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
