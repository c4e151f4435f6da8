//! A relying party built from the `openidconnect` crate, as a real CRM or EMR would be.

use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse},
};
use url::Url;

/// A client configured from careid's discovery document.
pub type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// One relying party: its OIDC client and the HTTP client it talks through.
pub struct Rp {
    pub client: DiscoveredClient,
    pub http: openidconnect::reqwest::Client,
}

/// What the RP keeps between sending the browser away and getting it back.
pub struct Pending {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl Rp {
    /// Discovers careid at `issuer` and sets up `client_id`.
    pub async fn discover(issuer: &str, client_id: &str, secret: &str, redirect_uri: &str) -> Self {
        Self::discover_as(issuer, client_id, Some(secret), redirect_uri).await
    }

    /// [`Self::discover`] for a confidential client (a secret) or a public one (none).
    async fn discover_as(
        issuer: &str,
        client_id: &str,
        secret: Option<&str>,
        redirect_uri: &str,
    ) -> Self {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http)
                .await
                .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            secret.map(|secret| ClientSecret::new(secret.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).unwrap());
        Self { client, http }
    }

    /// The demo client portal: a public client (no secret, PKCE only).
    pub async fn client_portal(issuer: &str) -> Self {
        Self::discover_as(
            issuer,
            "client-portal",
            None,
            "http://127.0.0.1:8083/callback",
        )
        .await
    }

    /// The demo CRM.
    pub async fn crm(issuer: &str) -> Self {
        Self::discover(
            issuer,
            "crm",
            "crm-demo-secret",
            "http://127.0.0.1:8081/callback",
        )
        .await
    }

    /// The demo EMR.
    pub async fn emr(issuer: &str) -> Self {
        Self::discover(
            issuer,
            "emr",
            "emr-demo-secret",
            "http://127.0.0.1:8082/callback",
        )
        .await
    }

    /// An authorization URL with PKCE S256, state and nonce, asking for profile and email.
    pub fn start(&self) -> Pending {
        self.start_with(&[])
    }

    /// As [`Self::start`], also asking for `offline_access`: the exchange then brings a
    /// refresh token (OIDC Core §11).
    pub fn start_offline(&self) -> Pending {
        self.start_with(&["offline_access"])
    }

    /// As [`Self::start`], with `acr_values` (OIDC Core §3.1.2.1), most preferred first.
    pub fn start_asking_acr(&self, acr_values: &[&str]) -> Pending {
        self.start_with_acr(&[], acr_values)
    }

    fn start_with(&self, extra: &[&str]) -> Pending {
        self.start_with_acr(extra, &[])
    }

    fn start_with_acr(&self, extra: &[&str], acr_values: &[&str]) -> Pending {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scopes(extra.iter().map(|s| Scope::new((*s).into())))
            .set_pkce_challenge(challenge);
        for value in acr_values {
            request = request
                .add_auth_context_value(AuthenticationContextClass::new((*value).to_owned()));
        }
        let (url, state, nonce) = request.url();
        Pending {
            url,
            state,
            nonce,
            verifier,
        }
    }

    /// Exchanges `code` with the pending request's verifier.
    pub async fn exchange(&self, code: &str, verifier: PkceCodeVerifier) -> CoreTokenResponse {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .unwrap()
    }
}
