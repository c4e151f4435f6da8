//! Which kind of token a client presents to `/introspect` or `/revoke`, and in what
//! order to look for it.

/// The two kinds of token careid issues to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An RFC 9068 JWT access token.
    Access,
    /// An opaque refresh token.
    Refresh,
}

/// The kinds to try, in order. RFC 7662 §2.1 and RFC 7009 §2.1: `token_type_hint` is
/// only a hint; the other kind is tried next, and a value careid does not know is
/// ignored.
pub(crate) fn lookup_order(hint: Option<&str>) -> [TokenKind; 2] {
    match hint {
        Some("refresh_token") => [TokenKind::Refresh, TokenKind::Access],
        _ => [TokenKind::Access, TokenKind::Refresh],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_goes_first_and_an_unknown_hint_is_ignored() {
        use TokenKind::{Access, Refresh};
        assert_eq!(lookup_order(Some("refresh_token")), [Refresh, Access]);
        assert_eq!(lookup_order(Some("access_token")), [Access, Refresh]);
        assert_eq!(lookup_order(Some("id_token")), [Access, Refresh]);
        assert_eq!(lookup_order(None), [Access, Refresh]);
    }
}
