//! Test support, behind the `testing` feature: `SmtpSink`, a real SMTP listener on
//! loopback that keeps every message it receives, and helpers that read the parts of a
//! message careid sent. It serves tests in this crate and the workspace's end-to-end
//! tests; nothing in production uses it.
//!
//! ```text
//! let mut sink = SmtpSink::start().await?;
//! let mailer = Mailer::new(&sink.mail_config())?;
//! // … make careid send a magic link …
//! let raw = sink.next_message().await;
//! let link = &testing::links(&raw)[0];
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::MailConfig;
use crate::message::find_links;

/// `RCPT TO` this address and `SmtpSink` answers `550`, a permanent refusal.
pub const REJECTED_RECIPIENT: &str = "nobody@rejected.invalid";

/// How long `next_message` waits before it gives up.
const WAIT: Duration = Duration::from_secs(10);

/// A minimal SMTP server on `127.0.0.1` that accepts every message (except to
/// `REJECTED_RECIPIENT`) and hands over the raw `DATA`.
#[derive(Debug)]
pub struct SmtpSink {
    /// Where the sink listens; an ephemeral port.
    pub addr: SocketAddr,
    messages: mpsc::UnboundedReceiver<String>,
    connections: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink that accepts every connection. It listens before this returns.
    pub async fn start() -> io::Result<Self> {
        Self::start_refusing(0).await
    }

    /// Starts a sink that answers its first `refused` connections with `421` (try again
    /// later) and closes them, then behaves like `start`'s: a relay that is briefly down.
    pub async fn start_refusing(refused: usize) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (sender, messages) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let number = count.fetch_add(1, Ordering::SeqCst);
                let sender = sender.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-dialogue is the client's business.
                    let _ = if number < refused {
                        refuse(stream).await
                    } else {
                        serve(stream, sender).await
                    };
                });
            }
        });
        Ok(Self {
            addr,
            messages,
            connections,
            accept,
        })
    }

    /// A mail config that sends to this sink: no TLS, no auth, 1 ms between retries.
    pub fn mail_config(&self) -> MailConfig {
        MailConfig::loopback_smtp(self.addr)
    }

    /// The next message received, as the raw `DATA` (headers and body, CRLF line ends,
    /// dot-stuffing undone).
    ///
    /// # Panics
    ///
    /// If no message arrives within 10 seconds, so that a test fails instead of hanging.
    pub async fn next_message(&mut self) -> String {
        match tokio::time::timeout(WAIT, self.messages.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => panic!("the SMTP sink stopped"),
            Err(_) => panic!("no message reached the SMTP sink within {WAIT:?}"),
        }
    }

    /// The next message if one has arrived. A message is queued before the sink confirms
    /// it, so once `Mailer::send` has returned `Ok` its message is here.
    pub fn try_next_message(&mut self) -> Option<String> {
        self.messages.try_recv().ok()
    }

    /// How many connections the sink has accepted, refused ones included.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn refuse(mut stream: TcpStream) -> io::Result<()> {
    stream
        .write_all(b"421 4.3.2 careid-sink is not accepting mail yet\r\n")
        .await?;
    stream.shutdown().await
}

async fn serve(stream: TcpStream, messages: mpsc::UnboundedSender<String>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 careid-sink ESMTP ready\r\n").await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let mut words = command.split_whitespace();
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                reply(
                    &mut write,
                    "250-careid-sink\r\n250-8BITMIME\r\n250 AUTH PLAIN",
                )
                .await?;
            }
            "RCPT" if command.to_ascii_lowercase().contains(REJECTED_RECIPIENT) => {
                reply(&mut write, "550 5.1.1 no such mailbox").await?;
            }
            "AUTH" => {
                // Any credentials will do; without an initial response, ask for one.
                if words.nth(1).is_none() {
                    reply(&mut write, "334 ").await?;
                    line.clear();
                    read.read_until(b'\n', &mut line).await?;
                }
                reply(&mut write, "235 2.7.0 authenticated").await?;
            }
            "DATA" => {
                reply(&mut write, "354 end with <CRLF>.<CRLF>").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                    let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
                    data.extend_from_slice(unstuffed);
                }
                // Queue before confirming, so a sender that saw `250` finds it here.
                let _ = messages.send(String::from_utf8_lossy(&data).into_owned());
                reply(&mut write, "250 2.0.0 queued").await?;
            }
            "QUIT" => {
                reply(&mut write, "221 2.0.0 bye").await?;
                return Ok(());
            }
            // HELO, MAIL, RCPT, RSET, NOOP and anything else.
            _ => reply(&mut write, "250 2.0.0 ok").await?,
        }
    }
}

async fn reply(write: &mut OwnedWriteHalf, text: &str) -> io::Result<()> {
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\r\n").await
}

/// The decoded `text/plain` part of a message careid sent.
pub fn text_part(raw: &str) -> Option<String> {
    part(raw, "text/plain")
}

/// The decoded `text/html` part of a message careid sent.
pub fn html_part(raw: &str) -> Option<String> {
    part(raw, "text/html")
}

/// Every `http`/`https` URL in the text part, in order, without repeats.
pub fn links(raw: &str) -> Vec<String> {
    text_part(raw)
        .map(|text| find_links(&text).iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// Finds the part of a multipart message with content type `mime` and decodes it. Enough
/// for the messages `Mailer` writes (one level, quoted-printable); not a MIME parser.
fn part(raw: &str, mime: &str) -> Option<String> {
    let boundary = raw.split("boundary=\"").nth(1)?.split('"').next()?;
    let delimiter = format!("\r\n--{boundary}");
    let wanted = format!("content-type: {mime}");
    raw.split(delimiter.as_str()).skip(1).find_map(|chunk| {
        let (headers, body) = chunk.split_once("\r\n\r\n")?;
        let headers = headers.to_ascii_lowercase();
        if !headers.contains(&wanted) {
            return None;
        }
        if headers.contains("content-transfer-encoding: quoted-printable") {
            Some(decode_quoted_printable(body))
        } else {
            Some(body.to_owned())
        }
    })
}

/// RFC 2045 §6.7: `=XX` is a byte, `=` at a line end is a soft break.
fn decode_quoted_printable(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let rest = &bytes[i + 1..];
            if rest.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if rest.starts_with(b"\n") {
                i += 2;
                continue;
            }
            let hex = rest.get(..2).and_then(|hex| std::str::from_utf8(hex).ok());
            if let Some(byte) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `text` to `path` below `root`, making the folders on the way: a theme file for
/// a test. Panics on failure, which fails the test.
#[allow(clippy::expect_used)]
pub fn write_file(root: &std::path::Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a file path")).expect("the folders");
    std::fs::write(path, text).expect("the file");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_escapes_are_undone() {
        assert_eq!(
            decode_quoted_printable("https://a.example/?t=3Dabc=\r\ndef Zo=C3=AB =\nend"),
            "https://a.example/?t=abcdef Zoë end"
        );
    }
}
