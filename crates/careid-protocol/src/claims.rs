//! The claims a granted scope string releases about a profile (OIDC Core §5.4), shared
//! by `/userinfo` and the ID tokens `tokens` mints.

use careid_store::{accounts::Account, profiles};
use serde_json::{Map, Value, json};

use crate::scope;

/// The claims a scope string releases about a profile already read (OIDC Core §5.4),
/// without `sub`.
pub(crate) fn claims_of(
    profile: &profiles::Profile,
    account: &Account,
    granted: &str,
) -> Map<String, Value> {
    let mut claims = Map::new();
    if scope::contains(granted, "profile") {
        claims.insert("name".into(), json!(profile.name));
        if let Some(given) = &profile.given_name {
            claims.insert("given_name".into(), json!(given));
        }
        if let Some(family) = &profile.family_name {
            claims.insert("family_name".into(), json!(family));
        }
        if let Some(birthdate) = &profile.birthdate {
            claims.insert("birthdate".into(), json!(birthdate));
        }
    }
    if scope::contains(granted, "email") {
        // A profile speaks only for itself: the account's address is the self profile's,
        // never lent to a dependent or couple profile that has none of its own.
        let email = profile
            .email
            .clone()
            .or_else(|| (profile.kind == "self").then(|| account.email.clone()));
        if let Some(email) = email {
            claims.insert("email".into(), json!(email));
            claims.insert("email_verified".into(), json!(profile.email_verified));
        }
    }
    claims
}
