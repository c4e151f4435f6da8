//! `careid client …`: the clients in force and secrets for client files. Initial access
//! tokens for dynamic registration are `careid registration token …`'s.

use super::open_db;
use std::{io::BufRead, path::Path};

use anyhow::{Context, bail};
use careid_policy::one_time;
use careid_protocol::{Client, registered_client};
use careid_store::clients;
use clap::Subcommand;

/// `careid client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// List the clients: from the client files and registered over HTTP.
    List,
    /// Print a fresh 256-bit client secret and the `secret = "sha256:…"` line for its file.
    Secret,
    /// Read a secret on standard input and print its `sha256:<hex>` digest.
    HashSecret,
}

/// Runs a `client` subcommand.
pub async fn run(config_path: &Path, command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::List => list(config_path).await,
        ClientCommand::Secret => {
            let secret = one_time::new_token();
            println!("client secret (give it to the application; shown only now):");
            println!("  {secret}");
            println!("line for the client file:");
            println!("  secret = \"{}\"", secret_line(&secret));
            Ok(())
        }
        ClientCommand::HashSecret => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the secret from standard input")?;
            let secret = line.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                bail!("no secret on standard input");
            }
            println!("{}", secret_line(secret));
            Ok(())
        }
    }
}

/// The `sha256:<hex>` value of a client file's `secret`.
fn secret_line(secret: &str) -> String {
    format!("sha256:{}", one_time::digest(secret))
}

/// One row of `careid client list`.
fn row(client: &Client, source: &str) -> String {
    let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    format!(
        "{:<44} {:<24} {:<11} {:<20} {:<52} {}",
        client.client_id,
        client.name,
        source,
        client.token_endpoint_auth_method.as_str(),
        grants.join(","),
        if client.first_party { "yes" } else { "no" }
    )
}

async fn list(config_path: &Path) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let (files, problems) = crate::load_clients(&config.clients_dir);
    for problem in &problems {
        eprintln!("not loaded: {problem}");
    }
    let db = open_db(&config).await?;
    let registered = clients::find_all(&db).await?;
    println!(
        "{:<44} {:<24} {:<11} {:<20} {:<52} first-party",
        "client_id", "name", "source", "auth method", "grant types"
    );
    for client in &files {
        println!("{}", row(client, "file"));
    }
    for stored in &registered {
        match registered_client(stored) {
            Ok(client) => println!("{}", row(&client, "registered")),
            Err(err) => eprintln!("registered client {} is unreadable: {err}", stored.id),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_line_is_the_sha256_of_the_secret() {
        assert_eq!(
            secret_line("crm-demo-secret"),
            format!("sha256:{}", one_time::digest("crm-demo-secret"))
        );
        let parsed = careid_protocol::ClientSecret::parse(&secret_line("s3cret")).unwrap();
        assert!(parsed.matches("s3cret") && !parsed.is_plain());
    }
}
