//! A browser for tests: keeps cookies, follows careid's own redirects, stops at the
//! first redirect that leaves careid (to a client's redirect URI) so the test can read
//! the code, and fills forms it finds in the HTML.

use reqwest::{StatusCode, header};
use url::Url;

use crate::html::{self, Form};

/// One response.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: StatusCode,
    /// The URL that answered.
    pub url: String,
    pub body: String,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// `Set-Cookie` headers, as sent.
    pub set_cookies: Vec<String>,
    /// `Retry-After`, for refusals that say when to come back.
    pub retry_after: Option<String>,
}

impl Page {
    /// The page's first form that posts.
    pub fn form(&self) -> Option<Form> {
        html::forms(&self.body)
            .into_iter()
            .find(|f| f.method == "post")
    }
}

/// Where following a navigation ended.
#[derive(Debug, Clone)]
pub enum Landing {
    /// careid showed a page (a form, an error).
    Page(Page),
    /// careid sent the browser away, to this URL.
    Left(Url),
}

impl Landing {
    /// The URL careid sent the browser to; panics if it showed a page instead.
    pub fn left(self) -> Url {
        match self {
            Self::Left(url) => url,
            Self::Page(page) => panic!(
                "expected a redirect away from careid, got {} at {}:\n{}",
                page.status, page.url, page.body
            ),
        }
    }

    /// The page careid showed; panics if it redirected away instead.
    pub fn page(self) -> Page {
        match self {
            Self::Page(page) => page,
            Self::Left(url) => panic!("expected a careid page, was sent to {url}"),
        }
    }
}

/// A cookie-keeping client of careid.
pub struct Browser {
    pub http: reqwest::Client,
    base: Url,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            base: Url::parse(base).unwrap(),
        }
    }

    /// A browser with no cookies whose every request carries `name: value`, as if a
    /// proxy in front of careid added it (or the browser forged it).
    pub fn with_header(base: &str, name: &str, value: &str) -> Self {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            header::HeaderValue::from_str(value).unwrap(),
        );
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Self {
            http,
            base: Url::parse(base).unwrap(),
        }
    }

    /// The same browser (same cookies) talking to another careid instance.
    pub fn on(&self, base: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: Url::parse(base).unwrap(),
        }
    }

    fn absolute(&self, url: &str) -> Url {
        self.base.join(url).unwrap()
    }

    async fn read(response: reqwest::Response) -> Page {
        Self::try_read(response).await.expect("a response body")
    }

    /// [`Self::read`], `None` when the body cannot be read (the server went away).
    async fn try_read(response: reqwest::Response) -> Option<Page> {
        let status = response.status();
        let url = response.url().to_string();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.ok()?;
        Some(Page {
            status,
            url,
            body,
            location,
            set_cookies,
            retry_after,
        })
    }

    /// One GET, no redirects followed.
    pub async fn get(&self, url: &str) -> Page {
        Self::read(self.http.get(self.absolute(url)).send().await.unwrap()).await
    }

    /// [`Self::post`], `None` instead of a panic when the connection drops (a server
    /// killed mid-request).
    pub async fn try_post(&self, url: &str, fields: &[(String, String)]) -> Option<Page> {
        let sent = self.http.post(self.absolute(url)).form(fields).send();
        Self::try_read(sent.await.ok()?).await
    }

    /// One form POST to `url`, no redirects followed.
    pub async fn post(&self, url: &str, fields: &[(String, String)]) -> Page {
        Self::read(
            self.http
                .post(self.absolute(url))
                .form(fields)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Follows redirects from `page` while they stay on careid.
    pub async fn follow(&self, mut page: Page) -> Landing {
        for _ in 0..10 {
            let Some(location) = page
                .location
                .clone()
                .filter(|_| page.status.is_redirection())
            else {
                return Landing::Page(page);
            };
            let next = Url::parse(&page.url).unwrap().join(&location).unwrap();
            if next.origin() != self.base.origin() {
                return Landing::Left(next);
            }
            page = self.get(next.as_str()).await;
        }
        panic!("too many redirects");
    }

    /// Opens `url` and follows careid's redirects.
    pub async fn visit(&self, url: &str) -> Landing {
        let page = self.get(url).await;
        self.follow(page).await
    }

    /// Submits the page's form with `fill` and follows careid's redirects.
    pub async fn submit(&self, page: &Page, fill: &[(&str, &str)]) -> Landing {
        let form = page
            .form()
            .unwrap_or_else(|| panic!("no form at {}:\n{}", page.url, page.body));
        let action = Url::parse(&page.url).unwrap().join(&form.action).unwrap();
        let posted = self.post(action.as_str(), &form.fields(fill)).await;
        self.follow(posted).await
    }

    /// Opens an authorization URL, signs in on the form careid shows, and returns where
    /// careid sent the browser (the client's redirect URI).
    pub async fn sign_in(&self, authorize_url: &str, email: &str, password: &str) -> Url {
        let page = self.visit(authorize_url).await.page();
        let form = page.form().expect("a sign-in form");
        let login = form.login_input().expect("an email input").name.clone();
        let secret = form
            .password_input()
            .expect("a password input")
            .name
            .clone();
        self.submit(&page, &[(&login, email), (&secret, password)])
            .await
            .left()
    }

    /// Opens an authorization URL of a client that offers PINs and returns the PIN page
    /// for its pending request (`/sign-in/pin?request=…`).
    pub async fn pin_page(&self, authorize_url: &str) -> Page {
        let sign_in = self.visit(authorize_url).await.page();
        let page_url = Url::parse(&sign_in.url).unwrap();
        let request = param(&page_url, "request").unwrap_or_else(|| {
            panic!(
                "no pending request at {} ({}): {}",
                sign_in.url, sign_in.status, sign_in.body
            )
        });
        let page = self.get(&format!("/sign-in/pin?request={request}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page
    }

    /// Opens an authorization URL and types `email` and `pin` on its PIN page.
    pub async fn sign_in_with_pin(&self, authorize_url: &str, email: &str, pin: &str) -> Landing {
        let page = self.pin_page(authorize_url).await;
        self.submit(&page, &[("email", email), ("pin", pin)]).await
    }
}

/// A query parameter of a URL.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
