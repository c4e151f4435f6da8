//! The protocol's shared state, built once by the server.

use std::sync::Arc;

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use careid_policy::SessionRules;
use careid_store::{ClientId, Clock, Db, StoreError, clients};

use crate::{
    Client, ClientAddress, Clients, Keys, KnowsProxies, PageProblem, ProtocolConfig, ProtocolError,
    RateLimitConfig, RateLimits, TrustedProxies, config::RegistrationConfig, leave::Leaving,
    rate_limit::Bucket,
};

/// Renders the page a person sees when a request cannot go back to the client: an
/// unknown client, a redirect URI that is not registered (OIDC Core 3.1.2.6), an
/// expired sign-in. `careid-ui` supplies the themed one.
pub trait ErrorPage: Send + Sync {
    /// The page for `problem`, with its status.
    fn render(&self, problem: PageProblem) -> Response;

    /// The page shown instead of a redirect to a third-party client's address that the
    /// person has not asked for on a careid page ([`crate::leave`]): it names the
    /// destination and links to it. 200, `no-store`.
    fn leaving(&self, leaving: Leaving<'_>) -> Response {
        (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            format!(
                "You are leaving careid for {}\n\n{} asked careid to send you to {}\n",
                leaving.origin, leaving.client_name, leaving.url
            ),
        )
            .into_response()
    }
}

/// A plain-text error page naming the problem's code, for a server without themes
/// (careid-ui words the real one).
pub struct PlainErrorPage;

impl ErrorPage for PlainErrorPage {
    fn render(&self, problem: PageProblem) -> Response {
        (
            problem.status(),
            [(header::CACHE_CONTROL, "no-store")],
            format!("{}\n", problem.code()),
        )
            .into_response()
    }
}

/// Everything the protocol endpoints share.
pub struct Protocol {
    /// The database pool. Private: pages and the server reach the data through the
    /// protocol's and the account service's functions, never the store.
    pub(crate) db: Db,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    /// Token lifetimes.
    pub config: ProtocolConfig,
    /// Idle and absolute limits of a browser session.
    pub session_rules: SessionRules,
    /// Days without a sign-in after which an account expires.
    pub inactivity_expiry_days: u32,
    /// The clients of `config/clients/`. Clients registered over HTTP are in the
    /// database: use [`Protocol::find_client`], which looks in both.
    pub clients: Clients,
    /// Who may register clients over HTTP.
    pub registration: RegistrationConfig,
    /// The signing keys.
    pub keys: Keys,
    /// The page for errors that must not redirect.
    pub error_page: Arc<dyn ErrorPage>,
    /// The per-address and per-account rate limits (`[rate_limit]`).
    pub rate_limits: RateLimits,
    /// Whose `Forwarded` / `X-Forwarded-For` headers name the client (`trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    pub(crate) discovery: Vec<u8>,
    /// Keys fetched from `private_key_jwt` clients' `jwks_uri`s.
    pub(crate) client_jwks: crate::client_assertion::JwksCache,
    /// The installation's pairwise salt, read from the database when first needed.
    pub(crate) pairwise_salt: tokio::sync::OnceCell<String>,
    /// The one way out for requests made on a client's behalf.
    pub(crate) egress: crate::egress::Egress,
}

impl Protocol {
    /// Builds the state; the discovery document is rendered once, here.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        issuer: &str,
        config: ProtocolConfig,
        session_rules: SessionRules,
        inactivity_expiry_days: u32,
        clients: Clients,
        keys: Keys,
        error_page: Arc<dyn ErrorPage>,
    ) -> Self {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let registration = RegistrationConfig::default();
        let discovery = crate::discovery::document(&issuer, registration.mode);
        let rate_limits = RateLimits::new(&RateLimitConfig::default(), clock.clone());
        Self {
            db,
            clock,
            issuer,
            config,
            session_rules,
            inactivity_expiry_days,
            clients,
            registration,
            keys,
            error_page,
            rate_limits,
            trusted_proxies: TrustedProxies::default(),
            discovery,
            client_jwks: crate::client_assertion::JwksCache::default(),
            egress: crate::egress::Egress::new(),
            pairwise_salt: tokio::sync::OnceCell::new(),
        }
    }

    /// Sets who may register clients over HTTP (RFC 7591); discovery advertises the
    /// `registration_endpoint` unless registration is off.
    pub fn with_registration(mut self, registration: RegistrationConfig) -> Self {
        self.discovery = crate::discovery::document(&self.issuer, registration.mode);
        self.registration = registration;
        self
    }

    /// Sets the rate limits (`[rate_limit]`); without this call the defaults apply.
    pub fn with_rate_limits(mut self, config: &RateLimitConfig) -> Self {
        self.rate_limits = RateLimits::new(config, self.clock.clone());
        self
    }

    /// Sets the proxies whose forwarding headers name the client (`trusted_proxies`).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Charges one request to `bucket` for the client address and, if given, the
    /// account (or client id); refused, and audited, past either quota.
    pub async fn rate_limit(
        &self,
        bucket: Bucket,
        address: &ClientAddress,
        account: Option<&str>,
    ) -> Result<(), crate::RateLimited> {
        self.rate_limits
            .charge(&self.db, bucket, address, account)
            .await
    }

    /// The client with this id: a client file's first, else one registered over HTTP
    /// (one primary-key lookup, so a registration on another instance is seen at once).
    pub async fn find_client(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.clients.get(client_id) {
            return Ok(Some(client));
        }
        let Some(stored) = clients::find_by_id(&self.db, client_id).await? else {
            return Ok(None);
        };
        let client = crate::client_metadata::registered_client(&stored)?;
        Ok(Some(Arc::new(client)))
    }

    /// Reloads the signing keys (and the JWKS bytes) when another instance added or
    /// retired one; returns whether they changed.
    pub async fn reload_keys_if_changed(&self) -> Result<bool, ProtocolError> {
        self.keys.reload_if_changed(&self.db).await
    }

    /// Whether cookies must carry `Secure`: always, except for a loopback http issuer.
    pub fn secure_cookies(&self) -> bool {
        !self.issuer.starts_with("http://")
    }

    /// An absolute URL on this issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

impl KnowsProxies for Protocol {
    fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }
}
