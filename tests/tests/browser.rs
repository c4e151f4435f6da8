//! careid's pages and the demo relying parties in headless Chromium (WebDriver through
//! Debian's chromedriver). Skipped, saying why, when no browser is installed; a failure
//! then when `REQUIRE_BROWSER` is set, as `scripts/test-browser` (run by `.ci/run`)
//! does.
//!
//! Every page careid shows on the way is checked as it stands by
//! [`Browser::check_page`]: a screenshot at 1280 and 360 px in `target/screenshots/`,
//! nothing wider than a 360 px phone, and no serious or critical WCAG 2.1 AA violation
//! found by axe-core (which `scripts/test-browser` installs with npm).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_accounts::{Branding, NewProfileFields, ProfileKind};
use careid_mail::testing::{SmtpSink, links, text_part};
use careid_store::ClientId;
use careid_tests::{
    PASSWORD,
    demo::Demos,
    webdriver::{Browser, screenshots_dir},
};
use serde_json::json;

/// A password that keeps every rule, for the accounts the tests set one on.
const NEW_PASSWORD: &str = "Lantern-Orbit-73";

/// The demos with careid's mail going to `sink`.
async fn demos_with_mail(sink: &SmtpSink) -> Demos {
    let mail = sink.mail_config();
    Demos::start_with(|config| config.mail = mail).await
}

/// The one link in a message that contains `path`.
fn link_to(raw: &str, path: &str) -> String {
    links(raw)
        .into_iter()
        .find(|l| l.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {raw}"))
}

/// The 6-digit code in a message.
fn code_in(raw: &str) -> String {
    text_part(raw)
        .unwrap()
        .split_whitespace()
        .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
        .expect("a 6-digit code")
        .to_owned()
}

/// Why the refusal `message` does not stand by its field, or `""` when it does: inside
/// the `.field` of the first of `fields`, and named by every one of them in
/// `aria-describedby`, so a screen reader reads it with the field.
const ERROR_BY_FIELD: &str = r##"
const [messageId, fieldIds] = arguments;
const message = document.getElementById(messageId);
if (!message) return "no message #" + messageId;
for (const id of fieldIds) {
  const field = document.getElementById(id);
  const described = (field.getAttribute("aria-describedby") || "").split(/\s+/);
  if (!described.includes(messageId)) return "#" + id + " does not point to the message";
}
const first = document.getElementById(fieldIds[0]).closest(".field");
if (!first || !first.contains(message)) return "the message is not in the field of #" + fieldIds[0];
return "";
"##;

async fn assert_error_by_field(browser: &Browser, message: &str, fields: &[&str]) {
    let why = browser
        .execute(ERROR_BY_FIELD, json!([message, fields]))
        .await;
    assert_eq!(why, "", "{}", browser.source().await);
}

/// The state `password-rules.js` gave the rule with `code`: "met", "unmet" or "".
async fn rule_state(browser: &Browser, code: &str) -> String {
    let state = browser
        .execute(
            "const li = document.querySelector(`#password-rules li[data-rule='${arguments[0]}']`);
             if (!li) return 'missing';
             return li.classList.contains('met') ? 'met' : li.classList.contains('unmet') ? 'unmet' : '';",
            json!([code]),
        )
        .await;
    state.as_str().unwrap().to_owned()
}

/// Submits the page's email form empty, as a browser that skips `required` would, and
/// checks that the refusal stands by the email field; `shot` names the page's checks.
async fn refused_empty_email(browser: &Browser, shot: &str) {
    browser
        .execute(
            "document.querySelector('#email').removeAttribute('required');",
            json!([]),
        )
        .await;
    browser.click("button[type='submit']").await;
    browser.wait_for("id=\"form-message\"").await.unwrap();
    assert_error_by_field(browser, "form-message", &["email"]).await;
    browser.check_page(shot).await;
}

#[tokio::test]
async fn sign_in_to_the_crm_open_the_emr_without_a_password_and_sign_out_of_both() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    let demos = Demos::start().await;
    demos
        .server
        .add_account("ada@example.org", "Ada Lovelace")
        .await;

    // The CRM: "Sign in with careid", careid's form in the CRM's theme, back signed in.
    browser.goto(&format!("{}/", demos.crm)).await;
    browser.click("a[href='/login']").await;
    let sign_in = browser.wait_for("CarePortals CRM").await.unwrap();
    assert!(sign_in.contains("lang=\"en\""));
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type='submit']").await;
    browser
        .wait_for("Signed in as <span id=\"who\">Ada Lovelace</span>")
        .await
        .unwrap();
    assert!(browser.url().await.starts_with(&demos.crm));
    browser
        .screenshot(&screenshots_dir().join("demo-crm-signed-in-1280.png"))
        .await;

    // The EMR: one click, no password typed.
    browser.goto(&format!("{}/", demos.emr)).await;
    browser.click("a[href='/login']").await;
    browser
        .wait_for("Signed in as <span id=\"who\">Ada Lovelace</span>")
        .await
        .unwrap();
    assert!(browser.url().await.starts_with(&demos.emr));

    // Sign out in the CRM: careid's session ends, and the EMR's over the back channel.
    browser.goto(&format!("{}/", demos.crm)).await;
    browser.click("#sign-out").await;
    browser.wait_for("You are not signed in").await.unwrap();
    assert!(browser.url().await.starts_with(&demos.crm));
    let mut emr_signed_out = false;
    for _ in 0..50 {
        browser.goto(&format!("{}/", demos.emr)).await;
        if browser.source().await.contains("You are not signed in") {
            emr_signed_out = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        emr_signed_out,
        "the EMR is signed out by back-channel logout"
    );
    // And careid asks for the password again.
    browser.click("a[href='/login']").await;
    browser.wait_for("type=\"password\"").await.unwrap();
}

