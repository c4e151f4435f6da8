//! careid's themed HTML pages: sign-in (password, emailed link or passkey), passkeys, profile picker, sign-out and the account page,
//! drawn with minijinja from `themes/` (one folder per brand, each file falling back to
//! `default/`), plus the themes' static files and the error page the protocol shows for
//! requests it must not redirect.
//!
//! Pages call services only, never the store: `careid-accounts` for credentials,
//! sessions, profiles and allowed applications, and `careid-protocol` for pending
//! authorization requests, consents and the session cookie; they never speak OAuth. When a
//! page is done it sends the browser back to `/authorize/continue`. Every form carries a
//! CSRF token ([`csrf`]); every page is `Cache-Control: no-store`.

mod account;
mod activate;
mod assets;
mod change_password;
mod consent;
pub mod csrf;
mod email_form;
mod error;
mod extract;
mod forgot_password;
mod magic_link;
mod page;
mod passkeys;
mod reset;
mod security;
mod select_profile;
mod sign_in;
mod sign_in_code;
mod sign_in_passkey;
mod sign_in_pin;
mod sign_out;
mod state;
mod step_up;
#[cfg(test)]
mod testing;
mod themes;

use std::sync::Arc;

use axum::{Router, middleware::map_response_with_state, routing::get};

pub use error::{ThemedErrorPage, UiError};
pub use state::{Ui, client_branding};
pub use themes::{DEFAULT_THEME, Themes};

/// The pages and static files, mounted at the issuer's root.
pub fn router(state: Arc<Ui>) -> Router {
    Router::new()
        .route("/sign-in", get(sign_in::show).post(sign_in::submit))
        .route(
            sign_in_code::PATH,
            get(sign_in_code::show).post(sign_in_code::submit),
        )
        .route(step_up::PATH, get(step_up::show).post(step_up::submit))
        .route(
            "/sign-in/code/passkey/options",
            axum::routing::post(sign_in_passkey::second_factor_options),
        )
        .route(
            "/sign-in/code/passkey",
            axum::routing::post(sign_in_passkey::second_factor),
        )
        .route(
            "/sign-in/passkey/options",
            axum::routing::post(sign_in_passkey::options),
        )
        .route(
            "/sign-in/passkey",
            axum::routing::post(sign_in_passkey::submit),
        )
        .route(
            "/sign-in/pin",
            get(sign_in_pin::show).post(sign_in_pin::submit),
        )
        .route(
            "/select-profile",
            get(select_profile::show).post(select_profile::submit),
        )
        .route("/sign-out", get(sign_out::show).post(sign_out::submit))
        .route("/signed-out", get(sign_out::signed_out))
        .route("/account", get(account::show))
        .route(
            "/account/apps/remove",
            axum::routing::post(account::remove_app),
        )
        .route("/consent", get(consent::show).post(consent::submit))
        .route(
            "/account/password",
            get(change_password::show).post(change_password::submit),
        )
        .route(
            "/account/security",
            get(security::show).post(security::submit),
        )
        .route(
            "/account/security/recovery-codes",
            axum::routing::post(security::regenerate),
        )
        .route(passkeys::PATH, get(passkeys::show).post(passkeys::add))
        .route(
            "/account/passkeys/options",
            axum::routing::post(passkeys::options),
        )
        .route(
            "/account/passkeys/rename",
            axum::routing::post(passkeys::rename),
        )
        .route(
            "/account/passkeys/remove",
            axum::routing::post(passkeys::remove),
        )
        .route("/activate", get(activate::show).post(activate::submit))
        .route(
            "/forgot-password",
            get(forgot_password::show).post(forgot_password::submit),
        )
        .route("/reset", get(reset::show).post(reset::send_code))
        .route("/reset/code", axum::routing::post(reset::submit_code))
        .route("/reset/password", axum::routing::post(reset::submit_admin))
        .route(
            "/magic-link",
            get(magic_link::show).post(magic_link::submit),
        )
        .route(
            "/magic-link/sign-in",
            get(magic_link::show_confirm).post(magic_link::confirm),
        )
        .route("/static/{theme}/{*path}", get(assets::serve))
        .layer(map_response_with_state(state.clone(), error::show_errors))
        .with_state(state)
}
