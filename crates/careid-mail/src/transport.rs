//! Delivery: `Mailer` turns an `Email` into an RFC 5322 message and either writes it to the
//! outbox directory (development) or hands it to an SMTP relay (production), retrying a
//! relay that fails for a moment. What the message says is `message`'s business.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use crate::config::{MailConfig, MailTransport, SmtpConfig, SmtpSecurity};
use crate::{Email, MailError};

/// Sends messages through the transport the config names. Cheap to share behind an `Arc`;
/// SMTP connections are pooled and reused.
pub struct Mailer {
    from: Mailbox,
    delivery: Delivery,
    retries: u32,
    retry_delay: Duration,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Accepted by the SMTP relay.
    Sent,
    /// Written to this `.eml` file in the outbox: nobody receives it unless someone
    /// forwards it by hand.
    Outbox(PathBuf),
}

enum Delivery {
    Outbox(Outbox),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &self.delivery {
            Delivery::Outbox(outbox) => format!("outbox {}", outbox.dir.display()),
            Delivery::Smtp(_) => "smtp".to_owned(),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the mailer `config` describes. Fails on a bad `from` address, incomplete
    /// credentials, or a password variable that is not set, so a broken config shows at
    /// start-up.
    ///
    /// # Panics
    ///
    /// With the SMTP transport, outside a Tokio runtime: lettre's connection pool spawns
    /// its clean-up task here.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let from = parse_mailbox(&config.from)?;
        let delivery = match config.transport {
            MailTransport::Outbox => Delivery::Outbox(Outbox {
                dir: config.outbox_dir.clone(),
                sequence: AtomicU64::new(0),
            }),
            MailTransport::Smtp => {
                let credentials = credentials(&config.smtp, |var| std::env::var(var).ok())?;
                Delivery::Smtp(smtp_transport(&config.smtp, credentials)?)
            }
        };
        Ok(Self {
            from,
            delivery,
            retries: config.retries,
            retry_delay: Duration::from_millis(config.retry_delay_ms),
        })
    }

    /// A mailer for unencrypted, unauthenticated SMTP on `host:port`, retrying quickly:
    /// for tests against a loopback listener.
    pub fn for_smtp_test(host: &str, port: u16) -> Result<Self, MailError> {
        let mut config = MailConfig {
            transport: MailTransport::Smtp,
            retry_delay_ms: 1,
            ..MailConfig::default()
        };
        config.smtp.host = host.to_owned();
        config.smtp.port = port;
        config.smtp.security = SmtpSecurity::None;
        Self::new(&config)
    }

    /// Sends `email`. A relay that fails is tried again `retries` times, `retry_delay`
    /// apart, unless it answered with a permanent (5xx) refusal, which no retry changes.
    /// A message that is not delivered is logged as an error and returned as one.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.deliver(email).await.map(|_| ())
    }

    /// Sends `email` as [`Self::send`] does, and says where it went: handed to the SMTP
    /// relay, or only written to a file in the outbox, which nobody receives. Callers that
    /// record a state for an administrator use this, so that "sent" is never claimed
    /// for a message that did not leave the machine.
    pub async fn deliver(&self, email: &Email) -> Result<Delivered, MailError> {
        let message = assemble(&self.from, email)?;
        match &self.delivery {
            Delivery::Outbox(outbox) => match outbox.write(&message).await {
                Ok(path) => {
                    metrics::counter!("careid_mail_total", "transport" => "outbox", "result" => "written").increment(1);
                    tracing::info!(
                        to = %email.to,
                        subject = %email.subject,
                        path = %path.display(),
                        "mail written to the outbox (not sent: [mail] transport = \"outbox\")",
                    );
                    // The links are working one-time credentials: only at debug level
                    // (`CAREID_LOG=careid_mail=debug`), so that a production log never
                    // holds one. The .eml file has them too.
                    for link in email.links() {
                        tracing::debug!(to = %email.to, %link, "link in outbox mail");
                    }
                    Ok(Delivered::Outbox(path))
                }
                Err(err) => {
                    metrics::counter!("careid_mail_total", "transport" => "outbox", "result" => "failed").increment(1);
                    tracing::error!(to = %email.to, subject = %email.subject, error = %err, "mail not written");
                    Err(err)
                }
            },
            Delivery::Smtp(transport) => self
                .send_smtp(transport, email, &message)
                .await
                .map(|()| Delivered::Sent),
        }
    }

    async fn send_smtp(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        email: &Email,
        message: &Assembled,
    ) -> Result<(), MailError> {
        let mut attempt: u32 = 1;
        loop {
            match transport.send_raw(&message.envelope, &message.raw).await {
                Ok(_) => {
                    metrics::counter!("careid_mail_total", "transport" => "smtp", "result" => "sent").increment(1);
                    tracing::info!(to = %email.to, subject = %email.subject, attempt, "mail sent");
                    return Ok(());
                }
                Err(err) if attempt <= self.retries && !err.is_permanent() => {
                    tracing::warn!(to = %email.to, attempt, error = %err, "mail not sent yet; trying again");
                    // A real network back-off, not a test wait.
                    tokio::time::sleep(self.retry_delay).await;
                    attempt += 1;
                }
                Err(err) => {
                    metrics::counter!("careid_mail_total", "transport" => "smtp", "result" => "failed").increment(1);
                    tracing::error!(
                        to = %email.to,
                        subject = %email.subject,
                        attempts = attempt,
                        error = %err,
                        "mail not delivered",
                    );
                    return Err(MailError::NotDelivered {
                        attempts: attempt,
                        source: err,
                    });
                }
            }
        }
    }
}

