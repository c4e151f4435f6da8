//! The password-reset pages after "Forgot password?": `GET /reset?token=…` checks the
//! link from the email; for a self-service link it offers to send a security code
//! (`POST /reset`, which binds the reset to this browser with a cookie), for an
//! administrator's link it shows the new-password form straight away
//! (`POST /reset/password`). `POST /reset/code` takes the code and the new password, in
//! both the two-step and the code-only mode.
//!
//! Also the pieces the activation page shares: the new-password form, the "link does not
//! work" page and the "password set" page. Tokens, codes and their rules are
//! `careid-accounts`'; this module only words the outcomes.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use careid_accounts::{AccountsError, ClientId, LinkProblem, ResetLink};
use careid_policy::{PasswordRules, PlainPassword, one_time};
use careid_protocol::session::cookie_value;
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{request_id, respond},
};

/// The cookie that binds a reset code to the browser that opened the reset link.
const BINDING_COOKIE: &str = "careid_reset";

/// `?token=…` of a link from an email.
#[derive(Deserialize)]
pub(crate) struct LinkParams {
    #[serde(default)]
    pub token: String,
}

/// The forms of the reset and activation pages. Every field defaults to empty so a
/// missing one gets a clear page rather than a bare rejection.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct PasswordForm {
    pub csrf: String,
    pub request: String,
    pub token: String,
    pub mode: String,
    pub email: String,
    pub code: String,
    pub password: String,
    pub confirmation: String,
    /// The client the link was for, carried so a refused form keeps its theme.
    pub client: String,
}

impl PasswordForm {
    /// The client the form was shown for, if any.
    pub(crate) fn client(&self) -> Option<&str> {
        Some(self.client.as_str()).filter(|c| !c.is_empty())
    }
}

/// What `set_password.html` shows.
#[derive(Serialize, Default)]
pub(crate) struct PasswordPage<'a> {
    pub heading: &'a str,
    pub lead: Option<String>,
    pub action: &'a str,
    pub button: &'a str,
    pub token: Option<&'a str>,
    pub mode: Option<&'a str>,
    pub email: Option<&'a str>,
    pub show_email: bool,
    pub show_code: bool,
    pub message: Option<String>,
    pub problems: Vec<String>,
    pub request: Option<&'a str>,
    pub csrf: &'a str,
    pub rules: Vec<RuleLine>,
    /// The fewest characters a password may have, for the page's script.
    pub min_length: usize,
    /// The client whose theme the page is in; posted back with the form.
    pub client: Option<&'a str>,
}

/// One password rule as the form lists it: its sentence, and the code of the violation it
/// prevents (`Violation::code`), by which `password-rules.js` marks it met or unmet while
/// the person types. The server checks every rule again on submit.
#[derive(Serialize)]
pub(crate) struct RuleLine {
    pub text: String,
    pub code: &'static str,
}

/// The rules' sentences with the codes of the violations they prevent.
fn rule_lines(rules: &PasswordRules) -> Vec<RuleLine> {
    rules
        .describe_with_violations()
        .into_iter()
        .map(|(violation, text)| RuleLine {
            text,
            code: violation.code(),
        })
        .collect()
}

