//! Themes through the real server: a refused activation form stays in the theme of the
//! client the invitation was for, a brand that overrides one file renders every page
//! through `default/`, and a template with a syntax error stops `serve` (and fails
//! `careid config check`) naming its file and line, while an editor's swap and backup
//! files beside the templates do not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, process::Command, sync::Arc};

use careid_accounts::Branding;
use careid_mail::testing::{SmtpSink, links};
use careid_server::App;
use careid_store::{ClientId, ManualClock};
use careid_tests::{TestServer, fresh_database, test_config, workspace};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of the shipped themes with `file` (under the themes folder) replaced by `text`.
fn themes_with(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&workspace().join("themes"), dir.path());
    let path = dir.path().join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    dir
}

#[tokio::test]
async fn a_refused_activation_form_stays_in_the_clients_theme() {
    let mut sink = SmtpSink::start().await.unwrap();
    let mail = sink.mail_config();
    let server = TestServer::start_with(|config| config.mail = mail).await;
    let crm = Branding {
        product: "CarePortals CRM".into(),
        theme: "crm".into(),
        is_code_only: false,
        signs_in_by_link: false,
    };
    server
        .lifecycle
        .invite(
            "ada@clinic.example",
            "Ada",
            &crm,
            Some(&ClientId::from("crm")),
        )
        .await
        .unwrap();
    let link = links(&sink.next_message().await)
        .into_iter()
        .find(|l| l.contains("/activate?token="))
        .unwrap();
    let browser = server.browser();
    let form = browser.visit(&link).await.page();
    assert!(form.body.contains("CarePortals CRM"), "{}", form.body);

    let refused = browser
        .submit(&form, &[("password", "short"), ("confirmation", "short")])
        .await
        .page();
    assert!(
        refused.body.contains("was not accepted"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("/static/crm/brand.css"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("CarePortals CRM"), "{}", refused.body);
}

#[tokio::test]
async fn a_brand_with_one_file_renders_every_page_through_default() {
    // `only-brand` has nothing but its brand.html: the sign-in page comes from default/.
    let themes = themes_with(
        "only-brand/templates/brand.html",
        "{% set product = \"Only Brand\" %}{% set tagline = \"t\" %}",
    );
    let clients = careid_tests::clients_dir_with(&[(
        "ob.toml",
        "client_id = \"ob\"\nname = \"OB\"\nsecret = \"ob-secret\"\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\nfirst_party = true\ntheme = \"only-brand\"\n",
    )]);
    let (themes_dir, clients_dir) = (themes.path().to_path_buf(), clients.path().to_path_buf());
    let server = TestServer::start_with(|config| {
        config.themes_dir = themes_dir;
        config.clients_dir = clients_dir;
    })
    .await;
    let page = server
        .browser()
        .visit(&server.authorize_url("ob", "http://127.0.0.1:9/cb", &[]))
        .await
        .page();
    assert!(page.body.contains("Only Brand"), "{}", page.body);
    assert!(page.body.contains("type=\"password\""), "{}", page.body);
    // Its static files fall back per file too.
    let css = server
        .http()
        .get(format!("{}/static/only-brand/careid.css", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
}

const BROKEN: &str =
    "{% extends \"base.html\" %}\n{% block content %}\n{% if x %}\n{% endblock %}\n";

#[tokio::test]
async fn a_syntax_error_in_a_template_stops_the_server_with_its_file_and_line() {
    let themes = themes_with("emr/templates/sign_in.html", BROKEN);
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config("http://127.0.0.1:1", &fresh_database(dir.path()).await);
    config.themes_dir = themes.path().to_path_buf();
    let Err(err) = App::build(&config, Arc::new(ManualClock::starting_now())).await else {
        panic!("a broken template must stop the server");
    };
    let shown = format!("{err:#}");
    assert!(
        shown.contains("emr/templates/sign_in.html:4: syntax error"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_editors_swap_and_backup_files_beside_the_templates_do_not_stop_the_server() {
    // An operator editing a template on the server leaves these behind while the
    // editor is open; neither is a template, and the loaders never read them.
    let themes = themes_with("emr/templates/sign_in.html~", BROKEN);
    let swap = themes.path().join("emr/templates/.sign_in.html.swp");
    std::fs::write(swap, [0xff, 0xfe, 0x00, b'{', b'%']).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config("http://127.0.0.1:1", &fresh_database(dir.path()).await);
    config.themes_dir = themes.path().to_path_buf();
    if let Err(err) = App::build(&config, Arc::new(ManualClock::starting_now())).await {
        panic!("careid refused to start: {err:#}");
    }
}

#[tokio::test]
async fn a_syntax_error_in_a_mail_template_fails_config_check_with_its_file_and_line() {
    let themes = themes_with("crm/email/invitation.txt", "Hello\n{{ name }\n");
    let output = Command::new(env!("CARGO_BIN_EXE_careid-under-test"))
        .args(["config", "check"])
        .current_dir(workspace())
        .env("CAREID_CONFIG", workspace().join("config/careid.toml"))
        .env("CAREID_THEMES_DIR", themes.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("crm/email/invitation.txt:2: syntax error"),
        "{stderr}"
    );

    // The shipped themes pass.
    let output = Command::new(env!("CARGO_BIN_EXE_careid-under-test"))
        .args(["config", "check"])
        .current_dir(workspace())
        .env("CAREID_CONFIG", workspace().join("config/careid.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
