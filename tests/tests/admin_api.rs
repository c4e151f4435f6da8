//! The admin API over HTTP (issue 14), as a portal calls it: a client_credentials token
//! of the demo `crm-admin` client, JSON in and out, RFC 9457 problems for errors. Mail
//! goes to a real SMTP listener; back-channel logouts to a real receiver.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::{collections::HashSet, sync::Arc, time::Duration};

use careid_mail::testing::{SmtpSink, links};
use careid_store::ClientId;
use careid_tests::{
    PASSWORD, TestServer, VERIFIER,
    admin::{ALL_SCOPES, Answer},
    backchannel::receiver_on,
    browser::{Landing, param},
    clients_dir_with,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const EMAIL: &str = "ada@clinic.example";
const PROBLEM_JSON: &str = "application/problem+json";

#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, name: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.header("content-type"), PROBLEM_JSON);
    assert_eq!(
        answer.body["type"],
        format!("https://careid.dev/problems/{name}"),
        "{:?}",
        answer.body
    );
    assert_eq!(answer.body["status"], status.as_u16());
}

#[tokio::test]
async fn an_invitation_goes_from_sent_to_accepted_through_the_emailed_link() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| config.mail = mail).await;
    let token = server.admin_token(ALL_SCOPES).await;

    let new =
        json!({ "email": "  Ada@Clinic.Example ", "name": "Ada Okafor", "branding_client": "crm" });
    let created = server
        .admin(Method::POST, "/accounts", Some(&token), Some(new.clone()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["email"], EMAIL);
    assert_eq!(created.body["status"], "invited");
    let id = created.body["id"].as_i64().unwrap();
    let path = format!("/accounts/{id}");

    let read = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["invitation_state"], "sent");
    assert_eq!(read.body["has_password"], false);
    assert_eq!(read.header("cache-control"), "no-store");

    // A retry of the creation returns the same account, not a second one.
    let again = server
        .admin(Method::POST, "/accounts", Some(&token), Some(new))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["id"], id);

    let raw = sink.next_message().await;
    assert!(raw.contains("CarePortals CRM"), "{raw}");
    let link = links(&raw)
        .into_iter()
        .find(|l| l.contains("/activate?token="))
        .unwrap();
    let browser = server.browser();
    let form = browser.visit(&link).await.page();
    let opened = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(opened.body["invitation_state"], "opened");
    let done = browser
        .submit(&form, &[("password", PASSWORD), ("confirmation", PASSWORD)])
        .await
        .page();
    assert!(
        done.body.contains("Your account is active"),
        "{}",
        done.body
    );

    let accepted = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(accepted.body["invitation_state"], "accepted");
    assert_eq!(accepted.body["status"], "active");
    assert_eq!(accepted.body["has_password"], true);

    // Every call is in the account's trail with the calling client.
    let trail = server
        .admin(
            Method::GET,
            &format!("{path}/audit-events?limit=200"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{:?}", trail.body);
    let items = trail.body["items"].as_array().unwrap();
    let calls: Vec<&Value> = items
        .iter()
        .filter(|e| e["kind"] == "admin_api_call")
        .collect();
    assert!(calls.len() >= 3, "{items:?}");
    assert!(calls.iter().all(|e| e["client_id"] == "crm-admin"));
    assert!(items.iter().any(|e| e["kind"] == "invitation_accepted"));
    // Newest first.
    let ids: Vec<i64> = items.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
}

#[tokio::test]
async fn a_missing_scope_is_403_and_a_missing_token_is_401_with_bearer_challenges() {
    let server = TestServer::start().await;
    let read_only = server.admin_token("admin:accounts.read").await;

    let refused = server
        .admin(
            Method::POST,
            "/accounts",
            Some(&read_only),
            Some(json!({ "email": EMAIL, "password": PASSWORD })),
        )
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "insufficient-scope");
    assert_eq!(
        refused.header("www-authenticate"),
        "Bearer realm=\"careid\", error=\"insufficient_scope\", scope=\"admin:accounts.write\""
    );
    assert!(server.accounts.account_by_email(EMAIL).await.is_err());
    let trail = server
        .admin(
            Method::GET,
            "/accounts/1/audit-events",
            Some(&read_only),
            None,
        )
        .await;
    assert_problem(&trail, StatusCode::FORBIDDEN, "insufficient-scope");
    assert!(
        trail
            .header("www-authenticate")
            .contains("scope=\"admin:audit.read\"")
    );

    let anonymous = server.admin(Method::GET, "/accounts", None, None).await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        anonymous.header("www-authenticate"),
        "Bearer realm=\"careid\""
    );

    // The CRM's own client_credentials token is not for the admin API, and a client
    // without admin_scopes gets none.
    let (status, crm) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{crm}");
    let foreign = server
        .admin(Method::GET, "/accounts", crm["access_token"].as_str(), None)
        .await;
    assert_problem(&foreign, StatusCode::UNAUTHORIZED, "invalid-token");
    assert!(
        foreign
            .header("www-authenticate")
            .contains("error=\"invalid_token\"")
    );
    let (status, body) = server
        .token(
            Some(("crm", "crm-demo-secret")),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "admin:accounts.read"),
            ],
        )
        .await;
    careid_tests::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope");

    // A revoked admin token stops working at once.
    let revoked = server
        .post_form(
            "/revoke",
            Some(careid_tests::admin::ADMIN_CLIENT),
            &[("token", &read_only), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let after = server
        .admin(Method::GET, "/accounts", Some(&read_only), None)
        .await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "invalid-token");
}

