//! Pairwise subjects (OIDC Core §8.1; issue 12, item 10): a client with `subject_type
//! pairwise` sees a `sub` of its own sector, so two apps on different hosts cannot match
//! their records of one person; the same app sees the same `sub` at every sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_tests::{TestServer, clients_dir_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADA: &str = "ada@example.org";
const DIARY: &str = "https://diary.example/callback";
const MOOD: &str = "https://mood.example/callback";

/// The claims of a JWT, unverified (careid's signature is checked elsewhere).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sub(tokens: &Value) -> String {
    let id = claims(tokens["id_token"].as_str().unwrap());
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(id["sub"], access["sub"], "ID and access token agree");
    id["sub"].as_str().unwrap().to_owned()
}

async fn pairwise_app(server: &TestServer, name: &str, callback: &str) -> Value {
    let app = server
        .register_ok(&json!({
            "client_name": name,
            "redirect_uris": [callback],
            "subject_type": "pairwise",
        }))
        .await;
    assert_eq!(app["subject_type"], "pairwise");
    app
}

#[tokio::test]
async fn two_apps_on_different_hosts_see_different_subjects_that_stay_the_same() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    assert_eq!(
        server.discovery().await["subject_types_supported"],
        json!(["public", "pairwise"])
    );
    let diary = pairwise_app(&server, "Diary", DIARY).await;
    let mood = pairwise_app(&server, "Mood Tracker", MOOD).await;

    let browser = server.browser();
    let code = server.crm_code(&browser, ADA).await;
    let (_, crm) = server.crm_exchange(&code).await;
    let public = sub(&crm);
    let from_diary = server.registered_tokens(&browser, &diary, DIARY, ADA).await;
    let from_mood = server.registered_tokens(&browser, &mood, MOOD, ADA).await;
    let (diary_sub, mood_sub) = (sub(&from_diary), sub(&from_mood));
    assert_ne!(diary_sub, mood_sub);
    assert_ne!(diary_sub, public);
    assert_ne!(mood_sub, public);

    // Another sign-in, in another browser: the same subject for the same app.
    let again = server
        .registered_tokens(&server.browser(), &diary, DIARY, ADA)
        .await;
    assert_eq!(sub(&again), diary_sub);

    // /userinfo and /introspect speak of the person with the app's subject.
    let access = from_diary["access_token"].as_str().unwrap();
    let userinfo: Value = server.userinfo(access).await.json().await.unwrap();
    assert_eq!(userinfo["sub"], diary_sub.as_str(), "{userinfo}");
    assert_eq!(userinfo["email"], ADA);
    let answer: Value = server
        .post_form(
            "/introspect",
            Some((
                diary["client_id"].as_str().unwrap(),
                diary["client_secret"].as_str().unwrap(),
            )),
            &[("token", access)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], diary_sub.as_str());

    // Back-channel logout tokens name the person as each client knows them: the
    // session's record of its clients holds the pairwise subject.
    let sid = claims(from_diary["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let known: Vec<(String, String)> =
        careid_store::sessions::find_clients(&server.accounts.db, &sid)
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.client_id.into_string(), row.subject))
            .collect();
    for (client_id, expected) in [
        ("crm", &public),
        (diary["client_id"].as_str().unwrap(), &diary_sub),
        (mood["client_id"].as_str().unwrap(), &mood_sub),
    ] {
        assert!(
            known.contains(&(client_id.to_owned(), expected.clone())),
            "{client_id}: {known:?}"
        );
    }

    // A revoked token of a pairwise app is refused, though its `sub` names no profile
    // directly (the profile and the revocation are read apart for it).
    let diary_login = Some((
        diary["client_id"].as_str().unwrap(),
        diary["client_secret"].as_str().unwrap(),
    ));
    let response = server
        .post_form("/revoke", diary_login, &[("token", access)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = server.userinfo(access).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = server
        .post_form("/introspect", diary_login, &[("token", access)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"active": false}));
}

#[tokio::test]
async fn a_client_file_can_ask_for_pairwise_subjects() {
    let file = "client_id = \"notes\"\nname = \"Notes\"\nsecret = \"notes-secret\"\nredirect_uris = [\"https://notes.example/callback\"]\nfirst_party = true\nsubject_type = \"pairwise\"\n";
    let dir = clients_dir_with(&[("notes.toml", file)]);
    let clients_dir = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = clients_dir).await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let code = server.crm_code(&browser, ADA).await;
    let (_, crm) = server.crm_exchange(&code).await;
    let url = server.authorize_url("notes", "https://notes.example/callback", &[]);
    let back = browser.visit(&url).await.left();
    let code = careid_tests::browser::param(&back, "code").unwrap();
    let (status, notes) = server
        .token(
            Some(("notes", "notes-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://notes.example/callback"),
                ("code_verifier", careid_tests::VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{notes}");
    assert_ne!(sub(&notes), sub(&crm));
}

#[tokio::test]
async fn pairwise_registrations_careid_cannot_serve_are_refused() {
    let server = TestServer::start().await;
    for metadata in [
        json!({"redirect_uris": [DIARY, MOOD], "subject_type": "pairwise"}),
        json!({"redirect_uris": [DIARY], "subject_type": "pairwise",
               "sector_identifier_uri": "https://diary.example/sector.json"}),
        json!({"redirect_uris": [DIARY], "subject_type": "secret"}),
    ] {
        let (status, body) = server.register(None, &metadata).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{metadata}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{body}");
    }
    // Two redirect URIs on one host make one sector.
    let app = pairwise_app(&server, "Diary", DIARY).await;
    assert_eq!(app["redirect_uris"], json!([DIARY]));
    let (status, body) = server
        .register(
            None,
            &json!({"redirect_uris": [DIARY, "https://diary.example/other"], "subject_type": "pairwise"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