/// `GET /reset?token=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<LinkParams>,
) -> Result<Response, UiError> {
    let lifecycle = ui.lifecycle()?;
    let link = match lifecycle.open_reset_link(&params.token).await {
        Ok(link) => link,
        Err(AccountsError::LinkNotUsable(problem)) => {
            return link_problem(&ui, problem, LinkKind::Reset, None);
        }
        Err(err) => return Err(err.into()),
    };
    let theme = theme_of(&ui, link.client_id.as_ref());
    if link.is_admin {
        let page = PasswordPage {
            client: link.client_id.as_ref().map(ClientId::as_str),
            ..admin_form(&params.token)
        };
        return password_page(&ui, &headers, &theme, page, StatusCode::OK, None);
    }
    let (token, cookie) = csrf::token(&ui, &headers);
    let view = serde_json::json!({
        "email": link.email,
        "token": params.token,
        "csrf": token,
        "request": None::<String>,
    });
    let html = ui.themes.render(&theme, "reset_send_code.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /reset`: uses the link up, binds this browser and mails the security code.
pub(crate) async fn send_code(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let lifecycle = ui.lifecycle()?;
    let link: ResetLink = match lifecycle.open_reset_link(&form.token).await {
        Ok(link) if !link.is_admin => link,
        Ok(_) => return link_problem(&ui, LinkProblem::Unknown, LinkKind::Reset, None),
        Err(AccountsError::LinkNotUsable(problem)) => {
            return link_problem(&ui, problem, LinkKind::Reset, None);
        }
        Err(err) => return Err(err.into()),
    };
    let branding = ui.branding(link.client_id.as_ref());
    let binding = one_time::new_token();
    let email = match lifecycle
        .send_reset_code(&form.token, &binding, &branding)
        .await
    {
        Ok(email) => email,
        Err(AccountsError::LinkNotUsable(problem)) => {
            return link_problem(&ui, problem, LinkKind::Reset, link.client_id.as_ref());
        }
        Err(err) => return Err(err.into()),
    };
    let minutes = lifecycle.config.reset_code_minutes;
    let page = PasswordPage {
        lead: Some(format!(
            "We've emailed a 6-digit security code to {email}. Enter it here, in this browser, within {minutes} minutes, then choose your new password."
        )),
        email: Some(&email),
        client: link.client_id.as_ref().map(ClientId::as_str),
        ..code_form(None)
    };
    let cookie = binding_cookie(&binding, i64::from(minutes) * 60, ui.is_secure());
    password_page(&ui, &headers, &branding.theme, page, StatusCode::OK, cookie)
}

/// `POST /reset/code`: the security code and the new password.
pub(crate) async fn submit_code(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let lifecycle = ui.lifecycle()?;
    let request = request_id(Some(&form.request));
    let is_code_only = form.mode == "code_only";
    let client = form.client().map(ClientId::from);
    let binding = cookie_value(&headers, BINDING_COOKIE);
    let outcome = lifecycle
        .complete_code_reset(
            form.email.trim(),
            &form.code,
            binding,
            PlainPassword::new(form.password),
            PlainPassword::new(form.confirmation),
        )
        .await;
    let refusal = match outcome {
        Ok(_) => return password_set(&ui, false, request, client.as_ref()),
        // The code-only form is shown for any email, so it never tells that a code is
        // waiting: a code from another browser is as wrong as a made-up one (it has cost
        // an attempt all the same).
        Err(AccountsError::WrongBrowser) if is_code_only => refusal(&ui, AccountsError::CodeDead)?,
        Err(err) => refusal(&ui, err)?,
    };
    let page = PasswordPage {
        email: Some(form.email.trim()),
        show_email: is_code_only,
        client: client.as_ref().map(ClientId::as_str),
        ..code_form(request)
    };
    let page = refusal.apply(page);
    let theme = theme_of(&ui, client.as_ref());
    password_page(&ui, &headers, &theme, page, StatusCode::OK, None)
}

/// `POST /reset/password`: the new password from an administrator's link.
pub(crate) async fn submit_admin(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let lifecycle = ui.lifecycle()?;
    let client = form.client().map(ClientId::from);
    let outcome = lifecycle
        .complete_admin_reset(
            &form.token,
            PlainPassword::new(form.password),
            PlainPassword::new(form.confirmation),
        )
        .await;
    let refusal = match outcome {
        Ok(_) => return password_set(&ui, false, None, client.as_ref()),
        Err(AccountsError::LinkNotUsable(problem)) => {
            return link_problem(&ui, problem, LinkKind::Reset, client.as_ref());
        }
        Err(err) => refusal(&ui, err)?,
    };
    let page = PasswordPage {
        client: client.as_ref().map(ClientId::as_str),
        ..refusal.apply(admin_form(&form.token))
    };
    let theme = theme_of(&ui, client.as_ref());
    password_page(&ui, &headers, &theme, page, StatusCode::OK, None)
}

/// The new-password form of an administrator's link.
fn admin_form(token: &str) -> PasswordPage<'_> {
    PasswordPage {
        heading: "Choose a new password",
        lead: Some("Your administrator sent you this link to set a new password.".into()),
        action: "/reset/password",
        button: "Set password",
        token: Some(token),
        ..PasswordPage::default()
    }
}

/// The code-and-new-password form; `request` is carried for the code-only mode.
pub(crate) fn code_form(request: Option<&str>) -> PasswordPage<'_> {
    PasswordPage {
        heading: "Choose a new password",
        action: "/reset/code",
        button: "Set password",
        show_code: true,
        request,
        ..PasswordPage::default()
    }
}

