//! `careid registration token …`: initial access tokens for dynamic client registration
//! in mode `token` (RFC 7591 §3). A token is printed once; only its digest is stored,
//! with an expiry, and it can be listed and revoked by the id `list` shows.

use super::{open_db, timestamp};
use std::path::Path;

use anyhow::{Context, bail};
use careid_policy::one_time;
use careid_protocol::RegistrationMode;
use careid_store::{Clock, SystemClock, registration_tokens};
use clap::Subcommand;
use time::{Duration, OffsetDateTime};

use crate::Config;

/// `careid registration …`.
#[derive(Debug, Subcommand)]
pub enum RegistrationCommand {
    /// Initial access tokens for `[registration] mode = "token"`.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `careid registration token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token, print it once and store its digest.
    Issue {
        /// How long it works: a number and d (days), h (hours) or m (minutes).
        #[arg(long, default_value = "30d", value_parser = parse_lifetime)]
        expires: Duration,
    },
    /// List the tokens: id, made, expires, state.
    List,
    /// Stop a token working now.
    Revoke {
        /// The id `careid registration token list` shows.
        id: String,
    },
}

/// The longest lifetime `issue` accepts: a token is a standing invitation to register.
const MAX_LIFETIME: Duration = Duration::days(366);

/// Reads `30d`, `12h` or `90m`.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?}: use a number and d, h or m, such as 30d");
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let count: i64 = digits.parse().map_err(|_| bad())?;
    let lifetime = match unit {
        "d" => Duration::days(count),
        "h" => Duration::hours(count),
        "m" => Duration::minutes(count),
        _ => return Err(bad()),
    };
    if lifetime <= Duration::ZERO || lifetime > MAX_LIFETIME {
        return Err(format!("{text:?}: a token lives from 1m to 366d"));
    }
    Ok(lifetime)
}

/// Runs a `registration` subcommand.
pub async fn run(config_path: &Path, command: RegistrationCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let now = SystemClock.now();
    let RegistrationCommand::Token(command) = command;
    match command {
        TokenCommand::Issue { expires } => {
            let (token, expires_at) = issue(&config, expires, now).await?;
            println!(
                "initial access token (shown only now; send it as `Authorization: Bearer …` to /register):"
            );
            println!("  {token}");
            println!("it works until {}", timestamp(expires_at));
            if config.registration.mode != RegistrationMode::Token {
                println!(
                    "note: [registration] mode is not \"token\", so this token is not needed yet"
                );
            }
        }
        TokenCommand::List => {
            println!("{:<14} {:<21} {:<21} state", "id", "made", "expires");
            for row in list(&config, now).await? {
                println!("{row}");
            }
        }
        TokenCommand::Revoke { id } => {
            revoke(&config, &id, now).await?;
            println!("{id} is revoked");
        }
    }
    Ok(())
}

/// Makes a token that works for `lifetime` from `now`: the token (to print once) and
/// when it expires.
pub async fn issue(
    config: &Config,
    lifetime: Duration,
    now: OffsetDateTime,
) -> anyhow::Result<(String, OffsetDateTime)> {
    let db = open_db(config).await?;
    let token = one_time::new_token();
    let expires_at = now + lifetime;
    registration_tokens::insert_token(&db, &one_time::digest(&token), now, expires_at).await?;
    Ok((token, expires_at))
}

/// One line per token, newest first, then one per configured digest.
pub async fn list(config: &Config, now: OffsetDateTime) -> anyhow::Result<Vec<String>> {
    let db = open_db(config).await?;
    let mut rows: Vec<String> = registration_tokens::find_all(&db)
        .await?
        .iter()
        .map(|token| {
            let state = match (token.revoked_at, token.is_usable(now)) {
                (Some(at), _) => format!("revoked {}", timestamp(at)),
                (None, true) => "active".to_owned(),
                (None, false) => "expired".to_owned(),
            };
            format!(
                "{:<14} {:<21} {:<21} {state}",
                token.id(),
                timestamp(token.created_at),
                timestamp(token.expiry())
            )
        })
        .collect();
    let configured = config
        .registration
        .token_digests()
        .map_err(|err| anyhow::anyhow!("[registration] initial_access_tokens: {err}"))?;
    for digest in configured {
        rows.push(format!(
            "{:<14} {:<21} {:<21} active (careid.toml; remove it there to revoke)",
            &digest[..registration_tokens::ID_LEN],
            "-",
            "never"
        ));
    }
    Ok(rows)
}

/// Revokes the one stored token whose id (a prefix of its digest) is `id`.
pub async fn revoke(config: &Config, id: &str, now: OffsetDateTime) -> anyhow::Result<()> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < 6 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{id:?}: give the id `careid registration token list` shows");
    }
    let db = open_db(config).await?;
    let found = registration_tokens::find_by_id_prefix(&db, &id).await?;
    let token = match found.as_slice() {
        [one] => one,
        [] => bail!("no stored token has the id {id}"),
        _ => bail!("{id} names {} tokens: give more of it", found.len()),
    };
    if !registration_tokens::update_revoked(&db, &token.digest, now)
        .await
        .context("revoking the token")?
    {
        bail!("{id} was already revoked");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_days_hours_or_minutes_within_a_year() {
        assert_eq!(parse_lifetime("30d"), Ok(Duration::days(30)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_lifetime("1m"), Ok(Duration::minutes(1)));
        assert_eq!(parse_lifetime("366d"), Ok(Duration::days(366)));
        for bad in ["367d", "0d", "-1d", "30", "d", "", "30w", "3.5d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
