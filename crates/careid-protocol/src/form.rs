//! A client's form body by RFC 6749 §3.2's rules (no repeated parameters, empty means
//! absent), shared by every endpoint a client or a browser posts a form to.

use axum::http::{HeaderMap, header};

use crate::{ProtocolError, params};

/// A form body with RFC 6749 §3.2's rules: no repeated parameters, empty means absent.
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses the body; a repeated parameter, or more than
    /// [`params::MAX_PARAMETERS`], is `invalid_request`.
    pub fn parse(raw: &[u8]) -> Result<Self, ProtocolError> {
        let parsed = params::parse(raw);
        if parsed.is_too_many {
            return Err(ProtocolError::InvalidRequest(
                "the request has too many parameters",
            ));
        }
        if !parsed.repeated.is_empty() {
            return Err(ProtocolError::InvalidRequest("a parameter was repeated"));
        }
        Ok(Self {
            pairs: parsed.pairs,
        })
    }

    /// The body of a client's POST: it must be a form (RFC 6749 §3.2, RFC 7662 §2.1,
    /// RFC 7009 §2.1), with no parameter repeated.
    pub fn read(headers: &HeaderMap, body: &[u8]) -> Result<Self, ProtocolError> {
        if !is_form(headers) {
            return Err(ProtocolError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    /// The parameter's value, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The parameter's value, or `invalid_request` naming it.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, ProtocolError> {
        self.get(name).ok_or(ProtocolError::InvalidRequest(missing))
    }
}

/// Whether the request body is a form, as RFC 6749 §3.2 requires.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_form_parameter_is_refused() {
        assert!(Form::parse(b"grant_type=a&grant_type=b").is_err());
        let form = Form::parse(b"grant_type=a&scope=").unwrap();
        assert_eq!(form.get("grant_type"), Some("a"));
        assert_eq!(form.get("scope"), None);
    }
}
