//! The client-credentials grant (RFC 6749 §4.4): a confidential client acting for
//! itself. No person, so no ID token and no refresh token.

use crate::{Client, Protocol, ProtocolError, client::is_admin_scope, form::Form, scope, tokens};

/// Issues an access token to the client itself.
pub fn issue(
    app: &Protocol,
    client: &Client,
    form: &Form,
) -> Result<tokens::TokenResponse, ProtocolError> {
    if client.is_public() {
        return Err(ProtocolError::UnauthorizedClient(
            "public clients cannot use client_credentials",
        ));
    }
    // OpenID scopes describe a person; a client acting for itself gets none of them.
    // Admin scopes come from `admin_scopes` only, never from `scopes` (which a
    // registered client chooses itself).
    let granted: Vec<String> = scope::split(form.get("scope").unwrap_or_default())
        .into_iter()
        .filter(|s| {
            if is_admin_scope(s) {
                client.admin_scopes.contains(s)
            } else {
                client.scopes.contains(s) && !scope::SUPPORTED.contains(&s.as_str())
            }
        })
        .collect();
    if form.get("scope").is_some() && granted.is_empty() {
        return Err(ProtocolError::InvalidScope(
            "none of the requested scopes can be granted to a client",
        ));
    }
    tokens::for_client(app, client, &granted.join(" "), app.clock.now())
}