#[tokio::test]
async fn every_themed_sign_in_page_is_accessible_and_fits_a_phone() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    let sink = SmtpSink::start().await.unwrap();
    let demos = demos_with_mail(&sink).await;
    for (name, demo) in [
        ("crm", &demos.crm),
        ("emr", &demos.emr),
        ("client-portal", &demos.portal),
    ] {
        browser.goto(&format!("{demo}/login")).await;
        browser.wait_for("<h1>Sign in</h1>").await.unwrap();
        browser.check_page(&format!("{name}-sign-in")).await;
    }

    // The portal's other ways in: the sign-in link's own page and the PIN page.
    let request = browser
        .execute(
            "return new URL(location.href).searchParams.get('request');",
            json!([]),
        )
        .await;
    let request = request.as_str().expect("the portal's pending request");
    browser
        .goto(&format!(
            "{}/magic-link?request={request}",
            demos.server.url
        ))
        .await;
    browser
        .wait_for("<h1>Email me a sign-in link</h1>")
        .await
        .unwrap();
    browser.check_page("client-portal-magic-link").await;
    refused_empty_email(&browser, "client-portal-magic-link-refused").await;
    browser
        .goto(&format!(
            "{}/sign-in/pin?request={request}",
            demos.server.url
        ))
        .await;
    browser
        .wait_for("<h1>Sign in with a PIN</h1>")
        .await
        .unwrap();
    browser.check_page("client-portal-pin-sign-in").await;

    // An error page: a client careid does not know.
    browser
        .goto(&format!(
            "{}/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
            demos.server.url
        ))
        .await;
    browser.wait_for("class=\"muted\">Error ").await.unwrap();
    browser.check_page("error").await;
}

