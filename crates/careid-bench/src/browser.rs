//! One worker's view of careid: a pooled HTTP client that does not follow redirects,
//! and the steps of the flows a relying party and a browser go through. Every failed
//! step comes back as an [`ErrorSample`] naming the step, the status and what careid
//! said, so a report shows why a scenario failed, not only how often.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{BenchError, cookies::CookieJar, form};

/// How much of a failed response's body a sample keeps.
const BODY_PREFIX_CHARS: usize = 200;

/// Redirects followed inside careid before a flow is called broken.
const MAX_HOPS: usize = 10;

/// No single request may take longer than this; a stuck server shows up as errors.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One failed step, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorSample {
    /// What was being done: `POST /token`, `GET /authorize`, `redirect to client`…
    pub step: String,
    /// The HTTP status, if careid answered at all.
    pub status: Option<u16>,
    /// The start of the body (or the page's alert text, or the transport error).
    pub body: String,
    /// How many failures of the scenario looked exactly like this one.
    pub count: u64,
}

/// The relying party the bench plays, and the careid it talks to.
#[derive(Debug, Clone)]
pub struct Target {
    /// careid's base URL (its issuer).
    pub base: Url,
    /// A confidential client allowed the code, refresh and client-credentials grants.
    pub client_id: String,
    /// Its secret, sent with HTTP Basic.
    pub client_secret: String,
    /// A redirect URI registered for it; the bench reads the code from the `Location`
    /// header and never calls it.
    pub redirect_uri: String,
    /// The scope asked for in code flows.
    pub scope: String,
}

/// A person the bench signs in as.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) email: String,
    pub(crate) password: String,
}

/// What `/token` answered.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
}

/// A response, read in full.
struct Answer {
    status: StatusCode,
    url: Url,
    location: Option<String>,
    body: String,
}

/// A worker's HTTP client (its own connection pool) and the target.
#[derive(Clone)]
pub(crate) struct Browser {
    http: reqwest::Client,
    target: Arc<Target>,
}