/// What a refused form shows: a message, or the broken password rules.
pub(crate) enum Refusal {
    Message(String),
    Rules(Vec<String>),
}

impl Refusal {
    /// The page with the refusal on it.
    pub(crate) fn apply(self, page: PasswordPage<'_>) -> PasswordPage<'_> {
        match self {
            Self::Message(message) => PasswordPage {
                message: Some(message),
                ..page
            },
            Self::Rules(problems) => PasswordPage { problems, ..page },
        }
    }
}

/// Words a refusal the person can act on; anything else is an error page.
pub(crate) fn refusal(ui: &Ui, err: AccountsError) -> Result<Refusal, UiError> {
    let lifecycle = ui.lifecycle()?;
    Ok(match err {
        AccountsError::PasswordRejected(violations) => {
            Refusal::Rules(violations.iter().map(|v| v.message()).collect())
        }
        // One answer for a wrong code and a dead one: the page must not tell whether an
        // email has an account with a code waiting.
        AccountsError::CodeWrong { .. } | AccountsError::CodeDead => Refusal::Message(format!(
            "That security code is not right, or it no longer works. A code works for {} minutes, only in the browser where you asked for it, and stops after {} wrong tries; if yours has, start again from \"Forgot password?\".",
            lifecycle.config.reset_code_minutes, lifecycle.config.code_attempts
        )),
        AccountsError::WrongBrowser => Refusal::Message(
            "This code works only in the browser where you opened the reset link. Enter it there, or start again from \"Forgot password?\".".into(),
        ),
        other => return Err(other.into()),
    })
}

/// Which kind of link a problem page is about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    Invitation,
    Reset,
}

/// The page for a link that does not work, offering the reset flow (which also activates
/// an invited account), in the theme of `client` when known.
pub(crate) fn link_problem(
    ui: &Ui,
    problem: LinkProblem,
    kind: LinkKind,
    client: Option<&ClientId>,
) -> Result<Response, UiError> {
    let (title, detail) = match (kind, problem) {
        (LinkKind::Invitation, LinkProblem::Expired) => (
            "This invitation link has expired",
            "Invitation links work for a limited time. You can still set your password and activate your account: ask for a password-reset email below.",
        ),
        (LinkKind::Invitation, LinkProblem::Used) => (
            "This invitation link was already used",
            "Your account may already be active: try signing in. If you don't know your password, ask for a password-reset email.",
        ),
        (LinkKind::Reset, LinkProblem::Expired) => (
            "This reset link has expired",
            "Reset links work for a limited time. Ask for a new one below.",
        ),
        (LinkKind::Reset, LinkProblem::Used) => (
            "This reset link was already used",
            "Each reset link works once, and a newer one replaces it. Ask for a new one if you still need to reset your password.",
        ),
        (_, LinkProblem::Unknown) => (
            "This link does not work",
            "The link may be incomplete: copy the whole link from the email, or ask for a new one.",
        ),
    };
    let view = serde_json::json!({ "title": title, "detail": detail, "offer_reset": true });
    let html = ui
        .themes
        .render(&theme_of(ui, client), "link_problem.html", view)?;
    Ok(respond(StatusCode::BAD_REQUEST, html, None))
}

