//! Every way a careid session ends reaches the relying parties and the tokens (issue 11):
//! one back-channel logout token per client that received tokens in the session, and
//! that client's session-bound refresh token refused afterwards. Offline refresh tokens
//! (`offline_access`) survive a sign-out and die with a password change. A delivery to
//! a receiver that is down is retried (the backoff runs on the test's clock) and arrives
//! once it is up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::{collections::HashMap, time::Duration};

use careid_policy::PlainPassword;
use careid_store::Clock;
use careid_tests::{
    OFFLINE_SCOPE, PASSWORD, TestServer, VERIFIER,
    backchannel::receiver_on,
    browser::{Browser, Landing, param},
    clients_dir_with,
};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::mpsc;

const ADA: &str = "ada@example.org";
/// The two relying parties with a back-channel endpoint.
const RPS: [&str; 2] = ["rp-a", "rp-b"];

type Received = mpsc::UnboundedReceiver<HashMap<String, String>>;

/// Where each RP's back-channel endpoint is, under the receiver's address.
const PATH: &str = "/{rp}/backchannel";

/// A server whose clients include the two RPs, with back-channel endpoints at `base`,
/// and Ada. `rp-a` and `rp-b` take session-bound refresh tokens.
async fn server_with_rps(base: &str) -> (TestServer, tempfile::TempDir) {
    let files: Vec<(String, String)> = RPS
        .iter()
        .map(|rp| {
            let toml = format!(
                r#"client_id = "{rp}"
name = "Back-channel RP {rp}"
secret = "{rp}-secret"
redirect_uris = ["{base}/{rp}/callback"]
backchannel_logout_uri = "{base}/{rp}/backchannel"
allow_private_network = true
first_party = true
session_refresh_tokens = true
"#
            );
            (format!("{rp}.toml"), toml)
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let dir = clients_dir_with(&files);
    let path = dir.path().to_owned();
    let server = TestServer::start_with(|c| c.clients_dir = path).await;
    server.add_account(ADA, "Ada").await;
    (server, dir)
}

/// Signs `browser` in to `rp` (asking for `scope`) and returns the token response.
async fn tokens(
    server: &TestServer,
    browser: &Browser,
    base: &str,
    rp: &str,
    scope: &str,
) -> Value {
    let callback = format!("{base}/{rp}/callback");
    let url = server.authorize_url(rp, &callback, &[("scope", scope)]);
    let back = match browser.visit(&url).await {
        Landing::Left(back) => back,
        Landing::Page(_) => browser.sign_in(&url, ADA, PASSWORD).await,
    };
    let code = param(&back, "code").unwrap();
    let secret = format!("{rp}-secret");
    let (status, tokens) = server
        .token(
            Some((rp, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &callback),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn refresh(server: &TestServer, rp: &str, token: &str) -> (StatusCode, Value) {
    let secret = format!("{rp}-secret");
    server
        .token(
            Some((rp, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

/// The claims of a JWT, unverified (logout tokens are verified in `logout_and_tokens`).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A browser signed in to both RPs: its refresh token per RP and the session's `sid`.
struct Signed {
    browser: Browser,
    refresh: HashMap<&'static str, String>,
    sid: String,
}

struct Fixture {
    server: TestServer,
    base: String,
    received: Received,
    clients: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let (sender, received) = mpsc::unbounded_channel();
        let addr = receiver_on("127.0.0.1:0".parse().unwrap(), PATH, sender).await;
        let base = format!("http://{addr}");
        let (server, clients) = server_with_rps(&base).await;
        Self {
            server,
            base,
            received,
            clients,
        }
    }

    async fn signed_in(&self) -> Signed {
        let browser = self.server.browser();
        let mut refresh = HashMap::new();
        let mut sid = String::new();
        for rp in RPS {
            let tokens = tokens(&self.server, &browser, &self.base, rp, "openid email").await;
            refresh.insert(
                rp,
                tokens["refresh_token"]
                    .as_str()
                    .expect("session-bound")
                    .to_owned(),
            );
            sid = claims(tokens["id_token"].as_str().unwrap())["sid"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        Signed {
            browser,
            refresh,
            sid,
        }
    }

    /// The next `count` logout tokens' claims, each within ten seconds (the delivery job
    /// runs about once a second), then nothing more.
    async fn logout_tokens(&mut self, count: usize) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..count {
            let form = tokio::time::timeout(Duration::from_secs(10), self.received.recv())
                .await
                .expect("a back-channel logout within ten seconds")
                .unwrap();
            out.push(claims(&form["logout_token"]));
        }
        // Two more passes of the job: nothing else arrives.
        let extra = tokio::time::timeout(Duration::from_millis(2500), self.received.recv()).await;
        assert!(extra.is_err(), "one logout token per client: {extra:?}");
        out
    }

    /// Each RP was told once about `signed`'s session, and its refresh token is refused.
    async fn assert_told_and_refused(&mut self, signed: &Signed) {
        let mut told: Vec<String> = self
            .logout_tokens(RPS.len())
            .await
            .into_iter()
            .map(|c| {
                assert_eq!(c["sid"], signed.sid.as_str());
                c["aud"].as_str().unwrap().to_owned()
            })
            .collect();
        told.sort();
        assert_eq!(told, RPS);
        for rp in RPS {
            let (status, body) = refresh(&self.server, rp, &signed.refresh[rp]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{rp}: {body}");
            assert_eq!(body["error"], "invalid_grant", "{rp}");
        }
    }

    async fn account_id(&self) -> careid_store::AccountId {
        careid_store::accounts::find_by_email(&self.server.accounts.db, ADA)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// Ada changes her password on her account page, as `/account/password` does.
    async fn change_password(&self) {
        let new = PlainPassword::new("Another-Horse-43");
        self.server
            .accounts
            .change_password(
                self.account_id().await,
                PlainPassword::new(PASSWORD),
                new.clone(),
                new,
                None,
                None,
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn signing_out_tells_every_client_and_ends_their_session_refresh_tokens() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    let page = signed.browser.visit("/sign-out").await.page();
    signed.browser.submit(&page, &[]).await.page();
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn end_session_with_a_hint_tells_every_client_and_ends_their_session_refresh_tokens() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    // A fresh ID token for this session, as the hint.
    let again = tokens(&fx.server, &signed.browser, &fx.base, "rp-a", "openid").await;
    let hint = again["id_token"].as_str().unwrap().to_owned();
    let url = format!("{}/end_session?id_token_hint={hint}", fx.server.url);
    signed.browser.visit(&url).await;
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn an_idle_timeout_found_by_a_refresh_tells_every_client_and_ends_their_tokens() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    // careid.toml: idle_minutes = 30.
    fx.server.clock.advance(time::Duration::minutes(31));
    // Nobody has noticed yet; the first refresh finds the session timed out, is
    // refused, and ends it the one way.
    let (status, body) = refresh(&fx.server, "rp-a", &signed.refresh["rp-a"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn a_session_used_within_the_idle_limit_still_refreshes() {
    let fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    fx.server.clock.advance(time::Duration::minutes(30));
    let (status, body) = refresh(&fx.server, "rp-a", &signed.refresh["rp-a"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string(), "the session is live: {body}");
}

#[tokio::test]
async fn a_new_sign_in_in_the_same_browser_tells_the_clients_of_the_replaced_session() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    let callback = format!("{}/rp-a/callback", fx.base);
    let url = fx
        .server
        .authorize_url("rp-a", &callback, &[("prompt", "login")]);
    signed.browser.sign_in(&url, ADA, PASSWORD).await;
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn a_password_change_tells_every_client() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    fx.change_password().await;
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn a_password_reset_tells_every_client() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    let new = PlainPassword::new("Another-Horse-43");
    fx.server
        .accounts
        .set_password(fx.account_id().await, new.clone(), new)
        .await
        .unwrap();
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn disabling_the_account_tells_every_client() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    fx.server
        .accounts
        .disable(fx.server.accounts.account_by_email(ADA).await.unwrap().id)
        .await
        .unwrap();
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn an_inactivity_expiry_tells_every_client() {
    let mut fx = Fixture::new().await;
    let signed = fx.signed_in().await;
    // careid.toml: inactivity_expiry_days = 90. The sweep finds the account first.
    fx.server.clock.advance(time::Duration::days(91));
    assert_eq!(fx.server.accounts.sweep_inactive().await.unwrap(), 1);
    fx.assert_told_and_refused(&signed).await;
}

#[tokio::test]
async fn an_offline_refresh_token_survives_sign_out_and_dies_with_a_password_change() {
    let mut fx = Fixture::new().await;
    let browser = fx.server.browser();
    let tokens = tokens(&fx.server, &browser, &fx.base, "rp-a", OFFLINE_SCOPE).await;
    let offline = tokens["refresh_token"].as_str().unwrap().to_owned();
    let page = browser.visit("/sign-out").await.page();
    browser.submit(&page, &[]).await.page();
    assert_eq!(fx.logout_tokens(1).await[0]["aud"], "rp-a");

    let (status, body) = refresh(&fx.server, "rp-a", &offline).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("id_token").is_none(),
        "no ID token for an ended session: {body}"
    );
    let offline = body["refresh_token"].as_str().unwrap().to_owned();

    fx.change_password().await;
    let (status, body) = refresh(&fx.server, "rp-a", &offline).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn without_offline_access_or_the_client_opting_in_no_refresh_token_is_issued() {
    let server = TestServer::start().await;
    server.add_account(ADA, "Ada").await;
    let browser = server.browser();
    let url = server.authorize_url("crm", careid_tests::CRM_CALLBACK, &[]);
    let back = browser.sign_in(&url, ADA, PASSWORD).await;
    let (status, tokens) = server.crm_exchange(&param(&back, "code").unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn a_delivery_to_a_receiver_that_is_down_is_retried_and_arrives_once_it_is_up() {
    // Hold a port bound but not listening: connections to it are refused (the receiver
    // is down), and careid, started next, cannot be given the same port.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reserved.local_addr().unwrap();
    let base = format!("http://{addr}");
    let (server, _clients) = server_with_rps(&base).await;
    let browser = server.browser();
    let tokens = tokens(&server, &browser, &base, "rp-a", "openid").await;
    let sid = claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser.visit("/sign-out").await.page();
    browser.submit(&page, &[]).await.page();

    // The first attempt fails and is scheduled 30 s later on careid's clock.
    let db = &server.accounts.db;
    let attempted = async {
        loop {
            let rows = careid_store::logout_deliveries::find_for_session(db, &sid)
                .await
                .unwrap();
            // Claimed rows carry a one-minute lease; a failed attempt reschedules the row
            // 30 s out. Wait for the latter, so the first send has finished failing.
            let now = server.clock.now();
            let is_rescheduled =
                rows[0].due_at > now && rows[0].due_at <= now + time::Duration::seconds(30);
            if rows[0].attempts >= 1 && is_rescheduled {
                return rows[0].clone();
            }
            tokio::task::yield_now().await;
        }
    };
    let row = tokio::time::timeout(Duration::from_secs(10), attempted)
        .await
        .expect("a first attempt within ten seconds");
    assert!(row.delivered_at.is_none() && row.gave_up_at.is_none());

    // The receiver comes up; nothing is sent before the retry is due.
    let (sender, mut received) = mpsc::unbounded_channel();
    drop(reserved);
    receiver_on(addr, PATH, sender).await;
    let early = tokio::time::timeout(Duration::from_millis(2500), received.recv()).await;
    assert!(early.is_err(), "not before the backoff");
    server.clock.advance(time::Duration::seconds(30));
    let form = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the retry arrives")
        .unwrap();
    assert_eq!(claims(&form["logout_token"])["sid"], sid.as_str());
    // Delivered once: later passes send nothing more.
    server.clock.advance(time::Duration::hours(1));
    let again = tokio::time::timeout(Duration::from_millis(2500), received.recv()).await;
    assert!(again.is_err(), "never twice after success");
    let rows = careid_store::logout_deliveries::find_for_session(db, &sid)
        .await
        .unwrap();
    assert!(rows[0].delivered_at.is_some());
}

#[tokio::test]
async fn two_instances_sending_from_one_outbox_deliver_each_logout_once() {
    let mut fx = Fixture::new().await;
    // A second instance over the same database and client files runs its own
    // delivery job.
    let clients = fx.clients.path().to_owned();
    let _second = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        fx.server.database_url.clone(),
        Some(fx.server.issuer.clone()),
        |c| c.clients_dir = clients,
    )
    .await;
    let signed = fx.signed_in().await;
    let page = signed.browser.visit("/sign-out").await.page();
    signed.browser.submit(&page, &[]).await.page();
    fx.assert_told_and_refused(&signed).await;
}