impl Browser {
    /// A client with its own pool that never follows redirects by itself.
    pub(crate) fn new(target: Arc<Target>) -> Result<Self, BenchError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| BenchError::HttpClient(err.to_string()))?;
        Ok(Self { http, target })
    }

    fn url(&self, path: &str) -> Result<Url, ErrorSample> {
        self.target
            .base
            .join(path)
            .map_err(|err| sample(path, None, &err.to_string()))
    }

    /// Sends `request`, keeping cookies in `jar` when given, and reads the whole answer.
    async fn send(
        &self,
        request: RequestBuilder,
        jar: Option<&mut CookieJar>,
    ) -> Result<Answer, ErrorSample> {
        let mut request = request;
        if let Some(cookie) = jar.as_ref().and_then(|jar| jar.header()) {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request
            .build()
            .map_err(|err| sample("build request", None, &chain(&err)))?;
        let step = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|err| sample(&step, None, &chain(&err)))?;
        let status = response.status();
        let url = response.url().clone();
        let headers = response.headers();
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(jar) = jar {
            for value in headers.get_all(header::SET_COOKIE) {
                if let Ok(value) = value.to_str() {
                    jar.store(value);
                }
            }
        }
        let body = response
            .text()
            .await
            .map_err(|err| sample(&step, Some(status), &chain(&err)))?;
        Ok(Answer {
            status,
            url,
            location,
            body,
        })
    }

    /// A GET that must answer 200; the body is read and dropped.
    pub(crate) async fn fetch(&self, path: &str) -> Result<(), ErrorSample> {
        let answer = self.send(self.http.get(self.url(path)?), None).await?;
        expect_ok(&answer, "GET", path)?;
        Ok(())
    }

    /// A form POST to a back-channel endpoint with the client's HTTP Basic credentials;
    /// anything but 200 fails as `step`.
    async fn post_as_client(
        &self,
        path: &str,
        step: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, ErrorSample> {
        let request = self
            .http
            .request(Method::POST, self.url(path)?)
            .basic_auth(&self.target.client_id, Some(&self.target.client_secret))
            .form(form);
        let answer = self.send(request, None).await?;
        if answer.status != StatusCode::OK {
            return Err(sample_of(&answer, step));
        }
        Ok(answer)
    }

    /// The client-credentials grant (RFC 6749 §4.4): an access token for the client.
    pub(crate) async fn client_credentials(&self) -> Result<(), ErrorSample> {
        let step = "POST /token (client_credentials)";
        let answer = self
            .post_as_client("/token", step, &[("grant_type", "client_credentials")])
            .await?;
        tokens(&answer, step)?;
        Ok(())
    }

    /// The authorization-code flow with PKCE, as a browser and the client's back end
    /// run it: `/authorize`, careid's redirects, the sign-in form when careid shows it
    /// (filled as `person` when given, an error otherwise), the redirect to the client,
    /// then the code exchanged at `/token`.
    pub(crate) async fn code_flow(
        &self,
        jar: &mut CookieJar,
        person: Option<&Person>,
    ) -> Result<Tokens, ErrorSample> {
        let verifier = random_text(32);
        let state = random_text(16);
        let authorize = self.authorize_url(&pkce_challenge(&verifier), &state)?;
        let mut answer = self.send(self.http.get(authorize), Some(&mut *jar)).await?;
        let mut signed_in = false;
        for _ in 0..MAX_HOPS {
            if answer.status.is_redirection() {
                let Some(next) = answer
                    .location
                    .as_deref()
                    .and_then(|location| answer.url.join(location).ok())
                else {
                    return Err(sample_of(&answer, "redirect without a usable Location"));
                };
                if next.origin() != self.target.base.origin() {
                    let code = code_from(&next, &state)?;
                    return self.exchange(&code, &verifier).await;
                }
                answer = self.send(self.http.get(next), Some(&mut *jar)).await?;
                continue;
            }
            let form = match person {
                Some(person) if !signed_in && answer.status == StatusCode::OK => {
                    form::sign_in_form(&answer.body, &person.email, &person.password)
                }
                _ => None,
            };
            let Some(form) = form else {
                let step = format!("{} (expected a redirect to the client)", answer.url.path());
                return Err(sample_of(&answer, &step));
            };
            let action = answer
                .url
                .join(&form.action)
                .map_err(|err| sample("sign-in form action", None, &err.to_string()))?;
            answer = self
                .send(self.http.post(action).form(&form.fields), Some(&mut *jar))
                .await?;
            signed_in = true;
        }
        Err(sample_of(&answer, "too many redirects inside careid"))
    }

    fn authorize_url(&self, challenge: &str, state: &str) -> Result<Url, ErrorSample> {
        let mut url = self.url("/authorize")?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.target.client_id)
            .append_pair("redirect_uri", &self.target.redirect_uri)
            .append_pair("scope", &self.target.scope)
            .append_pair("state", state)
            .append_pair("nonce", &random_text(16))
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Exchanges a code at `/token` (RFC 6749 §4.1.3, RFC 7636 §4.5).
    async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, ErrorSample> {
        let step = "POST /token (authorization_code)";
        let answer = self
            .post_as_client(
                "/token",
                step,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.target.redirect_uri),
                    ("code_verifier", verifier),
                ],
            )
            .await?;
        let tokens = tokens(&answer, step)?;
        if tokens.id_token.is_none() {
            return Err(sample_of(&answer, &format!("{step}: no id_token")));
        }
        Ok(tokens)
    }

    /// Rotates a refresh token (RFC 6749 §6): the answer carries the next one.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ErrorSample> {
        let step = "POST /token (refresh_token)";
        let answer = self
            .post_as_client(
                "/token",
                step,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
            )
            .await?;
        let tokens = tokens(&answer, step)?;
        if tokens.refresh_token.is_none() {
            return Err(sample_of(&answer, &format!("{step}: no new refresh_token")));
        }
        Ok(tokens)
    }

    /// `GET /userinfo` with a bearer token (OIDC Core §5.3); the answer must name a `sub`.
    pub(crate) async fn userinfo(&self, access_token: &str) -> Result<(), ErrorSample> {
        let request = self
            .http
            .get(self.url("/userinfo")?)
            .bearer_auth(access_token);
        let answer = self.send(request, None).await?;
        expect_ok(&answer, "GET", "/userinfo")?;
        let claims: serde_json::Value = serde_json::from_str(&answer.body)
            .map_err(|_| sample_of(&answer, "GET /userinfo: not JSON"))?;
        if !claims.get("sub").is_some_and(serde_json::Value::is_string) {
            return Err(sample_of(&answer, "GET /userinfo: no sub"));
        }
        Ok(())
    }

    /// `POST /introspect` (RFC 7662) of the client's own access token: it must be active.
    pub(crate) async fn introspect(&self, access_token: &str) -> Result<(), ErrorSample> {
        let answer = self
            .post_as_client(
                "/introspect",
                "POST /introspect",
                &[("token", access_token), ("token_type_hint", "access_token")],
            )
            .await?;
        let body: serde_json::Value = serde_json::from_str(&answer.body)
            .map_err(|_| sample_of(&answer, "POST /introspect: not JSON"))?;
        if body.get("active") != Some(&serde_json::Value::Bool(true)) {
            return Err(sample_of(&answer, "POST /introspect: token not active"));
        }
        Ok(())
    }
}

