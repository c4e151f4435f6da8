//! Several profiles under one login, end to end (issue 13): the picker after sign-in,
//! `prompt=select_account` within a session, claims per profile at the token endpoint
//! and `/userinfo`, and a removed profile's tokens ending. The relying party is the
//! `openidconnect` crate, as a real portal would be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_accounts::{AccountsError, NewProfileFields, Profile, ProfileKind};
use careid_tests::{
    Browser, PASSWORD, TestServer,
    browser::{Landing, Page, param},
    rp::{Pending, Rp},
};
use openidconnect::{OAuth2TokenResponse, TokenResponse, core::CoreTokenResponse};
use reqwest::StatusCode;

const EMAIL: &str = "ada@clinic.example";

/// Ada, with her son Sam as a dependent profile; her own profile and Sam's.
async fn ada_and_sam(server: &TestServer) -> (Profile, Profile) {
    server.add_account(EMAIL, "Ada Okafor").await;
    let sam = server
        .accounts
        .add_profile_to(
            EMAIL,
            NewProfileFields {
                name: "Sam Okafor".into(),
                kind: ProfileKind::Dependent,
                email: None,
                birthdate: Some("2016-03-01".into()),
            },
        )
        .await
        .unwrap();
    let (_, all) = server.accounts.profiles_of(EMAIL).await.unwrap();
    (all[0].clone(), sam)
}

/// Signs in on the form `pending` leads to and returns the profile picker.
async fn sign_in_to_picker(browser: &Browser, pending: &Pending) -> Page {
    let page = browser.visit(pending.url.as_str()).await.page();
    let picker = browser
        .submit(&page, &[("email", EMAIL), ("password", PASSWORD)])
        .await
        .page();
    assert!(picker.url.contains("/select-profile"), "{}", picker.url);
    picker
}

/// Presses the picker's button for `profile`; returns where careid sent the browser.
async fn choose(browser: &Browser, picker: &Page, profile: &Profile) -> url::Url {
    let form = picker.form().expect("the picker's form");
    let id = profile.id.to_string();
    // The picker's buttons carry `profile_id`: keep the pressed one only.
    let mut fields: Vec<(String, String)> = form
        .fields(&[])
        .into_iter()
        .filter(|(name, _)| name != "profile_id")
        .collect();
    fields.push(("profile_id".into(), id));
    let action = url::Url::parse(&picker.url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    let posted = browser.post(action.as_str(), &fields).await;
    browser.follow(posted).await.left()
}

/// The RP's request with `prompt=select_account` added.
fn with_select_account(mut pending: Pending) -> Pending {
    pending
        .url
        .query_pairs_mut()
        .append_pair("prompt", "select_account");
    pending
}

/// Exchanges the code in `back` and returns the tokens and the ID token's `sub`.
async fn finish(rp: &Rp, pending: Pending, back: &url::Url) -> (CoreTokenResponse, String) {
    let code = param(back, "code").expect("a code");
    let tokens = rp.exchange(&code, pending.verifier).await;
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&rp.client.id_token_verifier(), &pending.nonce)
        .unwrap();
    let sub = claims.subject().to_string();
    (tokens, sub)
}