#[tokio::test]
async fn an_invited_person_sees_each_broken_rule_while_typing_then_activates() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    let mut sink = SmtpSink::start().await.unwrap();
    let demos = demos_with_mail(&sink).await;
    let crm = Branding {
        product: "CarePortals CRM".into(),
        theme: "crm".into(),
        is_code_only: false,
        signs_in_by_link: false,
    };
    demos
        .server
        .lifecycle
        .invite(
            "grace@clinic.example",
            "Grace Hopper",
            &crm,
            Some(&ClientId::from("crm")),
        )
        .await
        .unwrap();
    let link = link_to(&sink.next_message().await, "/activate?token=");

    browser.goto(&link).await;
    browser.wait_for("id=\"password-rules\"").await.unwrap();
    browser.check_page("crm-activate").await;
    // Nothing is marked before the person types.
    assert_eq!(rule_state(&browser, "too_short").await, "");

    // "grace1": short, no uppercase, no symbol, and the email's name in it.
    browser.type_into("#password", "grace1").await;
    for (code, state) in [
        ("too_short", "unmet"),
        ("no_digit", "met"),
        ("no_uppercase", "unmet"),
        ("no_symbol", "unmet"),
        ("contains_email_name", "unmet"),
        ("mismatch", "unmet"),
    ] {
        assert_eq!(rule_state(&browser, code).await, state, "{code} for grace1");
    }
    // The common-password list stays on the server: that rule is never marked.
    assert_eq!(rule_state(&browser, "common").await, "");

    browser.clear("#password").await;
    browser.type_into("#password", NEW_PASSWORD).await;
    browser.type_into("#confirmation", NEW_PASSWORD).await;
    for code in [
        "too_short",
        "no_digit",
        "no_uppercase",
        "no_symbol",
        "contains_email_name",
        "mismatch",
    ] {
        assert_eq!(rule_state(&browser, code).await, "met", "{code}");
    }
    browser.check_page("crm-activate-typed").await;
    browser.click("button[type='submit']").await;
    browser.wait_for("Your account is active").await.unwrap();
    browser.check_page("crm-activated").await;

    // The account is active: the CRM signs in with the new password.
    browser.goto(&format!("{}/login", demos.crm)).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.type_into("#email", "grace@clinic.example").await;
    browser.type_into("#password", NEW_PASSWORD).await;
    browser.click("button[type='submit']").await;
    browser
        .wait_for("Signed in as <span id=\"who\">Grace Hopper</span>")
        .await
        .unwrap();
}

#[tokio::test]
async fn forgot_password_then_the_emailed_code_and_a_new_password_sign_in() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    let mut sink = SmtpSink::start().await.unwrap();
    let demos = demos_with_mail(&sink).await;
    demos
        .server
        .add_account("ada@example.org", "Ada Lovelace")
        .await;

    browser.goto(&format!("{}/login", demos.crm)).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.click("a[href^='/forgot-password']").await;
    browser
        .wait_for("<h1>Forgot your password?</h1>")
        .await
        .unwrap();
    browser.check_page("crm-forgot-password").await;

    refused_empty_email(&browser, "crm-forgot-password-refused").await;

    browser.type_into("#email", "ada@example.org").await;
    browser.click("button[type='submit']").await;
    browser.wait_for("Check your email").await.unwrap();
    let link = link_to(&sink.next_message().await, "/reset?token=");

    browser.goto(&link).await;
    browser.wait_for("Send me a security code").await.unwrap();
    browser.check_page("crm-reset").await;
    browser.click("button[type='submit']").await;
    browser
        .wait_for("Security code from the email")
        .await
        .unwrap();
    browser.check_page("crm-reset-code").await;
    let code = code_in(&sink.next_message().await);
    browser.type_into("#code", &code).await;
    browser.type_into("#password", NEW_PASSWORD).await;
    browser.type_into("#confirmation", NEW_PASSWORD).await;
    browser.click("button[type='submit']").await;
    browser
        .wait_for("Your password has been changed")
        .await
        .unwrap();

    // Signed in to the CRM with the new password.
    browser.goto(&format!("{}/login", demos.crm)).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", NEW_PASSWORD).await;
    browser.click("button[type='submit']").await;
    browser
        .wait_for("Signed in as <span id=\"who\">Ada Lovelace</span>")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_sign_in_keeps_the_email_drops_the_password_and_says_why_by_the_field() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    let demos = Demos::start().await;
    demos
        .server
        .add_account("ada@example.org", "Ada Lovelace")
        .await;
    browser.goto(&format!("{}/login", demos.emr)).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", "Not-Her-Password-1").await;
    browser.click("button[type='submit']").await;
    browser.wait_for("id=\"sign-in-message\"").await.unwrap();
    assert_eq!(browser.value("#email").await, "ada@example.org");
    assert_eq!(browser.value("#password").await, "");
    assert_error_by_field(&browser, "sign-in-message", &["email", "password"]).await;
    browser.check_page("emr-sign-in-refused").await;
}

