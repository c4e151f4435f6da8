//! Test fixtures: a real SQLite database in a temporary folder, a manual clock and cheap
//! argon2 parameters.

use std::{sync::Arc, time::Duration};

use careid_policy::{HashParams, PlainPassword};
use careid_store::{
    AccountId, ClientId, Clock, ManualClock,
    accounts::{self, Account, NewAccount, Status},
    audit,
    refresh_tokens::{self, NewRefreshToken},
    sessions::Session,
};
use tempfile::TempDir;
use time::{OffsetDateTime, macros::datetime};

use crate::{Accounts, AccountsConfig, Hasher, PasswordSignIn, SignInError, service::random_id};

/// argon2id at its cheapest useful setting, so tests that hash often stay fast.
pub(crate) const CHEAP: HashParams = HashParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// A password every default rule accepts.
pub(crate) const PASSWORD: &str = "Tulip-Harbor-42";

/// Where every test clock starts.
pub(crate) const START: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

pub(crate) fn pw(text: &str) -> PlainPassword {
    PlainPassword::new(text)
}

pub(crate) struct Fixture {
    pub accounts: Accounts,
    pub clock: Arc<ManualClock>,
    _dir: TempDir,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_hasher(Hasher::new(CHEAP, 2, Duration::from_secs(10))).await
    }

    pub async fn with_hasher(hasher: Hasher) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        careid_store::migrate(&url).await.unwrap();
        let db = careid_store::connect(&url, 4).await.unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let config = AccountsConfig {
            hash: CHEAP,
            ..AccountsConfig::default()
        };
        let accounts = Accounts {
            db,
            clock: clock.clone(),
            hasher,
            config,
            secrets: Default::default(),
            totp_kek: None,
            relying_party: None,
        };
        Self {
            accounts,
            clock,
            _dir: dir,
        }
    }

    pub fn clock_now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn advance(&self, by: time::Duration) {
        self.clock.advance(by);
    }

    /// An active account made the way an administrator makes one.
    pub async fn active(&self, email: &str, password: &str) -> Account {
        self.accounts
            .create_account(email, "Ada Okafor", pw(password), pw(password))
            .await
            .unwrap()
    }

    /// A browser session of the account, signed in with no second factor.
    pub async fn session(&self, account_id: AccountId) -> Session {
        let (_, session) = self
            .accounts
            .start_session(account_id, None, vec![])
            .await
            .unwrap();
        session
    }

    /// An account inserted straight into the store, in any status.
    pub async fn with_status(
        &self,
        email: &str,
        password: Option<&str>,
        status: Status,
    ) -> Account {
        let password_hash = match password {
            Some(text) => Some(
                self.accounts
                    .hasher
                    .hash(pw(text))
                    .await
                    .unwrap()
                    .into_string(),
            ),
            None => None,
        };
        let new = NewAccount {
            email: email.into(),
            password_hash,
            status,
            invitation_state: if status == Status::Invited {
                "sent"
            } else {
                "none"
            },
            name: "Ada Okafor".into(),
            subject: random_id(),
        };
        let account = accounts::insert_account(&self.accounts.db, new, self.clock_now())
            .await
            .unwrap();
        if status == Status::Disabled || status == Status::Expired {
            accounts::update_status(&self.accounts.db, account.id, status, self.clock_now())
                .await
                .unwrap();
        }
        self.account(account.id).await
    }

    pub async fn id_of(&self, email: &str) -> AccountId {
        self.accounts.account_by_email(email).await.unwrap().id
    }

    pub async fn account(&self, id: AccountId) -> Account {
        accounts::find_by_id(&self.accounts.db, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Account, SignInError> {
        self.accounts
            .sign_in_password(
                email,
                pw(password),
                Some(&ClientId::from("crm")),
                Some("192.0.2.7".into()),
            )
            .await
            .map(PasswordSignIn::into_account)
    }

    /// The kinds of the account's audit events, oldest first.
    pub async fn events(&self, account_id: AccountId) -> Vec<String> {
        let mut kinds: Vec<String> =
            audit::find_events(&self.accounts.db, Some(account_id), None, 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|event| event.kind)
                .collect();
        kinds.reverse();
        kinds
    }

    /// Issues a refresh token to the account; returns its digest.
    pub async fn refresh_token(&self, account_id: AccountId) -> String {
        let digest = random_id();
        let new = NewRefreshToken {
            digest: digest.clone(),
            family_id: random_id(),
            client_id: "crm".into(),
            account_id,
            grant: serde_json::json!({}),
            expires_at: self.clock_now() + time::Duration::days(30),
            sid: None,
        };
        refresh_tokens::insert_token(&self.accounts.db, new, self.clock_now())
            .await
            .unwrap();
        digest
    }

    pub async fn is_revoked(&self, refresh_digest: &str) -> bool {
        refresh_tokens::find_by_digest(&self.accounts.db, refresh_digest)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    }
}
