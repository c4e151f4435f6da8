//! Messages: the `Email` value and the `Renderer` that fills one from a theme's templates.
//! Deciding who gets which message, and minting its link or code, is `careid-accounts`'
//! job; sending it is `Mailer`'s.
//!
//! Message `name` uses three files under `<themes>/<theme>/email/`: `<name>.subject.txt`,
//! `<name>.txt` and `<name>.html`. Each file falls back on its own to
//! `<themes>/default/email/`, so a brand can override just a subject or just the HTML frame
//! (`_layout.html`). Names without a theme (`{% extends "_layout.html" %}`) resolve within
//! the theme being rendered, with the same fallback.
//!
//! Every file is read from disk the first time it is needed and then kept, compiled, for
//! the life of the `Renderer`: edits to a theme show after a restart. `check_theme` reads
//! all of a theme's files up front, so later renders do no file I/O on a runtime thread.

use std::fmt;
use std::path::PathBuf;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use url::Url;

use crate::{
    MailError,
    theme_files::{self, is_safe_name},
};

pub use crate::theme_files::DEFAULT_THEME;

/// The messages careid sends; `Renderer::check_theme` renders each of them.
pub const MESSAGES: [&str; 8] = [
    "invitation",
    "reset_link",
    "reset_code",
    "admin_reset_link",
    "magic_link",
    "welcome_link",
    NOTICES[0],
    NOTICES[1],
];

/// The messages of [`MESSAGES`] that tell of something done to an account rather than
/// carry a link or code that expires: they have `when` (and `left`, the unused recovery
/// codes) where the others have `expires_in`.
pub const NOTICES: [&str; 2] = ["recovery_code_used", "second_factors_removed"];

/// The three parts of each message, by file suffix.
const SUBJECT: &str = "subject.txt";
const TEXT: &str = "txt";
const HTML: &str = "html";

/// One message, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient, as `Name <address>` or a bare address.
    pub to: String,
    /// The subject line, on one line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl Email {
    /// Addresses rendered `content` to `to`.
    pub fn new(to: impl Into<String>, content: EmailContent) -> Self {
        Self {
            to: to.into(),
            subject: content.subject,
            text: content.text,
            html: content.html,
        }
    }

    /// Every `http` and `https` URL in the text body, in order, without repeats.
    pub fn links(&self) -> Vec<Url> {
        find_links(&self.text)
    }
}

// The bodies carry one-time links and codes, which are secrets: never print them.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A rendered message that has no recipient yet.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailContent {
    /// The subject line, whitespace collapsed onto one line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, with every variable HTML-escaped.
    pub html: String,
}

impl EmailContent {
    /// Turns the content into an `Email` for `to`.
    pub fn addressed_to(self, to: impl Into<String>) -> Email {
        Email::new(to, self)
    }
}

impl fmt::Debug for EmailContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailContent")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Renders messages from the `email/` folders of a themes directory.
pub struct Renderer {
    themes_dir: PathBuf,
    env: Environment<'static>,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("themes_dir", &self.themes_dir)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer over `themes_dir`, the folder that holds `default/` and one folder per
    /// brand. Nothing is read until a message is rendered or checked.
    pub fn new(themes_dir: PathBuf) -> Self {
        let mut env = Environment::new();
        let dir = themes_dir.clone();
        env.set_loader(move |name| theme_files::load(&dir, "email", name));
        env.set_path_join_callback(theme_files::join_within_theme);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // A message without its link or code is a bug: fail rather than send it. `if name`
        // still works when `name` is absent, as it may be.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        Self { themes_dir, env }
    }

    /// Renders message `name` (e.g. `invitation`) in `theme` with the variables in `ctx`.
    pub fn render(
        &self,
        theme: &str,
        name: &str,
        ctx: serde_json::Value,
    ) -> Result<EmailContent, MailError> {
        for part in [theme, name] {
            if !is_safe_name(part) {
                return Err(MailError::InvalidName(part.to_owned()));
            }
        }
        let ctx = minijinja::Value::from(Serde(ctx));
        let subject = self.render_part(theme, name, SUBJECT, &ctx)?;
        Ok(EmailContent {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: self.render_part(theme, name, TEXT, &ctx)?,
            html: self.render_part(theme, name, HTML, &ctx)?,
        })
    }

    /// Renders every message in `MESSAGES` for `theme` with sample values, so a broken or
    /// missing template shows at start-up rather than when someone needs the mail. This
    /// also loads every file, so later renders read nothing from disk.
    pub fn check_theme(&self, theme: &str) -> Result<(), MailError> {
        let sample = serde_json::json!({
            "product": "careid",
            "name": "Sam Sample",
            "link": "https://careid.invalid/check",
            "code": "123456",
            "expires_in": "1 hour",
            "when": "Tue, 01 Dec 2026 09:00:00 +0000",
            "left": 9,
        });
        for name in MESSAGES {
            self.render(theme, name, sample.clone())?;
        }
        Ok(())
    }

    fn render_part(
        &self,
        theme: &str,
        name: &str,
        suffix: &str,
        ctx: &minijinja::Value,
    ) -> Result<String, MailError> {
        let file = format!("{name}.{suffix}");
        let template =
            self.env
                .get_template(&format!("{theme}/{file}"))
                .map_err(|err| match err.kind() {
                    ErrorKind::TemplateNotFound => MailError::TemplateNotFound {
                        theme: theme.to_owned(),
                        file: file.clone(),
                    },
                    _ => MailError::TemplateFailed(err),
                })?;
        Ok(template.render(ctx)?)
    }
}

