//! A small W3C WebDriver client over the workspace's reqwest, driving headless Chromium
//! through Debian's `chromedriver`: enough for the browser tests (open, find, type, click,
//! read the page, run a script, change the viewport's width, screenshot, and audit the
//! page with axe-core). Hand-written because the WebDriver wire protocol is a few
//! JSON calls, and `fantoccini` would add a second `http`, `cookie` and an ICU stack to
//! the build.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

/// The W3C element reference key (WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The environment variable that makes a missing browser a failure (`.ci/run`).
pub const REQUIRED: &str = "REQUIRE_BROWSER";

/// The environment variable naming axe-core's `axe.min.js`; without it,
/// `target/axe/node_modules/axe-core/axe.min.js`, where `scripts/test-browser` installs it.
pub const AXE_JS: &str = "AXE_JS";

/// The widths every themed page is screenshot at: a desktop and a small phone.
pub const WIDTHS: [u32; 2] = [1280, 360];

/// `chromedriver` and `chromium`, if both are installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        })
    };
    Some((
        find(&["chromedriver"])?,
        find(&["chromium", "chromium-browser", "google-chrome"])?,
    ))
}

/// A running chromedriver with one headless Chromium session; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium `width` pixels
    /// wide. `None` (after saying why) when no browser is installed and
    /// [`REQUIRED`] is not set; a panic when it is.
    pub async fn start(width: u32) -> Option<Self> {
        let Some((driver, chromium)) = installed() else {
            if std::env::var_os(REQUIRED).is_some() {
                panic!("{REQUIRED} is set but chromium and chromedriver are not installed");
            }
            eprintln!(
                "skipped: chromium and chromedriver are not installed (scripts/test-browser installs them)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: wait for its status, at most 10 s.
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", format!("--window-size={width},900")],
            }
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Some(Self {
            http,
            session: format!("{base}/session/{session}"),
            driver: child,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() || answer["status"].as_i64().is_some_and(|s| s != 0)
        {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    /// Adds a virtual WebAuthn authenticator (WebAuthn §11.3, "Add Virtual
    /// Authenticator"): a platform CTAP2 authenticator that keeps discoverable credentials
    /// and verifies the person at once, so pages can make and use passkeys without a
    /// device.
    pub async fn add_virtual_authenticator(&self) {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        self.call(
            reqwest::Method::POST,
            "/webauthn/authenticator",
            Some(options),
        )
        .await;
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the first element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Empties the first form field matching `css`.
    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits (at most 10 s) until the page's HTML contains `text`; the page as it was
    /// last read otherwise, for the failure message.
    pub async fn wait_for(&self, text: &str) -> Result<String, String> {
        let mut last = String::new();
        for _ in 0..100 {
            last = self.source().await;
            if last.contains(text) {
                return Ok(last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{text:?} not found at {}:\n{last}",
            self.url().await
        ))
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns
    /// what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The current value of the first form field matching `css`.
    pub async fn value(&self, css: &str) -> String {
        self.execute(
            "return document.querySelector(arguments[0]).value;",
            json!([css]),
        )
        .await
        .as_str()
        .unwrap_or_else(|| panic!("no field {css}"))
        .to_owned()
    }

    /// Lays the page out `width` CSS pixels wide, as a phone (`width` under 600) or a
    /// desktop would, through Chromium's device emulation: a window cannot be made narrower
    /// than the browser's minimum, the emulated viewport can.
    pub async fn set_width(&self, width: u32) {
        let params = json!({
            "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600,
        });
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": params })),
        )
        .await;
    }

    /// The page's violations of WCAG 2.1 A and AA, as axe-core reports them, with impact
    /// "serious" or "critical". Empty (after saying why) when axe-core is not installed and
    /// [`REQUIRED`] is not set; a panic when it is.
    pub async fn serious_accessibility_violations(&self) -> Vec<Value> {
        let Some(axe) = axe_source() else {
            return Vec::new();
        };
        self.execute(&axe, json!([])).await;
        let answer = self
            .call(
                reqwest::Method::POST,
                "/execute/async",
                Some(json!({ "script": AXE_RUN, "args": [] })),
            )
            .await;
        answer
            .as_array()
            .unwrap_or_else(|| panic!("axe did not run: {answer}"))
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .cloned()
            .collect()
    }

    /// The page as it stands, checked at each of [`WIDTHS`]: saved as
    /// `target/screenshots/{name}-{width}.png`, nothing wider than a 360 px screen, and no
    /// serious or critical accessibility violation. Leaves the page at 1280 px.
    pub async fn check_page(&self, name: &str) {
        for width in WIDTHS {
            self.set_width(width).await;
            self.screenshot(&screenshots_dir().join(format!("{name}-{width}.png")))
                .await;
            if width == 360 {
                let wide = self
                    .execute("return document.documentElement.scrollWidth;", json!([]))
                    .await;
                assert!(
                    wide.as_u64().unwrap() <= 360,
                    "{name} is {wide} px wide at 360 px"
                );
            }
        }
        self.set_width(1280).await;
        let violations = self.serious_accessibility_violations().await;
        assert!(
            violations.is_empty(),
            "{name} at {}: {}",
            self.url().await,
            serde_json::to_string_pretty(&violations).unwrap()
        );
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Runs axe-core's WCAG 2.1 A and AA rules on the document and hands back the
/// violations, each with its rule, impact, help and the offending nodes' HTML.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })
  .then(r => done(r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.html + " : " + n.failureSummary) }))))
  .catch(e => done({ error: String(e) }));
"#;

/// axe-core's script, or `None` (after saying why) when it is not installed and
/// [`REQUIRED`] is not set; a panic when it is.
fn axe_source() -> Option<String> {
    let path = std::env::var_os(AXE_JS)
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target/axe/node_modules/axe-core/axe.min.js"));
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(err) if std::env::var_os(REQUIRED).is_some() => {
            panic!(
                "{REQUIRED} is set but axe-core is not at {}: {err}",
                path.display()
            )
        }
        Err(_) => {
            eprintln!(
                "accessibility not checked: no axe-core at {} (scripts/test-browser installs it)",
                path.display()
            );
            None
        }
    }
}

/// `target/screenshots/` of the workspace.
pub fn screenshots_dir() -> PathBuf {
    crate::workspace().join("target/screenshots")
}
