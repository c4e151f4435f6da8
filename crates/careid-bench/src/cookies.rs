//! A cookie jar small enough for one host: what `Set-Cookie` sets, `Cookie` sends back.
//! The bench keeps cookies itself, rather than in reqwest's per-client store, so that a
//! worker can start a fresh browser (an empty jar) on every iteration of `code_flow`
//! while keeping its pooled connection.

/// Cookies by name, for one origin. Paths, domains and `Secure` are ignored: the bench
/// talks to one careid, whose cookies all have path `/`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// Applies one `Set-Cookie` header value: sets the cookie, or removes it when the
    /// server expires it (`Max-Age=0`, or an empty value as sign-out pages send).
    pub(crate) fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return;
        }
        let expired = parts.any(|attr| {
            attr.split_once('=').is_some_and(|(key, val)| {
                key.trim().eq_ignore_ascii_case("max-age") && val.trim().starts_with(['0', '-'])
            })
        });
        self.cookies.retain(|(n, _)| n != name);
        if !expired && !value.is_empty() {
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The `Cookie` header to send, if any cookie is held.
    pub(crate) fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_cookie_is_sent_back_without_its_attributes() {
        let mut jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        jar.store("careid_session=abc; Path=/; HttpOnly; SameSite=Lax");
        jar.store("careid_csrf=x=y; Path=/");
        assert_eq!(
            jar.header().as_deref(),
            Some("careid_session=abc; careid_csrf=x=y")
        );
    }

    #[test]
    fn a_cookie_set_again_replaces_the_old_value() {
        let mut jar = CookieJar::default();
        jar.store("s=1; Path=/");
        jar.store("s=2; Path=/");
        assert_eq!(jar.header().as_deref(), Some("s=2"));
    }

    #[test]
    fn a_cookie_expired_by_the_server_is_dropped() {
        let mut jar = CookieJar::default();
        jar.store("s=1; Path=/");
        jar.store("t=1; Path=/");
        jar.store("s=gone; Path=/; Max-Age=0");
        jar.store("t=; Path=/");
        assert_eq!(jar.header(), None);
    }

    #[test]
    fn a_header_without_a_name_is_ignored() {
        let mut jar = CookieJar::default();
        jar.store("novalue");
        jar.store("=1; Path=/");
        assert_eq!(jar.header(), None);
    }
}
