//! Tests of the sign-in page: the template, the messages, and the whole POST flow.

use std::path::Path;

use time::{Duration, macros::datetime};

use super::*;
use crate::Themes;

fn shipped_themes() -> Themes {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
    Themes::new(dir).unwrap()
}

fn view<'a>(client_name: Option<&'a str>, message: Option<&'a str>) -> View<'a> {
    View {
        client_name,
        logo_uri: None,
        request: Some("req-123"),
        email: "ada@clinic.example",
        csrf: "csrf-456",
        message,
        allows_password: true,
        allows_magic_link: false,
        allows_pin: false,
        allows_passkey: false,
    }
}

#[test]
fn the_page_offers_exactly_the_clients_methods_each_as_its_own_step() {
    let themes = shipped_themes();
    let password = r#"name="password""#;
    let link = r#"action="/magic-link""#;
    let pin = r#"href="/sign-in/pin?request=req-123""#;
    for (allows_password, allows_magic_link, allows_pin) in [
        (true, false, false),
        (false, true, false),
        (false, true, true),
        (true, true, true),
        (false, false, true),
    ] {
        let shown = View {
            allows_password,
            allows_magic_link,
            allows_pin,
            ..view(Some("Client Portal"), None)
        };
        let html = themes
            .render("client-portal", "sign_in.html", shown)
            .unwrap()
            .0;
        assert_eq!(html.contains(password), allows_password, "{html}");
        assert_eq!(html.contains(link), allows_magic_link, "{html}");
        assert_eq!(html.contains("Email me a sign-in link"), allows_magic_link);
        assert_eq!(html.contains(pin), allows_pin, "{html}");
        assert_eq!(
            html.contains("Sign in with a PIN from your provider's office")
                || html.contains("Sign in with a PIN from your provider&#x27;s office"),
            allows_pin,
            "{html}"
        );
    }
}

