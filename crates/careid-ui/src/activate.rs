//! The activation page an invitation email links to: `GET /activate?token=…` records that
//! the person followed the link (invitation `opened`) and shows the new-password form with
//! the rules listed before typing; `POST /activate` sets the password, which makes the
//! account active and the invitation accepted, then shows a page with a sign-in link (the
//! person signs in with the new password; careid does not sign them in on its own).
//!
//! An expired link shows a page that offers the password-reset flow, which activates an
//! invited account as well. Tokens and rules are `careid-accounts`'.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::{AccountsError, ClientId};
use careid_policy::PlainPassword;

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    reset::{
        LinkKind, LinkParams, PasswordForm, PasswordPage, link_problem, password_page,
        password_set, refusal, theme_of,
    },
};

/// The activation form for `token`.
fn form<'a>(token: &'a str, email: Option<&'a str>, client: Option<&'a str>) -> PasswordPage<'a> {
    PasswordPage {
        heading: "Activate your account",
        lead: Some("Choose the password you will sign in with.".into()),
        action: "/activate",
        button: "Activate my account",
        token: Some(token),
        email,
        client,
        ..PasswordPage::default()
    }
}

/// `GET /activate?token=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<LinkParams>,
) -> Result<Response, UiError> {
    let token = params.token;
    match ui.lifecycle()?.open_invitation(&token).await {
        Ok(holder) => {
            let theme = theme_of(&ui, holder.client_id.as_ref());
            let page = form(
                &token,
                Some(&holder.email),
                holder.client_id.as_ref().map(ClientId::as_str),
            );
            password_page(&ui, &headers, &theme, page, StatusCode::OK, None)
        }
        Err(AccountsError::LinkNotUsable(problem)) => {
            link_problem(&ui, problem, LinkKind::Invitation, None)
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /activate`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(data): PageForm<PasswordForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&data.csrf))?;
    // The client the invitation was for: a refused form stays in its theme.
    let client = data.client().map(ClientId::from);
    let outcome = ui
        .lifecycle()?
        .accept_invitation(
            &data.token,
            PlainPassword::new(data.password),
            PlainPassword::new(data.confirmation),
        )
        .await;
    let refused = match outcome {
        Ok(_) => return password_set(&ui, true, None, client.as_ref()),
        Err(AccountsError::LinkNotUsable(problem)) => {
            return link_problem(&ui, problem, LinkKind::Invitation, client.as_ref());
        }
        Err(err) => refusal(&ui, err)?,
    };
    let email = Some(data.email.as_str()).filter(|e| !e.is_empty());
    let page = refused.apply(form(
        &data.token,
        email,
        client.as_ref().map(ClientId::as_str),
    ));
    let theme = theme_of(&ui, client.as_ref());
    password_page(&ui, &headers, &theme, page, StatusCode::OK, None)
}
