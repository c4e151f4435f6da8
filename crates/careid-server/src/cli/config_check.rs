//! `careid config check`: validates careid.toml, the environment overrides and every
//! client file, naming the file, line and key of each problem.

use std::path::Path;

use anyhow::bail;

use crate::{Config, clients};

/// Prints each problem and fails if there is any.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let mut problems: Vec<String> = Vec::new();
    // The file alone first, so its errors carry line numbers.
    match std::fs::read_to_string(path) {
        Ok(text) => {
            if let Err(err) = toml::from_str::<Config>(&text) {
                let line = err
                    .span()
                    .map(|span| text[..span.start].lines().count().max(1));
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                problems.push(format!("{}{at}: {}", path.display(), err.message()));
            }
        }
        Err(err) => problems.push(format!("{}: cannot read: {err}", path.display())),
    }
    // Then the file with the environment over it.
    let config = match Config::load(path) {
        Ok(config) => Some(config),
        Err(err) => {
            for err in *err {
                let key = err.path.join(".");
                let source = err
                    .metadata
                    .as_ref()
                    .map(|m| m.name.to_string())
                    .unwrap_or_default();
                match (source.is_empty(), key.is_empty()) {
                    (true, true) => problems.push(err.kind.to_string()),
                    _ => problems.push(format!("{source}: {key}: {}", err.kind)),
                }
            }
            None
        }
    };
    if let Some(config) = &config {
        if url::Url::parse(&config.issuer).is_err() {
            problems.push(format!(
                "{}: issuer: {:?} is not an absolute URL",
                path.display(),
                config.issuer
            ));
        }
        if careid_store::Backend::of(&config.database_url).is_none() {
            problems.push(format!(
                "{}: database_url: use sqlite://… or postgres://…",
                path.display()
            ));
        }
        if let Err(err) = config.keys.kek() {
            problems.push(format!("{}: [keys]: {err}", path.display()));
        }
        let (loaded, client_problems) = clients::load_dir(&config.clients_dir);
        problems.extend(client_problems.iter().map(ToString::to_string));
        for client in &loaded {
            if client.secret.as_ref().is_some_and(|s| s.is_plain()) && !config.demo {
                problems.push(format!(
                    "{}/{}.toml: secret: a plain secret is for demo configs only; use sha256:<hex> or env:VAR",
                    config.clients_dir.display(),
                    client.client_id
                ));
            }
        }
        if problems.is_empty() {
            println!("{}: ok ({} clients)", path.display(), loaded.len());
        }
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    if !problems.is_empty() {
        bail!("{} problem(s) found", problems.len());
    }
    Ok(())
}
