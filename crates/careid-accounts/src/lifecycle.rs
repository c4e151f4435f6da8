//! The account lifecycle by email: the [`Lifecycle`] service that invitations
//! (`invitation.rs`) and password resets (`reset.rs`) share, its `[lifecycle]`
//! configuration, the one-time tokens it mints and the mail it sends.
//!
//! Every token and code is stored as a SHA-256 digest only (`careid_policy::one_time`),
//! expires, and is used up by one conditional UPDATE (`one_time_tokens::take_token`).
//! Setting the password itself is [`Accounts::set_password`]; which client's name and
//! theme a message carries is decided by the caller, as a [`Branding`], because clients
//! are `careid-protocol`'s.

use std::sync::Arc;

use careid_mail::{Delivered, Email, Mailer, Renderer};
use careid_policy::{OneTimeRules, PlainPassword, one_time};
use careid_store::Tx;
use careid_store::{
    AccountId, ClientId, StoreError,
    accounts::{self, Account},
    audit,
    one_time_tokens::{self, NewToken, OneTimeToken},
    profiles,
};
use serde::Deserialize;
use serde_json::json;
use time::Duration;

use crate::{
    Accounts, AccountsError, LinkProblem,
    service::{commit, event},
};

/// Token purposes, as stored.
pub(crate) const INVITATION: &str = "invitation";
pub(crate) const RESET_LINK: &str = "reset_link";
pub(crate) const RESET_CODE: &str = "reset_code";
pub(crate) const ADMIN_RESET: &str = "admin_reset";
pub(crate) const MAGIC_LINK: &str = "magic_link";

/// How often a new 6-digit code is drawn when its digest collides with a stored one.
pub(crate) const CODE_DRAWS: usize = 5;

/// Invitation states of an invitation the person has not opened yet.
pub(crate) const UNOPENED_INVITATION: [&str; 3] = ["not_sent", "sent", "written_to_outbox"];

/// Invitation states in which the invitation is still waiting for the person.
pub(crate) const PENDING_INVITATION: [&str; 4] = [
    UNOPENED_INVITATION[0],
    UNOPENED_INVITATION[1],
    UNOPENED_INVITATION[2],
    "opened",
];

/// Every invitation state an account can be in: `none` for an account created with a
/// password, the pending ones, and `accepted`.
pub const INVITATION_STATES: [&str; 6] = [
    "none",
    PENDING_INVITATION[0],
    PENDING_INVITATION[1],
    PENDING_INVITATION[2],
    PENDING_INVITATION[3],
    "accepted",
];

/// `[lifecycle]`: how long invitation and reset links and codes live. Every field left
/// out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Days an invitation (activation) link works. Default 7.
    pub invitation_days: u32,
    /// Minutes a self-service reset link works. Default 60.
    pub reset_link_minutes: u32,
    /// Minutes a reset security code works. Default 15.
    pub reset_code_minutes: u32,
    /// Wrong guesses a reset code survives. Default 5.
    pub code_attempts: u32,
    /// The longest an administrator's reset link may live, in days. Default 7.
    pub admin_reset_max_days: u32,
    /// Resets one account may be sent within an hour; more requests are answered alike
    /// but send nothing and void nothing (no mail-bombing, no minting of fresh codes to
    /// guess at). Default 3.
    pub reset_requests_per_hour: u32,
    /// "Forgot password?" requests one client address may make within an hour, for any
    /// emails; past it the address gets 429. Default 20.
    pub reset_requests_per_address_per_hour: u32,
    /// Minutes a staff-issued sign-in PIN works when staff give no `--expires`.
    /// Default 15.
    pub pin_minutes: u32,
    /// The longest staff may make a PIN work, in minutes. Default 1440 (a day).
    pub pin_max_minutes: u32,
    /// Hours an emailed sign-in link (magic link) works. Default 24.
    pub magic_link_hours: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            invitation_days: 7,
            reset_link_minutes: 60,
            reset_code_minutes: 15,
            code_attempts: 5,
            admin_reset_max_days: 7,
            reset_requests_per_hour: 3,
            reset_requests_per_address_per_hour: 20,
            pin_minutes: 15,
            pin_max_minutes: 24 * 60,
            magic_link_hours: 24,
        }
    }
}

impl LifecycleConfig {
    /// How long an invitation link works.
    pub fn invitation(&self) -> Duration {
        Duration::days(i64::from(self.invitation_days))
    }

    /// How long a reset link works.
    pub fn reset_link(&self) -> Duration {
        Duration::minutes(i64::from(self.reset_link_minutes))
    }

