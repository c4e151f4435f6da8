//! Several careid instances on one database, as behind a load balancer: a flow begun on
//! one finishes on another, single use holds across instances, and instances starting
//! together on an empty database (or on one that lacks a newer algorithm's key) agree on
//! one key set. Runs on SQLite by default and on
//! PostgreSQL when `CAREID_TEST_DATABASE_URL` is set (as `.ci/run` does).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::sync::Arc;

use careid_server::App;
use careid_store::{Clock, ManualClock, signing_keys, signing_keys::SigningKey};
use careid_tests::{
    CRM_CALLBACK, PASSWORD, TestServer, browser::param, fresh_database, test_config,
};
use reqwest::StatusCode;

#[tokio::test]
async fn a_sign_in_begun_on_one_instance_finishes_on_another() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    first.add_account("ada@example.org", "Ada").await;

    // /authorize on the first instance, the sign-in form posted to the second.
    let on_first = first.browser();
    let on_second = on_first.on(&second.url);
    let page = on_first
        .visit(&first.authorize_url(
            "crm",
            CRM_CALLBACK,
            &[("scope", careid_tests::OFFLINE_SCOPE)],
        ))
        .await
        .page();
    let form = page.form().unwrap();
    let posted = on_second
        .post(
            "/sign-in",
            &form.fields(&[("email", "ada@example.org"), ("password", PASSWORD)]),
        )
        .await;
    let back = on_second.follow(posted).await.left();
    let code = param(&back, "code").unwrap();
    assert_eq!(param(&back, "iss").as_deref(), Some(first.issuer.as_str()));

    // The code is exchanged on the second instance.
    let (status, tokens) = second.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    // Single sign-on on the first instance again.
    let back = on_first
        .visit(&first.authorize_url("emr", "http://127.0.0.1:8082/callback", &[]))
        .await
        .left();
    assert!(param(&back, "code").is_some(), "no password asked: {back}");

    // Refresh alternately on either instance: rotation is shared.
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    for server in [&first, &second, &first] {
        let (status, body) = server
            .token(
                Some(("crm", "crm-demo-secret")),
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh = body["refresh_token"].as_str().unwrap().to_owned();
    }
    // Tokens signed by one instance verify on the other.
    let response = second
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_code_redeemed_on_two_instances_at_once_succeeds_exactly_once() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    first.add_account("ada@example.org", "Ada").await;
    let browser = first.browser();
    for round in 0..20 {
        let code = first.crm_code(&browser, "ada@example.org").await;
        let ((a, _), (b, _)) = tokio::join!(first.crm_exchange(&code), second.crm_exchange(&code));
        let successes = [a, b].iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(successes, 1, "round {round}: {a} and {b}");
    }
}