/// The page after a password was set: the person signs in with it, in the theme of
/// `client` when known.
pub(crate) fn password_set(
    ui: &Ui,
    is_activation: bool,
    request: Option<&str>,
    client: Option<&ClientId>,
) -> Result<Response, UiError> {
    let (heading, detail) = if is_activation {
        (
            "Your account is active",
            "Your password is set and your account is ready. Sign in with your email and your new password.",
        )
    } else {
        (
            "Your password has been changed",
            "Sign in with your new password. Any other place you were signed in has been signed out.",
        )
    };
    let view = serde_json::json!({ "heading": heading, "detail": detail, "request": request });
    let html = ui
        .themes
        .render(&theme_of(ui, client), "password_set.html", view)?;
    Ok(respond(StatusCode::OK, html, None))
}

/// Renders `set_password.html` with the rules, a CSRF token and an optional cookie.
pub(crate) fn password_page(
    ui: &Ui,
    headers: &HeaderMap,
    theme: &str,
    page: PasswordPage<'_>,
    status: StatusCode,
    extra_cookie: Option<HeaderValue>,
) -> Result<Response, UiError> {
    let (token, cookie) = csrf::token(ui, headers);
    let page = PasswordPage {
        csrf: &token,
        rules: rule_lines(&ui.accounts.config.password),
        min_length: ui.accounts.config.password.min_length,
        ..page
    };
    let html = ui.themes.render(theme, "set_password.html", page)?;
    Ok(respond(
        status,
        html,
        cookie.into_iter().chain(extra_cookie),
    ))
}

/// The theme of the client with this id, or the default.
pub(crate) fn theme_of(ui: &Ui, client_id: Option<&ClientId>) -> String {
    ui.branding(client_id).theme
}

/// The binding cookie (set by `POST /reset` and, for code-only clients, by
/// `POST /forgot-password`): only for `/reset` pages, script-proof, same-site only, and gone
/// when the code expires.
pub(crate) fn binding_cookie(secret: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={secret}; Path=/reset; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_sentence_carries_the_code_of_its_violation() {
        let lines = rule_lines(&PasswordRules::default());
        let codes: Vec<_> = lines.iter().map(|l| l.code).collect();
        assert_eq!(
            codes,
            [
                "too_short",
                "no_digit",
                "no_uppercase",
                "no_symbol",
                "common",
                "contains_email_name",
                "mismatch"
            ]
        );
        assert!(lines[0].text.contains("10 characters"), "{}", lines[0].text);
        assert!(lines[1].text.contains("digit"), "{}", lines[1].text);
        assert!(lines[2].text.contains("uppercase"), "{}", lines[2].text);
        assert!(lines[3].text.contains("symbol"), "{}", lines[3].text);
        assert!(lines[5].text.contains("email"), "{}", lines[5].text);
        assert!(lines[6].text.contains("same"), "{}", lines[6].text);
    }

    #[test]
    fn rules_that_are_switched_off_leave_no_line_and_no_code() {
        let rules = PasswordRules {
            min_length: 0,
            require_digit: false,
            require_uppercase: true,
            require_symbol: false,
            forbid_common: false,
            forbid_email_name: true,
        };
        let lines = rule_lines(&rules);
        let codes: Vec<_> = lines.iter().map(|l| l.code).collect();
        assert_eq!(codes, ["no_uppercase", "contains_email_name", "mismatch"]);
        assert!(lines[0].text.contains("uppercase"), "{}", lines[0].text);
    }

    #[test]
    fn the_binding_cookie_stays_on_the_reset_pages_and_out_of_scripts() {
        let cookie = binding_cookie("abc", 900, true).unwrap();
        let cookie = cookie.to_str().unwrap();
        for part in [
            "careid_reset=abc",
            "Path=/reset",
            "Max-Age=900",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
        ] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
    }
}