    /// How long a reset code works.
    pub fn reset_code(&self) -> Duration {
        Duration::minutes(i64::from(self.reset_code_minutes))
    }

    /// How long an emailed sign-in link works.
    pub fn magic_link(&self) -> Duration {
        Duration::hours(i64::from(self.magic_link_hours))
    }

    /// The longest an administrator's reset link may live.
    pub fn admin_reset_max(&self) -> Duration {
        Duration::days(i64::from(self.admin_reset_max_days))
    }

    /// How long a PIN works unless staff say otherwise.
    pub fn pin(&self) -> Duration {
        Duration::minutes(i64::from(self.pin_minutes))
    }

    /// The longest a PIN may work.
    pub fn pin_max(&self) -> Duration {
        Duration::minutes(i64::from(self.pin_max_minutes))
    }

    /// The attempt limit as the policy takes it.
    pub fn one_time_rules(&self) -> OneTimeRules {
        OneTimeRules {
            code_attempts: self.code_attempts,
        }
    }
}

/// Whose name and look a message carries: the client the person came from, or careid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// The product name in the message ("CarePortals CRM").
    pub product: String,
    /// The theme folder of the message templates.
    pub theme: String,
    /// The client wants the reset email to carry the code directly (`reset_mode =
    /// "code_only"`), with no link step.
    pub is_code_only: bool,
    /// The client's people sign in without a password (its `sign_in_methods` leave out
    /// `password`): an invitation is then a welcome link that signs in, like a magic link.
    pub signs_in_by_link: bool,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product: "careid".to_owned(),
            theme: careid_mail::DEFAULT_THEME.to_owned(),
            is_code_only: false,
            signs_in_by_link: false,
        }
    }
}

/// Invitations and password resets by email. `careid-server` builds one beside
/// [`Accounts`] and shares it as `Arc<_>`.
pub struct Lifecycle {
    /// The account service: password rules, hashing, audit.
    pub accounts: Arc<Accounts>,
    /// Sends the messages.
    pub mailer: Mailer,
    /// Renders the messages from the themes.
    pub renderer: Renderer,
    /// The issuer URL without a trailing slash; links in mail start with it.
    pub issuer: String,
    /// Link and code lifetimes.
    pub config: LifecycleConfig,
}

impl Lifecycle {
    /// The service over `accounts`, sending with `mailer`, rendering with `renderer`.
    pub fn new(
        accounts: Arc<Accounts>,
        mailer: Mailer,
        renderer: Renderer,
        issuer: &str,
        config: LifecycleConfig,
    ) -> Self {
        Self {
            accounts,
            mailer,
            renderer,
            issuer: issuer.trim_end_matches('/').to_owned(),
            config,
        }
    }

    /// An absolute link to `path` carrying `token`.
    pub(crate) fn link(&self, path: &str, token: &str) -> String {
        // A token is base64url, which needs no escaping in a query.
        format!("{}{path}?token={token}", self.issuer)
    }

    /// Mints a link token for the account and stores its digest; the account's older
    /// unused tokens of the same purpose stop working, in the same transaction.
    pub(crate) async fn issue_link(
        &self,
        account_id: AccountId,
        purpose: &'static str,
        client_id: Option<&ClientId>,
        lifetime: Duration,
    ) -> Result<String, AccountsError> {
        let txn = self.accounts.begin().await?;
        let token = self
            .insert_link(&txn, account_id, purpose, client_id, lifetime)
            .await?;
        commit(txn).await?;
        Ok(token)
    }

    /// [`Self::issue_link`] in the caller's transaction.
    pub(crate) async fn insert_link(
        &self,
        txn: &Tx,
        account_id: AccountId,
        purpose: &'static str,
        client_id: Option<&ClientId>,
        lifetime: Duration,
    ) -> Result<String, AccountsError> {
        let token = one_time::new_token();
        let now = self.accounts.clock.now();
        let new = NewToken {
            digest: one_time::digest(&token),
            account_id,
            purpose,
            client_id: client_id.cloned(),
            binding_digest: None,
            expires_at: now + lifetime,
        };
        one_time_tokens::insert_token(txn, new, true, now).await?;
        Ok(token)
    }