/// Finds every `http` and `https` URL in `text`, in order, without repeats. A URL ends at
/// whitespace or an angle bracket or quote; trailing sentence punctuation is not part of it.
pub(crate) fn find_links(text: &str) -> Vec<Url> {
    let mut links: Vec<Url> = Vec::new();
    let mut rest = text;
    while let Some(start) = [rest.find("http://"), rest.find("https://")]
        .into_iter()
        .flatten()
        .min()
    {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(candidate.len());
        let raw = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        if let Ok(url) = Url::parse(raw)
            && !links.contains(&url)
        {
            links.push(url);
        }
        rest = &candidate[end.max(1)..];
    }
    links
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn ctx() -> serde_json::Value {
        serde_json::json!({
            "product": "Sunrise Portal",
            "name": "Ada",
            "link": "https://careid.example/invitation?token=abc123",
            "code": "042917",
            "expires_in": "3 days",
            "when": "Tue, 01 Dec 2026 09:00:00 +0000",
            "left": 7,
        })
    }

    fn shipped_themes() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes")
    }

    #[test]
    fn every_shipped_message_renders_in_the_default_theme() {
        let renderer = Renderer::new(shipped_themes());
        renderer.check_theme(DEFAULT_THEME).unwrap();
        for name in MESSAGES {
            let content = renderer.render(DEFAULT_THEME, name, ctx()).unwrap();
            assert!(
                content.subject.contains("Sunrise Portal"),
                "{name}: {}",
                content.subject
            );
            assert!(!content.subject.contains('\n'), "{name}");
            assert!(content.text.contains("Ada"), "{name}");
            if NOTICES.contains(&name) {
                assert!(content.text.contains("01 Dec 2026 09:00:00"), "{name}");
                assert!(content.html.contains("01 Dec 2026 09:00:00"), "{name}");
            } else {
                assert!(content.text.contains("3 days"), "{name}");
            }
            if name == "recovery_code_used" {
                assert!(content.text.contains("7 unused codes"), "{}", content.text);
            }
            assert!(content.html.contains("Ada"), "{name}");
            if name == "reset_code" {
                assert!(content.text.contains("042917"));
                assert!(content.html.contains("042917"));
            } else {
                assert!(
                    content
                        .text
                        .contains("https://careid.example/invitation?token=abc123")
                );
                // `&` and `/` are escaped in HTML, which a browser undoes in `href`.
                assert!(
                    content
                        .html
                        .contains("href=\"https:&#x2f;&#x2f;careid.example")
                );
            }
        }
    }

    #[test]
    fn an_unknown_theme_falls_back_to_default() {
        let renderer = Renderer::new(shipped_themes());
        let fallback = renderer
            .render("no-such-brand", "magic_link", ctx())
            .unwrap();
        let default = renderer.render(DEFAULT_THEME, "magic_link", ctx()).unwrap();
        assert_eq!(fallback, default);
    }

    #[test]
    fn a_greeting_without_a_name_still_reads_well() {
        let renderer = Renderer::new(shipped_themes());
        let mut ctx = ctx();
        ctx["name"] = serde_json::json!("");
        let content = renderer.render(DEFAULT_THEME, "invitation", ctx).unwrap();
        assert!(content.text.starts_with("Hello,"), "{}", content.text);
    }

    #[test]
    fn a_missing_link_fails_instead_of_sending_an_empty_one() {
        let renderer = Renderer::new(shipped_themes());
        let mut ctx = ctx();
        ctx.as_object_mut().unwrap().remove("link");
        let err = renderer
            .render(DEFAULT_THEME, "magic_link", ctx)
            .unwrap_err();
        assert!(matches!(err, MailError::TemplateFailed(_)), "{err}");
    }

    #[test]
    fn a_name_that_could_leave_the_themes_directory_is_refused() {
        let renderer = Renderer::new(shipped_themes());
        for (theme, name) in [
            ("../etc", "invitation"),
            ("default", "../invitation"),
            ("", "x"),
        ] {
            let err = renderer.render(theme, name, ctx()).unwrap_err();
            assert!(matches!(err, MailError::InvalidName(_)), "{err}");
        }
    }

    #[test]
    fn an_unknown_message_names_the_missing_file() {
        let renderer = Renderer::new(shipped_themes());
        let err = renderer
            .render(DEFAULT_THEME, "welcome_gift", ctx())
            .unwrap_err();
        match err {
            MailError::TemplateNotFound { theme, file } => {
                assert_eq!(theme, "default");
                assert_eq!(file, "welcome_gift.subject.txt");
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn links_end_before_punctuation_and_markup() {
        let text = "Open https://a.example/x?t=1. Or (http://b.example/y), \
                    <https://c.example/z> and https://a.example/x?t=1 again; ftp://no.example";
        let links: Vec<String> = find_links(text).iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "https://a.example/x?t=1",
                "http://b.example/y",
                "https://c.example/z"
            ]
        );
    }

    #[test]
    fn debug_output_hides_the_bodies() {
        let email = Email::new(
            "ada@example.org",
            EmailContent {
                subject: "Sign in".into(),
                text: "https://careid.example/magic?token=secret".into(),
                html: "secret".into(),
            },
        );
        let shown = format!("{email:?}");
        assert!(shown.contains("ada@example.org"));
        assert!(!shown.contains("secret"));
    }
}
