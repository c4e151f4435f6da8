//! Form-encoded parameters as careid reads them at /authorize, /token, /introspect,
//! /revoke and /end_session, and the request body they come in. What each parameter
//! means is the endpoint's; this module only bounds the work a stranger can cause.
//!
//! RFC 6749 §3.1 and §3.2: a parameter must not appear more than once. Repeats are found
//! with a set in one pass, and reading stops after [`MAX_PARAMETERS`]: a 64 KiB body of
//! distinct names once cost a quadratic scan (0.17 s of CPU) before any check ran.

use std::collections::HashSet;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
};

use crate::ProtocolError;

/// More parameters than any OAuth or OIDC request needs (an /authorize request with
/// every OIDC parameter has about twenty), so more is refused unread.
pub(crate) const MAX_PARAMETERS: usize = 64;

/// A form body, parsed in one pass.
pub(crate) struct Parsed {
    /// The first [`MAX_PARAMETERS`] pairs, in order.
    pub pairs: Vec<(String, String)>,
    /// Names that appeared more than once among them.
    pub repeated: HashSet<String>,
    /// Whether there were more than [`MAX_PARAMETERS`] (the rest were not read).
    pub is_too_many: bool,
}

/// Parses `raw` as `application/x-www-form-urlencoded`, reading at most
/// [`MAX_PARAMETERS`] pairs.
pub(crate) fn parse(raw: &[u8]) -> Parsed {
    let mut pairs = Vec::new();
    let mut seen = HashSet::new();
    let mut repeated = HashSet::new();
    let mut is_too_many = false;
    for (name, value) in url::form_urlencoded::parse(raw) {
        if pairs.len() == MAX_PARAMETERS {
            is_too_many = true;
            break;
        }
        if !seen.insert(name.clone()) {
            repeated.insert(name.clone().into_owned());
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Parsed {
        pairs,
        repeated,
        is_too_many,
    }
}

/// The raw body of a client's POST. Past the body limit set in `careid-server` (or when
/// the body cannot be read) the answer is `invalid_request`, as for any malformed
/// request, not a bare 413.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ProtocolError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|_| {
                ProtocolError::InvalidRequest("the request body is too large or could not be read")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_parameters(count: usize) -> String {
        (0..count)
            .map(|i| format!("p{i}=v"))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn exactly_the_maximum_number_of_parameters_is_read() {
        let parsed = parse(with_parameters(MAX_PARAMETERS).as_bytes());
        assert!(!parsed.is_too_many);
        assert_eq!(parsed.pairs.len(), MAX_PARAMETERS);
    }

    #[test]
    fn one_parameter_past_the_maximum_is_too_many() {
        let parsed = parse(with_parameters(MAX_PARAMETERS + 1).as_bytes());
        assert!(parsed.is_too_many);
        assert_eq!(parsed.pairs.len(), MAX_PARAMETERS);
    }

    #[test]
    fn every_repeated_name_is_noticed_once() {
        let parsed = parse(b"a=1&b=2&a=3&c=&b=4&a=5");
        let mut repeated: Vec<_> = parsed.repeated.into_iter().collect();
        repeated.sort();
        assert_eq!(repeated, ["a", "b"]);
        assert_eq!(parsed.pairs.len(), 6);
    }
}
