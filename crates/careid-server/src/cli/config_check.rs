//! `careid config check`: validates careid.toml, the environment overrides and every
//! client file, naming the file, line and key of each problem.

use std::path::Path;

use anyhow::bail;

use careid_protocol::RegistrationMode;

use crate::{Config, clients};

/// What is allowed but unwise in production: printed, never a failure.
pub(crate) fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    // Anyone may register a client in mode `open`, and a registered client's name and
    // addresses are its author's: fine on a developer's machine, not on the internet.
    if config.registration.mode == RegistrationMode::Open && config.issuer.starts_with("https://") {
        warnings.push(
            "[registration] mode = \"open\" lets anyone on the internet register a client with an https issuer; use \"token\" (the default) and `careid registration token issue`".to_owned(),
        );
    }
    if !config.registration.initial_access_tokens.is_empty() {
        warnings.push(
            "[registration] initial_access_tokens never expire and are revoked only by removing them; prefer `careid registration token issue --expires 30d`".to_owned(),
        );
    }
    warnings
}

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
        problems.extend(crate::templates::problems(config));
        for warning in warnings(config) {
            eprintln!("warning: {}: {warning}", path.display());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str, toml: &str) -> Config {
        let mut config: Config = toml::from_str(toml).unwrap();
        config.issuer = issuer.to_owned();
        config
    }

    #[test]
    fn open_registration_with_an_https_issuer_is_warned_about() {
        let open = "[registration]\nmode = \"open\"";
        let warned = warnings(&config("https://id.clinic.example", open));
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("mode = \"open\""), "{warned:?}");
        assert!(warnings(&config("http://127.0.0.1:8080", open)).is_empty());
        let token = "[registration]\nmode = \"token\"";
        assert!(warnings(&config("https://id.clinic.example", token)).is_empty());
    }

    #[test]
    fn registration_needs_a_token_when_the_key_is_absent() {
        for toml in ["", "[registration]"] {
            let config = config("https://id.clinic.example", toml);
            assert_eq!(
                config.registration.mode,
                RegistrationMode::Token,
                "{toml:?}"
            );
            assert!(warnings(&config).is_empty());
        }
    }
}
