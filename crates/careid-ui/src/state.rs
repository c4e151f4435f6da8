//! The pages' shared state, built once by the server.

use std::sync::Arc;

use careid_accounts::Accounts;
use careid_protocol::Protocol;

use crate::{ThemedErrorPage, Themes};

/// Everything the pages share: the protocol (database, clock, clients, session rules),
/// the account service and the compiled themes.
pub struct Ui {
    /// The protocol state: pending authorization requests, sessions, clients, clock.
    pub protocol: Arc<Protocol>,
    /// Password checks and session starts.
    pub accounts: Arc<Accounts>,
    /// The compiled templates and static files.
    pub themes: Arc<Themes>,
    /// The one page every error is shown on.
    pub(crate) error_page: ThemedErrorPage,
}

impl Ui {
    /// The pages' state over the same protocol, accounts and themes the server uses.
    pub fn new(protocol: Arc<Protocol>, accounts: Arc<Accounts>, themes: Arc<Themes>) -> Self {
        Self {
            protocol,
            accounts,
            error_page: ThemedErrorPage::new(themes.clone()),
            themes,
        }
    }

    /// Whether cookies carry `Secure` (not for a plain-http issuer).
    pub(crate) fn is_secure(&self) -> bool {
        self.protocol.secure_cookies()
    }
}
