//! careid's pages and the demo relying parties in headless Chromium (WebDriver through
//! Debian's chromedriver). Skipped, saying why, when no browser is installed; a failure
//! then when `REQUIRE_BROWSER` is set, as `scripts/test-browser` (run by `.ci/run`)
//! does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use careid_tests::{
    PASSWORD,
    demo::Demos,
    webdriver::{Browser, screenshots_dir},
};

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
    browser
        .screenshot(&screenshots_dir().join("crm-sign-in-1280.png"))
        .await;
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
async fn the_themed_sign_in_pages_at_phone_width() {
    let Some(browser) = Browser::start(360).await else {
        return;
    };
    let demos = Demos::start().await;
    for (name, demo) in [
        ("crm", &demos.crm),
        ("emr", &demos.emr),
        ("client-portal", &demos.portal),
    ] {
        browser.goto(&format!("{demo}/login")).await;
        browser.wait_for("type=\"password\"").await.unwrap();
        browser
            .screenshot(&screenshots_dir().join(format!("{name}-sign-in-360.png")))
            .await;
    }
}