    /// Mints a 6-digit reset code for the account in the caller's transaction,
    /// superseding its older codes, bound to the browser whose secret digests to
    /// `binding_digest` (if any).
    pub(crate) async fn insert_code(
        &self,
        txn: &Tx,
        account_id: AccountId,
        client_id: Option<&ClientId>,
        binding_digest: Option<String>,
    ) -> Result<String, AccountsError> {
        let now = self.accounts.clock.now();
        for _ in 0..CODE_DRAWS {
            let code = one_time::new_code();
            let digest = code_digest(account_id, &code);
            // Digests are unique and an old code of this account may share this one. It
            // is looked for rather than caught as a failed insert, because on PostgreSQL
            // a failed statement aborts the whole transaction. The caller's transaction
            // holds the account (SQLite's write lock, or its row), so nobody inserts this
            // account's codes in between.
            if one_time_tokens::find_by_digest(txn, &digest, RESET_CODE)
                .await?
                .is_some()
            {
                continue;
            }
            let new = NewToken {
                digest,
                account_id,
                purpose: RESET_CODE,
                client_id: client_id.cloned(),
                binding_digest,
                expires_at: now + self.config.reset_code(),
            };
            one_time_tokens::insert_token(txn, new, true, now).await?;
            return Ok(code);
        }
        Err(AccountsError::Store(StoreError::Duplicate))
    }

    /// The stored token for a link `token` of `purpose`, if it can still be used.
    pub(crate) async fn usable_link(
        &self,
        token: &str,
        purpose: &str,
    ) -> Result<OneTimeToken, AccountsError> {
        let found =
            one_time_tokens::find_by_digest(&self.accounts.db, &one_time::digest(token), purpose)
                .await?;
        check_link(found, self.accounts.clock.now())
    }

