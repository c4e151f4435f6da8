//! `/account/security`: a signed-in person adds an authenticator app (TOTP, issue 17).
//! The page shows the `otpauth://` URI to add to the app, as a QR code to scan and as
//! text for those who cannot, then asks for one current code; only a confirmed code
//! turns the second factor on, and brings ten recovery codes, shown this once.
//! `POST /account/security/recovery-codes` makes a new set. The rules are
//! `careid-accounts`'.
//!
//! A client or an account with `require_mfa`, or `acr_values` asking for a second
//! factor, send a person whose session had none here with the pending request
//! (`?request=…`) when she has no authenticator app: she adds one, and the code that
//! confirms it raises her session (`amr` gains `otp` and `mfa`; the cookie gets a new
//! secret, the `sid` stays) before she continues. With an app already she is pointed to
//! the step-up page (`step_up.rs`), which asks for a code alone.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use careid_accounts::{AccountsError, Branding, RecoveryCodes, TotpEnrolment};
use careid_protocol::{
    ClientAddress,
    session::{self, LiveSession},
};
use qrcode::{EcLevel, QrCode, render::svg};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other, with_request},
    sign_in::pending,
    themes::DEFAULT_THEME,
};

/// The confirmation form; missing fields read as empty.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ConfirmForm {
    csrf: String,
    request: String,
    code: String,
}

/// The form that makes new recovery codes.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RegenerateForm {
    csrf: String,
}

/// What `security.html` shows.
#[derive(Serialize)]
struct View<'a> {
    email: &'a str,
    csrf: &'a str,
    /// The `otpauth://` URI while an enrolment is under way; `None` once confirmed.
    totp_uri: Option<String>,
    /// The same URI as a QR code, a `data:` URI of an SVG image, for the app to scan.
    totp_qr: Option<String>,
    is_code_wrong: bool,
    is_just_confirmed: bool,
    /// Recovery codes just made, shown this once.
    recovery_codes: &'a [String],
    unused_recovery_codes: u64,
    /// The pending request a client sent the person here with.
    request: Option<&'a str>,
    /// Where to go on once the session has a second factor.
    continue_to: Option<String>,
    /// The app is set up but this session had no code: the step-up page asks for one.
    step_up: Option<String>,
}

/// `GET /account/security`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let request = request_id(params.request.as_deref());
    pending(&ui, request).await?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other(&with_request("/sign-in", request), None));
    };
    page(&ui, &headers, &live, Outcome::Shown, request).await
}

/// `POST /account/security`: confirms the enrolment under way with a code.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let request = request_id(Some(&form.request));
    pending(&ui, request).await?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other(&with_request("/sign-in", request), None));
    };
    let outcome = ui
        .accounts
        .confirm_totp(live.account.id, &form.code, address.for_audit())
        .await;
    let outcome = match outcome {
        Ok(codes) => Outcome::Confirmed(codes),
        Err(AccountsError::TotpCodeWrong) => Outcome::CodeWrong,
        // Confirmed meanwhile (another tab): the page says it is on.
        Err(AccountsError::NoTotpEnrolment) => Outcome::Shown,
        Err(err) => return Err(err.into()),
    };
    if !matches!(outcome, Outcome::Confirmed(_)) {
        return page(&ui, &headers, &live, outcome, request).await;
    }
    // She has just typed a current code: this session now has its second factor, under
    // a new cookie secret (its privilege changed) but the same `sid`, so the
    // applications it signed in to stay signed in. A session that ended meanwhile gets
    // no upgrade: she signs in again.
    let Some(secret) = ui.accounts.raise_session(&live.session).await? else {
        return Ok(see_other(&with_request("/sign-in", request), None));
    };
    let cookie = session::set_cookie(secret.as_str(), ui.is_secure());
    let mut response = page(&ui, &headers, &live, outcome, request).await?;
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `POST /account/security/recovery-codes`: a new set of recovery codes; the old set
/// stops working.
pub(crate) async fn regenerate(
    State(ui): State<Arc<Ui>>,
    address: ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<RegenerateForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other("/sign-in", None));
    };
    let outcome = ui
        .accounts
        .regenerate_recovery_codes(live.account.id, address.for_audit())
        .await;
    let outcome = match outcome {
        Ok(codes) => Outcome::Regenerated(codes),
        // No authenticator app yet: the page offers to add one.
        Err(AccountsError::NoTotpEnrolment) => Outcome::Shown,
        Err(err) => return Err(err.into()),
    };
    page(&ui, &headers, &live, outcome, None).await
}

