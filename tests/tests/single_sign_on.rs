//! The backbone flow: the CRM signs a person in with her password, gets verified tokens,
//! refreshes them; the EMR then signs her in without a second password.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use careid_tests::{PASSWORD, TestServer, browser::param, html, rp::Rp};
use openidconnect::{OAuth2TokenResponse, TokenResponse, core::CoreUserInfoClaims};

#[tokio::test]
async fn the_crm_signs_in_with_a_password_and_the_emr_then_signs_in_without_one() {
    let server = TestServer::start().await;
    server.add_account("ada@example.org", "Ada Lovelace").await;
    let browser = server.browser();

    // The CRM: discovery, authorize, sign-in form, code.
    let crm = Rp::crm(&server.url).await;
    // `offline_access`: the CRM wants a refresh token (OIDC Core §11).
    let pending = crm.start_offline();
    let back = browser
        .sign_in(pending.url.as_str(), "ada@example.org", PASSWORD)
        .await;
    assert!(back.as_str().starts_with("http://127.0.0.1:8081/callback?"));
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(pending.state.secret().as_str())
    );
    assert_eq!(
        param(&back, "iss").as_deref(),
        Some(server.url.as_str()),
        "RFC 9207 iss"
    );
    let code = param(&back, "code").unwrap();

    // The back channel: code for tokens, ID token verified against the JWKS.
    let tokens = crm.exchange(&code, pending.verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&crm.client.id_token_verifier(), &pending.nonce)
        .unwrap();
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.org"));
    assert!(claims.auth_time().is_some());
    let at_hash = claims.access_token_hash().expect("at_hash");
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token
            .signing_key(&crm.client.id_token_verifier())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(at_hash, &expected);
    let subject = claims.subject().clone();

    // The raw ID token carries sid and amr as well.
    let raw: serde_json::Value = decode_payload(&id_token.to_string());
    assert!(raw["sid"].is_string());
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));

    // The access token is an RFC 9068 JWT.
    let header = decode_header(tokens.access_token().secret());
    assert_eq!(header["typ"], "at+jwt");

    // UserInfo with that access token.
    let info: CoreUserInfoClaims = crm
        .client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&crm.http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.org"));
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ada Lovelace")
    );

    // Refresh: new tokens, a new refresh token.
    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = crm
        .client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&crm.http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh.secret()
    );
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );

    // The EMR: the same browser is already signed in, so no form, straight to a code.
    let emr = Rp::emr(&server.url).await;
    let pending = emr.start();
    let back = browser.visit(pending.url.as_str()).await.left();
    assert!(
        back.as_str().starts_with("http://127.0.0.1:8082/callback?"),
        "no password asked: {back}"
    );
    let code = param(&back, "code").unwrap();
    let tokens = emr.exchange(&code, pending.verifier).await;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&emr.client.id_token_verifier(), &pending.nonce)
        .unwrap();
    assert_eq!(
        claims.subject(),
        &subject,
        "one person, one subject across portals"
    );
}

#[tokio::test]
async fn an_independent_client_signs_in_from_the_discovery_document_and_the_form_alone() {
    let server = TestServer::start().await;
    server.add_account("bo@example.org", "Bo").await;
    let http = server.http();
    let discovery: serde_json::Value = server.discovery().await;
    assert_eq!(discovery["issuer"], server.url.as_str());
    let authorize = discovery["authorization_endpoint"].as_str().unwrap();
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap();

    // A browser that knows nothing of careid: follow redirects, read the form.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = "a-verifier-that-is-long-enough-to-satisfy-rfc-7636-ok";
    let challenge = careid_tests::pkce_s256(verifier);
    let mut url = url::Url::parse(authorize).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "crm")
        .append_pair("redirect_uri", "http://127.0.0.1:8081/callback")
        .append_pair("scope", "openid email")
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut next = url.to_string();
    let mut page = String::new();
    for _ in 0..5 {
        let response = browser.get(&next).send().await.unwrap();
        match response.headers().get("location") {
            Some(location) => {
                next = url::Url::parse(&next)
                    .unwrap()
                    .join(location.to_str().unwrap())
                    .unwrap()
                    .to_string()
            }
            None => {
                page = response.text().await.unwrap();
                break;
            }
        }
    }
    let form = html::forms(&page)
        .into_iter()
        .find(|f| f.method == "post")
        .expect("a sign-in form");
    let login = form.login_input().expect("an email input").name.clone();
    let password = form
        .password_input()
        .expect("a password input")
        .name
        .clone();
    let action = url::Url::parse(&next).unwrap().join(&form.action).unwrap();
    let mut response = browser
        .post(action)
        .form(&form.fields(&[(&login, "bo@example.org"), (&password, PASSWORD)]))
        .send()
        .await
        .unwrap();
    let mut callback = None;
    for _ in 0..5 {
        let location = response
            .headers()
            .get("location")
            .expect("a redirect")
            .to_str()
            .unwrap()
            .to_owned();
        let target = url::Url::parse(&server.url)
            .unwrap()
            .join(&location)
            .unwrap();
        if target
            .as_str()
            .starts_with("http://127.0.0.1:8081/callback")
        {
            callback = Some(target);
            break;
        }
        response = browser.get(target).send().await.unwrap();
    }
    let callback = callback.expect("back at the client");
    let code = param(&callback, "code").unwrap();
    let tokens: serde_json::Value = http
        .post(token_endpoint)
        .basic_auth("crm", Some("crm-demo-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:8081/callback"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["id_token"].is_string());
    assert!(tokens["access_token"].is_string());
}

fn decode_part(token: &str, index: usize) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn decode_payload(token: &str) -> serde_json::Value {
    decode_part(token, 1)
}

fn decode_header(token: &str) -> serde_json::Value {
    decode_part(token, 0)
}