#[tokio::test]
async fn the_portal_signs_in_with_a_pin_and_switches_between_two_profiles() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    let demos = Demos::start().await;
    let email = "ada@clinic.example";
    demos.server.add_account(email, "Ada Okafor").await;
    let sam = demos
        .server
        .accounts
        .add_profile_to(
            email,
            NewProfileFields {
                name: "Sam Okafor".into(),
                kind: ProfileKind::Dependent,
                email: None,
                birthdate: Some("2016-03-01".into()),
            },
        )
        .await
        .unwrap();
    let (_, profiles) = demos.server.accounts.profiles_of(email).await.unwrap();
    let ada = profiles.iter().find(|p| p.id != sam.id).unwrap().clone();

    browser.goto(&format!("{}/login", demos.portal)).await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.click("a[href^='/sign-in/pin']").await;
    browser
        .wait_for("<h1>Sign in with a PIN</h1>")
        .await
        .unwrap();

    // A wrong PIN first: the email stays, the PIN is typed again, the refusal is by it.
    browser.type_into("#email", email).await;
    browser.type_into("#pin", "000000").await;
    browser.click("button[type='submit']").await;
    browser.wait_for("id=\"pin-message\"").await.unwrap();
    assert_eq!(browser.value("#email").await, email);
    assert_eq!(browser.value("#pin").await, "");
    assert_error_by_field(&browser, "pin-message", &["pin", "email"]).await;
    browser.check_page("client-portal-pin-refused").await;

    // The PIN the office gives (issued after the wrong guess, so that guess cannot be it).
    let pin = demos
        .server
        .lifecycle
        .issue_pin(email, None, Some(&ClientId::from("client-portal")))
        .await
        .unwrap();
    browser.type_into("#pin", pin.pin.as_str()).await;
    browser.click("button[type='submit']").await;
    browser.wait_for("<h1>Choose a profile</h1>").await.unwrap();
    browser.check_page("client-portal-select-profile").await;
    browser
        .click(&format!("button[name='profile_id'][value='{}']", ada.id))
        .await;
    let home = browser
        .wait_for("Signed in as <span id=\"who\">Ada Okafor</span>")
        .await
        .unwrap();
    assert!(home.contains("\"name\": \"Ada Okafor\""), "{home}");

    // "Switch profile": careid's picker again (prompt=select_account), no PIN asked.
    browser.click("a[href='/login?switch=1']").await;
    browser.wait_for("<h1>Choose a profile</h1>").await.unwrap();
    browser
        .click(&format!("button[name='profile_id'][value='{}']", sam.id))
        .await;
    let home = browser
        .wait_for("Signed in as <span id=\"who\">Sam Okafor</span>")
        .await
        .unwrap();
    assert!(home.contains("\"name\": \"Sam Okafor\""), "{home}");
    assert!(!home.contains("Ada Okafor"), "{home}");
}

#[tokio::test]
async fn the_consent_page_for_a_third_party_app_is_accessible_and_fits_a_phone() {
    let Some(browser) = Browser::start(1280).await else {
        return;
    };
    // Not first-party: careid asks before the app sees the profile.
    let clients = careid_tests::clients_dir_with(&[(
        "notes.toml",
        "client_id = \"notes\"\nname = \"Notes\"\nsecret = \"notes-secret\"\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\n",
    )]);
    let dir = clients.path().to_path_buf();
    let server = careid_tests::TestServer::start_with(|config| config.clients_dir = dir).await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    browser
        .goto(&server.authorize_url("notes", "http://127.0.0.1:9/cb", &[]))
        .await;
    browser.wait_for("<h1>Sign in</h1>").await.unwrap();
    browser.type_into("#email", "ada@example.org").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type='submit']").await;
    browser.wait_for("<h1>Allow Notes?</h1>").await.unwrap();
    browser.check_page("consent").await;
}