/// The code from the redirect to the client, after checking `state` (RFC 6749 §10.12);
/// an error redirect becomes a sample with careid's `error` and description.
fn code_from(redirect: &Url, state: &str) -> Result<String, ErrorSample> {
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or_default();
        return Err(sample(
            "redirect to client",
            None,
            &format!("{error}: {description}"),
        ));
    }
    if param("state").as_deref() != Some(state) {
        return Err(sample(
            "redirect to client",
            None,
            &format!("state missing or changed in {redirect}"),
        ));
    }
    param("code").ok_or_else(|| sample("redirect to client", None, "no code"))
}

/// The tokens of a 200 answer from `/token`.
fn tokens(answer: &Answer, step: &str) -> Result<Tokens, ErrorSample> {
    serde_json::from_str(&answer.body)
        .map_err(|_| sample_of(answer, &format!("{step}: not a token response")))
}

fn expect_ok(answer: &Answer, method: &str, path: &str) -> Result<(), ErrorSample> {
    if answer.status == StatusCode::OK {
        Ok(())
    } else {
        Err(sample_of(answer, &format!("{method} {path}")))
    }
}

/// A sample of an unexpected answer: the page's alert text when it is one of careid's
/// pages, else the start of the body.
fn sample_of(answer: &Answer, step: &str) -> ErrorSample {
    let text = alert_text(&answer.body).unwrap_or_else(|| answer.body.clone());
    sample(step, Some(answer.status), &text)
}

fn sample(step: &str, status: Option<StatusCode>, body: &str) -> ErrorSample {
    ErrorSample {
        step: step.to_owned(),
        status: status.map(|s| s.as_u16()),
        body: body.chars().take(BODY_PREFIX_CHARS).collect(),
        count: 1,
    }
}

/// The text of the first `role="alert"` element of an HTML page (where careid's pages
/// say what went wrong), tags stripped and whitespace collapsed.
fn alert_text(html: &str) -> Option<String> {
    let at = html.find("role=\"alert\"")?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find("</")?;
    let text = html[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty()).then_some(text)
}

/// An error and its sources, one line: reqwest's own message rarely says what failed.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `bytes` random bytes as base64url: PKCE verifiers (RFC 7636 §4.1), states, nonces.
fn random_text(bytes: usize) -> String {
    let mut buf = vec![0_u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_text(32).len(), 43);
    }

    #[test]
    fn the_code_is_taken_only_with_the_state_sent() {
        let back = Url::parse("http://127.0.0.1:8081/callback?code=c1&state=s1&iss=x").unwrap();
        assert_eq!(code_from(&back, "s1").unwrap(), "c1");
        assert_eq!(
            code_from(&back, "s2").unwrap_err().step,
            "redirect to client"
        );
        let error = Url::parse(
            "http://127.0.0.1:8081/callback?error=login_required&error_description=sign+in&state=s1",
        )
        .unwrap();
        assert_eq!(
            code_from(&error, "s1").unwrap_err().body,
            "login_required: sign in"
        );
    }

    #[test]
    fn a_page_error_sample_quotes_the_alert() {
        let page = "<html><main><div class=\"alert\" role=\"alert\" id=\"m\">\n  The email or password\n is wrong.</div></main>";
        assert_eq!(
            alert_text(page).as_deref(),
            Some("The email or password is wrong.")
        );
        assert_eq!(alert_text("{\"error\":\"invalid_grant\"}"), None);
    }

    #[test]
    fn a_sample_keeps_only_the_start_of_a_long_body() {
        let long = "é".repeat(500);
        let s = sample("GET /x", Some(StatusCode::INTERNAL_SERVER_ERROR), &long);
        assert_eq!(s.body.chars().count(), BODY_PREFIX_CHARS);
        assert_eq!(s.status, Some(500));
    }
}
