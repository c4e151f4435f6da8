//! `careid bench` against a real server: every scenario runs through the library API,
//! briefly, with seeded accounts, and must finish operations without a single error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::time::Duration;

use careid_bench::{BenchOptions, Scenario, SeedOptions};
use careid_policy::PlainPassword;
use careid_store::Clock;
use careid_tests::{CRM_CALLBACK, TestServer, test_config};

/// Seeds `concurrency` bench accounts into a fresh server, runs every scenario briefly
/// with that many workers, and asserts each completed operations and had no error.
async fn every_scenario_runs_cleanly(concurrency: usize) {
    let server = TestServer::start().await;
    let config = test_config(&server.issuer, &server.database_url);
    let db = careid_store::connect(&server.database_url, 1)
        .await
        .unwrap();
    let seeded = careid_bench::seed(
        db.writer(),
        &SeedOptions {
            accounts: concurrency as u64,
            prefix: careid_bench::DEFAULT_PREFIX.into(),
            password: PlainPassword::new(careid_bench::DEFAULT_PASSWORD),
            rules: config.policy.password.clone(),
            hash: config.policy.hash,
        },
        server.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(seeded.created, concurrency as u64);

    let mut options = BenchOptions::new(&server.url);
    options.concurrency = concurrency;
    options.duration = Duration::from_millis(500);
    options.redirect_uri = CRM_CALLBACK.into();
    options.pid = Some(std::process::id());
    let report = careid_bench::run(&options).await.unwrap();

    let ran: Vec<Scenario> = report.scenarios.iter().map(|s| s.scenario).collect();
    assert_eq!(ran, Scenario::ALL);
    for scenario in &report.scenarios {
        assert!(
            scenario.ok >= 1 && scenario.errors == 0,
            "{}: {} ok, {} errors: {:?}",
            scenario.scenario.name(),
            scenario.ok,
            scenario.errors,
            scenario.error_samples
        );
        assert!(scenario.latency.is_some());
        let usage = scenario.server.as_ref().expect("the pid was given");
        assert!(usage.after.rss_mib > 0.0);
    }
}

#[tokio::test]
async fn every_scenario_completes_operations_without_errors_with_two_workers() {
    every_scenario_runs_cleanly(2).await;
}

#[tokio::test]
async fn seeding_again_with_the_same_prefix_creates_only_new_accounts() {
    let server = TestServer::start().await;
    let config = test_config(&server.issuer, &server.database_url);
    let db = careid_store::connect(&server.database_url, 1)
        .await
        .unwrap();
    let options = |accounts| SeedOptions {
        accounts,
        prefix: "again-".into(),
        password: PlainPassword::new(careid_bench::DEFAULT_PASSWORD),
        rules: config.policy.password.clone(),
        hash: config.policy.hash,
    };
    careid_bench::seed(db.writer(), &options(2), server.clock.now())
        .await
        .unwrap();
    let again = careid_bench::seed(db.writer(), &options(5), server.clock.now())
        .await
        .unwrap();
    assert_eq!((again.created, again.existing), (3, 2));
    let browser = server.browser();
    let url = server.authorize_url("crm", CRM_CALLBACK, &[]);
    let back = browser
        .sign_in(&url, "again-5@careid.local", careid_bench::DEFAULT_PASSWORD)
        .await;
    assert!(
        careid_tests::browser::param(&back, "code").is_some(),
        "{back}"
    );
}

#[tokio::test]
async fn a_wrong_password_shows_up_as_sampled_errors() {
    let server = TestServer::start().await;
    let mut options = BenchOptions::new(&server.url);
    options.concurrency = 1;
    options.duration = Duration::from_millis(200);
    options.redirect_uri = CRM_CALLBACK.into();
    options.scenarios = vec![Scenario::CodeFlow];
    // No account was seeded, so every sign-in fails.
    let report = careid_bench::run(&options).await.unwrap();
    let code_flow = &report.scenarios[0];
    assert_eq!(code_flow.ok, 0);
    assert!(code_flow.errors >= 1);
    assert!(!code_flow.error_samples.is_empty());
    assert!(code_flow.error_samples.len() <= 5);
    assert!(code_flow.latency.is_none());
}
