//! What a demo needs to know about itself: its client registration at careid.

use url::Url;

/// One demo relying party, as registered in careid's `config/clients/`.
#[derive(Clone, Debug)]
pub struct DemoRp {
    /// The product name shown on its pages ("CarePortals CRM").
    pub name: String,
    /// The client id at careid.
    pub client_id: String,
    /// The client secret; `None` for a public client (the client portal).
    pub secret: Option<String>,
    /// careid's issuer URL.
    pub issuer: String,
    /// The registered redirect URI: `<base>/callback`. Its origin is the demo's own.
    pub redirect_uri: Url,
    /// Where careid sends the browser after signing out: the demo's home page.
    pub post_logout_redirect_uri: Url,
    /// Shows "Switch profile" (`prompt=select_account`): the client portal, where one
    /// account may act for a couple or a dependent.
    pub offers_profile_switch: bool,
}

impl DemoRp {
    /// The cookie of this demo's session: named per client, because browsers share
    /// cookies between ports of one host (RFC 6265 §8.5) and the demos run on one host.
    pub(crate) fn cookie_name(&self) -> String {
        let safe: String = self
            .client_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("demo_{safe}")
    }
}
