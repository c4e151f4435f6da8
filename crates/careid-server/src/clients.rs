//! Client files: `config/clients/<client_id>.toml`, one client each. A problem is
//! reported with its file, line and key.
//!
//! [`ClientWatch`] keeps the clients in force in step with the folder while the server
//! runs: a new or changed file takes effect within about a second, a removed file takes
//! its client away, and a file that no longer parses is reported while the last good
//! version of its client stays in force.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use careid_protocol::{Client, Clients};

/// A problem in one client file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key concerned, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads every `*.toml` in `dir`, sorted by name. Returns the clients that parsed and
/// the problems of those that did not.
pub fn load_dir(dir: &Path) -> (Vec<Client>, Vec<FileProblem>) {
    let mut clients = Vec::new();
    let mut problems = Vec::new();
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect(),
        Err(err) => {
            problems.push(FileProblem {
                file: dir.display().to_string(),
                line: None,
                key: None,
                message: format!("cannot read the clients folder: {err}"),
            });
            return (clients, problems);
        }
    };
    paths.sort();
    for path in paths {
        match load_file(&path) {
            Ok(client) => {
                if clients
                    .iter()
                    .any(|c: &Client| c.client_id == client.client_id)
                {
                    problems.push(FileProblem {
                        file: path.display().to_string(),
                        line: line_of(
                            &std::fs::read_to_string(&path).unwrap_or_default(),
                            "client_id",
                        ),
                        key: Some("client_id".into()),
                        message: format!(
                            "client_id {:?} is used by another file",
                            client.client_id
                        ),
                    });
                } else {
                    clients.push(client);
                }
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    (clients, problems)
}

/// Parses and checks one client file.
pub fn load_file(path: &Path) -> Result<Client, Vec<FileProblem>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        vec![FileProblem {
            file: file.clone(),
            line: None,
            key: None,
            message: format!("cannot read: {err}"),
        }]
    })?;
    parse_file(&file, &text)
}

/// Parses and checks the text of client file `file`. Each problem names the file and,
/// where it can be told, the line and key.
pub fn parse_file(file: &str, text: &str) -> Result<Client, Vec<FileProblem>> {
    let file = file.to_owned();
    let client: Client = toml::from_str(text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start].lines().count().max(1));
        let key = err
            .span()
            .map(|span| key_at(text, span.start))
            .filter(|k| !k.is_empty());
        vec![FileProblem {
            file: file.clone(),
            line,
            key,
            message: err.message().to_owned(),
        }]
    })?;
    let problems: Vec<FileProblem> = client
        .problems()
        .into_iter()
        .map(|(key, message)| FileProblem {
            file: file.clone(),
            line: line_of(text, key),
            key: Some(key.into()),
            message,
        })
        .collect();
    if problems.is_empty() {
        Ok(client)
    } else {
        Err(problems)
    }
}

/// What the watcher compares between polls: each file's name, modification time and size.
type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// How often the watcher looks at the folder.
pub const POLL: Duration = Duration::from_secs(1);

/// The client files of one folder and the last good client of each.
pub struct ClientWatch {
    dir: PathBuf,
    seen: Option<Fingerprint>,
    good: BTreeMap<PathBuf, Client>,
}

