//! Client metadata (RFC 7591 §2, OIDC Dynamic Client Registration §2): what a
//! registration may say, the checks it must pass, and the [`Client`] it becomes. Read by
//! the `/register` endpoint and by client lookup (a stored registration), so it is a
//! module of its own rather than part of the endpoint.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use careid_store::{ClientId, clients};

use crate::{
    AccessTokenAlg, Client, ProtocolError, SigningAlg,
    client::{InlineJwks, is_https_or_loopback},
    egress::{self, Reach},
    scope,
};

/// The [`Client`] a stored registration (RFC 7591) describes: always third-party.
pub fn registered_client(stored: &clients::StoredClient) -> Result<Client, serde_json::Error> {
    let metadata: Metadata = serde_json::from_str(&stored.metadata)?;
    metadata.to_client(&stored.id, stored.secret_digest.as_deref())
}

/// Grant types a registered client may ask for.
const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Authentication methods at /token a registered client may choose.
const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "none",
    "private_key_jwt",
];

/// The metadata careid keeps for a registered client, as sent and as stored. Fields
/// careid does not know are ignored (RFC 7591 §2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Metadata {
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    pub scope: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_response_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// `public` (the default) or `pairwise` (OIDC Registration §2, OIDC Core §8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
    /// Refused: careid does not fetch it (the sector is the redirect URIs' one host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
}

/// A value the client sent, as an error message shows it: in single quotes (RFC 6749
/// §5.2 leaves no double quote to an `error_description`), cut to 100 characters.
fn quoted(value: &str) -> String {
    const SHOWN: usize = 100;
    let mut shown: String = value.chars().take(SHOWN).collect();
    if value.chars().nth(SHOWN).is_some() {
        shown.push_str("...");
    }
    format!("'{shown}'")
}

fn client_metadata(why: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidClientMetadata(why.into())
}

fn redirect(why: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidRedirectUri(why.into())
}

/// Checks one redirect URI: absolute, https or loopback http, no fragment.
fn check_redirect_uri(key: &str, uri: &str) -> Result<(), ProtocolError> {
    let url = url::Url::parse(uri)
        .map_err(|_| redirect(format!("{key}: {} is not an absolute URL", quoted(uri))))?;
    if url.fragment().is_some() {
        return Err(redirect(format!(
            "{key}: {} must not have a fragment",
            quoted(uri)
        )));
    }
    if !is_https_or_loopback(&url) {
        return Err(redirect(format!(
            "{key}: {} must use https (http only on 127.0.0.1, [::1] or localhost)",
            quoted(uri)
        )));
    }
    Ok(())
}

/// Checks an address careid itself will send requests to (`jwks_uri`,
/// `backchannel_logout_uri`): https on port 443, not naming a loopback, private or
/// other special address. A registered client never gets `allow_private_network`, so
/// what the outbound policy would refuse at each request is refused here, early. The
/// resolved addresses are checked again at each request (DNS can change).
fn check_fetched_uri(key: &str, uri: &str) -> Result<(), ProtocolError> {
    egress::check_url(uri, Reach::PublicOnly)
        .map(drop)
        .map_err(|refusal| client_metadata(format!("{key}: {} {refusal}", quoted(uri))))
}

/// Checks a web page or image address the consent page may show.
fn check_page_uri(key: &str, uri: &Option<String>) -> Result<(), ProtocolError> {
    let Some(uri) = uri else { return Ok(()) };
    match url::Url::parse(uri) {
        Ok(url) if is_https_or_loopback(&url) => Ok(()),
        _ => Err(client_metadata(format!(
            "{key}: {} must be an https URL",
            quoted(uri)
        ))),
    }
}

