//! Reading accounts as an administrator sees them: one account's standing (status,
//! invitation, last sign-in, lock), filtered listings, and an account's audit trail,
//! both paginated by keyset so that records added meanwhile never repeat or skip one.
//! The admin API and the CLI show them; neither reads the store itself.

use careid_store::{
    AccountId, ClientId,
    accounts::{self, Account, AccountFilter},
    audit::{self, AuditEvent},
};
use time::OffsetDateTime;

use crate::{Accounts, AccountsError};

/// The most records one page holds.
pub const MAX_PAGE: u64 = 200;

/// One account as an administrator sees it.
#[derive(Debug, Clone)]
pub struct AccountState {
    /// The account row (status, invitation state, counters).
    pub account: Account,
    /// When the person last signed in interactively, if ever.
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// Whether too many wrong passwords lock the account right now.
    pub is_locked: bool,
}

/// A page of a listing and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The records, in listing order.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<i64>,
}

impl Accounts {
    /// The account with this id, or `UnknownAccount`.
    pub async fn account_by_id(&self, id: AccountId) -> Result<Account, AccountsError> {
        self.find_account(id).await
    }

    /// The account with this email (compared trimmed and lower-cased), or
    /// `UnknownAccount`.
    pub async fn account_by_email(&self, email: &str) -> Result<Account, AccountsError> {
        accounts::find_by_email(&self.db, email)
            .await?
            .ok_or(AccountsError::UnknownAccount)
    }

    /// The account's standing: its row, last sign-in and whether it is locked now.
    pub async fn account_state(&self, id: AccountId) -> Result<AccountState, AccountsError> {
        let account = self.find_account(id).await?;
        let last_sign_in = audit::find_latest_of_kind(&self.db, id, "sign_in").await?;
        let now = self.clock.now();
        Ok(AccountState {
            is_locked: careid_policy::is_locked(account.locked_until, now),
            last_sign_in_at: last_sign_in.map(|event| event.at),
            account,
        })
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) accounts matching `filter` after the cursor
    /// `after`, by id.
    pub async fn list_accounts(
        &self,
        filter: &AccountFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<Account>, AccountsError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let found =
            accounts::find_page(&self.db, filter, after.map(AccountId::new), limit + 1).await?;
        Ok(page(found, limit, |account| account.id.get()))
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) audit events of the account, newest first,
    /// older than the cursor `before`. An unknown account is `UnknownAccount`: a deleted
    /// account's trail stays in the database but is no longer listed by account.
    pub async fn account_events(
        &self,
        account_id: AccountId,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Page<AuditEvent>, AccountsError> {
        self.find_account(account_id).await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let found = audit::find_for_account_before(&self.db, account_id, before, limit + 1).await?;
        Ok(page(found, limit, |event| event.id))
    }
}

impl Accounts {
    /// Records one admin API call by `client_id` (about `account_id`, when the call
    /// names one): every call is in the audit trail with the portal that made it.
    pub async fn record_admin_call(
        &self,
        client_id: &ClientId,
        account_id: Option<AccountId>,
        detail: serde_json::Value,
    ) -> Result<(), AccountsError> {
        let call = audit::NewEvent {
            kind: "admin_api_call",
            account_id,
            client_id: Some(client_id.to_owned()),
            ip: None,
            detail,
        };
        audit::insert_event(&self.db, call, self.clock.now()).await?;
        Ok(())
    }
}

/// Cuts a `limit + 1` read down to `limit`; the extra record says another page exists,
/// which starts after the last one kept.
fn page<T>(mut found: Vec<T>, limit: u64, id: impl Fn(&T) -> i64) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = found.len() > limit;
    found.truncate(limit);
    Page {
        next: if more { found.last().map(id) } else { None },
        items: found,
    }
}

#[cfg(test)]
mod tests {
    use careid_store::accounts::Status;

    use super::*;
    use crate::testing::{Fixture, PASSWORD};

    #[tokio::test]
    async fn pages_cover_every_matching_account_once_even_as_accounts_are_added() {
        let fx = Fixture::new().await;
        for n in 0..5 {
            fx.active(&format!("staff{n}@clinic.example"), PASSWORD)
                .await;
        }
        fx.active("other@elsewhere.example", PASSWORD).await;
        let filter = AccountFilter {
            email_prefix: Some("staff".into()),
            ..Default::default()
        };
        let first = fx.accounts.list_accounts(&filter, None, 2).await.unwrap();
        assert_eq!(first.items.len(), 2);
        fx.active("staff9@clinic.example", PASSWORD).await;
        let mut seen: Vec<String> = first.items.into_iter().map(|a| a.email).collect();
        let mut cursor = first.next;
        while let Some(after) = cursor {
            let page = fx
                .accounts
                .list_accounts(&filter, Some(after), 2)
                .await
                .unwrap();
            seen.extend(page.items.into_iter().map(|a| a.email));
            cursor = page.next;
        }
        let mut expected: Vec<String> = (0..5)
            .map(|n| format!("staff{n}@clinic.example"))
            .chain(["staff9@clinic.example".to_owned()])
            .collect();
        expected.sort();
        seen.sort();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn a_prefix_with_like_wildcards_matches_them_literally() {
        let fx = Fixture::new().await;
        fx.active("a_b@clinic.example", PASSWORD).await;
        fx.active("axb@clinic.example", PASSWORD).await;
        let filter = AccountFilter {
            email_prefix: Some("a_".into()),
            ..Default::default()
        };
        let page = fx.accounts.list_accounts(&filter, None, 10).await.unwrap();
        let emails: Vec<&str> = page.items.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(emails, ["a_b@clinic.example"]);
        assert_eq!(page.next, None);
    }

    #[tokio::test]
    async fn the_status_filter_keeps_only_that_status() {
        let fx = Fixture::new().await;
        fx.active("ada@clinic.example", PASSWORD).await;
        fx.active("bo@clinic.example", PASSWORD).await;
        fx.accounts
            .disable(
                fx.accounts
                    .account_by_email("bo@clinic.example")
                    .await
                    .unwrap()
                    .id,
            )
            .await
            .unwrap();
        let filter = AccountFilter {
            status: Some(Status::Disabled),
            ..Default::default()
        };
        let page = fx.accounts.list_accounts(&filter, None, 10).await.unwrap();
        let emails: Vec<&str> = page.items.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(emails, ["bo@clinic.example"]);
    }

    #[tokio::test]
    async fn the_state_tells_the_last_sign_in_and_events_come_newest_first() {
        let fx = Fixture::new().await;
        let ada = fx.active("ada@clinic.example", PASSWORD).await;
        let state = fx.accounts.account_state(ada.id).await.unwrap();
        assert_eq!(state.last_sign_in_at, None);
        assert!(!state.is_locked);
        fx.sign_in("ada@clinic.example", PASSWORD).await.unwrap();
        let state = fx.accounts.account_state(ada.id).await.unwrap();
        assert_eq!(state.last_sign_in_at, Some(fx.clock_now()));
        let first = fx.accounts.account_events(ada.id, None, 1).await.unwrap();
        assert_eq!(first.items[0].kind, "sign_in");
        let rest = fx
            .accounts
            .account_events(ada.id, first.next, 10)
            .await
            .unwrap();
        let kinds: Vec<&str> = rest.items.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["account_created"]);
        assert_eq!(rest.next, None);
    }
}
