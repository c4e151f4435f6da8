//! Passkeys (WebAuthn, issue 17), end to end: a real server whose issuer is
//! `http://localhost:PORT` (WebAuthn needs a domain name as the relying party id), a
//! person adding passkeys on `/account/passkeys`, and a software authenticator
//! (`careid_tests::passkey`) answering the options careid's pages give `passkeys.js`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_store::{AccountId, Clock, accounts, audit};
use careid_tests::{
    Browser, CRM_CALLBACK, OFFLINE_SCOPE, PASSWORD, TestServer, VERIFIER, authorize_url_at,
    browser::{Landing, Page, param},
    clients_dir_with,
    html::{self, Form},
    passkey::SoftPasskey,
};
use reqwest::StatusCode;
use serde_json::Value as Json;

const EMAIL: &str = "ada@clinic.example";

/// Port 9 (discard): nothing answers there, whatever else runs on the machine.
const PORTAL_CALLBACK: &str = "http://127.0.0.1:9/passkey-portal";
/// A client whose people may sign in with a passkey alone.
const PORTAL_FILE: &str = r#"client_id = "passkey-portal"
name = "Therapy Portal"
secret = "passkey-portal-demo-secret"
redirect_uris = ["http://127.0.0.1:9/passkey-portal"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "client_secret_basic"
first_party = true
sign_in_methods = ["password", "passkey"]
"#;

const STRICT_CALLBACK: &str = "http://127.0.0.1:8085/callback";
/// A client whose people must sign in with a second factor.
const STRICT_FILE: &str = r#"client_id = "strict-app"
name = "Prescribing"
secret = "strict-app-demo-secret"
redirect_uris = ["http://127.0.0.1:8085/callback"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "client_secret_basic"
first_party = true
require_mfa = true
"#;

/// A server with passkeys (a `localhost` issuer), the passkey portal and the strict
/// client, and Ada's account.
/// The client files' folder comes back too: keep it as long as the server.
async fn server_with(
    adjust: impl FnOnce(&mut careid_server::Config),
) -> (TestServer, AccountId, tempfile::TempDir) {
    let clients = clients_dir_with(&[
        ("passkey-portal.toml", PORTAL_FILE),
        ("strict-app.toml", STRICT_FILE),
    ]);
    let path = clients.path().to_owned();
    let server = TestServer::start_on_localhost_with(|c| {
        c.clients_dir = path;
        adjust(c);
    })
    .await;
    let account = server.add_account(EMAIL, "Ada Okafor").await;
    (server, account.id, clients)
}

async fn server() -> (TestServer, AccountId, tempfile::TempDir) {
    server_with(|_| {}).await
}

/// The form of `page` that posts to `action`.
fn form_to(page: &Page, action: &str) -> Form {
    html::forms(&page.body)
        .into_iter()
        .find(|f| f.action == action)
        .unwrap_or_else(|| panic!("no form to {action} at {}:\n{}", page.url, page.body))
}

/// POSTs `fields` to an options endpoint and returns its JSON.
async fn options(browser: &Browser, path: &str, fields: &[(String, String)]) -> Json {
    let answer = browser.post(path, fields).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

/// Ada signed in (password only) on a fresh browser.
async fn signed_in(server: &TestServer) -> Browser {
    let browser = server.browser();
    server.crm_code(&browser, EMAIL).await;
    browser
}

/// Registers `key` under `name` on the passkeys page, as `passkeys.js` does: the page's
/// form to the options endpoint, the authenticator's answer into the form, the form to
/// careid. The page that comes back.
async fn register(browser: &Browser, key: &mut SoftPasskey, name: &str) -> Page {
    let page = browser.visit("/account/passkeys").await.page();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = form_to(&page, "/account/passkeys");
    let creation = options(browser, "/account/passkeys/options", &form.fields(&[])).await;
    let public_key = &creation["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["user"]["name"], EMAIL);
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    let credential = key.register(&creation).to_string();
    let ceremony = creation["ceremony"].as_str().unwrap();
    let fields = form.fields(&[
        ("ceremony", ceremony),
        ("credential", &credential),
        ("name", name),
    ]);
    browser.post("/account/passkeys", &fields).await
}

/// Ada with one passkey, registered on a browser of her own that then signs out.
async fn with_passkey(server: &TestServer) -> SoftPasskey {
    let mut key = SoftPasskey::new(&server.issuer);
    let browser = signed_in(server).await;
    let added = register(&browser, &mut key, "Work laptop").await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(added.body.contains("passkey-added"), "{}", added.body);
    let sign_out = browser.visit("/sign-out").await.page();
    let out = browser.submit(&sign_out, &[]).await.page();
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER, "signed out");
    key
}

/// Opens `client_id`'s authorization URL and types Ada's password: the page that comes
/// next, which must be the second step's.
async fn second_step(
    server: &TestServer,
    browser: &Browser,
    client_id: &str,
    callback: &str,
) -> Page {
    let url = server.authorize_url(client_id, callback, &[("scope", OFFLINE_SCOPE)]);
    let form = browser.visit(&url).await.page();
    let next = browser
        .submit(&form, &[("email", EMAIL), ("password", PASSWORD)])
        .await
        .page();
    assert!(
        next.url.contains("/sign-in/code"),
        "{}:\n{}",
        next.url,
        next.body
    );
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    next
}

/// The passkey form's fields on a second-step page, answered by `key`.
async fn second_step_answer(
    browser: &Browser,
    page: &Page,
    key: &mut SoftPasskey,
) -> Vec<(String, String)> {
    let form = form_to(page, "/sign-in/code/passkey");
    let request = options(browser, "/sign-in/code/passkey/options", &form.fields(&[])).await;
    let credential = key.sign(&request).to_string();
    form.fields(&[
        ("ceremony", request["ceremony"].as_str().unwrap()),
        ("credential", &credential),
    ])
}

/// The `amr` of the ID token a code of `client` (id, secret, callback) brings.
async fn amr_of(server: &TestServer, client: (&str, &str, &str), back: &url::Url) -> Vec<String> {
    let code = param(back, "code").expect("a code");
    let (status, body) = server
        .token(
            Some((client.0, client.1)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", client.2),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let payload = body["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Json = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    serde_json::from_value(claims["amr"].clone()).unwrap()
}

const CRM: (&str, &str, &str) = ("crm", "crm-demo-secret", CRM_CALLBACK);
const PORTAL: (&str, &str, &str) = (
    "passkey-portal",
    "passkey-portal-demo-secret",
    PORTAL_CALLBACK,
);
const STRICT: (&str, &str, &str) = ("strict-app", "strict-app-demo-secret", STRICT_CALLBACK);

async fn audit_kinds(server: &TestServer, account_id: AccountId) -> Vec<String> {
    audit::find_events(&server.accounts.db, Some(account_id), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// The `reason`s of Ada's `sign_in_failed` events, newest first.
async fn failure_reasons(server: &TestServer, account_id: AccountId) -> Vec<String> {
    audit::find_events(&server.accounts.db, Some(account_id), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "sign_in_failed")
        .map(|e| {
            let detail: Json = serde_json::from_str(&e.detail).unwrap();
            detail["reason"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn several_passkeys_are_added_renamed_and_removed_on_the_account_page() {
    let (server, account_id, _clients) = server().await;
    let browser = signed_in(&server).await;
    let security = browser.visit("/account/security").await.page();
    assert!(
        security.body.contains("href=\"/account/passkeys\""),
        "{}",
        security.body
    );

    let mut laptop = SoftPasskey::new(&server.issuer);
    let mut phone = SoftPasskey::new(&server.issuer);
    register(&browser, &mut laptop, "Work laptop").await;
    let page = register(&browser, &mut phone, "Phone").await;
    assert!(
        page.body.contains("Work laptop") && page.body.contains("Phone"),
        "{}",
        page.body
    );
    let listed = server.accounts.passkeys(account_id).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Work laptop", "Phone"]
    );
    assert!(listed.iter().all(|p| p.last_used_at.is_none()));

    // The same authenticator again: excluded in the options, and refused if it answers.
    let again = register(&browser, &mut laptop, "Laptop again").await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_eq!(server.accounts.passkeys(account_id).await.unwrap().len(), 2);

    let rename = form_to(&page, "/account/passkeys/rename");
    let renamed = browser
        .post(
            "/account/passkeys/rename",
            &rename.fields(&[("name", "Clinic laptop")]),
        )
        .await;
    assert!(renamed.body.contains("passkey-renamed"), "{}", renamed.body);
    let too_long = "x".repeat(65);
    let refused = browser
        .post(
            "/account/passkeys/rename",
            &rename.fields(&[("name", &too_long)]),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    let remove = form_to(&renamed, "/account/passkeys/remove");
    let removed = browser
        .post("/account/passkeys/remove", &remove.fields(&[]))
        .await;
    assert!(removed.body.contains("passkey-removed"), "{}", removed.body);
    let left = server.accounts.passkeys(account_id).await.unwrap();
    assert_eq!(
        left.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Phone"]
    );

    // Removing it again, or another account's passkey, is not found.
    let gone = browser
        .post("/account/passkeys/remove", &remove.fields(&[]))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    let kinds = audit_kinds(&server, account_id).await;
    for kind in [
        "passkey_registered",
        "passkey_registration_failed",
        "passkey_removed",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn the_passkeys_page_needs_a_session_and_its_forms_a_csrf_token() {
    let (server, _, _clients) = server().await;
    let page = server.browser().get("/account/passkeys").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let browser = signed_in(&server).await;
    let forged = browser
        .post(
            "/account/passkeys/options",
            &[("csrf".into(), "forged".into())],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_password_and_a_passkey_sign_in_with_hwk_and_mfa_in_the_amr() {
    let (server, account_id, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    let browser = server.browser();
    let page = second_step(&server, &browser, "crm", CRM_CALLBACK).await;
    // No authenticator app: the passkey is the only second step offered.
    assert!(
        !page.body.contains("action=\"/sign-in/code\""),
        "{}",
        page.body
    );
    let fields = second_step_answer(&browser, &page, &mut key).await;
    let back = browser
        .follow(browser.post("/sign-in/code/passkey", &fields).await)
        .await
        .left();
    assert_eq!(amr_of(&server, CRM, &back).await, ["pwd", "hwk", "mfa"]);
    let used = server.accounts.passkeys(account_id).await.unwrap();
    assert_eq!(used[0].last_used_at, Some(server.clock.now()));
}

#[tokio::test]
async fn a_passkey_satisfies_a_client_that_requires_a_second_factor() {
    let (server, _, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    let browser = server.browser();
    let page = second_step(&server, &browser, "strict-app", STRICT_CALLBACK).await;
    let fields = second_step_answer(&browser, &page, &mut key).await;
    let back = browser
        .follow(browser.post("/sign-in/code/passkey", &fields).await)
        .await
        .left();
    assert_eq!(amr_of(&server, STRICT, &back).await, ["pwd", "hwk", "mfa"]);
}

#[tokio::test]
async fn a_replayed_passkey_answer_is_refused_and_counts_as_a_failure() {
    let (server, account_id, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    // No counter to give the replay away: only the used challenge does.
    key.counts_signatures = false;
    let first = server.browser();
    let page = second_step(&server, &first, "crm", CRM_CALLBACK).await;
    let fields = second_step_answer(&first, &page, &mut key).await;
    let done = first.post("/sign-in/code/passkey", &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);

    // The same answer, to the same challenge, in a second sign-in with the password.
    let second = server.browser();
    let page = second_step(&server, &second, "crm", CRM_CALLBACK).await;
    let mut replayed_fields = form_to(&page, "/sign-in/code/passkey").fields(&[]);
    for (name, value) in &mut replayed_fields {
        if let Some((_, old)) = fields
            .iter()
            .find(|(n, _)| n == name && (n == "ceremony" || n == "credential"))
        {
            *value = old.clone();
        }
    }
    let replayed = second.post("/sign-in/code/passkey", &replayed_fields).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    assert!(replayed.body.contains("not accepted"), "{}", replayed.body);
    assert_eq!(
        failure_reasons(&server, account_id).await,
        ["wrong_passkey"]
    );
    let account = accounts::find_by_id(&server.accounts.db, account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.failed_attempts, 1);

    // A fresh challenge signed by the passkey still works.
    let fields = second_step_answer(&second, &page, &mut key).await;
    second
        .follow(second.post("/sign-in/code/passkey", &fields).await)
        .await
        .left();
}

#[tokio::test]
async fn refused_passkeys_count_towards_the_password_lockout() {
    let (server, account_id, _clients) = server_with(|c| c.policy.lockout.max_failures = 3).await;
    let mut key = with_passkey(&server).await;
    let browser = server.browser();
    let page = second_step(&server, &browser, "crm", CRM_CALLBACK).await;
    // A key careid does not know, with the same credential id: its signature is wrong.
    let mut impostor = SoftPasskey::new(&server.issuer);
    for _ in 0..2 {
        let fields = second_step_answer(&browser, &page, &mut impostor).await;
        let refused = browser.post("/sign-in/code/passkey", &fields).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    }
    // The third failure is a wrong password: the same count, so the account locks.
    let fresh = server.browser();
    let url = server.authorize_url("crm", CRM_CALLBACK, &[]);
    let form = fresh.visit(&url).await.page();
    fresh
        .submit(&form, &[("email", EMAIL), ("password", "Wrong-Horse-42")])
        .await
        .page();
    let account = accounts::find_by_id(&server.accounts.db, account_id)
        .await
        .unwrap()
        .unwrap();
    assert!(account.locked_until.is_some(), "{account:?}");
    // Locked: even the right passkey is refused now.
    let fields = second_step_answer(&browser, &page, &mut key).await;
    let locked = browser.post("/sign-in/code/passkey", &fields).await;
    assert!(locked.body.contains("locked"), "{}", locked.body);
}

#[tokio::test]
async fn a_removed_passkey_no_longer_signs_in() {
    let (server, account_id, _clients) = server().await;
    let browser = signed_in(&server).await;
    let mut removed = SoftPasskey::new(&server.issuer);
    let mut kept = SoftPasskey::new(&server.issuer);
    register(&browser, &mut removed, "Old key").await;
    let page = register(&browser, &mut kept, "New key").await;
    let remove = form_to(&page, "/account/passkeys/remove");
    browser
        .post("/account/passkeys/remove", &remove.fields(&[]))
        .await;
    assert_eq!(
        server.accounts.passkeys(account_id).await.unwrap()[0].name,
        "New key"
    );

    // After the password: the options allow the kept passkey only, and the removed one
    // is refused.
    let other = server.browser();
    let page = second_step(&server, &other, "crm", CRM_CALLBACK).await;
    let form = form_to(&page, "/sign-in/code/passkey");
    let request = options(&other, "/sign-in/code/passkey/options", &form.fields(&[])).await;
    let allowed: Vec<&str> = request["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, [kept.credential_id().as_str()]);
    let credential = removed.sign(&request).to_string();
    let fields = form.fields(&[
        ("ceremony", request["ceremony"].as_str().unwrap()),
        ("credential", &credential),
    ]);
    let refused = other.post("/sign-in/code/passkey", &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    // Alone, where a client allows passkeys: refused too.
    let alone = server.browser();
    let sign_in = passwordless_page(&server, &alone).await;
    let Landing::Page(refused) = passwordless(&alone, &sign_in, &mut removed).await else {
        panic!("a removed passkey signed in");
    };
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
}

/// The passkey portal's sign-in page on `browser`.
async fn passwordless_page(server: &TestServer, browser: &Browser) -> Page {
    let url = server.authorize_url("passkey-portal", PORTAL_CALLBACK, &[]);
    let page = browser.visit(&url).await.page();
    assert!(
        page.body.contains("Sign in with a passkey"),
        "{}",
        page.body
    );
    page
}

/// Signs in with `key` alone from the sign-in page `page` (shown on `browser`):
/// careid's answer, followed.
async fn passwordless(browser: &Browser, page: &Page, key: &mut SoftPasskey) -> Landing {
    let form = form_to(page, "/sign-in/passkey");
    let request = options(browser, "/sign-in/passkey/options", &form.fields(&[])).await;
    // Discoverable: no credentials named, so no account is revealed.
    assert!(
        request["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{request}"
    );
    assert!(request.get("mediation").is_none(), "{request}");
    let credential = key.sign(&request).to_string();
    let fields = form.fields(&[
        ("ceremony", request["ceremony"].as_str().unwrap()),
        ("credential", &credential),
    ]);
    browser
        .follow(browser.post("/sign-in/passkey", &fields).await)
        .await
}

#[tokio::test]
async fn a_passkey_alone_signs_in_where_the_client_allows_it() {
    let (server, account_id, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    let browser = server.browser();
    let page = passwordless_page(&server, &browser).await;
    let back = passwordless(&browser, &page, &mut key).await.left();
    assert_eq!(amr_of(&server, PORTAL, &back).await, ["hwk", "user", "mfa"]);
    let events = server.audit_events("sign_in").await;
    let detail: Json = serde_json::from_str(&events.first().unwrap().detail).unwrap();
    assert_eq!(detail["factor"], "passkey");
    assert_eq!(detail["user_verified"], true);
    // The session is a full one: the account page opens.
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
    assert_eq!(
        server.accounts.passkeys(account_id).await.unwrap()[0].last_used_at,
        Some(server.clock.now())
    );
}

#[tokio::test]
async fn a_passkey_answer_sent_twice_signs_in_once() {
    let (server, _, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    key.counts_signatures = false;
    let browser = server.browser();
    let page = passwordless_page(&server, &browser).await;
    let form = form_to(&page, "/sign-in/passkey");
    let request = options(&browser, "/sign-in/passkey/options", &form.fields(&[])).await;
    let credential = key.sign(&request).to_string();
    let fields = form.fields(&[
        ("ceremony", request["ceremony"].as_str().unwrap()),
        ("credential", &credential),
    ]);
    let first = browser.post("/sign-in/passkey", &fields).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let other = server.browser();
    let page = passwordless_page(&server, &other).await;
    let mut again = form_to(&page, "/sign-in/passkey").fields(&[]);
    for (name, value) in &mut again {
        if let Some((_, old)) = fields
            .iter()
            .find(|(n, _)| n == name && (n == "ceremony" || n == "credential"))
        {
            *value = old.clone();
        }
    }
    let replayed = other.post("/sign-in/passkey", &again).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    assert_eq!(other.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_passkey_without_user_verification_does_not_sign_in_alone() {
    let (server, _, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    key.is_user_verified = false;
    let browser = server.browser();
    let page = passwordless_page(&server, &browser).await;
    let Landing::Page(refused) = passwordless(&browser, &page, &mut key).await else {
        panic!("a passkey without user verification signed in alone");
    };
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
}

#[tokio::test]
async fn a_client_without_passkey_in_its_sign_in_methods_refuses_a_passkey_alone() {
    let (server, _, _clients) = server().await;
    let mut key = with_passkey(&server).await;
    let browser = server.browser();
    // The CRM lists only `password`: no passkey button, and no options.
    let url = server.authorize_url("crm", CRM_CALLBACK, &[]);
    let crm_page = browser.visit(&url).await.page();
    assert!(
        !crm_page.body.contains("/sign-in/passkey"),
        "{}",
        crm_page.body
    );
    let crm_fields = crm_page.form().unwrap().fields(&[]);
    let refused = browser.post("/sign-in/passkey/options", &crm_fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // An answer to the portal's ceremony, posted under the CRM's request: refused.
    let portal = passwordless_page(&server, &browser).await;
    let form = form_to(&portal, "/sign-in/passkey");
    let request = options(&browser, "/sign-in/passkey/options", &form.fields(&[])).await;
    let credential = key.sign(&request).to_string();
    let crm_request = crm_fields
        .iter()
        .find(|(n, _)| n == "request")
        .map(|(_, v)| v.clone())
        .unwrap();
    let fields = form.fields(&[
        ("ceremony", request["ceremony"].as_str().unwrap()),
        ("credential", &credential),
        ("request", &crm_request),
    ]);
    let refused = browser.post("/sign-in/passkey", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn passkey_options_count_towards_the_sign_in_limit_at_and_past_it() {
    let (server, _, _clients) = server_with(|config| {
        careid_tests::with_rate_limits(config, |limits| {
            limits.sign_in.per_address = careid_protocol::Limit {
                requests: 3,
                per_seconds: 60,
            };
        });
    })
    .await;
    let browser = server.browser();
    let page = passwordless_page(&server, &browser).await;
    let fields = form_to(&page, "/sign-in/passkey").fields(&[]);
    // Each answer stores a ceremony: the third is the last one this minute.
    for _ in 0..3 {
        let answer = browser.post("/sign-in/passkey/options", &fields).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let refused = browser.post("/sign-in/passkey/options", &fields).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert!(refused.retry_after.is_some());
}

/// What `careid user show` prints for Ada.
async fn user_show(server: &TestServer) -> String {
    let output = server.careid_command(&["user", "show", EMAIL]).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn user_show_lists_passkeys_and_staff_reset_removes_them() {
    let (server, account_id, _clients) = server().await;
    with_passkey(&server).await;
    let shown = user_show(&server).await;
    assert!(
        shown.contains("2nd factor:  passkey (\"Work laptop\"), added "),
        "{shown}"
    );
    assert!(shown.contains(", last used never"), "{shown}");

    let output = server.careid_command(&["user", "reset-mfa", EMAIL]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(
        server
            .accounts
            .passkeys(account_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(user_show(&server).await.contains("2nd factor:  none"));
    // The password alone signs in again.
    let browser = server.browser();
    let url = server.authorize_url("crm", CRM_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let back = browser.sign_in(&url, EMAIL, PASSWORD).await;
    assert_eq!(amr_of(&server, CRM, &back).await, ["pwd"]);
}

#[tokio::test]
async fn a_server_on_an_ip_address_offers_no_passkeys() {
    let server = TestServer::start().await;
    server.add_account(EMAIL, "Ada Okafor").await;
    let browser = signed_in(&server).await;
    let page = browser.visit("/account/passkeys").await.page();
    assert!(page.body.contains("passkeys-unavailable"), "{}", page.body);
    // No form to add one; the options endpoint is not found.
    assert!(!page.body.contains("data-passkey"), "{}", page.body);
    let security = browser.visit("/account/security").await.page();
    let csrf = security.form().unwrap().fields(&[]).remove(0);
    assert_eq!(csrf.0, "csrf");
    let answer = browser.post("/account/passkeys/options", &[csrf]).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
}

/// Waits (at most 10 s) until careid has recorded `count` passkey sign-ins: a page's
/// script finishes on its own time after a click.
async fn passkey_sign_ins(server: &TestServer, count: usize) {
    for _ in 0..100 {
        let done = server
            .audit_events("sign_in")
            .await
            .into_iter()
            .filter(|e| e.detail.contains("\"factor\":\"passkey\""))
            .count();
        if done >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no passkey sign-in number {count}");
}

/// Waits (at most 10 s) until the real browser is at a URL containing `needle`.
async fn wait_for_url(browser: &careid_tests::webdriver::Browser, needle: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        last = browser.url().await;
        if last.contains(needle) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the browser is at {last}, not at {needle}");
}

/// Signs out on the real browser.
async fn sign_out(browser: &careid_tests::webdriver::Browser, issuer: &str) {
    browser.goto(&format!("{issuer}/sign-out")).await;
    browser
        .click("form[action='/sign-out'] button[type='submit']")
        .await;
    browser.wait_for("<title>Signed out").await.unwrap();
    browser.goto(&format!("{issuer}/account/passkeys")).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
}

/// Types Ada's password on careid's own sign-in page (no client asking) in the real
/// browser.
async fn password_in_browser(browser: &careid_tests::webdriver::Browser, issuer: &str) {
    browser.goto(&format!("{issuer}/sign-in")).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.type_into("#email", EMAIL).await;
    browser.type_into("#password", PASSWORD).await;
    browser
        .click("form[action='/sign-in'] button[type='submit']")
        .await;
}

#[tokio::test]
async fn passkeys_js_adds_a_passkey_and_signs_in_with_it_in_a_real_browser() {
    let Some(browser) = careid_tests::webdriver::Browser::start(1280).await else {
        return;
    };
    browser.add_virtual_authenticator().await;
    let (server, account_id, _clients) = server().await;
    let issuer = server.issuer.clone();

    // Signed in with her password, Ada adds a passkey on the page.
    password_in_browser(&browser, &issuer).await;
    wait_for_url(&browser, "/account").await;
    browser.wait_for(EMAIL).await.unwrap();
    browser.goto(&format!("{issuer}/account/passkeys")).await;
    browser.wait_for("Add a passkey").await.unwrap();
    browser.type_into("#passkey-name", "Virtual key").await;
    browser.click("#add-passkey button[type='submit']").await;
    browser.wait_for("passkey-added").await.unwrap();
    browser.check_page("passkeys").await;
    let added = server.accounts.passkeys(account_id).await.unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].name, "Virtual key");

    // After the password, the passkey instead of a code.
    sign_out(&browser, &issuer).await;
    password_in_browser(&browser, &issuer).await;
    browser.wait_for("Use a passkey").await.unwrap();
    browser.check_page("sign-in-code-passkey").await;
    browser
        .click("form[data-passkey] button[type='submit']")
        .await;
    passkey_sign_ins(&server, 1).await;
    browser.wait_for(EMAIL).await.unwrap();
    wait_for_url(&browser, "/account").await;

    // Alone, for the client that allows it: the discoverable passkey, no email typed.
    sign_out(&browser, &issuer).await;
    browser
        .goto(&authorize_url_at(
            &issuer,
            "passkey-portal",
            PORTAL_CALLBACK,
            &[],
        ))
        .await;
    browser.wait_for("Sign in with a passkey").await.unwrap();
    browser.check_page("sign-in-passkey").await;
    browser
        .click("form[data-passkey] button[type='submit']")
        .await;
    passkey_sign_ins(&server, 2).await;
    wait_for_url(&browser, "code=").await;
    browser.goto(&format!("{issuer}/account")).await;
    browser.wait_for(EMAIL).await.unwrap();
}

#[tokio::test]
async fn a_password_session_of_a_passkey_person_signs_in_again_for_a_strict_client() {
    let (server, _, _clients) = server().await;
    let mut key = SoftPasskey::new(&server.issuer);
    // Signed in with her password alone, she adds a passkey: the session stays `pwd`.
    let browser = signed_in(&server).await;
    let added = register(&browser, &mut key, "Work laptop").await;
    assert!(added.body.contains("passkey-added"), "{}", added.body);

    let url = server.authorize_url("strict-app", STRICT_CALLBACK, &[("scope", OFFLINE_SCOPE)]);
    let form = browser.visit(&url).await.page();
    // Not an authenticator app to add: the sign-in form, for password and passkey.
    assert!(form.url.contains("/sign-in?request="), "{}", form.url);
    let next = browser
        .submit(&form, &[("email", EMAIL), ("password", PASSWORD)])
        .await
        .page();
    assert!(next.url.contains("/sign-in/code"), "{}", next.url);
    let fields = second_step_answer(&browser, &next, &mut key).await;
    let back = browser
        .follow(browser.post("/sign-in/code/passkey", &fields).await)
        .await
        .left();
    assert_eq!(amr_of(&server, STRICT, &back).await, ["pwd", "hwk", "mfa"]);
}
