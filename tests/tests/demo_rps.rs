//! The demo relying parties (`careid demo`) against a real careid: sign in to the CRM
//! with a password, open the EMR without one, refresh, switch profile in the client
//! portal, and sign out of the CRM, which signs the EMR out over the back channel.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::time::Duration;

use careid_store::ClientId;
use careid_tests::{
    PASSWORD,
    browser::{Browser, Landing, Page, param},
    demo::Demos,
};

/// Opens `path` on a demo and follows it through careid (signing in on careid's form
/// when careid asks) back to the demo's home page.
async fn through_careid(careid: &Browser, demo: &Browser, path: &str, email: &str) -> Page {
    let away = demo.visit(path).await.left();
    let back = match careid.visit(away.as_str()).await {
        Landing::Left(back) => back,
        Landing::Page(page) => {
            let form = page.form().expect("a sign-in form");
            let login = form.login_input().expect("an email input").name.clone();
            let secret = form.password_input().expect("a password").name.clone();
            careid
                .submit(&page, &[(&login, email), (&secret, PASSWORD)])
                .await
                .left()
        }
    };
    demo.visit(back.as_str()).await.page()
}

#[tokio::test]
async fn the_crm_signs_in_the_emr_follows_without_a_password_and_signing_out_ends_both() {
    let demos = Demos::start().await;
    demos
        .server
        .add_account("ada@example.org", "Ada Lovelace")
        .await;
    let careid = demos.server.browser();
    let crm = careid.on(&demos.crm);
    let emr = careid.on(&demos.emr);

    let home = crm.get("/").await;
    assert!(home.body.contains("Sign in with careid"), "{}", home.body);

    let page = through_careid(&careid, &crm, "/login", "ada@example.org").await;
    assert!(
        page.body
            .contains("Signed in as <span id=\"who\">Ada Lovelace</span>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("ada@example.org"));
    assert!(
        page.body.contains("&quot;sid&quot;"),
        "the ID token's claims are shown"
    );

    // Single sign-on: careid has a session, so the EMR gets a code without a form.
    let away = emr.visit("/login").await.left();
    let back = careid.visit(away.as_str()).await.left();
    let page = emr.visit(back.as_str()).await.page();
    assert!(page.body.contains("Ada Lovelace"), "{}", page.body);

    // Refresh: rotated tokens, the page says so.
    let refreshed = crm.follow(crm.post("/refresh", &[]).await).await.page();
    assert!(refreshed.body.contains("1 times"), "{}", refreshed.body);

    // Sign out of the CRM: its session, then careid's (RP-initiated logout).
    let away = crm.post("/logout", &[]).await;
    let end_session = away.location.clone().expect("to careid's end_session");
    assert!(end_session.contains("id_token_hint="), "{end_session}");
    let back = careid.visit(&end_session).await.left();
    assert!(back.as_str().starts_with(&demos.crm), "{back}");
    assert!(crm.get("/").await.body.contains("You are not signed in"));

    // The EMR hears it over the back channel (careid's sender polls every second).
    let mut signed_out = false;
    for _ in 0..100 {
        if emr.get("/").await.body.contains("You are not signed in") {
            signed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(signed_out, "the EMR's session ended by back-channel logout");
    // And careid asks for a password again.
    let away = emr.visit("/login").await.left();
    assert!(matches!(
        careid.visit(away.as_str()).await,
        Landing::Page(_)
    ));
}

#[tokio::test]
async fn the_portal_switches_profile_through_the_picker() {
    let demos = Demos::start().await;
    let ada = demos
        .server
        .add_account("ada@example.org", "Ada Lovelace")
        .await;
    demos
        .server
        .accounts
        .add_profile(ada.id, "dependent", "Sam Lovelace", None)
        .await
        .unwrap();
    let careid = demos.server.browser();
    let portal = careid.on(&demos.portal);

    // The portal signs people in with a PIN from the office (or an emailed link); with
    // two profiles, careid asks which one after the PIN.
    let issued = demos
        .server
        .lifecycle
        .issue_pin(
            "ada@example.org",
            None,
            Some(&ClientId::from("client-portal")),
        )
        .await
        .unwrap();
    let away = portal.visit("/login").await.left();
    let sign_in = careid.visit(away.as_str()).await.page();
    let request = param(&url::Url::parse(&sign_in.url).unwrap(), "request")
        .unwrap_or_else(|| panic!("a pending request at {}", sign_in.url));
    let pin_page = careid.get(&format!("/sign-in/pin?request={request}")).await;
    let picker = careid
        .submit(
            &pin_page,
            &[("email", "ada@example.org"), ("pin", issued.pin.as_str())],
        )
        .await
        .page();
    let page = choose(&careid, &portal, &picker, "Ada Lovelace").await;
    assert!(
        page.body
            .contains("Signed in as <span id=\"who\">Ada Lovelace</span>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Switch profile"));

    // "Switch profile" is prompt=select_account: the picker again, no password.
    let away = portal.visit("/login?switch=1").await.left();
    assert!(away.as_str().contains("prompt=select_account"), "{away}");
    let picker = careid.visit(away.as_str()).await.page();
    let page = choose(&careid, &portal, &picker, "Sam Lovelace").await;
    assert!(
        page.body
            .contains("Signed in as <span id=\"who\">Sam Lovelace</span>"),
        "{}",
        page.body
    );
}

/// Picks the profile named `name` on careid's picker and returns the portal's page.
async fn choose(careid: &Browser, portal: &Browser, picker: &Page, name: &str) -> Page {
    let start = picker
        .body
        .find(name)
        .unwrap_or_else(|| panic!("{name} in {}", picker.body));
    let before = &picker.body[..start];
    let value_at = before.rfind("value=\"").unwrap() + "value=\"".len();
    let id = &before[value_at..value_at + before[value_at..].find('"').unwrap()];
    let form = picker.form().unwrap();
    let mut fields: Vec<(String, String)> = form
        .fields(&[])
        .into_iter()
        .filter(|(n, _)| n != "profile_id")
        .collect();
    fields.push(("profile_id".into(), id.to_owned()));
    let action = url::Url::parse(&picker.url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    let posted = careid.post(action.as_str(), &fields).await;
    let back = careid.follow(posted).await.left();
    portal.visit(back.as_str()).await.page()
}