    /// Sets the account's password from a link or code and uses `token` up, in one
    /// transaction with everything that goes with it: the history, the sessions ended,
    /// the audit (`reset_via` names the reset path, if this is a reset) and an invitation
    /// accepted. A crash or a failure anywhere leaves the token usable and the account as
    /// it was, never a used token without its password. A password the rules refuse is
    /// refused before anything is written, so the token stays usable.
    pub(crate) async fn set_with_token(
        &self,
        token: &OneTimeToken,
        new: PlainPassword,
        confirmation: PlainPassword,
        reset_via: Option<&'static str>,
    ) -> Result<(), AccountsError> {
        let account = self.account(token.account_id).await?;
        // argon2 runs before the transaction: it must not hold the write lock.
        let hash = self
            .accounts
            .acceptable_hash(&account, new, confirmation)
            .await?;
        let now = self.accounts.clock.now();
        let txn = self.accounts.begin().await?;
        if !one_time_tokens::take_token(&txn, token.id, now).await? {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        self.accounts
            .write_set_password(&txn, account.id, &hash, now)
            .await?;
        if let Some(via) = reset_via {
            let reset = audit::NewEvent {
                detail: json!({ "via": via }),
                ..event("password_reset", account.id)
            };
            audit::insert_event(&txn, reset, now).await?;
        }
        // A password set through any link or code accepts a pending invitation (the
        // reset flow completes an activation too).
        if accounts::update_invitation_state_from(
            &txn,
            account.id,
            &PENDING_INVITATION,
            "accepted",
            now,
        )
        .await?
        {
            audit::insert_event(&txn, event("invitation_accepted", account.id), now).await?;
            crate::invitation::void_invitation_links(&txn, account.id, now).await?;
        }
        commit(txn).await
    }

    /// Renders message `name` for the account in `branding` and sends it.
    pub(crate) async fn mail(
        &self,
        account: &Account,
        branding: &Branding,
        name: &str,
        link: &str,
        code: &str,
        lifetime: Duration,
    ) -> Result<Delivered, AccountsError> {
        let ctx = json!({
            "link": link,
            "code": code,
            "expires_in": expires_in(lifetime),
        });
        self.render_and_send(account, branding, name, ctx).await
    }

    /// Renders message `name` for the account in `branding` with `ctx` (an object, to
    /// which the product and the person's name are added) and sends it.
    pub(crate) async fn render_and_send(
        &self,
        account: &Account,
        branding: &Branding,
        name: &str,
        mut ctx: serde_json::Value,
    ) -> Result<Delivered, AccountsError> {
        let person = profiles::find_for_account(&self.accounts.db, account.id)
            .await?
            .into_iter()
            .find(|p| p.kind == "self")
            .map(|p| p.name)
            .unwrap_or_default();
        if let Some(fields) = ctx.as_object_mut() {
            fields.insert("product".into(), json!(branding.product));
            fields.insert("name".into(), json!(person));
        }
        let content = self.renderer.render(&branding.theme, name, ctx)?;
        Ok(self
            .mailer
            .deliver(&Email::new(account.email.clone(), content))
            .await?)
    }

    /// The account with this email, or `UnknownAccount`.
    pub(crate) async fn account_by_email(&self, email: &str) -> Result<Account, AccountsError> {
        accounts::find_by_email(&self.accounts.db, email)
            .await?
            .ok_or(AccountsError::UnknownAccount)
    }

    /// The account with this id, or `UnknownAccount`.
    pub(crate) async fn account(&self, id: AccountId) -> Result<Account, AccountsError> {
        self.accounts.find_account(id).await
    }
}

/// Whether a found link token can be used at `now`, and why not.
fn check_link(
    found: Option<OneTimeToken>,
    now: time::OffsetDateTime,
) -> Result<OneTimeToken, AccountsError> {
    let Some(token) = found else {
        return Err(AccountsError::LinkNotUsable(LinkProblem::Unknown));
    };
    if token.used_at.is_some() {
        return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
    }
    if !one_time::is_usable(token.expires_at, token.used_at, now) {
        return Err(AccountsError::LinkNotUsable(LinkProblem::Expired));
    }
    Ok(token)
}

/// The stored digest of a 6-digit code: salted with the account, so two accounts'
/// equal codes have different digests.
pub(crate) fn code_digest(account_id: AccountId, code: &str) -> String {
    one_time::digest(&format!("{account_id}:{code}"))
}

/// A lifetime as a message says it: "7 days", "1 hour", "15 minutes".
pub fn expires_in(lifetime: Duration) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let minutes = lifetime.whole_minutes();
    if minutes >= 60 * 24 && minutes % (60 * 24) == 0 {
        plural(minutes / (60 * 24), "day")
    } else if minutes >= 60 && minutes % 60 == 0 {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

/// Parses an administrator's lifetime: a whole number and a unit, `m` (minutes), `h`
/// (hours) or `d` (days), e.g. `48h`. `None` for anything else, zero included.
pub fn parse_lifetime(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    if number <= 0 || number > 100_000 {
        return None;
    }
    match unit {
        'm' => Some(Duration::minutes(number)),
        'h' => Some(Duration::hours(number)),
        'd' => Some(Duration::days(number)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_written_in_their_largest_whole_unit() {
        assert_eq!(expires_in(Duration::days(7)), "7 days");
        assert_eq!(expires_in(Duration::hours(1)), "1 hour");
        assert_eq!(expires_in(Duration::hours(48)), "2 days");
        assert_eq!(expires_in(Duration::hours(36)), "36 hours");
        assert_eq!(expires_in(Duration::minutes(15)), "15 minutes");
        assert_eq!(expires_in(Duration::minutes(1)), "1 minute");
    }

    #[test]
    fn an_administrators_lifetime_takes_minutes_hours_or_days() {
        assert_eq!(parse_lifetime("48h"), Some(Duration::hours(48)));
        assert_eq!(parse_lifetime("7d"), Some(Duration::days(7)));
        assert_eq!(parse_lifetime(" 30m "), Some(Duration::minutes(30)));
        for bad in [
            "",
            "h",
            "0h",
            "-1h",
            "48",
            "48x",
            "4.5h",
            "1é",
            "999999999999d",
        ] {
            assert_eq!(parse_lifetime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_defaults_are_a_week_an_hour_and_a_quarter_hour() {
        let config: LifecycleConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.invitation(), Duration::days(7));
        assert_eq!(config.reset_link(), Duration::hours(1));
        assert_eq!(config.reset_code(), Duration::minutes(15));
        assert_eq!(config.one_time_rules().code_attempts, 5);
        assert_eq!(config.admin_reset_max(), Duration::days(7));
        assert_eq!(config.magic_link(), Duration::hours(24));
    }

    #[test]
    fn equal_codes_of_two_accounts_have_different_digests() {
        assert_ne!(
            code_digest(AccountId::new(1), "123456"),
            code_digest(AccountId::new(2), "123456")
        );
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use careid_mail::MailConfig;

    use super::*;
    use crate::{Hasher, testing::Fixture};

    /// A lifecycle over the fixture's database and clock, mailing through `mail`.
    pub(crate) fn lifecycle(fx: &Fixture, mail: &MailConfig) -> Arc<Lifecycle> {
        let accounts = Accounts {
            db: fx.accounts.db.clone(),
            clock: fx.clock.clone(),
            hasher: Hasher::new(crate::testing::CHEAP, 2, std::time::Duration::from_secs(10)),
            config: fx.accounts.config.clone(),
            secrets: Default::default(),
            totp_kek: None,
            relying_party: None,
        };
        let themes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
        Arc::new(Lifecycle::new(
            Arc::new(accounts),
            Mailer::new(mail).unwrap(),
            Renderer::new(themes),
            "https://id.clinic.example/",
            LifecycleConfig::default(),
        ))
    }
}
