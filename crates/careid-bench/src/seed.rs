//! `careid seed`: many active accounts with one known password, for load tests and for
//! checking that costs stay flat from a thousand accounts to millions. The password is
//! hashed once and its PHC string reused; the rows go in through
//! `careid_store::seed` in large transactions.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::{HashParams, PasswordRules, PlainPassword, hash_password, password};
use careid_store::{
    TransactionTrait,
    accounts::normalise_email,
    seed::{SeedAccount, insert_active_accounts},
};
use rand::RngCore;
use sea_orm::TransactionSession;
use serde::Serialize;
use time::OffsetDateTime;

use crate::BenchError;

/// The domain of every seeded email.
pub const EMAIL_DOMAIN: &str = "careid.local";

/// Accounts per transaction: large enough that commits cost nothing next to the rows,
/// small enough that a running server's writes wait well under a second on SQLite.
const ACCOUNTS_PER_TRANSACTION: usize = 10_000;

/// The email of seeded account `n` (from 1): `<prefix><n>@careid.local`.
pub fn account_email(prefix: &str, n: u64) -> String {
    normalise_email(&format!("{prefix}{n}@{EMAIL_DOMAIN}"))
}

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// How many accounts: `<prefix>1@…` to `<prefix><accounts>@…`.
    pub accounts: u64,
    /// The start of every email.
    pub prefix: String,
    /// Every account's password; it must pass `rules`.
    pub password: PlainPassword,
    /// The configured password rules.
    pub rules: PasswordRules,
    /// The configured argon2id parameters, so sign-ins need no rehash.
    pub hash: HashParams,
}

/// What seeding did.
#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    /// Accounts asked for.
    pub requested: u64,
    /// Accounts created now.
    pub created: u64,
    /// Accounts whose email existed already, left as they were.
    pub existing: u64,
    /// Wall time, seconds (the one hash included).
    pub seconds: f64,
}

/// Creates the accounts `options` names that do not exist yet, each exactly as
/// `careid user add` would (account, self profile, password history, audit event), all
/// with one argon2id hash of the password. `now` stamps every row.
pub async fn seed(
    db: &impl TransactionTrait,
    options: &SeedOptions,
    now: OffsetDateTime,
) -> Result<SeedReport, BenchError> {
    let started = Instant::now();
    check_password(options)?;
    let (password, params) = (options.password.clone(), options.hash);
    let phc = tokio::task::spawn_blocking(move || hash_password(&password, &params))
        .await
        .map_err(|err| BenchError::Worker(err.to_string()))??
        .into_string();
    let mut created = 0;
    let mut next = 1;
    while next <= options.accounts {
        let last = (next + ACCOUNTS_PER_TRANSACTION as u64 - 1).min(options.accounts);
        let batch: Vec<SeedAccount> = (next..=last)
            .map(|n| SeedAccount {
                email: account_email(&options.prefix, n),
                name: format!("Bench User {n}"),
                subject: random_subject(),
            })
            .collect();
        let txn = db.begin().await.map_err(careid_store::StoreError::from)?;
        created += insert_active_accounts(&txn, &batch, &phc, now).await?;
        txn.commit().await.map_err(careid_store::StoreError::from)?;
        next = last + 1;
    }
    Ok(SeedReport {
        requested: options.accounts,
        created,
        existing: options.accounts - created,
        seconds: round_millis(started.elapsed()),
    })
}

/// The password must pass the configured rules for every seeded email, as it would
/// have to through `careid user add`. Only the email rule depends on the email, so the
/// other rules are checked once.
fn check_password(options: &SeedOptions) -> Result<(), BenchError> {
    let mut rules = options.rules.clone();
    for n in 1..=options.accounts.max(1) {
        let email = account_email(&options.prefix, n);
        let violations = password::check(&rules, &options.password, &options.password, &email);
        if !violations.is_empty() {
            return Err(BenchError::PasswordRejected(violations));
        }
        if !rules.forbid_email_name {
            break;
        }
        rules.forbid_common = false;
        rules.min_length = 0;
        rules.require_digit = false;
        rules.require_uppercase = false;
        rules.require_symbol = false;
    }
    Ok(())
}

/// A new OIDC subject: 128 random bits, base64url, as careid makes them.
fn random_subject() -> String {
    let mut bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn round_millis(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use careid_policy::Violation;

    use super::*;

    fn options(password: &str, accounts: u64) -> SeedOptions {
        SeedOptions {
            accounts,
            prefix: "bench-".into(),
            password: PlainPassword::new(password),
            rules: PasswordRules::default(),
            hash: HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
        }
    }

    #[test]
    fn seeded_emails_are_numbered_from_one_and_normalised() {
        assert_eq!(account_email("Bench-", 1), "bench-1@careid.local");
        assert_eq!(account_email("load.", 120), "load.120@careid.local");
    }

    #[test]
    fn the_default_password_passes_the_default_rules() {
        check_password(&options(crate::DEFAULT_PASSWORD, 1000)).unwrap();
    }

    #[test]
    fn a_password_that_breaks_a_rule_is_refused_before_anything_is_written() {
        let Err(BenchError::PasswordRejected(violations)) = check_password(&options("short", 10))
        else {
            panic!("a short password passed");
        };
        assert!(violations.contains(&Violation::TooShort { min: 10 }));
    }

    #[test]
    fn a_password_holding_one_seeded_email_name_is_refused() {
        // Fine for bench-1 and bench-2, not for bench-3.
        let result = check_password(&options("Xy!-bench-3Q7", 3));
        assert!(
            matches!(&result, Err(BenchError::PasswordRejected(v)) if v == &[Violation::ContainsEmailName]),
            "{result:?}"
        );
        check_password(&options("Xy!-bench-3Q7", 2)).unwrap();
    }

    #[test]
    fn subjects_are_128_random_bits() {
        let subject = random_subject();
        assert_eq!(URL_SAFE_NO_PAD.decode(&subject).unwrap().len(), 16);
        assert_ne!(subject, random_subject());
    }
}
