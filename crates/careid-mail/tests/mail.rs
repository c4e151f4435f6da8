//! Rendering from real theme folders and sending the result through both transports.

// The helpers below are test code too, though not `#[test]` functions, which is all
// `allow-unwrap-in-tests` covers.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use careid_mail::testing::{self, SmtpSink};
use careid_mail::{DEFAULT_THEME, Email, MailConfig, MailError, Mailer, Renderer};
use serde_json::json;

fn shipped_themes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes")
}

fn ctx(name: &str) -> serde_json::Value {
    json!({
        "product": "Sunrise Therapy",
        "name": name,
        "link": "https://careid.example/invitation/accept?token=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8",
        "code": "385012",
        "expires_in": "3 days",
    })
}

fn write(dir: &Path, file: &str, source: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), source).unwrap();
}

#[test]
fn a_theme_that_overrides_only_the_subject_takes_the_bodies_from_default() {
    let themes = tempfile::tempdir().unwrap();
    let default = themes.path().join("default/email");
    write(
        &default,
        "invitation.subject.txt",
        "Default subject for {{ product }}\n",
    );
    write(&default, "invitation.txt", "Default text: {{ link }}");
    write(
        &default,
        "invitation.html",
        "<p>Default html: {{ link }}</p>",
    );
    write(
        &themes.path().join("crm/email"),
        "invitation.subject.txt",
        "CRM: join {{ product }}\n",
    );
    let renderer = Renderer::new(themes.path().to_path_buf());

    let crm = renderer.render("crm", "invitation", ctx("Ada")).unwrap();
    let plain = renderer
        .render(DEFAULT_THEME, "invitation", ctx("Ada"))
        .unwrap();

    assert_eq!(crm.subject, "CRM: join Sunrise Therapy");
    assert_eq!(plain.subject, "Default subject for Sunrise Therapy");
    assert_eq!(crm.text, plain.text);
    assert_eq!(crm.html, plain.html);
    assert!(
        crm.text
            .starts_with("Default text: https://careid.example/")
    );
}

#[test]
fn a_theme_can_restyle_every_message_by_overriding_the_layout_alone() {
    let themes = tempfile::tempdir().unwrap();
    for file in [
        "_layout.html",
        "_parts.html",
        "reset_link.subject.txt",
        "reset_link.txt",
        "reset_link.html",
    ] {
        let source = fs::read_to_string(shipped_themes().join("default/email").join(file)).unwrap();
        write(&themes.path().join("default/email"), file, &source);
    }
    write(
        &themes.path().join("emr/email"),
        "_layout.html",
        "<div class=\"emr\">{% block body %}{% endblock %}</div>",
    );
    let renderer = Renderer::new(themes.path().to_path_buf());

    let emr = renderer.render("emr", "reset_link", ctx("Ada")).unwrap();
    let plain = renderer
        .render(DEFAULT_THEME, "reset_link", ctx("Ada"))
        .unwrap();

    assert!(emr.html.starts_with("<div class=\"emr\">"), "{}", emr.html);
    assert!(emr.html.contains("Reset my password"));
    assert!(plain.html.starts_with("<!DOCTYPE html>"));
}

#[test]
fn the_client_portal_theme_overrides_the_magic_link_subject_only() {
    let renderer = Renderer::new(shipped_themes());
    renderer.check_theme("client-portal").unwrap();

    let portal = renderer
        .render("client-portal", "magic_link", ctx("Ada"))
        .unwrap();
    let plain = renderer
        .render(DEFAULT_THEME, "magic_link", ctx("Ada"))
        .unwrap();

    assert_eq!(
        portal.subject,
        "Sign in to your Sunrise Therapy client portal"
    );
    assert_ne!(portal.subject, plain.subject);
    assert_eq!(portal.text, plain.text);
    assert_eq!(portal.html, plain.html);
}

#[test]
fn a_name_is_escaped_in_html_and_left_alone_in_text() {
    let renderer = Renderer::new(shipped_themes());
    let name = "<script>alert(\"hi\")</script> & Co";

    let content = renderer
        .render(DEFAULT_THEME, "invitation", ctx(name))
        .unwrap();

    assert!(!content.html.contains("<script>"), "{}", content.html);
    assert!(
        content
            .html
            .contains("Hello &lt;script&gt;alert(&quot;hi&quot;)&lt;&#x2f;script&gt; &amp; Co,")
    );
    assert!(content.text.starts_with(&format!("Hello {name},")));
}

#[test]
fn a_message_missing_from_every_theme_is_named() {
    let themes = tempfile::tempdir().unwrap();
    let renderer = Renderer::new(themes.path().to_path_buf());
    let err = renderer
        .render("crm", "invitation", ctx("Ada"))
        .unwrap_err();
    assert!(matches!(err, MailError::TemplateNotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "no template invitation.subject.txt in theme \"crm\" or in the default theme"
    );
}

fn invitation(to: &str) -> Email {
    Renderer::new(shipped_themes())
        .render(DEFAULT_THEME, "invitation", ctx("Zoë"))
        .unwrap()
        .addressed_to(to)
}

#[tokio::test]
async fn a_rendered_invitation_reaches_the_smtp_relay_with_its_link_intact() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&sink.mail_config()).unwrap();
    let email = invitation("Zoë Smith <zoe@example.org>");

    mailer.send(&email).await.unwrap();

    let raw = sink.next_message().await;
    assert!(
        raw.contains("Subject: You're invited to Sunrise Therapy\r\n"),
        "{raw}"
    );
    assert_eq!(testing::links(&raw), [ctx("")["link"].as_str().unwrap()]);
    let text = testing::text_part(&raw).unwrap();
    assert!(text.starts_with("Hello Zoë,"), "{text}");
    let html = testing::html_part(&raw).unwrap();
    assert!(html.contains("Accept the invitation"), "{html}");
}

#[tokio::test]
async fn a_rendered_invitation_lands_in_the_outbox_as_a_complete_message() {
    let outbox = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(&MailConfig::outbox(outbox.path())).unwrap();

    mailer.send(&invitation("zoe@example.org")).await.unwrap();

    let entry = fs::read_dir(outbox.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let raw = fs::read_to_string(entry.path()).unwrap();
    assert!(raw.contains("MIME-Version: 1.0\r\n"));
    assert_eq!(testing::links(&raw), [ctx("")["link"].as_str().unwrap()]);
    assert!(testing::html_part(&raw).unwrap().contains("</html>"));
}