/// What the last action did, for the page to say.
enum Outcome {
    Shown,
    CodeWrong,
    Confirmed(RecoveryCodes),
    Regenerated(RecoveryCodes),
}

async fn page(
    ui: &Ui,
    headers: &HeaderMap,
    live: &LiveSession,
    outcome: Outcome,
    request: Option<&str>,
) -> Result<Response, UiError> {
    // The app lists the secret under careid's own name, whichever client sent her.
    let issuer = Branding::default().product;
    let enrolment = ui
        .accounts
        .totp_enrolment(live.account.id, &live.account.email, &issuer)
        .await?;
    let is_confirmed = enrolment == TotpEnrolment::Confirmed;
    let totp_uri = match enrolment {
        TotpEnrolment::Confirmed => None,
        TotpEnrolment::Pending { uri } => Some(uri),
    };
    let has_mfa = careid_protocol::acr::has_mfa(&live.session.amr());
    let is_just_confirmed = matches!(outcome, Outcome::Confirmed(_));
    let continue_to = request
        .filter(|_| is_just_confirmed)
        .map(|id| next_step(Some(id)));
    let step_up = request
        .filter(|_| is_confirmed && !is_just_confirmed && !has_mfa)
        .map(|id| with_request(crate::step_up::PATH, Some(id)));
    let unused_recovery_codes = ui.accounts.unused_recovery_codes(live.account.id).await?;
    let (token, cookie) = csrf::token(ui, headers);
    let codes = match &outcome {
        Outcome::Confirmed(codes) | Outcome::Regenerated(codes) => codes.as_slice(),
        Outcome::Shown | Outcome::CodeWrong => &[],
    };
    let totp_qr = totp_uri.as_deref().and_then(qr_image);
    let view = View {
        email: &live.account.email,
        csrf: &token,
        totp_uri,
        totp_qr,
        is_code_wrong: matches!(outcome, Outcome::CodeWrong),
        is_just_confirmed,
        recovery_codes: codes,
        unused_recovery_codes,
        request,
        continue_to,
        step_up,
    };
    let status = match outcome {
        Outcome::CodeWrong => StatusCode::BAD_REQUEST,
        Outcome::Shown | Outcome::Confirmed(_) | Outcome::Regenerated(_) => StatusCode::OK,
    };
    let html = ui.themes.render(DEFAULT_THEME, "security.html", view)?;
    Ok(respond(status, html, cookie))
}

/// `text` as a QR code: an SVG image in a `data:` URI, which the page's CSP allows for
/// images, so no route or script is needed. `None` only for text too long for any QR
/// version, which an `otpauth://` URI of careid's never is; the page then shows the link
/// alone.
fn qr_image(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(image)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_link_becomes_an_svg_qr_code() {
        let uri = "otpauth://totp/careid:ada%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=careid";
        let image = qr_image(uri).expect("a QR code");
        let svg = image
            .strip_prefix("data:image/svg+xml;base64,")
            .expect("a data URI");
        let svg = String::from_utf8(STANDARD.decode(svg).unwrap()).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        // Another secret, another picture.
        let other = qr_image(&uri.replace("JBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLU")).unwrap();
        assert_ne!(image, other);
    }

    #[test]
    fn text_beyond_any_qr_version_gives_no_image() {
        assert_eq!(qr_image(&"x".repeat(8_000)), None);
    }
}
