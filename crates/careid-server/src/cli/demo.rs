//! `careid demo`: serves the demo relying parties (`careid-demo`) — the CRM, the EMR and
//! the client portal — each on the address of the redirect URI in its client file
//! (`config/clients/{crm,emr,client-portal}.toml`: 127.0.0.1:8081, 8082 and 8083).
//! `careid serve` starts them as well when the configuration says `demo = true`.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use careid_demo::{Demo, DemoRp};
use tokio::{net::TcpListener, sync::watch};
use url::Url;

/// The demo clients, by client id, and whether each offers the profile switch.
const DEMO_CLIENTS: [(&str, bool); 3] = [("crm", false), ("emr", false), ("client-portal", true)];

/// Serves the three demos until Ctrl-C.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = start(&config, stop_rx, true).await?;
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    for handle in handles {
        let _ = handle.await;
    }
    Ok(())
}

/// Binds and spawns every demo of the configured clients folder; they stop when `stop`
/// changes. With `strict`, a demo that cannot start is an error; without (under `serve`),
/// a warning, so that a busy port never keeps careid itself from starting.
pub async fn start(
    config: &crate::Config,
    stop: watch::Receiver<bool>,
    strict: bool,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for (client_id, offers_profile_switch) in DEMO_CLIENTS {
        let file = config.clients_dir.join(format!("{client_id}.toml"));
        let started = async {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let rp = demo_rp(&config.issuer, &text, offers_profile_switch)
                .map_err(|err| anyhow!("{}: {err}", file.display()))?;
            let addr = listen_address(&rp.redirect_uri)?;
            let listener = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("demo {client_id}: cannot listen on {addr}"))?;
            let home = rp.post_logout_redirect_uri.clone();
            let name = rp.name.clone();
            let mut stop = stop.clone();
            let handle = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                };
                if let Err(err) = careid_demo::serve(Demo::new(rp), listener, shutdown).await {
                    tracing::error!(%err, "demo stopped");
                }
            });
            tracing::info!(%home, "demo {name} is serving");
            println!("  Demo {name}: {home}");
            anyhow::Ok(handle)
        };
        match started.await {
            Ok(handle) => handles.push(handle),
            Err(err) if !strict => tracing::warn!("demo {client_id} not started: {err:#}"),
            Err(err) => return Err(err),
        }
    }
    Ok(handles)
}

/// A demo RP from its client file: id, name, redirect and post-logout URIs, and the
/// plain-text demo secret (a demo file may hold one; a `sha256:` digest cannot be used by
/// a client, and `env:VAR` is read from the environment).
pub fn demo_rp(issuer: &str, text: &str, offers_profile_switch: bool) -> Result<DemoRp, String> {
    let file: toml::Table = toml::from_str(text).map_err(|err| err.to_string())?;
    let string = |key: &str| file.get(key).and_then(toml::Value::as_str);
    let first = |key: &str| {
        file.get(key)
            .and_then(toml::Value::as_array)
            .and_then(|list| list.first())
            .and_then(toml::Value::as_str)
            .ok_or_else(|| format!("{key}: a demo needs at least one"))
    };
    let client_id = string("client_id").ok_or("client_id is missing")?;
    let secret = match string("secret") {
        None => None,
        Some(digest) if digest.starts_with("sha256:") => {
            return Err("secret: a demo needs the secret itself, not its sha256 digest".into());
        }
        Some(var) if var.starts_with("env:") => Some(
            std::env::var(&var["env:".len()..])
                .map_err(|_| format!("secret: the environment has no {}", &var["env:".len()..]))?,
        ),
        Some(plain) => Some(plain.to_owned()),
    };
    let redirect_uri =
        Url::parse(first("redirect_uris")?).map_err(|e| format!("redirect_uris: {e}"))?;
    let post_logout_redirect_uri = Url::parse(first("post_logout_redirect_uris")?)
        .map_err(|e| format!("post_logout_redirect_uris: {e}"))?;
    Ok(DemoRp {
        name: string("name").unwrap_or(client_id).to_owned(),
        client_id: client_id.to_owned(),
        secret,
        issuer: issuer.to_owned(),
        redirect_uri,
        post_logout_redirect_uri,
        offers_profile_switch,
    })
}

/// `host:port` of a redirect URI: where its demo listens.
fn listen_address(redirect_uri: &Url) -> anyhow::Result<String> {
    let (Some(host), Some(port)) = (
        redirect_uri.host_str(),
        redirect_uri.port_or_known_default(),
    ) else {
        bail!("{redirect_uri}: no host and port to listen on");
    };
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_demo_clients_make_demos_on_their_own_ports() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/clients");
        for (client_id, port) in [("crm", 8081), ("emr", 8082), ("client-portal", 8083)] {
            let text = std::fs::read_to_string(dir.join(format!("{client_id}.toml"))).unwrap();
            let rp = demo_rp("http://127.0.0.1:8080", &text, false).unwrap();
            assert_eq!(rp.client_id, client_id);
            assert_eq!(
                listen_address(&rp.redirect_uri).unwrap(),
                format!("127.0.0.1:{port}")
            );
        }
    }

    #[test]
    fn a_digest_secret_cannot_run_a_demo() {
        let text = "client_id = \"x\"\nname = \"X\"\nsecret = \"sha256:00\"\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\npost_logout_redirect_uris = [\"http://127.0.0.1:9/\"]\n";
        assert!(
            demo_rp("http://i", text, false)
                .unwrap_err()
                .contains("sha256")
        );
    }
}
