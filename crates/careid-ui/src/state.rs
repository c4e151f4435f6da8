//! The pages' shared state, built once by the server.

use std::sync::Arc;

use careid_accounts::{Accounts, Branding, ClientId, Lifecycle};
use careid_protocol::{Client, KnowsProxies, Protocol, ResetMode, TrustedProxies};

use crate::{ThemedErrorPage, Themes, csrf::CsrfKey};

/// Everything the pages share: the protocol (database, clock, clients, session rules),
/// the account service and the compiled themes.
pub struct Ui {
    /// The protocol state: pending authorization requests, sessions, clients, clock.
    pub protocol: Arc<Protocol>,
    /// Password checks and session starts.
    pub accounts: Arc<Accounts>,
    /// The compiled templates and static files.
    pub themes: Arc<Themes>,
    /// Signs the forms' CSRF tokens.
    pub(crate) csrf: CsrfKey,
    /// The one page every error is shown on.
    pub(crate) error_page: ThemedErrorPage,
    /// Invitations and resets by email; without it (a server with no mail set up) the
    /// activation and reset pages answer 404.
    pub(crate) lifecycle: Option<Arc<Lifecycle>>,
}

impl Ui {
    /// The pages' state over the same protocol, accounts and themes the server uses;
    /// `csrf` is the installation's CSRF key ([`Accounts::install_secret`]).
    pub fn new(
        protocol: Arc<Protocol>,
        accounts: Arc<Accounts>,
        themes: Arc<Themes>,
        csrf: CsrfKey,
    ) -> Self {
        Self {
            protocol,
            accounts,
            csrf,
            error_page: ThemedErrorPage::new(themes.clone()),
            lifecycle: None,
            themes,
        }
    }

    /// The same state with the activation and reset pages switched on.
    pub fn with_lifecycle(mut self, lifecycle: Arc<Lifecycle>) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// The lifecycle service, or `NotFound` for a server without one.
    pub(crate) fn lifecycle(&self) -> Result<&Arc<Lifecycle>, crate::UiError> {
        self.lifecycle.as_ref().ok_or(crate::UiError::NotFound)
    }

    /// The name, theme and reset mode of the client with this id, or careid's own.
    pub(crate) fn branding(&self, client_id: Option<&ClientId>) -> Branding {
        match client_id.and_then(|id| self.protocol.clients.get(id)) {
            Some(client) => client_branding(&client),
            None => Branding::default(),
        }
    }

    /// Whether cookies carry `Secure` (not for a plain-http issuer).
    pub(crate) fn is_secure(&self) -> bool {
        self.protocol.secure_cookies()
    }
}

/// Pages find the client's address as the protocol does (`trusted_proxies`).
impl KnowsProxies for Ui {
    fn trusted_proxies(&self) -> &TrustedProxies {
        &self.protocol.trusted_proxies
    }
}

/// How mail sent for this client looks and reads: its name, theme and reset mode, and
/// whether its people sign in by link rather than with a password.
pub fn client_branding(client: &Client) -> Branding {
    Branding {
        product: client.name.clone(),
        theme: client.theme.clone(),
        is_code_only: client.reset_mode == ResetMode::CodeOnly,
        signs_in_by_link: !client.allows_sign_in("password"),
    }
}