#[test]
fn a_client_that_allows_passkeys_gets_the_passkey_form_after_the_password_form() {
    let themes = shipped_themes();
    let passkey = r#"action="/sign-in/passkey" class="form" data-passkey="get""#;
    for allows_passkey in [false, true] {
        let shown = View {
            allows_passkey,
            ..view(Some("Client Portal"), None)
        };
        let html = themes
            .render("client-portal", "sign_in.html", shown)
            .unwrap()
            .0;
        assert_eq!(html.contains(passkey), allows_passkey, "{html}");
        assert_eq!(
            html.contains(r#"<script src="/static/default/passkeys.js" defer>"#),
            allows_passkey
        );
        if allows_passkey {
            assert!(
                html.find(r#"action="/sign-in""#) < html.find(passkey),
                "{html}"
            );
        }
    }
}

#[test]
fn the_sign_in_form_has_every_input_the_flow_needs() {
    let html = shipped_themes()
        .render("crm", "sign_in.html", view(Some("CRM"), None))
        .unwrap()
        .0;
    for needle in [
        r#"type="email" id="email" name="email" value="ada@clinic.example" autocomplete="username""#,
        r#"type="password" id="password" name="password" autocomplete="current-password""#,
        r#"<input type="hidden" name="request" value="req-123">"#,
        r#"<input type="hidden" name="csrf" value="csrf-456">"#,
        r#"<form method="post" action="/sign-in""#,
        r#"href="/forgot-password?request=req-123""#,
        r#"<button type="submit""#,
        "CarePortals CRM",
        r#"href="/static/crm/brand.css""#,
    ] {
        assert!(html.contains(needle), "missing {needle} in {html}");
    }
}

#[test]
fn a_malicious_client_name_is_escaped() {
    let evil = r#"<script>alert("x")</script>"#;
    let html = shipped_themes()
        .render("default", "sign_in.html", view(Some(evil), Some(evil)))
        .unwrap()
        .0;
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn a_sign_in_without_a_request_keeps_an_empty_request_field() {
    let mut direct = view(None, None);
    direct.request = None;
    let html = shipped_themes()
        .render("default", "sign_in.html", direct)
        .unwrap()
        .0;
    assert!(
        html.contains(r#"<input type="hidden" name="request" value="">"#),
        "{html}"
    );
    assert!(html.contains(r#"href="/forgot-password""#));
    assert!(html.contains("to your careid account"));
}

const NOW: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

#[test]
fn a_lock_reads_in_whole_minutes_rounded_up() {
    assert_eq!(minutes_left(NOW + Duration::minutes(15), NOW), 15);
    assert_eq!(minutes_left(NOW + Duration::seconds(14 * 60 + 1), NOW), 15);
    assert_eq!(minutes_left(NOW + Duration::seconds(1), NOW), 1);
    assert_eq!(minutes_left(NOW, NOW), 1);
}

mod flow {
    use axum::http::{HeaderMap, HeaderValue, header};
    use careid_protocol::session;

    use super::*;
    use crate::testing::{Fixture, PASSWORD, location, set_cookie, text};

    const CSRF: &str = "careid_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[tokio::test]
    async fn the_page_is_themed_by_the_client_and_issues_a_csrf_cookie() {
        let fx = Fixture::new().await;
        let id = fx.pending("crm").await;
        let response = fx.get(&format!("/sign-in?request={id}"), "").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let csrf = set_cookie(&response, "careid_csrf").unwrap();
        let html = text(response).await;
        let token = fx.csrf(&csrf);
        assert!(html.contains(&format!(r#"name="csrf" value="{token}""#)));
        assert!(html.contains("/static/crm/brand.css"));
        assert!(
            html.contains(r#"value="ada@clinic.example""#),
            "login_hint prefills"
        );
    }

    #[tokio::test]
    async fn an_unknown_request_shows_the_expired_page() {
        let fx = Fixture::new().await;
        let response = fx.get("/sign-in?request=nope", "").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert!(text(response).await.contains("This sign-in has expired"));
    }

    #[tokio::test]
    async fn a_malformed_query_gets_a_themed_page() {
        let fx = Fixture::new().await;
        let response = fx.get("/sign-in?request=a&request=b", "").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(text(response).await.contains("could not be read"));
    }

    #[tokio::test]
    async fn a_post_without_the_csrf_cookie_is_refused() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        fx.account("ada@clinic.example").await;
        let form = [
            ("csrf", token.as_str()),
            ("email", "ada@clinic.example"),
            ("password", PASSWORD),
        ];
        let response = fx.post("/sign-in", "", &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let html = text(response).await;
        assert!(html.contains("This form expired") && html.contains("<!DOCTYPE html>"));
    }

    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_email_read_alike() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        fx.account("ada@clinic.example").await;
        for email in ["ada@clinic.example", "nobody@clinic.example"] {
            let form = [
                ("csrf", token.as_str()),
                ("email", email),
                ("password", "Wrong-Pass-123"),
            ];
            let response = fx.post("/sign-in", CSRF, &form).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(set_cookie(&response, "careid_session").is_none());
            let html = text(response).await;
            assert!(
                html.contains("The email or password is incorrect."),
                "{html}"
            );
            assert!(
                html.contains(&format!(r#"value="{email}""#)),
                "the email is kept"
            );
        }
    }

    #[tokio::test]
    async fn a_disabled_account_hears_why_once_the_password_is_right() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        let ada = fx.account("ada@clinic.example").await;
        fx.ui.accounts.disable(ada.account_id).await.unwrap();
        let form = [
            ("csrf", token.as_str()),
            ("email", "ada@clinic.example"),
            ("password", PASSWORD),
        ];
        let html = text(fx.post("/sign-in", CSRF, &form).await).await;
        assert!(
            html.contains("contact your practice administrator"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_locked_account_is_told_how_many_minutes_are_left() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        fx.account("ada@clinic.example").await;
        let wrong = [
            ("csrf", token.as_str()),
            ("email", "ada@clinic.example"),
            ("password", "Wrong-Pass-123"),
        ];
        for _ in 0..5 {
            fx.post("/sign-in", CSRF, &wrong).await;
        }
        fx.clock.advance(Duration::minutes(5));
        let right = [
            ("csrf", token.as_str()),
            ("email", "ada@clinic.example"),
            ("password", PASSWORD),
        ];
        let html = text(fx.post("/sign-in", CSRF, &right).await).await;
        assert!(html.contains("Try again in 10 minutes,"), "{html}");
    }

    #[tokio::test]
    async fn a_blank_field_is_asked_for_without_checking_anything() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        let form = [("csrf", token.as_str()), ("email", "ada@clinic.example")];
        let html = text(fx.post("/sign-in", CSRF, &form).await).await;
        assert!(
            html.contains("Enter your email and your password."),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_client_without_passwords_refuses_one() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        fx.account("ada@clinic.example").await;
        let id = fx.pending("portal").await;
        let form = [
            ("csrf", token.as_str()),
            ("request", id.as_str()),
            ("email", "ada@clinic.example"),
            ("password", PASSWORD),
        ];
        let response = fx.post("/sign-in", CSRF, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_right_password_starts_a_session_and_returns_to_the_protocol() {
        let fx = Fixture::new().await;
        let token = fx.csrf(CSRF);
        fx.account("ada@clinic.example").await;
        let id = fx.pending("crm").await;
        let form = [
            ("csrf", token.as_str()),
            ("request", id.as_str()),
            ("email", "ada@clinic.example"),
            ("password", PASSWORD),
        ];
        let response = fx.post("/sign-in", CSRF, &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&response),
            format!("/authorize/continue?request={id}")
        );
        let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("careid_session=") && cookie.contains("HttpOnly"));
    }

    #[tokio::test]
    async fn signing_in_again_ends_the_previous_session() {
        let fx = Fixture::new().await;
        fx.account("ada@clinic.example").await;
        let first = fx.signed_in("ada@clinic.example").await;
        let token = fx.csrf(&first);
        let form = [
            ("csrf", token.as_str()),
            ("email", "ada@clinic.example"),
            ("password", PASSWORD),
        ];
        let response = fx.post("/sign-in", &first, &form).await;
        assert_eq!(location(&response), "/account");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&first).unwrap());
        let found = session::current(&fx.ui.protocol, &headers).await.unwrap();
        assert!(found.is_none());
    }

    #[tokio::test]
    async fn a_signed_in_visitor_without_a_request_goes_to_the_account_page() {
        let fx = Fixture::new().await;
        fx.account("ada@clinic.example").await;
        let cookies = fx.signed_in("ada@clinic.example").await;
        let response = fx.get("/sign-in", &cookies).await;
        assert_eq!(location(&response), "/account");
        let html = text(fx.get("/account", &cookies).await).await;
        assert!(html.contains("ada@clinic.example") && html.contains(r#"action="/sign-out""#));
    }
}