async fn userinfo(server: &TestServer, tokens: &CoreTokenResponse) -> serde_json::Value {
    let response = server.userinfo(tokens.access_token().secret()).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_picker_yields_the_chosen_profiles_sub_and_select_account_switches_it() {
    let server = TestServer::start().await;
    let (ada, sam) = ada_and_sam(&server).await;
    let crm = Rp::crm(&server.url).await;
    let browser = server.browser();

    let pending = crm.start();
    let picker = sign_in_to_picker(&browser, &pending).await;
    let back = choose(&browser, &picker, &sam).await;
    let (_, sub) = finish(&crm, pending, &back).await;
    assert_eq!(sub, sam.subject);

    // Within the session, a plain request keeps Sam without asking.
    let pending = crm.start();
    let back = browser.visit(pending.url.as_str()).await.left();
    assert_eq!(finish(&crm, pending, &back).await.1, sam.subject);

    // prompt=select_account shows the picker again, Sam marked current; choosing Ada
    // switches the sub.
    let pending = with_select_account(crm.start());
    let picker = browser.visit(pending.url.as_str()).await.page();
    assert!(picker.body.contains("current"), "{}", picker.body);
    let back = choose(&browser, &picker, &ada).await;
    assert_eq!(finish(&crm, pending, &back).await.1, ada.subject);

    let chosen = server.audit_events("profile_chosen").await;
    assert_eq!(chosen.len(), 2);
}

#[tokio::test]
async fn select_account_with_a_single_profile_asks_nothing() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let crm = Rp::crm(&server.url).await;
    let browser = server.browser();
    let pending = crm.start();
    browser.sign_in(pending.url.as_str(), EMAIL, PASSWORD).await;
    let pending = with_select_account(crm.start());
    let landing = browser.visit(pending.url.as_str()).await;
    assert!(matches!(landing, Landing::Left(_)), "{landing:?}");
}

#[tokio::test]
async fn discovery_advertises_select_account_and_birthdate() {
    let server = TestServer::start().await;
    let doc = server.discovery().await;
    assert_eq!(
        doc["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent", "select_account"])
    );
    let claims = doc["claims_supported"].as_array().unwrap();
    assert!(claims.contains(&serde_json::json!("birthdate")));
}

#[tokio::test]
async fn userinfo_of_one_profile_never_shows_anothers_claims() {
    let server = TestServer::start().await;
    let (ada, sam) = ada_and_sam(&server).await;
    let crm = Rp::crm(&server.url).await;
    let browser = server.browser();

    let pending = crm.start();
    let picker = sign_in_to_picker(&browser, &pending).await;
    let back = choose(&browser, &picker, &sam).await;
    let (sams_tokens, _) = finish(&crm, pending, &back).await;
    let pending = with_select_account(crm.start());
    let picker = browser.visit(pending.url.as_str()).await.page();
    let back = choose(&browser, &picker, &ada).await;
    let (adas_tokens, _) = finish(&crm, pending, &back).await;

    // Sam's token still speaks for Sam only, after the switch.
    let sams = userinfo(&server, &sams_tokens).await;
    assert_eq!(sams["sub"], sam.subject.as_str());
    assert_eq!(sams["name"], "Sam Okafor");
    assert_eq!(sams["birthdate"], "2016-03-01");
    assert!(sams.get("email").is_none(), "{sams}");
    let adas = userinfo(&server, &adas_tokens).await;
    assert_eq!(adas["sub"], ada.subject.as_str());
    assert_eq!(adas["name"], "Ada Okafor");
    assert_eq!(adas["email"], EMAIL);
    assert!(adas.get("birthdate").is_none(), "{adas}");
}

#[tokio::test]
async fn a_removed_profiles_refresh_token_is_refused_and_its_session_chooses_again() {
    let server = TestServer::start().await;
    let (ada, sam) = ada_and_sam(&server).await;
    let kid = server
        .accounts
        .add_profile_to(
            EMAIL,
            NewProfileFields {
                name: "Kim Okafor".into(),
                kind: ProfileKind::Dependent,
                email: None,
                birthdate: None,
            },
        )
        .await
        .unwrap();
    let crm = Rp::crm(&server.url).await;
    let browser = server.browser();
    let pending = crm.start_offline();
    let picker = sign_in_to_picker(&browser, &pending).await;
    let back = choose(&browser, &picker, &sam).await;
    let (tokens, _) = finish(&crm, pending, &back).await;
    let refresh = tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();

    server
        .accounts
        .remove_profile(EMAIL, &sam.subject)
        .await
        .unwrap();

    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    careid_tests::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let gone = server.userinfo(tokens.access_token().secret()).await;
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
    // The session acted as Sam: it chooses again, between the two that are left.
    let pending = crm.start();
    let picker = browser.visit(pending.url.as_str()).await.page();
    assert!(picker.body.contains("Kim Okafor") && !picker.body.contains("Sam Okafor"));
    let back = choose(&browser, &picker, &kid).await;
    assert_eq!(finish(&crm, pending, &back).await.1, kid.subject);

    // Never the last one.
    server
        .accounts
        .remove_profile(EMAIL, &kid.subject)
        .await
        .unwrap();
    assert!(matches!(
        server.accounts.remove_profile(EMAIL, &ada.subject).await,
        Err(AccountsError::LastProfile)
    ));
    assert_eq!(server.audit_events("profile_removed").await.len(), 2);
}

