//! careid as the demo sees it: its discovery document (with the RP-initiated logout
//! endpoint), its keys, and an `openidconnect` client set up from them. Discovered on first
//! use and again when a token names a key the demo has not seen (a rotation).

use std::sync::Arc;

use openidconnect::{
    ClientId, ClientSecret, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, ProviderMetadataWithLogout, RedirectUrl,
    core::{CoreClient, CoreJsonWebKeySet},
};
use tokio::sync::Mutex;

use crate::{DemoError, DemoRp};

/// An `openidconnect` client set up from careid's discovery document.
pub(crate) type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// careid, discovered.
pub(crate) struct Provider {
    pub client: OidcClient,
    pub http: openidconnect::reqwest::Client,
    pub end_session: Option<EndSessionUrl>,
    pub jwks: CoreJsonWebKeySet,
}

/// The provider, discovered on first use.
#[derive(Default)]
pub(crate) struct Lazy {
    current: Mutex<Option<Arc<Provider>>>,
}

impl Lazy {
    /// careid as last discovered, discovering it if never done.
    pub(crate) async fn get(&self, rp: &DemoRp) -> Result<Arc<Provider>, DemoError> {
        let mut current = self.current.lock().await;
        if let Some(provider) = current.as_ref() {
            return Ok(provider.clone());
        }
        let provider = Arc::new(discover(rp).await?);
        *current = Some(provider.clone());
        Ok(provider)
    }

    /// Discovers careid again (its keys may have rotated).
    pub(crate) async fn refresh(&self, rp: &DemoRp) -> Result<Arc<Provider>, DemoError> {
        let provider = Arc::new(discover(rp).await?);
        *self.current.lock().await = Some(provider.clone());
        Ok(provider)
    }
}

async fn discover(rp: &DemoRp) -> Result<Provider, DemoError> {
    let failed = |err: &dyn std::fmt::Display| DemoError::Discovery(err.to_string());
    // Redirects are never followed: OAuth endpoints answer directly (RFC 9700 §4.11.2).
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| failed(&e))?;
    let issuer = IssuerUrl::new(rp.issuer.clone()).map_err(|e| failed(&e))?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
        .await
        .map_err(|e| failed(&e))?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let jwks = metadata.jwks().clone();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        rp.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::from_url(rp.redirect_uri.clone()));
    Ok(Provider {
        client,
        http,
        end_session,
        jwks,
    })
}
