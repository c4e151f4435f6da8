//! One module per grant type of the token endpoint.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