impl Metadata {
    /// Validates the metadata and fills in the defaults of RFC 7591 §2, so what is
    /// stored says exactly what the client may do.
    pub fn validated(mut self) -> Result<Self, ProtocolError> {
        let grant_types = self
            .grant_types
            .take()
            .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
        if grant_types.is_empty() {
            return Err(client_metadata("grant_types must not be empty"));
        }
        if let Some(unknown) = grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(client_metadata(format!(
                "grant_types: {} is not supported (use authorization_code, refresh_token, client_credentials)",
                quoted(unknown)
            )));
        }
        let uses_code = grant_types.iter().any(|g| g == "authorization_code");
        if grant_types.iter().any(|g| g == "refresh_token") && !uses_code {
            return Err(client_metadata(
                "grant_types: refresh_token is only issued with authorization_code",
            ));
        }
        let response_types = self.response_types.take().unwrap_or_else(|| {
            if uses_code {
                vec!["code".to_owned()]
            } else {
                Vec::new()
            }
        });
        if let Some(unknown) = response_types.iter().find(|r| r.as_str() != "code") {
            return Err(client_metadata(format!(
                "response_types: {} is not supported (only code)",
                quoted(unknown)
            )));
        }
        let asks_code = response_types.iter().any(|r| r == "code");
        if asks_code != uses_code {
            return Err(client_metadata(
                "response_types code and grant_types authorization_code go together",
            ));
        }

        if uses_code && self.redirect_uris.is_empty() {
            return Err(redirect(
                "redirect_uris is required for the authorization_code grant",
            ));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri("redirect_uris", uri)?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri("post_logout_redirect_uris", uri)?;
        }

