//! `careid backup` and `careid restore` on SQLite, end to end: a running server's
//! database is copied while it serves, the copy is restored into a fresh folder, and a
//! server started there publishes the same keys and signs in the same accounts and
//! clients. The key-encryption key is not in the backup: the restored server needs the
//! same one (docs/operations.md, "Backups").
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::path::{Path, PathBuf};

use careid_protocol::Kek;
use careid_server::{Config, cli::backup};
use careid_store::accounts;
use careid_tests::{TestServer, test_config};
use reqwest::StatusCode;
use serde_json::json;

const APP_CALLBACK: &str = "https://diary.example/callback";

/// Writes a fresh key-encryption key into `dir` and returns its path.
fn kek_file(dir: &Path) -> PathBuf {
    let path = dir.join("careid.kek");
    std::fs::write(&path, format!("{}\n", Kek::generate())).unwrap();
    path
}

/// A SQLite database file in `dir`, whatever `CAREID_TEST_DATABASE_URL` says: backup
/// and restore are for SQLite (PostgreSQL has pg_dump).
fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/careid.db?mode=rwc", dir.display())
}

/// The configuration the CLI would read for a server on `database_url` with `kek`.
fn cli_config(database_url: &str, kek: &Path) -> Config {
    let mut config = test_config("http://127.0.0.1:8080", database_url);
    config.keys.key_encryption_key_file = Some(kek.to_owned());
    config
}

/// Starts a server on the SQLite file in `dir`, its keys sealed with `kek`.
async fn server_in(dir: tempfile::TempDir, kek: &Path) -> TestServer {
    let url = sqlite_url(dir.path());
    let kek = kek.to_owned();
    TestServer::start_on(dir, url, None, move |config| {
        config.keys.key_encryption_key_file = Some(kek);
    })
    .await
}

#[tokio::test]
async fn a_backup_restored_into_a_fresh_folder_serves_the_same_keys_accounts_and_clients() {
    let secrets = tempfile::tempdir().unwrap();
    let kek = kek_file(secrets.path());
    let first = server_in(tempfile::tempdir().unwrap(), &kek).await;
    first.add_account("ada@example.org", "Ada").await;
    let app = first
        .register_ok(&json!({
            "client_name": "Wellness Diary",
            "redirect_uris": [APP_CALLBACK],
        }))
        .await;
    let browser = first.browser();
    let code = first.crm_code(&browser, "ada@example.org").await;
    assert_eq!(first.crm_exchange(&code).await.0, StatusCode::OK);

    // Online: the first server keeps serving while the copy is made.
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("nightly/careid-backup.db");
    backup::backup(&cli_config(&first.database_url, &kek), &copy)
        .await
        .unwrap();
    // A backup never writes over a file.
    let again = backup::backup(&cli_config(&first.database_url, &kek), &copy).await;
    assert!(again.unwrap_err().to_string().contains("exists already"));
    // What happens after the copy is not in it.
    first.add_account("late@example.org", "Late").await;

    let fresh = tempfile::tempdir().unwrap();
    let fresh_config = cli_config(&sqlite_url(fresh.path()), &kek);
    let restored = backup::restore(&fresh_config, &copy, false).await.unwrap();
    assert_eq!(restored, fresh.path().join("careid.db"));
    // A second restore would replace a database: only with --force, keeping the old one.
    let refused = backup::restore(&fresh_config, &copy, false).await;
    assert!(refused.unwrap_err().to_string().contains("--force"));
    backup::restore(&fresh_config, &copy, true).await.unwrap();
    assert!(fresh.path().join("careid.db.before-restore").is_file());

    let second = server_in(fresh, &kek).await;
    assert_eq!(
        second.get_json("/jwks").await,
        first.get_json("/jwks").await
    );

    // The same account signs in with its password; its tokens verify against the JWKS.
    let code = second.crm_code(&second.browser(), "ada@example.org").await;
    let (status, tokens) = second.crm_exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let userinfo = second
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(userinfo.status(), StatusCode::OK);

    // The registered client is there, with its secret.
    second
        .registered_tokens(&second.browser(), &app, APP_CALLBACK, "ada@example.org")
        .await;
    assert!(
        accounts::find_by_email(&second.db, "late@example.org")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_restore_refuses_a_file_that_is_no_careid_database_and_keeps_the_current_one() {
    let secrets = tempfile::tempdir().unwrap();
    let kek = kek_file(secrets.path());
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(&sqlite_url(dir.path()), &kek);
    careid_store::migrate(&config.database_url).await.unwrap();
    let before = std::fs::read(dir.path().join("careid.db")).unwrap();

    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a database").unwrap();
    let err = backup::restore(&config, &junk, true).await.unwrap_err();
    assert!(format!("{err:#}").contains("no usable backup"), "{err:#}");
    let missing = backup::restore(&config, &dir.path().join("gone.db"), true).await;
    assert!(missing.unwrap_err().to_string().contains("no backup file"));

    assert_eq!(std::fs::read(dir.path().join("careid.db")).unwrap(), before);
    assert!(!dir.path().join("careid.db.restoring").exists());
}