impl ClientWatch {
    /// A watch over `dir` that has read nothing yet.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            seen: None,
            good: BTreeMap::new(),
        }
    }

    /// The `*.toml` files of the folder with their times and sizes, sorted by name.
    fn fingerprint(&self) -> Result<Fingerprint, std::io::Error> {
        let mut files: Fingerprint = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .map(|path| {
                let meta = std::fs::metadata(&path).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let size = meta.map_or(0, |m| m.len());
                (path, modified, size)
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reloads if the folder changed since the last look; returns whether it did.
    pub fn poll(&mut self, clients: &Clients) -> bool {
        let now = match self.fingerprint() {
            Ok(now) => now,
            Err(err) => {
                // An unreadable folder (being replaced, say) keeps what is in force.
                tracing::error!(dir = %self.dir.display(), %err, "cannot read the clients folder");
                return false;
            }
        };
        if self.seen.as_ref() == Some(&now) {
            return false;
        }
        self.reload(clients);
        true
    }

    /// Reads every file again and puts the result in force. Returns the problems found,
    /// each also logged with its file, line and key.
    /// A folder that cannot be read (being replaced, or a volume not mounted yet) is a
    /// problem, and the clients in force stay as they are.
    pub fn reload(&mut self, clients: &Clients) -> Vec<FileProblem> {
        let seen = match self.fingerprint() {
            Ok(seen) => seen,
            Err(err) => {
                let problem = FileProblem {
                    file: self.dir.display().to_string(),
                    line: None,
                    key: None,
                    message: format!("cannot read the clients folder: {err}"),
                };
                tracing::error!(%problem, "clients not reloaded; those in force stay");
                self.seen = None;
                return vec![problem];
            }
        };
        let paths: Vec<PathBuf> = seen.iter().map(|(path, _, _)| path.clone()).collect();
        self.seen = Some(seen);
        let mut problems = Vec::new();
        self.good.retain(|path, _| paths.contains(path));
        for path in &paths {
            match load_file(path) {
                Ok(client) => {
                    self.good.insert(path.clone(), client);
                }
                Err(found) => {
                    let kept = self.good.contains_key(path);
                    for problem in &found {
                        if kept {
                            tracing::error!(%problem, "client file not reloaded; its last good version stays in force");
                        } else {
                            tracing::error!(%problem, "client file not loaded");
                        }
                    }
                    problems.extend(found);
                }
            }
        }
        let mut in_force: Vec<Client> = Vec::new();
        for (path, client) in &self.good {
            if in_force.iter().any(|c| c.client_id == client.client_id) {
                let problem = FileProblem {
                    file: path.display().to_string(),
                    line: None,
                    key: Some("client_id".into()),
                    message: format!("client_id {:?} is used by another file", client.client_id),
                };
                tracing::error!(%problem, "client file not loaded");
                problems.push(problem);
            } else {
                in_force.push(client.clone());
            }
        }
        clients.replace(in_force);
        problems
    }
}

/// Polls the folder every [`POLL`] until `stop` completes.
pub async fn watch(
    mut files: ClientWatch,
    protocol: std::sync::Arc<careid_protocol::Protocol>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                // Reading the folder is file I/O: off the async threads.
                let registry = protocol.clone();
                let polled = tokio::task::spawn_blocking(move || {
                    let changed = files.poll(&registry.clients);
                    (files, changed)
                })
                .await;
                let Ok((returned, changed)) = polled else {
                    tracing::error!("the client-file watcher failed; client files are no longer reloaded");
                    return;
                };
                files = returned;
                if changed {
                    tracing::info!(dir = %files.dir.display(), "client files reloaded");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// The line on which `key` is assigned.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The key assigned on the line containing byte `offset`.
fn key_at(text: &str, offset: usize) -> String {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or_default();
    line.split('=').next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use careid_store::ClientId;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn the_shipped_demo_clients_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/clients");
        let (clients, problems) = load_dir(&dir);
        assert!(problems.is_empty(), "{problems:?}");
        let ids: Vec<_> = clients.iter().map(|c| c.client_id.as_str()).collect();
        assert!(ids.contains(&"crm") && ids.contains(&"emr"));
    }

    #[test]
    fn a_bad_value_is_reported_with_its_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "bad.toml",
            "client_id = \"bad\"\nname = \"Bad\"\nsecret = \"x\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\ntoken_endpoint_auth_method = \"carrier_pigeon\"\n",
        );
        let (clients, problems) = load_dir(dir.path());
        assert!(clients.is_empty());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(5));
        assert_eq!(
            problems[0].key.as_deref(),
            Some("token_endpoint_auth_method")
        );
        assert!(problems[0].to_string().contains("bad.toml:5"));
    }

    #[test]
    fn an_unknown_sign_in_method_is_reported_with_its_file_line_and_key() {
        let text = "client_id = \"c\"\nname = \"C\"\nsecret = \"x\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\nsign_in_methods = [\"magic_link\", \"sms\"]\n";
        let problems = parse_file("c.toml", text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].to_string(),
            "c.toml:5: sign_in_methods: \"sms\" is not a sign-in method; use password, magic_link, pin, passkey"
        );
        for known in ["password", "magic_link", "pin", "passkey"] {
            let text = text.replace("\"sms\"", &format!("\"{known}\""));
            assert!(parse_file("c.toml", &text).is_ok(), "{known}");
        }
        let none = text.replace("[\"magic_link\", \"sms\"]", "[]");
        assert_eq!(parse_file("c.toml", &none).unwrap_err()[0].line, Some(5));
    }

    #[test]
    fn a_signing_algorithm_careid_does_not_offer_is_reported_with_its_file_line_and_key() {
        let base = "client_id = \"c\"\nname = \"C\"\nsecret = \"x\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\n";
        for (line, key) in [
            (
                "access_token_signed_response_alg = \"PS256\"",
                "access_token_signed_response_alg",
            ),
            (
                "access_token_signed_response_alg = \"HS256\"",
                "access_token_signed_response_alg",
            ),
            (
                "id_token_signed_response_alg = \"none\"",
                "id_token_signed_response_alg",
            ),
            (
                "id_token_signed_response_alg = \"eddsa\"",
                "id_token_signed_response_alg",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "c.toml", &format!("{base}{line}\n"));
            let (clients, problems) = load_dir(dir.path());
            assert!(clients.is_empty(), "{line}");
            assert_eq!(problems.len(), 1, "{line}: {problems:?}");
            assert_eq!(problems[0].line, Some(5), "{line}");
            assert_eq!(problems[0].key.as_deref(), Some(key), "{line}");
            assert!(
                problems[0].to_string().contains("c.toml:5"),
                "{}",
                problems[0]
            );
        }
    }

    #[test]
    fn signing_algorithms_default_to_rs256_id_tokens_and_es256_access_tokens() {
        use careid_protocol::{AccessTokenAlg, SigningAlg};
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "crm.toml", CRM);
        write(
            dir.path(),
            "api.toml",
            "client_id = \"api\"\nname = \"API\"\nsecret = \"s\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\nid_token_signed_response_alg = \"EdDSA\"\naccess_token_signed_response_alg = \"RS256\"\n",
        );
        let (clients, problems) = load_dir(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        let [api, crm] = [&clients[0], &clients[1]];
        assert_eq!(crm.id_token_signed_response_alg, SigningAlg::RS256);
        assert_eq!(crm.access_token_signed_response_alg, AccessTokenAlg::ES256);
        assert_eq!(api.id_token_signed_response_alg, SigningAlg::EdDSA);
        assert_eq!(api.access_token_signed_response_alg, AccessTokenAlg::RS256);
    }

    const CRM: &str = "client_id = \"crm\"\nname = \"CRM\"\nsecret = \"s\"\nredirect_uris = [\"http://127.0.0.1/one\"]\n";

    #[test]
    fn a_changed_file_takes_effect_and_a_broken_one_keeps_its_last_good_version() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "crm.toml", CRM);
        let clients = Clients::default();
        let mut watch = ClientWatch::new(dir.path());
        assert!(watch.poll(&clients));
        assert!(!watch.poll(&clients), "nothing changed");
        assert!(
            clients
                .get(&ClientId::from("crm"))
                .unwrap()
                .has_redirect_uri("http://127.0.0.1/one")
        );

        write(dir.path(), "crm.toml", &CRM.replace("/one", "/two-longer"));
        assert!(watch.poll(&clients));
        let crm = clients.get(&ClientId::from("crm")).unwrap();
        assert!(crm.has_redirect_uri("http://127.0.0.1/two-longer"));
        assert!(!crm.has_redirect_uri("http://127.0.0.1/one"));

        write(
            dir.path(),
            "crm.toml",
            "client_id = \"crm\"\nname = [oops\n",
        );
        assert!(watch.poll(&clients));
        let problems = watch.reload(&clients);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(2));
        assert_eq!(problems[0].key.as_deref(), Some("name"));
        assert!(
            clients
                .get(&ClientId::from("crm"))
                .unwrap()
                .has_redirect_uri("http://127.0.0.1/two-longer")
        );
    }

    #[test]
    fn new_files_add_clients_and_removed_files_take_them_away() {
        let dir = tempfile::tempdir().unwrap();
        let clients = Clients::default();
        let mut watch = ClientWatch::new(dir.path());
        watch.poll(&clients);
        assert!(clients.get(&ClientId::from("crm")).is_none());
        write(dir.path(), "crm.toml", CRM);
        write(dir.path(), "crm-copy.toml", CRM);
        assert!(watch.poll(&clients));
        assert!(clients.get(&ClientId::from("crm")).is_some());
        let problems = watch.reload(&clients);
        assert_eq!(
            problems.len(),
            1,
            "the duplicate id is reported: {problems:?}"
        );
        std::fs::remove_file(dir.path().join("crm.toml")).unwrap();
        std::fs::remove_file(dir.path().join("crm-copy.toml")).unwrap();
        assert!(watch.poll(&clients));
        assert!(clients.get(&ClientId::from("crm")).is_none());
    }

    #[test]
    fn a_folder_that_cannot_be_read_keeps_the_clients_in_force() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("clients");
        std::fs::create_dir(&dir).unwrap();
        write(&dir, "crm.toml", CRM);
        let clients = Clients::default();
        let mut watch = ClientWatch::new(&dir);
        assert_eq!(watch.reload(&clients), Vec::new());
        assert!(clients.get(&ClientId::from("crm")).is_some());

        std::fs::rename(&dir, root.path().join("elsewhere")).unwrap();
        let problems = watch.reload(&clients);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .message
                .starts_with("cannot read the clients folder")
        );
        assert!(clients.get(&ClientId::from("crm")).is_some());
        assert!(!watch.poll(&clients));
        assert!(clients.get(&ClientId::from("crm")).is_some());

        // Back, and changed: the watcher picks it up again.
        std::fs::rename(root.path().join("elsewhere"), &dir).unwrap();
        std::fs::remove_file(dir.join("crm.toml")).unwrap();
        assert!(watch.poll(&clients));
        assert!(clients.get(&ClientId::from("crm")).is_none());
    }

    #[test]
    fn a_file_broken_from_the_start_loads_no_client() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "crm.toml", "client_id = \"crm\"\n");
        let clients = Clients::default();
        let problems = ClientWatch::new(dir.path()).reload(&clients);
        assert_eq!(problems.len(), 1);
        assert!(clients.get(&ClientId::from("crm")).is_none());
    }

    #[test]
    fn a_confidential_client_without_a_secret_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "nosecret.toml",
            "client_id = \"n\"\nname = \"N\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\n",
        );
        let (_, problems) = load_dir(dir.path());
        assert_eq!(problems[0].key.as_deref(), Some("secret"));
    }
}
