//! The audit trail kept and handed over: `[audit] retention_days` and the job that
//! prunes older events in batches (driven by the server's clock), and `careid audit
//! export --format jsonl` for a SIEM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::num::NonZeroU32;

use careid_server::{AuditConfig, cli::audit::export, prune_audit};
use careid_store::{Clock, accounts, audit};
use careid_tests::TestServer;
use time::Duration;

fn retention(days: u32) -> AuditConfig {
    AuditConfig {
        retention_days: NonZeroU32::new(days),
    }
}

/// The kinds of `email`'s events.
async fn kinds_of(server: &TestServer, email: &str) -> Vec<String> {
    let account = accounts::find_by_email(&server.db, email)
        .await
        .unwrap()
        .unwrap();
    audit::find_events(&server.db, Some(account.id), None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

#[tokio::test]
async fn an_event_is_kept_for_exactly_the_retention_and_pruned_one_second_later() {
    let server = TestServer::start_with(|config| config.audit = retention(30)).await;
    server.add_account("ada@example.org", "Ada").await;
    server.clock.advance(Duration::days(30));
    server.add_account("bea@example.org", "Bea").await;

    let now = server.clock.now();
    assert_eq!(
        prune_audit(&server.db, now, retention(30), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        kinds_of(&server, "ada@example.org").await,
        ["account_created"]
    );

    server.clock.advance(Duration::SECOND);
    let now = server.clock.now();
    assert_eq!(
        prune_audit(&server.db, now, retention(30), 100)
            .await
            .unwrap(),
        1
    );
    assert!(kinds_of(&server, "ada@example.org").await.is_empty());
    assert_eq!(
        kinds_of(&server, "bea@example.org").await,
        ["account_created"]
    );
}

#[tokio::test]
async fn without_a_retention_nothing_is_pruned_and_a_backlog_goes_in_batches() {
    let server = TestServer::start().await;
    let long_ago = server.clock.now() - Duration::days(4000);
    for _ in 0..25 {
        let old = audit::NewEvent {
            kind: "sign_in",
            ..Default::default()
        };
        audit::insert_event(&server.db, old, long_ago)
            .await
            .unwrap();
    }
    let now = server.clock.now();
    assert_eq!(
        prune_audit(&server.db, now, AuditConfig::default(), 10)
            .await
            .unwrap(),
        0
    );
    // 25 events in batches of 10: three statements, every event gone.
    assert_eq!(
        prune_audit(&server.db, now, retention(365), 10)
            .await
            .unwrap(),
        25
    );
    assert!(server.audit_events("sign_in").await.is_empty());
}

#[tokio::test]
async fn an_export_is_one_json_object_per_line_oldest_first_within_since_and_until() {
    let server = TestServer::start().await;
    let start = server.clock.now();
    server.add_account("ada@example.org", "Ada").await;
    server.clock.advance(Duration::days(1));
    // More than one page of the export.
    for _ in 0..1001 {
        let event = audit::NewEvent {
            kind: "sign_in_failed",
            client_id: Some("crm".into()),
            ip: Some("192.0.2.7".into()),
            detail: serde_json::json!({ "reason": "wrong_password" }),
            ..Default::default()
        };
        audit::insert_event(&server.db, event, server.clock.now())
            .await
            .unwrap();
    }
    server.clock.advance(Duration::days(1));
    server.add_account("bea@example.org", "Bea").await;

    let since = start + Duration::hours(12);
    let until = start + Duration::hours(36);
    let mut out = Vec::new();
    let written = export(&server.db, since, Some(until), &mut out)
        .await
        .unwrap();
    assert_eq!(written, 1001);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1001);
    let first = lines[0].as_object().unwrap();
    let mut fields: Vec<&str> = first.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "account_id",
            "at",
            "client_id",
            "detail",
            "id",
            "ip",
            "kind"
        ]
    );
    assert_eq!(first["kind"], "sign_in_failed");
    assert_eq!(first["ip"], "192.0.2.7");
    assert_eq!(first["detail"]["reason"], "wrong_password");
    assert!(first["account_id"].is_null());
    let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));

    // Without --until, the later account's creation is in it too.
    let mut out = Vec::new();
    assert_eq!(
        export(&server.db, since, None, &mut out).await.unwrap(),
        1002
    );
    let last = String::from_utf8(out).unwrap();
    let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "account_created");
    assert!(last["at"].as_str().unwrap().ends_with('Z'), "{last}");
}