/// A message in wire form, built once and reused for every try.
struct Assembled {
    envelope: Envelope,
    raw: Vec<u8>,
    recipient: String,
}

fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::InvalidAddress {
        address: address.to_owned(),
        source,
    })
}

/// Builds a multipart/alternative message with a text and an HTML part.
fn assemble(from: &Mailbox, email: &Email) -> Result<Assembled, MailError> {
    let to = parse_mailbox(&email.to)?;
    let recipient = to.email.to_string();
    // Quoted-printable always, rather than lettre's per-body choice between 7bit, QP and
    // base64: the encoding is then the same for every message, so a test can decode any
    // of them, and a link never hides inside base64.
    let part = |content_type: ContentType, body: &str| {
        SinglePart::builder()
            .header(content_type)
            .header(ContentTransferEncoding::QuotedPrintable)
            .body(body.to_owned())
    };
    // One line, whatever the caller built: a line break in a header would end it.
    let subject = email
        .subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(None)
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &email.text))
                .singlepart(part(ContentType::TEXT_HTML, &email.html)),
        )?;
    Ok(Assembled {
        envelope: message.envelope().clone(),
        raw: message.formatted(),
        recipient,
    })
}

/// Reads the SMTP password from the environment variable `smtp.password_env` names.
fn credentials(
    smtp: &SmtpConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, MailError> {
    match (&smtp.username, &smtp.password_env) {
        (None, None) => Ok(None),
        (Some(username), Some(var)) => match env(var) {
            Some(password) => Ok(Some(Credentials::new(username.clone(), password))),
            None => Err(MailError::PasswordNotSet(var.clone())),
        },
        _ => Err(MailError::CredentialsIncomplete),
    }
}

fn smtp_transport(
    smtp: &SmtpConfig,
    credentials: Option<Credentials>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let not_set_up = |source| MailError::RelayNotSetUp {
        host: smtp.host.clone(),
        source,
    };
    let builder = match smtp.security {
        SmtpSecurity::StartTls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(not_set_up)?
        }
        SmtpSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(not_set_up)?
        }
        SmtpSecurity::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        }
    };
    let builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_seconds)));
    let builder = match credentials {
        Some(credentials) => builder.credentials(credentials),
        None => builder,
    };
    Ok(builder.build())
}

/// The development transport: one `.eml` file per message.
struct Outbox {
    dir: PathBuf,
    sequence: AtomicU64,
}

impl Outbox {
    /// Writes the message to `<UTC time>-<sequence>-<recipient>.eml`, never over another.
    async fn write(&self, message: &Assembled) -> Result<PathBuf, MailError> {
        let unwritable = |path: &Path| {
            let path = path.to_owned();
            move |source| MailError::OutboxUnwritable { path, source }
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(unwritable(&self.dir))?;
        // Wall-clock time here only names files so a developer can sort them; it decides
        // nothing, so it does not come from the `Clock`.
        let stamp = file_stamp(OffsetDateTime::from(SystemTime::now()));
        let recipient = sanitise(&message.recipient);
        loop {
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            let path = self
                .dir
                .join(format!("{stamp}-{sequence:04}-{recipient}.eml"));
            // `create_new`: another process sharing the outbox may have taken the name.
            let opened = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await;
            let mut file = match opened {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(unwritable(&path)(err)),
            };
            file.write_all(&message.raw)
                .await
                .map_err(unwritable(&path))?;
            // Tokio's `File` finishes writes in the background; flush so that the file
            // is complete when `send` returns.
            file.flush().await.map_err(unwritable(&path))?;
            return Ok(path);
        }
    }
}

fn file_stamp(now: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// A recipient address as a safe, readable file-name part: `ada_at_example.org`.
fn sanitise(address: &str) -> String {
    address
        .to_lowercase()
        .replace('@', "_at_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, SmtpSink};

    fn email(to: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Your sign-in link".to_owned(),
            text: "Hello Zoë,\n\nSign in: https://careid.example/magic?token=abc&x=1\n".to_owned(),
            html: "<p>Hello Zo&euml;, <a href=\"https://careid.example/magic?token=abc&amp;x=1\">sign in</a></p>"
                .to_owned(),
        }
    }

    #[tokio::test]
    async fn an_outbox_delivery_names_its_file_and_is_not_called_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&MailConfig::outbox(dir.path())).unwrap();
        let delivered = mailer.deliver(&email("ada@example.org")).await.unwrap();
        let Delivered::Outbox(path) = delivered else {
            panic!("the outbox transport sent nothing: {delivered:?}");
        };
        assert!(path.starts_with(dir.path()) && path.is_file(), "{path:?}");
    }

