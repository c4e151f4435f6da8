//! What the outbox transport logs. Alone in its own test binary: tracing caches which
//! call sites are enabled across threads, so a capturing subscriber is only reliable
//! when no other test logs at the same time.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use careid_mail::{Email, MailConfig, Mailer};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines written while `mailer` sends one message, with `filter` as
/// `CAREID_LOG` would set it.
async fn logs_while_sending(mailer: &Mailer, filter: &str) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let email = Email {
        to: "ada@example.org".to_owned(),
        subject: "Your sign-in link".to_owned(),
        text: "Sign in: https://careid.example/magic?token=s3cret-token\n".to_owned(),
        html: "<a href=\"https://careid.example/magic?token=s3cret-token\">sign in</a>".to_owned(),
    };
    mailer.send(&email).await.unwrap();
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn outbox_links_are_logged_at_debug_level_only() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(&MailConfig::outbox(dir.path())).unwrap();

    let info = logs_while_sending(&mailer, "info").await;
    assert!(info.contains("mail written to the outbox"), "{info}");
    assert!(!info.contains("s3cret-token"), "{info}");

    let debug = logs_while_sending(&mailer, "debug").await;
    assert!(debug.contains("s3cret-token"), "{debug}");
}