#[tokio::test]
async fn pages_return_every_account_exactly_once_while_accounts_are_being_added() {
    let server = Arc::new(TestServer::start().await);
    let token = server.admin_token(ALL_SCOPES).await;
    let mut expected = HashSet::new();
    for n in 0..250 {
        let email = format!("staff{n:03}@clinic.example");
        server.add_account(&email, "Staff").await;
        expected.insert(email);
    }
    // Accounts keep arriving while the pages are read.
    let adder = {
        let server = server.clone();
        tokio::spawn(async move {
            for n in 0..60 {
                server
                    .add_account(&format!("late{n:02}@clinic.example"), "Late")
                    .await;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts?email_prefix=staff&limit=40&cursor={c}"),
            None => "/accounts?email_prefix=staff&limit=40".to_owned(),
        };
        let page = server.admin(Method::GET, &path, Some(&token), None).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["email"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    adder.await.unwrap();
    assert_eq!(seen.len(), 250, "each exactly once");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);

    // Without a filter, the same walk covers the late arrivals too, once each.
    let mut all = HashSet::new();
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts?limit=200&cursor={c}"),
            None => "/accounts?limit=200".to_owned(),
        };
        let page = server.admin(Method::GET, &path, Some(&token), None).await;
        for item in page.body["items"].as_array().unwrap() {
            all.insert(item["email"].as_str().unwrap().to_owned());
            count += 1;
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((count, all.len()), (310, 310));
}

/// A server with a relying party `rp` whose back-channel endpoint reports to `sender`.
async fn server_with_rp(
    sender: mpsc::UnboundedSender<std::collections::HashMap<String, String>>,
) -> (TestServer, tempfile::TempDir, String) {
    let addr = receiver_on("127.0.0.1:0".parse().unwrap(), "/rp/backchannel", sender).await;
    let base = format!("http://{addr}");
    let toml = format!(
        r#"client_id = "rp"
name = "Back-channel RP"
secret = "rp-secret"
redirect_uris = ["{base}/rp/callback"]
backchannel_logout_uri = "{base}/rp/backchannel"
allow_private_network = true
first_party = true
session_refresh_tokens = true
"#
    );
    let dir = clients_dir_with(&[("rp.toml", &toml)]);
    let path = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    (server, dir, base)
}

/// Signs Ada in to `rp`; returns her refresh token.
async fn signed_in_to_rp(server: &TestServer, base: &str) -> String {
    let callback = format!("{base}/rp/callback");
    let url = server.authorize_url("rp", &callback, &[("scope", "openid email")]);
    let browser = server.browser();
    let back = match browser.visit(&url).await {
        Landing::Left(back) => back,
        Landing::Page(_) => browser.sign_in(&url, EMAIL, PASSWORD).await,
    };
    let code = param(&back, "code").unwrap();
    let (status, tokens) = server
        .token(
            Some(("rp", "rp-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &callback),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn refresh_status(server: &TestServer, token: &str) -> StatusCode {
    server
        .token(
            Some(("rp", "rp-secret")),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
        .0
}

async fn next_logout(
    received: &mut mpsc::UnboundedReceiver<std::collections::HashMap<String, String>>,
) {
    let form = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("a back-channel logout within ten seconds")
        .unwrap();
    assert!(form.contains_key("logout_token"), "{form:?}");
}

#[tokio::test]
async fn deleting_twice_answers_the_same_and_the_sessions_client_is_told() {
    let (sender, mut received) = mpsc::unbounded_channel();
    let (server, _clients, base) = server_with_rp(sender).await;
    let ada = server.add_account(EMAIL, "Ada").await;
    let refresh = signed_in_to_rp(&server, &base).await;
    assert_eq!(refresh_status(&server, &refresh).await, StatusCode::OK);
    let refresh = {
        // The refresh above rotated the token; sign in afresh for a usable one.
        signed_in_to_rp(&server, &base).await
    };
    let token = server.admin_token(ALL_SCOPES).await;
    let path = format!("/accounts/{}", ada.id);

    let first = server
        .admin(Method::DELETE, &path, Some(&token), None)
        .await;
    let second = server
        .admin(Method::DELETE, &path, Some(&token), None)
        .await;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{:?}", first.body);
    assert_eq!((second.status, &second.body), (first.status, &first.body));

    next_logout(&mut received).await;
    assert_eq!(
        refresh_status(&server, &refresh).await,
        StatusCode::BAD_REQUEST
    );
    let gone = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "account-not-found");
    assert_eq!(server.audit_events("account_deleted").await.len(), 1);
    assert_eq!(
        server.audit_events("account_deleted").await[0]
            .client_id
            .as_ref()
            .map(ClientId::as_str),
        Some("crm-admin")
    );
}

#[tokio::test]
async fn an_administrator_lists_and_ends_sessions_and_their_clients_are_told() {
    let (sender, mut received) = mpsc::unbounded_channel();
    let (server, _clients, base) = server_with_rp(sender).await;
    let ada = server.add_account(EMAIL, "Ada").await;
    let first = signed_in_to_rp(&server, &base).await;
    let second = signed_in_to_rp(&server, &base).await;
    let token = server.admin_token(ALL_SCOPES).await;
    let path = format!("/accounts/{}/sessions", ada.id);

    let listed = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let sessions = listed.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let one = sessions[0]["id"].as_i64().unwrap();

    let ended = server
        .admin(Method::DELETE, &format!("{path}/{one}"), Some(&token), None)
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{:?}", ended.body);
    next_logout(&mut received).await;
    assert_eq!(
        refresh_status(&server, &first).await,
        StatusCode::BAD_REQUEST
    );
    let left = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(left.body.as_array().unwrap().len(), 1);

    // A session of nobody (or of another account) is not found.
    let stranger = server
        .admin(
            Method::DELETE,
            &format!("{path}/999999"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&stranger, StatusCode::NOT_FOUND, "session-not-found");

    let all = server
        .admin(Method::DELETE, &path, Some(&token), None)
        .await;
    assert_eq!(all.body["ended"], 1, "{:?}", all.body);
    next_logout(&mut received).await;
    assert_eq!(
        refresh_status(&server, &second).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn bad_input_gets_a_problem_document_never_plain_text() {
    let server = TestServer::start().await;
    let token = server.admin_token(ALL_SCOPES).await;
    let ada = server.add_account(EMAIL, "Ada").await;

    let raw = server
        .http()
        .post(format!("{}/admin/v1/accounts", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(raw.headers()["content-type"], PROBLEM_JSON);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(
        body["type"],
        "https://careid.dev/problems/malformed-request"
    );

    let not_an_email = server
        .admin(
            Method::POST,
            "/accounts",
            Some(&token),
            Some(json!({ "email": "ada at clinic" })),
        )
        .await;
    assert_problem(
        &not_an_email,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    assert_eq!(not_an_email.body["field"], "email");

    // Well-formed (a short local part, labels under 63 characters), but 255 characters
    // long: only the length limit refuses it, and one character less is taken.
    let label = "d".repeat(60);
    let domain_of = |tail: &str| format!("{label}.{label}.{label}.{label}.{tail}");
    let long = format!("ada@{}", domain_of("exa.org"));
    assert_eq!(long.len(), 255);
    let too_long = server
        .admin(
            Method::POST,
            "/accounts",
            Some(&token),
            Some(json!({ "email": long })),
        )
        .await;
    assert_problem(&too_long, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(too_long.body["field"], "email");
    assert!(
        too_long.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 254 characters"),
        "{}",
        too_long.body
    );
    let longest = format!("ada@{}", domain_of("ex.org"));
    assert_eq!(longest.len(), 254);
    let taken = server
        .admin(
            Method::POST,
            "/accounts",
            Some(&token),
            Some(json!({ "email": longest })),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);

    let long_name = json!({ "email": "cy@clinic.example", "name": "n".repeat(201) });
    let too_long = server
        .admin(Method::POST, "/accounts", Some(&token), Some(long_name))
        .await;
    assert_problem(&too_long, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(too_long.body["field"], "name");
    let longest_name = json!({ "email": "cy@clinic.example", "name": "n".repeat(200) });
    let taken = server
        .admin(Method::POST, "/accounts", Some(&token), Some(longest_name))
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);

    let weak = server
        .admin(
            Method::POST,
            "/accounts",
            Some(&token),
            Some(json!({ "email": "bo@clinic.example", "password": "short" })),
        )
        .await;
    assert_problem(&weak, StatusCode::UNPROCESSABLE_ENTITY, "password-rejected");
    assert!(!weak.body["violations"].as_array().unwrap().is_empty());

    let unknown_field = server
        .admin(
            Method::POST,
            "/accounts",
            Some(&token),
            Some(json!({ "email": "bo@clinic.example", "admin": true })),
        )
        .await;
    assert_problem(&unknown_field, StatusCode::BAD_REQUEST, "malformed-request");

    let huge = json!({ "email": "bo@clinic.example", "name": "x".repeat(20_000) });
    let too_large = server
        .admin(Method::POST, "/accounts", Some(&token), Some(huge))
        .await;
    assert_problem(&too_large, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");

    let bad_id = server
        .admin(Method::GET, "/accounts/abc", Some(&token), None)
        .await;
    assert_problem(&bad_id, StatusCode::BAD_REQUEST, "malformed-request");
    let bad_limit = server
        .admin(Method::GET, "/accounts?limit=201", Some(&token), None)
        .await;
    assert_problem(
        &bad_limit,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    let at_limit = server
        .admin(Method::GET, "/accounts?limit=200", Some(&token), None)
        .await;
    assert_eq!(at_limit.status, StatusCode::OK);
    let bad_status = server
        .admin(Method::GET, "/accounts?status=happy", Some(&token), None)
        .await;
    assert_problem(
        &bad_status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    // Every state an invitation can be in is a filter, the outbox's too.
    for state in careid_accounts::INVITATION_STATES {
        let path = format!("/accounts?invitation_state={state}");
        let filtered = server.admin(Method::GET, &path, Some(&token), None).await;
        assert_eq!(
            filtered.status,
            StatusCode::OK,
            "{state}: {:?}",
            filtered.body
        );
    }
    let bad_state = server
        .admin(
            Method::GET,
            "/accounts?invitation_state=lost",
            Some(&token),
            None,
        )
        .await;
    assert_problem(
        &bad_state,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    assert_eq!(bad_state.body["field"], "invitation_state");

    let links = format!("/accounts/{}/reset-links", ada.id);
    let never = server
        .admin(
            Method::POST,
            &links,
            Some(&token),
            Some(json!({ "expires_in_minutes": 0 })),
        )
        .await;
    assert_problem(&never, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    let forever = server
        .admin(
            Method::POST,
            &links,
            Some(&token),
            Some(json!({ "expires_in_minutes": 1_000_000 })),
        )
        .await;
    assert_problem(&forever, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    let minute = server
        .admin(
            Method::POST,
            &links,
            Some(&token),
            Some(json!({ "expires_in_minutes": 1 })),
        )
        .await;
    assert_eq!(minute.status, StatusCode::CREATED, "{:?}", minute.body);
    assert!(
        minute.body["link"]
            .as_str()
            .unwrap()
            .contains("/reset?token=")
    );

    let enable_active = server
        .admin(
            Method::POST,
            &format!("/accounts/{}/enable", ada.id),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&enable_active, StatusCode::CONFLICT, "wrong-status");
    let missing = server
        .admin(Method::GET, "/accounts/999999", Some(&token), None)
        .await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "account-not-found");
}

#[tokio::test]
async fn status_actions_profiles_and_unlock_work_through_the_api() {
    let server = TestServer::start().await;
    let token = server.admin_token(ALL_SCOPES).await;
    let ada = server.add_account(EMAIL, "Ada").await;
    let path = format!("/accounts/{}", ada.id);

    let disabled = server
        .admin(Method::POST, &format!("{path}/disable"), Some(&token), None)
        .await;
    assert_eq!(disabled.body["status"], "disabled", "{:?}", disabled.body);
    let filtered = server
        .admin(Method::GET, "/accounts?status=disabled", Some(&token), None)
        .await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    let enabled = server
        .admin(Method::POST, &format!("{path}/enable"), Some(&token), None)
        .await;
    assert_eq!(enabled.body["status"], "active");

    // Lock the account with wrong passwords, then unlock it.
    for _ in 0..10 {
        let _ = server
            .accounts
            .sign_in_password(
                EMAIL,
                careid_policy::PlainPassword::new("Wrong-Horse-1"),
                None,
                None,
            )
            .await;
    }
    let locked = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(locked.body["locked"], true, "{:?}", locked.body);
    let unlocked = server
        .admin(Method::POST, &format!("{path}/unlock"), Some(&token), None)
        .await;
    assert_eq!(unlocked.body["locked"], false, "{:?}", unlocked.body);
    assert_eq!(unlocked.body["failed_attempts"], 0);

    let added = server
        .admin(
            Method::POST,
            &format!("{path}/profiles"),
            Some(&token),
            Some(json!({ "kind": "dependent", "name": "Sam Okafor" })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let listed = server
        .admin(Method::GET, &format!("{path}/profiles"), Some(&token), None)
        .await;
    let kinds: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["self", "dependent"]);
    let bad_kind = server
        .admin(
            Method::POST,
            &format!("{path}/profiles"),
            Some(&token),
            Some(json!({ "kind": "self", "name": "Another me" })),
        )
        .await;
    assert_problem(&bad_kind, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(bad_kind.body["field"], "kind");
    // The same rules and audit event as `careid profile add`.
    let added_events = server.audit_events("profile_added").await;
    assert_eq!(added_events.len(), 1, "{added_events:?}");
    let unborn = server
        .admin(
            Method::POST,
            &format!("{path}/profiles"),
            Some(&token),
            Some(json!({ "kind": "dependent", "name": "Kim", "birthdate": "2999-01-01" })),
        )
        .await;
    assert_problem(&unborn, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(unborn.body["field"], "birthdate");
    let bad_email = server
        .admin(
            Method::POST,
            &format!("{path}/profiles"),
            Some(&token),
            Some(json!({ "kind": "couple", "name": "Kim", "email": "kim at home" })),
        )
        .await;
    assert_problem(
        &bad_email,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    assert_eq!(bad_email.body["field"], "email");

    // Rename and remove, as `careid profile rename|remove` do.
    let own = listed.body[0]["id"].as_i64().unwrap();
    let sam = added.body["id"].as_i64().unwrap();
    let renamed = server
        .admin(
            Method::PATCH,
            &format!("{path}/profiles/{sam}"),
            Some(&token),
            Some(json!({ "name": "  Samuel Okafor " })),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "Samuel Okafor");
    assert_eq!(renamed.body["subject"], added.body["subject"]);
    assert_eq!(server.audit_events("profile_renamed").await.len(), 1);
    let nameless = server
        .admin(
            Method::PATCH,
            &format!("{path}/profiles/{sam}"),
            Some(&token),
            Some(json!({ "name": " " })),
        )
        .await;
    assert_problem(&nameless, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
    assert_eq!(nameless.body["field"], "name");
    // A profile name is at most 200 characters: at the limit, and one past it.
    let longest = "S".repeat(200);
    let at_limit = server
        .admin(
            Method::PATCH,
            &format!("{path}/profiles/{sam}"),
            Some(&token),
            Some(json!({ "name": longest })),
        )
        .await;
    assert_eq!(at_limit.status, StatusCode::OK, "{:?}", at_limit.body);
    let past_limit = server
        .admin(
            Method::PATCH,
            &format!("{path}/profiles/{sam}"),
            Some(&token),
            Some(json!({ "name": format!("{longest}S") })),
        )
        .await;
    assert_problem(
        &past_limit,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    assert_eq!(past_limit.body["field"], "name");
    // Another account's profile is not reachable through this account's path.
    let bo = server.add_account("bo@clinic.example", "Bo").await;
    let bos = server.accounts.profiles(bo.id).await.unwrap()[0].id;
    for method in [Method::PATCH, Method::DELETE] {
        let foreign = server
            .admin(
                method,
                &format!("{path}/profiles/{bos}"),
                Some(&token),
                Some(json!({ "name": "Eve" })),
            )
            .await;
        assert_problem(&foreign, StatusCode::NOT_FOUND, "profile-not-found");
    }
    assert_eq!(server.accounts.profiles(bo.id).await.unwrap()[0].name, "Bo");

    let removed = server
        .admin(
            Method::DELETE,
            &format!("{path}/profiles/{sam}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{:?}", removed.body);
    let gone = server
        .admin(
            Method::DELETE,
            &format!("{path}/profiles/{sam}"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "profile-not-found");
    // The last profile stays: the service refuses, the API says why.
    let last = server
        .admin(
            Method::DELETE,
            &format!("{path}/profiles/{own}"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&last, StatusCode::CONFLICT, "last-profile");
    let left = server.accounts.profiles(ada.id).await.unwrap();
    assert_eq!(left.iter().map(|p| p.id.get()).collect::<Vec<_>>(), [own]);
}

/// The demo client portal's redirect URI (config/clients/client-portal.toml).
const PORTAL_CALLBACK: &str = "http://127.0.0.1:8083/callback";
/// What the PIN page says to a PIN that does not work.
const CALL_THE_OFFICE: &str = "office for a new PIN";

/// `expires_at` of an answer as an instant.
fn expires_at(answer: &Answer) -> time::OffsetDateTime {
    let text = answer.body["expires_at"].as_str().unwrap();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn a_pin_issued_through_the_api_signs_in_at_the_portal_and_a_voided_one_does_not() {
    let server = TestServer::start().await;
    let token = server.admin_token(ALL_SCOPES).await;
    let ada = server.add_account(EMAIL, "Ada").await;
    let pins = format!("/accounts/{}/pins", ada.id);
    let portal = server.authorize_url("client-portal", PORTAL_CALLBACK, &[]);

    let issued = server
        .admin(
            Method::POST,
            &pins,
            Some(&token),
            Some(json!({ "client_id": "client-portal" })),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:?}", issued.body);
    let pin = issued.body["pin"].as_str().unwrap().to_owned();
    assert!(pin.len() == 6 && pin.chars().all(|c| c.is_ascii_digit()));
    // Without expires_in_minutes, lifecycle.pin_minutes (15) of the shipped config.
    let now = careid_store::Clock::now(server.clock.as_ref());
    assert_eq!(expires_at(&issued), now + time::Duration::minutes(15));
    let issue_events = server.audit_events("pin_issued").await;
    assert_eq!(issue_events.len(), 1);
    assert_eq!(
        issue_events[0].client_id.as_ref().map(ClientId::as_str),
        Some("client-portal")
    );
    let back = server
        .browser()
        .sign_in_with_pin(&portal, EMAIL, &pin)
        .await
        .left();
    assert!(param(&back, "code").is_some(), "{back}");

    // A new PIN, voided through the API before use, signs nobody in.
    let second = server
        .admin(Method::POST, &pins, Some(&token), Some(json!({})))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let voided = server
        .admin(Method::DELETE, &pins, Some(&token), None)
        .await;
    assert_eq!(voided.status, StatusCode::OK, "{:?}", voided.body);
    assert_eq!(voided.body["voided"], true);
    // Voiding again is safe and says there was nothing left to void.
    let again = server
        .admin(Method::DELETE, &pins, Some(&token), None)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["voided"], false);
    let refused = server
        .browser()
        .sign_in_with_pin(&portal, EMAIL, second.body["pin"].as_str().unwrap())
        .await
        .page();
    assert!(refused.body.contains(CALL_THE_OFFICE), "{}", refused.body);
}

#[tokio::test]
async fn a_pin_lasts_at_most_pin_max_minutes_and_needs_the_pins_scope() {
    let server = TestServer::start().await;
    let token = server.admin_token(ALL_SCOPES).await;
    let ada = server.add_account(EMAIL, "Ada").await;
    let pins = format!("/accounts/{}/pins", ada.id);

    // One minute is the shortest a PIN works.
    let shortest = server
        .admin(
            Method::POST,
            &pins,
            Some(&token),
            Some(json!({ "expires_in_minutes": 1 })),
        )
        .await;
    assert_eq!(shortest.status, StatusCode::CREATED, "{:?}", shortest.body);
    let now = careid_store::Clock::now(server.clock.as_ref());
    assert_eq!(expires_at(&shortest), now + time::Duration::minutes(1));
    // lifecycle.pin_max_minutes is 1440 in the shipped config: at the limit, and past it.
    let longest = server
        .admin(
            Method::POST,
            &pins,
            Some(&token),
            Some(json!({ "expires_in_minutes": 1440 })),
        )
        .await;
    assert_eq!(longest.status, StatusCode::CREATED, "{:?}", longest.body);
    assert_eq!(expires_at(&longest), now + time::Duration::minutes(1440));
    for minutes in [1441, 0] {
        let refused = server
            .admin(
                Method::POST,
                &pins,
                Some(&token),
                Some(json!({ "expires_in_minutes": minutes })),
            )
            .await;
        assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field");
        assert_eq!(refused.body["field"], "expires_in_minutes");
    }
    let unknown_client = server
        .admin(
            Method::POST,
            &pins,
            Some(&token),
            Some(json!({ "client_id": "no-such-portal" })),
        )
        .await;
    assert_problem(
        &unknown_client,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-field",
    );
    assert_eq!(unknown_client.body["field"], "client_id");
    let nobody = server
        .admin(
            Method::POST,
            "/accounts/999999/pins",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_problem(&nobody, StatusCode::NOT_FOUND, "account-not-found");

    // A disabled account gets no PIN.
    server
        .accounts
        .disable(server.accounts.account_by_email(EMAIL).await.unwrap().id)
        .await
        .unwrap();
    let disabled = server
        .admin(Method::POST, &pins, Some(&token), Some(json!({})))
        .await;
    assert_problem(&disabled, StatusCode::CONFLICT, "wrong-status");

    // The accounts scopes do not cover PINs.
    let writer = server
        .admin_token("admin:accounts.read admin:accounts.write")
        .await;
    for method in [Method::POST, Method::DELETE] {
        let refused = server
            .admin(method, &pins, Some(&writer), Some(json!({})))
            .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "insufficient-scope");
        assert!(
            refused
                .header("www-authenticate")
                .contains("scope=\"admin:pins\"")
        );
    }
    assert_eq!(server.audit_events("pin_issued").await.len(), 2);
}

/// The exit status, stdout and stderr of a `careid` command run over `server`'s
/// database.
async fn careid(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let output = server.careid_command(args).await;
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn careid_user_unlock_clears_the_lock_the_api_shows() {
    let server = TestServer::start().await;
    let token = server.admin_token(ALL_SCOPES).await;
    let ada = server.add_account(EMAIL, "Ada").await;
    for _ in 0..10 {
        let _ = server
            .accounts
            .sign_in_password(
                EMAIL,
                careid_policy::PlainPassword::new("Wrong-Horse-1"),
                None,
                None,
            )
            .await;
    }
    let path = format!("/accounts/{}", ada.id);
    let locked = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(locked.body["locked"], true, "{:?}", locked.body);

    let (ok, stdout, stderr) = careid(&server, &["user", "unlock", EMAIL]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("unlocked"), "{stdout}");
    let unlocked = server.admin(Method::GET, &path, Some(&token), None).await;
    assert_eq!(unlocked.body["locked"], false, "{:?}", unlocked.body);
    assert_eq!(unlocked.body["failed_attempts"], 0);
    assert_eq!(server.audit_events("account_unlocked").await.len(), 1);

    let (ok, _, stderr) = careid(&server, &["user", "unlock", "nobody@clinic.example"]).await;
    assert!(!ok);
    assert!(stderr.contains("no account has this email"), "{stderr}");
}

#[tokio::test]
async fn careid_user_delete_wants_yes_and_a_second_run_is_harmless() {
    let server = TestServer::start().await;
    let ada = server.add_account(EMAIL, "Ada").await;
    let browser = server.browser();
    server.crm_code(&browser, EMAIL).await;

    let (ok, _, stderr) = careid(&server, &["user", "delete", EMAIL]).await;
    assert!(!ok);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(server.accounts.account_by_id(ada.id).await.is_ok());

    let (ok, stdout, stderr) = careid(&server, &["user", "delete", EMAIL, "--yes"]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("deleted"), "{stdout}");
    assert!(server.accounts.account_by_id(ada.id).await.is_err());
    assert_eq!(server.audit_events("account_deleted").await.len(), 1);
    // The session ended with the account: the browser signs in afresh.
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    assert!(matches!(browser.visit(&url).await, Landing::Page(_)));

    let (ok, stdout, stderr) = careid(&server, &["user", "delete", EMAIL, "--yes"]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("nothing to delete"), "{stdout}");
    assert_eq!(server.audit_events("account_deleted").await.len(), 1);
}

#[tokio::test]
async fn careid_session_list_and_end_work_on_the_sessions_the_api_lists() {
    let server = TestServer::start().await;
    let ada = server.add_account(EMAIL, "Ada").await;
    for _ in 0..3 {
        server.crm_code(&server.browser(), EMAIL).await;
    }
    let open = server.accounts.open_sessions(ada.id).await.unwrap();
    assert_eq!(open.len(), 3);

    let (ok, stdout, stderr) = careid(&server, &["session", "list", EMAIL]).await;
    assert!(ok, "{stdout}{stderr}");
    let listed: Vec<i64> = stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(listed, open.iter().map(|s| s.id).collect::<Vec<_>>());
    assert!(stdout.contains("pwd"), "{stdout}");

    let one = open[0].id.to_string();
    let (ok, stdout, stderr) = careid(&server, &["session", "end", EMAIL, &one]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("ended session {one}")), "{stdout}");
    assert_eq!(
        server.accounts.open_sessions(ada.id).await.unwrap().len(),
        2
    );
    // Ending it again is safe; a session that is not the account's is refused.
    let (ok, stdout, _) = careid(&server, &["session", "end", EMAIL, &one]).await;
    assert!(ok);
    assert!(stdout.contains("had ended already"), "{stdout}");
    let (ok, _, stderr) = careid(&server, &["session", "end", EMAIL, "999999"]).await;
    assert!(!ok);
    assert!(stderr.contains("no session with that id"), "{stderr}");
    // Neither an id nor --all is a usage error, and both at once too.
    let (ok, _, _) = careid(&server, &["session", "end", EMAIL]).await;
    assert!(!ok);
    let (ok, _, _) = careid(&server, &["session", "end", EMAIL, "1", "--all"]).await;
    assert!(!ok);
    assert_eq!(
        server.accounts.open_sessions(ada.id).await.unwrap().len(),
        2
    );

    let (ok, stdout, stderr) = careid(&server, &["session", "end", EMAIL, "--all"]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("ended 2 session(s)"), "{stdout}");
    assert!(
        server
            .accounts
            .open_sessions(ada.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(server.audit_events("sessions_ended").await.len(), 1);
}

/// The document the server serves, and its (path, method) pairs.
async fn document(server: &TestServer) -> (Value, Vec<(String, String)>) {
    let doc = server.get_json("/admin/v1/openapi.json").await;
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.push((path.clone(), method.clone()));
            }
        }
    }
    (doc, operations)
}

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_1() {
    let server = TestServer::start().await;
    let (doc, _) = document(&server).await;
    let schema: Value = serde_json::from_str(include_str!("../schemas/openapi-3.1.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // The document is checked for being checkable: a broken one fails.
    let mut broken = doc.clone();
    broken["paths"]["/admin/v1/accounts"]["get"]["responses"] = json!("none");
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_admin_router_serves() {
    let server = TestServer::start().await;
    let (_, operations) = document(&server).await;
    assert!(operations.len() >= 16, "{operations:?}");
    let paths: HashSet<&str> = operations.iter().map(|(p, _)| p.as_str()).collect();
    for path in &paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{session_id}", "1")
            .replace("{profile_id}", "1");
        for method in ["get", "post", "put", "patch", "delete"] {
            let documented = operations.iter().any(|(p, m)| p == path && m == method);
            let answer = server
                .admin(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    concrete.trim_start_matches("/admin/v1"),
                    None,
                    None,
                )
                .await;
            if documented {
                // Served: the request reaches the route (and its token check), whose
                // answer is never "no such route".
                assert!(
                    ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED]
                        .contains(&answer.status),
                    "{method} {path}: {}",
                    answer.status
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but undocumented: {answer:?}"
                );
            }
        }
    }
    // And the router serves no admin path the document leaves out.
    for undocumented in ["/accounts/1/nothing", "/clients"] {
        let answer = server.admin(Method::GET, undocumented, None, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{undocumented}");
    }
}