        let method = self
            .token_endpoint_auth_method
            .take()
            .unwrap_or_else(|| "client_secret_basic".to_owned());
        if !AUTH_METHODS.contains(&method.as_str()) {
            return Err(client_metadata(format!(
                "token_endpoint_auth_method: {} is not supported (use client_secret_basic, client_secret_post, none or private_key_jwt)",
                quoted(&method)
            )));
        }
        if method == "none" && grant_types.iter().any(|g| g == "client_credentials") {
            return Err(client_metadata(
                "a public client (token_endpoint_auth_method none) cannot use client_credentials",
            ));
        }
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return Err(client_metadata("jwks and jwks_uri must not both be given"));
        }
        if let Some(jwks) = &self.jwks {
            InlineJwks::from_value(jwks.clone()).map_err(client_metadata)?;
        }
        if let Some(uri) = &self.jwks_uri {
            check_fetched_uri("jwks_uri", uri)?;
        }
        // RFC 7523 §2.2 and OIDC Core §9: the assertion is checked with the client's
        // public keys, so a private_key_jwt client must say where they are.
        if method == "private_key_jwt" && self.jwks.is_none() && self.jwks_uri.is_none() {
            return Err(client_metadata(
                "token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri",
            ));
        }

        // OIDC Registration §2: ID tokens default to RS256; RFC 9068 leaves access
        // tokens to the server, and careid's default is ES256.
        let id_token_alg = match self.id_token_signed_response_alg.take() {
            None => SigningAlg::default(),
            Some(alg) => SigningAlg::parse(&alg).ok_or_else(|| {
                client_metadata(format!(
                    "id_token_signed_response_alg: {} is not one careid signs ID tokens with ({})",
                    quoted(&alg),
                    SigningAlg::ALL.map(SigningAlg::as_str).join(", ")
                ))
            })?,
        };
        let access_token_alg = match self.access_token_signed_response_alg.take() {
            None => AccessTokenAlg::default(),
            Some(alg) => AccessTokenAlg::parse(&alg).ok_or_else(|| {
                client_metadata(format!("access_token_signed_response_alg: {} is not one careid signs access tokens with ({})", quoted(&alg),
                    AccessTokenAlg::ALL.map(AccessTokenAlg::as_str).join(", ")
                ))
            })?,
        };

        let scopes = match self.scope.take() {
            None => scope::SUPPORTED.map(String::from).to_vec(),
            Some(raw) => scope::split(&raw),
        };
        if let Some(unknown) = scopes
            .iter()
            .find(|s| !scope::SUPPORTED.contains(&s.as_str()))
        {
            return Err(client_metadata(format!(
                "scope: {} is not a scope careid supports",
                quoted(unknown)
            )));
        }
        if uses_code && !scopes.iter().any(|s| s == "openid") {
            return Err(client_metadata(
                "scope must include openid for the authorization_code grant",
            ));
        }

        if let Some(name) = &self.client_name
            && (name.trim().is_empty() || name.chars().count() > 200)
        {
            return Err(client_metadata("client_name must have 1 to 200 characters"));
        }
        check_page_uri("client_uri", &self.client_uri)?;
        check_page_uri("logo_uri", &self.logo_uri)?;
        check_page_uri("policy_uri", &self.policy_uri)?;
        check_page_uri("tos_uri", &self.tos_uri)?;
        if self.contacts.iter().any(|c| c.trim().is_empty()) {
            return Err(client_metadata("contacts must not hold empty values"));
        }

        // OIDC Core §8.1: a pairwise `sub` is derived per sector. careid takes the sector
        // from the redirect URIs, which must then name one host; it fetches no
        // `sector_identifier_uri`, so one is refused rather than ignored.
        if self.sector_identifier_uri.is_some() {
            return Err(client_metadata(
                "sector_identifier_uri is not supported: careid does not fetch it; pairwise subjects take the sector from redirect_uris on one host",
            ));
        }
        match self.subject_type.as_deref() {
            None | Some("public") => {}
            Some("pairwise") => {
                let client = self
                    .to_client(&ClientId::from("check"), None)
                    .map_err(|err| client_metadata(err.to_string()))?;
                if client.sector_identifier().is_none() {
                    return Err(client_metadata(
                        "subject_type pairwise needs redirect_uris on one host (careid does not fetch a sector_identifier_uri)",
                    ));
                }
            }
            Some(other) => {
                return Err(client_metadata(format!(
                    "subject_type: {} is not supported (use public or pairwise)",
                    quoted(other)
                )));
            }
        }

        self.grant_types = Some(grant_types);
        self.response_types = Some(response_types);
        self.token_endpoint_auth_method = Some(method);
        self.id_token_signed_response_alg = Some(id_token_alg.as_str().to_owned());
        self.access_token_signed_response_alg = Some(access_token_alg.as_str().to_owned());
        self.scope = Some(scopes.join(" "));
        if let Some(uri) = &self.backchannel_logout_uri {
            check_fetched_uri("backchannel_logout_uri", uri)?;
            let client = self
                .to_client(&ClientId::from("check"), None)
                .map_err(|err| client_metadata(err.to_string()))?;
            if let Some((key, why)) = client
                .problems()
                .into_iter()
                .find(|(key, _)| *key == "backchannel_logout_uri")
            {
                return Err(client_metadata(format!("{key}: {why}")));
            }
        }
        Ok(self)
    }

    /// Whether the client gets a secret: not a public client, and not one that
    /// authenticates with its keys.
    pub fn is_confidential(&self) -> bool {
        !matches!(
            self.token_endpoint_auth_method.as_deref(),
            Some("none" | "private_key_jwt")
        )
    }

    /// The [`Client`] a validated registration describes: always third-party, in the
    /// default theme, signing in with a password. `secret_digest` is lowercase hex.
    pub fn to_client(
        &self,
        client_id: &ClientId,
        secret_digest: Option<&str>,
    ) -> Result<Client, serde_json::Error> {
        let mut client = json!({
            "client_id": client_id,
            "name": self.client_name.clone().unwrap_or_else(|| client_id.to_string()),
            "redirect_uris": self.redirect_uris,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
            "grant_types": self.grant_types.clone().unwrap_or_default(),
            "token_endpoint_auth_method": self.token_endpoint_auth_method.as_deref().unwrap_or("client_secret_basic"),
            "first_party": false,
            "scopes": scope::split(self.scope.as_deref().unwrap_or_default()),
            "id_token_signed_response_alg": self.id_token_signed_response_alg.as_deref().unwrap_or(SigningAlg::default().as_str()),
            // A client registered before this field existed has the default.
            "access_token_signed_response_alg": self.access_token_signed_response_alg.as_deref().unwrap_or(AccessTokenAlg::default().as_str()),
            "logo_uri": self.logo_uri,
            "policy_uri": self.policy_uri,
            "tos_uri": self.tos_uri,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "backchannel_logout_session_required": self.backchannel_logout_session_required,
            "jwks": self.jwks,
            "jwks_uri": self.jwks_uri,
            "subject_type": self.subject_type.as_deref().unwrap_or("public"),
            // Only a client file may let careid into private networks.
            "allow_private_network": false,
        });
        if let Some(digest) = secret_digest {
            client["secret"] = json!(format!("sha256:{digest}"));
        }
        let mut client: Client = serde_json::from_value(client)?;
        client.dynamically_registered = true;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: Value) -> Metadata {
        serde_json::from_value(value).unwrap()
    }

    fn error_of(value: Value) -> (&'static str, String) {
        match metadata(value).validated() {
            Err(ProtocolError::InvalidRedirectUri(why)) => ("invalid_redirect_uri", why),
            Err(ProtocolError::InvalidClientMetadata(why)) => ("invalid_client_metadata", why),
            other => panic!("expected a metadata error, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_registration_gets_the_rfc_7591_defaults() {
        let valid = metadata(json!({"redirect_uris": ["https://app.example/cb"]}))
            .validated()
            .unwrap();
        assert_eq!(
            valid.grant_types.as_deref(),
            Some(&["authorization_code".to_owned()][..])
        );
        assert_eq!(
            valid.response_types.as_deref(),
            Some(&["code".to_owned()][..])
        );
        assert_eq!(
            valid.token_endpoint_auth_method.as_deref(),
            Some("client_secret_basic")
        );
        assert_eq!(valid.id_token_signed_response_alg.as_deref(), Some("RS256"));
        assert_eq!(
            valid.access_token_signed_response_alg.as_deref(),
            Some("ES256")
        );
        assert!(valid.is_confidential());
        let client = valid
            .to_client(&ClientId::from("abc"), Some(&"0".repeat(64)))
            .unwrap();
        assert!(!client.first_party);
        assert_eq!(client.name, "abc");
        assert!(client.problems().is_empty(), "{:?}", client.problems());
    }

    #[test]
    fn loopback_http_is_accepted_and_other_http_is_not() {
        for ok in [
            "http://127.0.0.1:9000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
        ] {
            assert!(
                metadata(json!({"redirect_uris": [ok]})).validated().is_ok(),
                "{ok}"
            );
        }
        let (error, why) = error_of(json!({"redirect_uris": ["http://app.example/cb"]}));
        assert_eq!(error, "invalid_redirect_uri");
        assert!(why.contains("https"), "{why}");
        let (error, _) = error_of(json!({"redirect_uris": ["http://127.0.0.2/cb"]}));
        assert_eq!(error, "invalid_redirect_uri");
    }

    #[test]
    fn a_fragment_or_a_relative_uri_is_refused() {
        let (error, why) = error_of(json!({"redirect_uris": ["https://app.example/cb#x"]}));
        assert_eq!(error, "invalid_redirect_uri");
        assert!(why.contains("fragment"));
        let (error, _) = error_of(json!({"redirect_uris": ["/cb"]}));
        assert_eq!(error, "invalid_redirect_uri");
    }

    #[test]
    fn the_code_grant_needs_a_redirect_uri_and_client_credentials_does_not() {
        let (error, _) = error_of(json!({}));
        assert_eq!(error, "invalid_redirect_uri");
        let machine = metadata(json!({"grant_types": ["client_credentials"]}))
            .validated()
            .unwrap();
        assert_eq!(machine.response_types.as_deref(), Some(&[][..]));
    }

    #[test]
    fn unknown_grants_responses_and_auth_methods_are_refused() {
        let uri = "https://app.example/cb";
        for bad in [
            json!({"redirect_uris": [uri], "grant_types": ["implicit"]}),
            json!({"redirect_uris": [uri], "response_types": ["token"]}),
            json!({"redirect_uris": [uri], "grant_types": ["client_credentials"], "response_types": ["code"]}),
            json!({"redirect_uris": [uri], "grant_types": ["authorization_code"], "response_types": []}),
            json!({"grant_types": ["refresh_token"]}),
            json!({"redirect_uris": [uri], "token_endpoint_auth_method": "tls_client_auth"}),
            json!({"redirect_uris": [uri], "token_endpoint_auth_method": "private_key_jwt"}),
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
        ] {
            assert_eq!(error_of(bad.clone()).0, "invalid_client_metadata", "{bad}");
        }
    }

    #[test]
    fn only_advertised_id_token_algorithms_are_accepted() {
        let uri = "https://app.example/cb";
        for (alg, expected) in [
            ("RS256", SigningAlg::RS256),
            ("ES256", SigningAlg::ES256),
            ("PS256", SigningAlg::PS256),
            ("EdDSA", SigningAlg::EdDSA),
        ] {
            let ok = json!({"redirect_uris": [uri], "id_token_signed_response_alg": alg});
            let client = metadata(ok)
                .validated()
                .unwrap()
                .to_client(&ClientId::from("c"), None)
                .unwrap();
            assert_eq!(client.id_token_signed_response_alg, expected, "{alg}");
        }
        for alg in ["HS256", "none", "es256", "EDDSA", "ES384", ""] {
            let bad = json!({"redirect_uris": [uri], "id_token_signed_response_alg": alg});
            let (error, why) = error_of(bad);
            assert_eq!(error, "invalid_client_metadata", "{alg}");
            assert!(
                why.starts_with("id_token_signed_response_alg:") && why.contains("PS256"),
                "{why}"
            );
        }
    }

    #[test]
    fn only_access_token_algorithms_careid_offers_are_accepted() {
        let uri = "https://app.example/cb";
        for (alg, expected) in [
            ("RS256", AccessTokenAlg::RS256),
            ("ES256", AccessTokenAlg::ES256),
            ("EdDSA", AccessTokenAlg::EdDSA),
        ] {
            let ok = json!({"redirect_uris": [uri], "access_token_signed_response_alg": alg});
            let valid = metadata(ok).validated().unwrap();
            assert_eq!(valid.access_token_signed_response_alg.as_deref(), Some(alg));
            let client = valid.to_client(&ClientId::from("c"), None).unwrap();
            assert_eq!(client.access_token_signed_response_alg, expected, "{alg}");
        }
        for alg in ["PS256", "HS256", "none", "rs256"] {
            let bad = json!({"redirect_uris": [uri], "access_token_signed_response_alg": alg});
            let (error, why) = error_of(bad);
            assert_eq!(error, "invalid_client_metadata", "{alg}");
            assert!(
                why.starts_with("access_token_signed_response_alg:"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_client_stored_before_access_token_algorithms_existed_gets_es256() {
        // Metadata as an older careid stored it: validated, without the new field.
        let stored = metadata(json!({
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid",
            "id_token_signed_response_alg": "RS256",
        }));
        let client = stored
            .to_client(&ClientId::from("old"), Some(&"0".repeat(64)))
            .unwrap();
        assert_eq!(
            client.access_token_signed_response_alg,
            AccessTokenAlg::ES256
        );
        assert_eq!(client.id_token_signed_response_alg, SigningAlg::RS256);
    }

    #[test]
    fn scopes_must_be_known_and_include_openid_for_the_code_flow() {
        let uri = "https://app.example/cb";
        assert!(
            metadata(json!({"redirect_uris": [uri], "scope": "openid email"}))
                .validated()
                .is_ok()
        );
        assert_eq!(
            error_of(json!({"redirect_uris": [uri], "scope": "openid admin"})).0,
            "invalid_client_metadata"
        );
        assert_eq!(
            error_of(json!({"redirect_uris": [uri], "scope": "email"})).0,
            "invalid_client_metadata"
        );
    }

    #[test]
    fn display_links_must_be_https() {
        let uri = "https://app.example/cb";
        assert!(
            metadata(json!({"redirect_uris": [uri], "logo_uri": "https://app.example/logo.png"}))
                .validated()
                .is_ok()
        );
        let bad = json!({"redirect_uris": [uri], "policy_uri": "javascript:alert(1)"});
        assert_eq!(error_of(bad).0, "invalid_client_metadata");
    }

    #[test]
    fn a_public_client_gets_no_secret() {
        let public = metadata(
            json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
        )
        .validated()
        .unwrap();
        assert!(!public.is_confidential());
        let client = public.to_client(&ClientId::from("p"), None).unwrap();
        assert!(client.is_public() && client.secret.is_none());
    }

    fn public_jwks() -> Value {
        let pair = josekit::jws::ES256.generate_key_pair().unwrap();
        json!({"keys": [Value::Object(pair.to_jwk_public_key().into())]})
    }

    #[test]
    fn a_private_key_jwt_client_with_jwks_or_jwks_uri_gets_no_secret() {
        let uri = "https://app.example/cb";
        for keys in [
            json!({"jwks": public_jwks()}),
            json!({"jwks_uri": "https://app.example/jwks"}),
        ] {
            let mut request =
                json!({"redirect_uris": [uri], "token_endpoint_auth_method": "private_key_jwt"});
            for (key, value) in keys.as_object().unwrap() {
                request[key] = value.clone();
            }
            let valid = metadata(request).validated().unwrap();
            assert!(!valid.is_confidential(), "{keys}");
            let client = valid.to_client(&ClientId::from("k"), None).unwrap();
            assert_eq!(
                client.token_endpoint_auth_method,
                crate::AuthMethod::PrivateKeyJwt
            );
            assert!(client.key_source().is_some());
            assert!(client.problems().is_empty(), "{:?}", client.problems());
        }
    }

    #[test]
    fn addresses_careid_sends_requests_to_must_be_public_https_on_port_443() {
        let uri = "https://app.example/cb";
        for (key, bad, says) in [
            ("jwks_uri", "http://127.0.0.1:9000/jwks", "must use https"),
            ("jwks_uri", "https://app.example:8443/jwks", "443"),
            ("jwks_uri", "https://127.0.0.1/jwks", "loopback"),
            ("jwks_uri", "https://[::ffff:10.0.0.1]/jwks", "private"),
            ("jwks_uri", "https://169.254.169.254/jwks", "metadata"),
            ("jwks_uri", "https://localhost/jwks", "localhost"),
            (
                "backchannel_logout_uri",
                "http://127.0.0.1:9000/logout",
                "https",
            ),
            (
                "backchannel_logout_uri",
                "https://127.0.0.1/logout",
                "loopback",
            ),
            (
                "backchannel_logout_uri",
                "https://app.example:444/logout",
                "443",
            ),
        ] {
            let mut request = json!({"redirect_uris": [uri, "http://127.0.0.1:9000/cb"], "token_endpoint_auth_method": "private_key_jwt"});
            if key == "backchannel_logout_uri" {
                request["jwks_uri"] = json!("https://app.example/jwks");
            }
            request[key] = json!(bad);
            let (error, why) = error_of(request);
            assert_eq!(error, "invalid_client_metadata", "{bad}");
            assert!(why.starts_with(key) && why.contains(says), "{bad}: {why}");
            assert!(!why.contains('"'), "{why}");
        }
    }

    #[test]
    fn a_registration_cannot_allow_itself_into_private_networks() {
        let request = json!({
            "redirect_uris": ["https://app.example/cb"],
            "allow_private_network": true,
        });
        let valid = metadata(request).validated().unwrap();
        let client = valid
            .to_client(&ClientId::from("c"), Some(&"0".repeat(64)))
            .unwrap();
        assert!(!client.allow_private_network);
        assert_eq!(client.reach(), crate::egress::Reach::PublicOnly);
    }

    #[test]
    fn a_private_key_jwt_client_needs_exactly_one_usable_key_source() {
        let uri = "https://app.example/cb";
        let private = json!({"keys": [Value::Object(
            josekit::jws::ES256.generate_key_pair().unwrap().to_jwk_private_key().into()
        )]});
        for (bad, says) in [
            (json!({}), "needs jwks or jwks_uri"),
            (
                json!({"jwks": public_jwks(), "jwks_uri": "https://app.example/jwks"}),
                "both",
            ),
            (json!({"jwks_uri": "http://app.example/jwks"}), "https"),
            (json!({"jwks": {"keys": []}}), "at least one key"),
            (json!({"jwks": {"keys": "none"}}), "keys array"),
            (json!({"jwks": {"keys": [{"kty": 1}]}}), "jwks"),
            (json!({"jwks": private}), "public keys only"),
        ] {
            let mut request =
                json!({"redirect_uris": [uri], "token_endpoint_auth_method": "private_key_jwt"});
            for (key, value) in bad.as_object().unwrap() {
                request[key] = value.clone();
            }
            let (error, why) = error_of(request);
            assert_eq!(error, "invalid_client_metadata", "{bad}");
            assert!(why.contains(says), "{bad}: {why}");
        }
    }
}
