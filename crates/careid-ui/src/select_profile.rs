//! The profile picker (DESIGN.md, Identity model): an account with several profiles (self,
//! a couple, a dependent) chooses which one the application sees. `GET /select-profile`
//! lists them; `POST /select-profile` records the choice on the careid session and sends
//! the browser back to `/authorize/continue`. Which profile a token names is the
//! protocol's business; this page only sets it.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use careid_accounts::ProfileId;
use careid_protocol::{find_pending, record_profile_choice, session};
use serde::{Deserialize, Serialize};

use crate::{
    Ui, UiError, csrf,
    extract::{PageForm, PageQuery},
    page::{next_step, request_id, respond, see_other, with_request},
    themes::DEFAULT_THEME,
};

/// The picker's form: one submit button per profile, each carrying its `profile_id`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SelectForm {
    csrf: String,
    request: String,
    profile_id: i64,
}

/// One profile as the picker shows it.
#[derive(Serialize)]
struct Choice {
    id: ProfileId,
    name: String,
    kind: String,
    is_current: bool,
}

/// What `select_profile.html` shows.
#[derive(Serialize)]
struct View<'a> {
    client_name: Option<&'a str>,
    request: Option<&'a str>,
    csrf: &'a str,
    email: &'a str,
    profiles: Vec<Choice>,
}

/// `GET /select-profile?request=…`.
pub(crate) async fn show(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageQuery(params): PageQuery<crate::page::RequestQuery>,
) -> Result<Response, UiError> {
    let request = request_id(params.request.as_deref());
    let pending = match request {
        Some(id) => Some(
            find_pending(&ui.protocol, id)
                .await?
                .ok_or(UiError::RequestExpired)?,
        ),
        None => None,
    };
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other(&with_request("/sign-in", request), None));
    };
    let profiles = ui.accounts.profiles(live.account.id).await?;
    let (token, cookie) = csrf::token(&ui, &headers);
    let client = pending.as_ref().map(|p| p.client.as_ref());
    let view = View {
        client_name: client.map(|c| c.name.as_str()),
        request,
        csrf: &token,
        email: &live.account.email,
        profiles: profiles
            .into_iter()
            .map(|p| Choice {
                id: p.id,
                is_current: live.session.profile_id == Some(p.id),
                name: p.name,
                kind: p.kind,
            })
            .collect(),
    };
    let theme = client.map_or(DEFAULT_THEME, |c| c.theme.as_str());
    let html = ui.themes.render(theme, "select_profile.html", view)?;
    Ok(respond(StatusCode::OK, html, cookie))
}

/// `POST /select-profile`.
pub(crate) async fn submit(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    PageForm(form): PageForm<SelectForm>,
) -> Result<Response, UiError> {
    csrf::verify(&ui, &headers, Some(&form.csrf))?;
    let request = request_id(Some(&form.request));
    let Some(live) = session::current(&ui.protocol, &headers).await? else {
        return Ok(see_other(&with_request("/sign-in", request), None));
    };
    let profile_id = ProfileId::new(form.profile_id);
    // The id came from the browser: the service refuses a profile of another account.
    ui.accounts
        .choose_profile(live.account.id, live.session.id, profile_id)
        .await?;
    // The request that asked (`prompt=select_account`) now has its answer; an expired
    // one is told at `/authorize/continue`.
    if let Some(id) = request {
        record_profile_choice(&ui.protocol, id).await?;
    }
    Ok(see_other(&next_step(request), None))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;
    use crate::testing::{Fixture, location, text};

    /// Ada, with a second profile for her son; returns the son's profile id.
    async fn ada_with_a_dependent(fx: &Fixture) -> ProfileId {
        let ada = fx.account("ada@clinic.example").await;
        fx.ui
            .accounts
            .add_profile(ada.account_id, "dependent", "Sam <Okafor>", None)
            .await
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn without_a_session_the_picker_sends_the_browser_to_sign_in() {
        let fx = Fixture::new().await;
        let id = fx.pending("crm").await;
        let response = fx.get(&format!("/select-profile?request={id}"), "").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), format!("/sign-in?request={id}"));
    }

    #[tokio::test]
    async fn the_picker_lists_every_profile_of_the_account() {
        let fx = Fixture::new().await;
        let son = ada_with_a_dependent(&fx).await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let id = fx.pending("crm").await;
        let response = fx
            .get(&format!("/select-profile?request={id}"), &cookies)
            .await;
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let html = text(response).await;
        assert!(
            html.contains(&format!(r#"name="profile_id" value="{son}""#)),
            "{html}"
        );
        assert!(html.contains("Sam &lt;Okafor&gt;") && html.contains("Dependent"));
        assert!(html.contains("Ada Okafor") && html.contains("CarePortals CRM"));
    }

    #[tokio::test]
    async fn a_chosen_profile_is_kept_on_the_session() {
        let fx = Fixture::new().await;
        let son = ada_with_a_dependent(&fx).await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let token = fx.csrf(&cookies);
        let id = fx.pending("crm").await;
        let son = son.to_string();
        let form = [
            ("csrf", token.as_str()),
            ("request", id.as_str()),
            ("profile_id", son.as_str()),
        ];
        let response = fx.post("/select-profile", &cookies, &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&response),
            format!("/authorize/continue?request={id}")
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookies).unwrap());
        let live = session::current(&fx.ui.protocol, &headers).await.unwrap();
        assert_eq!(
            live.unwrap().session.profile_id.map(|p| p.to_string()),
            Some(son)
        );
    }

    #[tokio::test]
    async fn a_profile_of_another_account_is_refused() {
        let fx = Fixture::new().await;
        let son = ada_with_a_dependent(&fx).await.to_string();
        fx.account("bo@clinic.example").await;
        let cookies = fx.signed_in("bo@clinic.example").await;
        let token = fx.csrf(&cookies);
        let form = [("csrf", token.as_str()), ("profile_id", son.as_str())];
        let response = fx.post("/select-profile", &cookies, &form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            text(response)
                .await
                .contains("That profile is not available")
        );
    }
}