#[tokio::test]
async fn a_refresh_token_rotated_on_two_instances_at_once_rotates_exactly_once() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    first.add_account("ada@example.org", "Ada").await;
    let browser = first.browser();
    for round in 0..10 {
        let code = first.crm_code(&browser, "ada@example.org").await;
        let (_, tokens) = first.crm_exchange(&code).await;
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        let basic = Some(("crm", "crm-demo-secret"));
        let (a, b) = tokio::join!(first.token(basic, &form), second.token(basic, &form));
        let outcomes = [a, b];
        let successes = outcomes
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .count();
        let refusals = outcomes
            .iter()
            .filter(|(s, body)| *s == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant")
            .count();
        assert_eq!(
            (successes, refusals),
            (1, 1),
            "round {round}: one rotation and one invalid_grant expected, got {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn instances_started_together_on_an_empty_database_end_up_with_one_key_set() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let config = test_config("http://127.0.0.1:1", &database_url);
    let clock = Arc::new(ManualClock::starting_now());
    if careid_store::Backend::of(&database_url) == Some(careid_store::Backend::Sqlite) {
        // SQLite is the single-instance mode and has no lock to serialise two migrating
        // processes (PostgreSQL has, and races here); the key race is still run below.
        careid_store::migrate(&database_url).await.unwrap();
    }
    let (a, b) = tokio::join!(
        App::build(&config, clock.clone()),
        App::build(&config, clock.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.protocol.keys.kids(), b.protocol.keys.kids());
    assert_eq!(
        a.protocol.keys.kids().len(),
        4,
        "one RS256, ES256, PS256 and EdDSA key"
    );
    assert_eq!(a.protocol.keys.jwks(), b.protocol.keys.jwks());
}

/// A key as an earlier careid stored it: PEM private key, public JWK with kid, alg and use.
fn stored_key(
    alg: &str,
    pair: &dyn josekit::jwk::KeyPair,
    now: time::OffsetDateTime,
) -> SigningKey {
    let kid = format!("old-{alg}");
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(&kid);
    public.set_algorithm(alg);
    public.set_key_use("sig");
    SigningKey {
        kid,
        alg: alg.to_owned(),
        generation: 1,
        private_pem: String::from_utf8(pair.to_pem_private_key()).unwrap(),
        public_jwk: serde_json::to_string(public.as_ref()).unwrap(),
        created_at: now,
        active_from: now,
        retired_at: None,
    }
}

#[tokio::test]
async fn a_database_with_only_rs256_and_es256_keys_gets_the_new_keys_once_from_two_instances() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    careid_store::migrate(&database_url).await.unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    // What a database made before PS256 and EdDSA holds.
    let db = careid_store::connect(&database_url, 1).await.unwrap();
    let rsa = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let ec = josekit::jws::ES256.generate_key_pair().unwrap();
    for key in [
        stored_key("RS256", &rsa, clock.now()),
        stored_key("ES256", &ec, clock.now()),
    ] {
        assert!(signing_keys::insert_key(&db, key).await.unwrap());
    }

    let config = test_config("http://127.0.0.1:1", &database_url);
    let (a, b) = tokio::join!(
        App::build(&config, clock.clone()),
        App::build(&config, clock.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.protocol.keys.kids(), b.protocol.keys.kids());
    assert_eq!(a.protocol.keys.jwks(), b.protocol.keys.jwks());
    let stored = signing_keys::find_published(&db, clock.now())
        .await
        .unwrap();
    let mut algs: Vec<&str> = stored.iter().map(|key| key.alg.as_str()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "PS256", "RS256"], "one key each");
    let jwks: serde_json::Value = serde_json::from_slice(&a.protocol.keys.jwks()).unwrap();
    let published: Vec<(&str, &str)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    assert!(published.contains(&("old-RS256", "RS256")), "{jwks}");
    assert!(published.contains(&("old-ES256", "ES256")), "{jwks}");
    assert_eq!(published.len(), 4, "{jwks}");
}

#[tokio::test]
async fn a_key_retired_by_another_instance_leaves_this_instances_jwks_within_seconds() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    let jwks = |server: &TestServer| {
        let url = format!("{}/jwks", server.url);
        let http = server.http();
        async move {
            let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let before = jwks(&first).await;
    assert_eq!(before, jwks(&second).await);
    let es256 = careid_store::signing_keys::find_published(&second.accounts.db, second.clock.now())
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.alg == "ES256")
        .unwrap();
    // What a retirement whose time is up does to the shared database. (The instances'
    // clocks started apart, so the key left the JWKS a minute ago for both.)
    let gone = second.clock.now() - time::Duration::minutes(1);
    careid_store::signing_keys::update_retired(&second.accounts.db, &es256.kid, gone)
        .await
        .unwrap();
    // The first instance notices by itself (it checks once a second); bounded wait.
    let mut seen = false;
    for _ in 0..50 {
        if !jwks(&first).await.contains(&es256.kid) {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        seen,
        "the first instance still publishes the retired key after 5 s"
    );
}

#[tokio::test]
async fn wrong_passwords_sent_at_once_to_two_instances_all_count_towards_the_lockout() {
    let first = TestServer::start().await;
    if careid_store::Backend::of(&first.database_url) != Some(careid_store::Backend::Postgres) {
        // SQLite is the single-instance mode; the row lock under test is PostgreSQL's.
        return;
    }
    let second = first.another_instance().await;
    first.add_account("ada@example.org", "Ada").await;
    let attempt = |server: &TestServer| {
        let browser = server.browser();
        let url = server.authorize_url("crm", CRM_CALLBACK, &[]);
        async move {
            let page = browser.visit(&url).await.page();
            browser
                .submit(
                    &page,
                    &[
                        ("email", "ada@example.org"),
                        ("password", "Wrong-Password-1"),
                    ],
                )
                .await
                .page()
        }
    };
    // Five wrong passwords, in parallel, split over the two instances.
    let results = tokio::join!(
        attempt(&first),
        attempt(&second),
        attempt(&first),
        attempt(&second),
        attempt(&first)
    );
    for page in [results.0, results.1, results.2, results.3, results.4] {
        assert!(page.body.contains("incorrect"), "{}", page.body);
    }
    let browser = first.browser();
    let page = browser
        .visit(&first.authorize_url("crm", CRM_CALLBACK, &[]))
        .await
        .page();
    let after = browser
        .submit(
            &page,
            &[("email", "ada@example.org"), ("password", PASSWORD)],
        )
        .await
        .page();
    assert!(
        after.body.contains("locked"),
        "five concurrent failures must lock: {}",
        after.body
    );
}
