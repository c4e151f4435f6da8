//! The real `careid` binary as a child process (`careid-under-test`, built from
//! careid-server's main.rs): for what only a process shows, its log output, its exit
//! status and its answer to signals. Its log lines (stderr) are kept for the test.
//! `CARGO_BIN_EXE_…` is only set for the test files, so each passes the binary's path:
//! `env!("CARGO_BIN_EXE_careid-under-test")`.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::workspace;

/// The `careid` binary at `binary`, not started yet, in the workspace root, with no
/// `CAREID_CONFIG` or `CAREID_LOG` inherited.
pub fn careid_command(binary: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(workspace())
        .env_remove("CAREID_CONFIG")
        .env_remove("CAREID_LOG")
        .stdin(Stdio::null());
    command
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `careid serve`; killed (SIGKILL) when dropped.
pub struct CareidProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl CareidProcess {
    /// `careid serve` (the binary at `binary`) with the shipped configuration on a free
    /// port over `database_url`, demo off, cheap hashing and the mail outbox in `dir`,
    /// after `adjust` has added to its environment; returns once it serves.
    pub async fn serve(
        binary: &str,
        database_url: &str,
        dir: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> Self {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut command = careid_command(binary);
        command
            .arg("serve")
            .env("CAREID_CONFIG", workspace().join("config/careid.toml"))
            .env("CAREID_ISSUER", &url)
            .env("CAREID_LISTEN", format!("127.0.0.1:{port}"))
            .env("CAREID_DATABASE_URL", database_url)
            .env("CAREID_DEMO", "false")
            .env("CAREID_MAIL__OUTBOX_DIR", dir.join("outbox"))
            .env("CAREID_POLICY__HASH__MEMORY_KIB", "1024")
            .env("CAREID_POLICY__HASH__ITERATIONS", "1")
            .env("CAREID_RATE_LIMIT__ENABLED", "false")
            .env("CAREID_LOG", "info");
        adjust(&mut command);
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        let lines = log.clone();
        // Read to the end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("careid is serving")
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let started = tokio::time::timeout(Duration::from_secs(120), is_ready).await;
        assert!(
            matches!(started, Ok(Ok(()))),
            "careid did not start: {:#?}",
            log.lock().unwrap()
        );
        Self { child, url, log }
    }

    /// The log lines written so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM, as systemd, Docker and Kubernetes stop a service.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (at most `limit`) for the process to exit; `None` if it is still running.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of the Prometheus series `name{labels}` (labels as written in the
    /// exposition, e.g. `method="password",result="success"`), 0 when absent.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_value(&text, name, labels)
    }
}

/// The value of `name{labels}` in a Prometheus text exposition; 0 when absent. Labels
/// are compared as a set, whatever their order.
pub fn metric_value(text: &str, name: &str, labels: &str) -> f64 {
    let wanted: Vec<&str> = labels.split(',').filter(|l| !l.is_empty()).collect();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let have: Vec<&str> = series_labels.split(',').filter(|l| !l.is_empty()).collect();
            let same = series_name == name
                && have.len() == wanted.len()
                && wanted.iter().all(|l| have.contains(l));
            same.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

impl Drop for CareidProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
