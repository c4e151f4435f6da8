//! Client files: `config/clients/<client_id>.toml`, one client each. A problem is
//! reported with its file, line and key.

use std::{fmt, path::Path};

use careid_protocol::Client;

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
    let client: Client = toml::from_str(&text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start].lines().count().max(1));
        let key = err
            .span()
            .map(|span| key_at(&text, span.start))
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
            line: line_of(&text, key),
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