#[tokio::test]
async fn a_renamed_profile_reaches_the_portal_under_its_new_name() {
    let server = TestServer::start().await;
    let (_, sam) = ada_and_sam(&server).await;
    server
        .accounts
        .rename_profile(EMAIL, &sam.subject, "Samuel Okafor")
        .await
        .unwrap();
    let crm = Rp::crm(&server.url).await;
    let browser = server.browser();
    let pending = crm.start();
    let picker = sign_in_to_picker(&browser, &pending).await;
    let back = choose(&browser, &picker, &sam).await;
    let (tokens, sub) = finish(&crm, pending, &back).await;
    assert_eq!(sub, sam.subject);
    assert_eq!(userinfo(&server, &tokens).await["name"], "Samuel Okafor");
    assert_eq!(server.audit_events("profile_renamed").await.len(), 1);
}

#[tokio::test]
async fn a_profile_with_a_bad_birthdate_or_no_name_is_refused() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    for (name, birthdate) in [("Sam", "2016-02-30"), ("  ", "2016-03-01")] {
        let refused = server
            .accounts
            .add_profile_to(
                EMAIL,
                NewProfileFields {
                    name: name.into(),
                    kind: ProfileKind::Dependent,
                    email: None,
                    birthdate: Some(birthdate.into()),
                },
            )
            .await;
        assert!(matches!(refused, Err(AccountsError::InvalidProfile { .. })));
    }
    assert_eq!(server.accounts.profiles_of(EMAIL).await.unwrap().1.len(), 1);
}

#[tokio::test]
async fn the_profile_commands_add_list_rename_and_remove() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let added = server
        .careid_command(&[
            "profile",
            "add",
            EMAIL,
            "--name",
            "Sam Okafor",
            "--kind",
            "dependent",
            "--birthdate",
            "2016-03-01",
        ])
        .await;
    assert!(added.status.success(), "{added:?}");
    let (_, all) = server.accounts.profiles_of(EMAIL).await.unwrap();
    let (own, sam) = (&all[0], &all[1]);
    assert_eq!(sam.birthdate.as_deref(), Some("2016-03-01"));

    let listed = server.careid_command(&["profile", "list", EMAIL]).await;
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains(&sam.subject) && listed.contains("2016-03-01"),
        "{listed}"
    );

    let renamed = server
        .careid_command(&[
            "profile",
            "rename",
            EMAIL,
            &sam.subject,
            "--name",
            "Samuel Okafor",
        ])
        .await;
    assert!(renamed.status.success(), "{renamed:?}");
    let cousin = server
        .careid_command(&["profile", "add", EMAIL, "--name", "Kim", "--kind", "cousin"])
        .await;
    assert!(!cousin.status.success());

    let removed = server
        .careid_command(&["profile", "remove", EMAIL, &sam.subject])
        .await;
    assert!(removed.status.success(), "{removed:?}");
    let last = server
        .careid_command(&["profile", "remove", EMAIL, &own.subject])
        .await;
    assert!(!last.status.success());
    assert!(String::from_utf8(last.stderr).unwrap().contains("last"));
    let kinds: Vec<String> = ["profile_added", "profile_renamed", "profile_removed"]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    for kind in kinds {
        assert_eq!(server.audit_events(&kind).await.len(), 1, "{kind}");
    }
}