    #[tokio::test]
    async fn the_outbox_holds_one_complete_message_with_both_parts_and_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("not/yet/there");
        let mailer = Mailer::new(&MailConfig::outbox(&outbox)).unwrap();

        mailer
            .send(&email("Zoë Smith <Zoe.Smith@example.org>"))
            .await
            .unwrap();

        let files: Vec<_> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.ends_with("-0000-zoe.smith_at_example.org.eml"),
            "{name}"
        );
        let raw = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            raw.contains("From: careid <no-reply@careid.local>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("\r\nSubject: Your sign-in link\r\n"), "{raw}");
        assert!(raw.contains("\r\nMessage-ID: <"), "{raw}");
        assert!(raw.contains("\r\nDate: "), "{raw}");
        assert!(
            raw.contains("Content-Type: multipart/alternative;"),
            "{raw}"
        );
        let text = testing::text_part(&raw).unwrap();
        assert_eq!(
            text,
            "Hello Zoë,\r\n\r\nSign in: https://careid.example/magic?token=abc&x=1\r\n"
        );
        let html = testing::html_part(&raw).unwrap();
        assert!(
            html.contains("href=\"https://careid.example/magic?token=abc&amp;x=1\""),
            "{html}"
        );
        assert_eq!(
            testing::links(&raw),
            ["https://careid.example/magic?token=abc&x=1"]
        );
    }

    #[tokio::test]
    async fn a_line_break_in_the_subject_cannot_add_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&MailConfig::outbox(dir.path())).unwrap();
        let mut email = email("ada@example.org");
        email.subject = "Hello\r\nBcc: eve@example.org".to_owned();
        mailer.send(&email).await.unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let raw = std::fs::read_to_string(file.path()).unwrap();
        assert!(
            raw.contains("Subject: Hello Bcc: eve@example.org\r\n"),
            "{raw}"
        );
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
    }

    #[tokio::test]
    async fn two_messages_to_the_same_person_get_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&MailConfig::outbox(dir.path())).unwrap();
        mailer.send(&email("ada@example.org")).await.unwrap();
        mailer.send(&email("ada@example.org")).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_an_error_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&MailConfig::outbox(dir.path())).unwrap();
        let err = mailer.send(&email("not an address")).await.unwrap_err();
        assert!(matches!(err, MailError::InvalidAddress { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn an_unwritable_outbox_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"in the way").unwrap();
        let mailer = Mailer::new(&MailConfig::outbox(blocker.join("outbox"))).unwrap();
        let err = mailer.send(&email("ada@example.org")).await.unwrap_err();
        assert!(matches!(err, MailError::OutboxUnwritable { .. }), "{err}");
    }

    #[test]
    fn a_bad_from_address_is_refused_at_start_up() {
        let config = MailConfig {
            from: "careid".to_owned(),
            ..MailConfig::default()
        };
        let err = Mailer::new(&config).unwrap_err();
        assert!(matches!(err, MailError::InvalidAddress { .. }), "{err}");
    }

    #[test]
    fn the_password_comes_from_the_named_variable() {
        let smtp = SmtpConfig {
            username: Some("careid".to_owned()),
            password_env: Some("CAREID_SMTP_PASSWORD".to_owned()),
            ..SmtpConfig::default()
        };
        let found = credentials(&smtp, |var| {
            (var == "CAREID_SMTP_PASSWORD").then(|| "s3cret".to_owned())
        })
        .unwrap();
        assert_eq!(
            found,
            Some(Credentials::new("careid".to_owned(), "s3cret".to_owned()))
        );

        let err = credentials(&smtp, |_| None).unwrap_err();
        assert!(matches!(err, MailError::PasswordNotSet(ref var) if var == "CAREID_SMTP_PASSWORD"));
    }

    #[test]
    fn a_username_without_a_password_variable_is_refused() {
        let smtp = SmtpConfig {
            username: Some("careid".to_owned()),
            ..SmtpConfig::default()
        };
        let err = credentials(&smtp, |_| None).unwrap_err();
        assert!(matches!(err, MailError::CredentialsIncomplete));
        assert_eq!(credentials(&SmtpConfig::default(), |_| None).unwrap(), None);
    }

    #[tokio::test]
    async fn every_security_mode_is_applied_to_the_connection() {
        // The sink speaks plain SMTP without STARTTLS: only `none` may deliver to it. A
        // transport that ignored its mode (or downgraded it) would deliver three times.
        let mut sink = SmtpSink::start().await.unwrap();
        for (security, delivers) in [
            (SmtpSecurity::StartTls, false),
            (SmtpSecurity::Tls, false),
            (SmtpSecurity::None, true),
        ] {
            let mut config = sink.mail_config();
            config.smtp.security = security;
            let mailer = Mailer::new(&config).unwrap();
            let sent = mailer.send(&email("ada@example.org")).await;
            assert_eq!(sent.is_ok(), delivers, "{security:?}: {sent:?}");
        }
        assert!(sink.next_message().await.contains("ada@example.org"));
        assert!(
            sink.try_next_message().is_none(),
            "one message, from `none`"
        );
        assert!(sink.connections() >= 3, "each mode reached the relay");
    }

    #[test]
    fn recipients_become_safe_file_names() {
        assert_eq!(
            sanitise("Ada.Lovelace@Example.org"),
            "ada.lovelace_at_example.org"
        );
        assert_eq!(sanitise("a/b\\c@x"), "a_b_c_at_x");
        assert_eq!(sanitise(&"x".repeat(200)).len(), 64);
    }

    #[tokio::test]
    async fn smtp_delivers_the_message_to_the_relay() {
        let mut sink = SmtpSink::start().await.unwrap();
        let mailer = Mailer::new(&sink.mail_config()).unwrap();

        mailer.send(&email("ada@example.org")).await.unwrap();

        let raw = sink.next_message().await;
        assert!(raw.contains("\r\nTo: ada@example.org\r\n"), "{raw}");
        assert!(raw.contains("\r\nSubject: Your sign-in link\r\n"), "{raw}");
        assert_eq!(
            testing::links(&raw),
            ["https://careid.example/magic?token=abc&x=1"]
        );
        assert!(testing::html_part(&raw).unwrap().contains("<a href="));
        assert_eq!(sink.connections(), 1);
    }

    #[tokio::test]
    async fn messages_sent_one_after_another_all_arrive() {
        let mut sink = SmtpSink::start().await.unwrap();
        let mailer = Mailer::for_smtp_test(&sink.addr.ip().to_string(), sink.addr.port()).unwrap();
        mailer.send(&email("ada@example.org")).await.unwrap();
        mailer.send(&email("bea@example.org")).await.unwrap();
        assert!(sink.next_message().await.contains("To: ada@example.org"));
        assert!(sink.next_message().await.contains("To: bea@example.org"));
    }

    #[tokio::test]
    async fn a_relay_that_recovers_within_the_retries_gets_the_message() {
        let mut sink = SmtpSink::start_refusing(2).await.unwrap();
        let config = MailConfig {
            retries: 2,
            ..sink.mail_config()
        };
        let mailer = Mailer::new(&config).unwrap();

        mailer.send(&email("ada@example.org")).await.unwrap();

        assert!(sink.next_message().await.contains("To: ada@example.org"));
        assert_eq!(sink.connections(), 3);
    }

    #[tokio::test]
    async fn a_relay_that_stays_down_one_try_too_long_is_an_error() {
        let mut sink = SmtpSink::start_refusing(3).await.unwrap();
        let config = MailConfig {
            retries: 2,
            ..sink.mail_config()
        };
        let mailer = Mailer::new(&config).unwrap();

        let err = mailer.send(&email("ada@example.org")).await.unwrap_err();

        assert!(
            matches!(err, MailError::NotDelivered { attempts: 3, .. }),
            "{err}"
        );
        assert_eq!(sink.connections(), 3);
        assert_eq!(sink.try_next_message(), None);
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error_after_every_retry() {
        // Bind to learn a free port, then close it so that connections are refused.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut config = MailConfig::loopback_smtp(([127, 0, 0, 1], port).into());
        config.retries = 3;
        let mailer = Mailer::new(&config).unwrap();

        let err = mailer.send(&email("ada@example.org")).await.unwrap_err();

        assert!(
            matches!(err, MailError::NotDelivered { attempts: 4, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_permanent_refusal_is_not_retried() {
        let mut sink = SmtpSink::start().await.unwrap();
        let config = MailConfig {
            retries: 3,
            ..sink.mail_config()
        };
        let mailer = Mailer::new(&config).unwrap();

        let err = mailer
            .send(&email(testing::REJECTED_RECIPIENT))
            .await
            .unwrap_err();

        assert!(
            matches!(err, MailError::NotDelivered { attempts: 1, .. }),
            "{err}"
        );
        assert_eq!(sink.connections(), 1);
        assert_eq!(sink.try_next_message(), None);
    }
}
