//! `careid keys …`: the signing keys in the database. Listing needs no key-encryption
//! key; rotating needs it when the stored keys are sealed. What rotation and
//! retirement mean (publish delay, keeping a key until its tokens expire) is
//! `careid_protocol::Keys`'s.

use super::{open_db, timestamp};
use std::path::Path;

use anyhow::bail;
use careid_protocol::{KeyInfo, Keys, SigningAlg};
use careid_store::{Clock, SystemClock};
use clap::Subcommand;
use time::OffsetDateTime;

use crate::Config;

/// `careid keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List every signing key: kid, algorithm, generation, created, signs from, retired.
    List,
    /// Add a new generation of each algorithm's key (or of `--alg` only): published in
    /// the JWKS at once, signing after `[keys] publish_delay_minutes`.
    Rotate {
        /// One algorithm only (RS256, ES256, PS256 or EdDSA).
        #[arg(long)]
        alg: Option<String>,
    },
    /// Stop a key signing now and drop it from the JWKS once the tokens it signed have
    /// expired. The only key of an algorithm that signs cannot be retired.
    Retire {
        /// The key id, as `careid keys list` shows it.
        kid: String,
    },
    /// Print a fresh key-encryption key for `CAREID_KEK` or `key_encryption_key_file`.
    NewKek,
}

/// Runs a `keys` subcommand.
pub async fn run(config_path: &Path, command: KeysCommand) -> anyhow::Result<()> {
    if let KeysCommand::NewKek = command {
        println!("{}", careid_protocol::Kek::generate());
        return Ok(());
    }
    let config = super::load(config_path)?;
    let now = SystemClock.now();
    match command {
        KeysCommand::List => {
            let db = open_db(&config).await?;
            println!(
                "{:<18} {:<6} {:>3}  {:<20} {:<20} {:<20} at rest",
                "kid", "alg", "gen", "created", "signs from", "retired"
            );
            for key in Keys::list(&db).await? {
                println!("{}", row(&key, now));
            }
        }
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                None => SigningAlg::ALL.to_vec(),
                Some(name) => match SigningAlg::parse(&name) {
                    Some(alg) => vec![alg],
                    None => bail!("--alg {name}: careid signs with RS256, ES256, PS256 or EdDSA"),
                },
            };
            for key in rotate(&config, &algs, now).await? {
                println!(
                    "added {} generation {} ({}): published now, signs from {}",
                    key.alg,
                    key.generation,
                    key.kid,
                    timestamp(key.active_from)
                );
            }
        }
        KeysCommand::Retire { kid } => {
            let until = retire(&config, &kid, now).await?;
            println!(
                "{kid} signs no more; it stays in the JWKS until {}",
                timestamp(until)
            );
        }
        KeysCommand::NewKek => {}
    }
    Ok(())
}

/// `careid keys rotate` at `now`: adds a generation of each of `algs`, sealed with the
/// configured key-encryption key.
pub async fn rotate(
    config: &Config,
    algs: &[SigningAlg],
    now: OffsetDateTime,
) -> anyhow::Result<Vec<KeyInfo>> {
    let kek = config.keys.kek()?;
    let db = open_db(config).await?;
    Ok(Keys::rotate(&db, algs, kek.as_ref(), now, config.keys.publish_delay()).await?)
}

/// `careid keys retire KID` at `now`: returns when the key leaves the JWKS.
pub async fn retire(
    config: &Config,
    kid: &str,
    now: OffsetDateTime,
) -> anyhow::Result<OffsetDateTime> {
    let db = open_db(config).await?;
    Ok(Keys::retire(&db, kid, now, config.tokens.signed_token_lifetime()).await?)
}

/// One row of `careid keys list`.
fn row(key: &KeyInfo, now: OffsetDateTime) -> String {
    let retired = match key.retired_at {
        None => "-".to_owned(),
        Some(at) if at > now => format!("{} (published until)", timestamp(at)),
        Some(at) => timestamp(at),
    };
    format!(
        "{:<18} {:<6} {:>3}  {:<20} {:<20} {:<20} {}",
        key.kid,
        key.alg,
        key.generation,
        timestamp(key.created_at),
        timestamp(key.active_from),
        retired,
        if key.is_sealed {
            "encrypted"
        } else {
            "plain PEM"
        }
    )
}
