//! The dev configuration's demo account: created on first start, its password printed
//! once, so the single sign-on walk-through works without any set-up.

use careid_accounts::{Accounts, AccountsError};
use careid_policy::{PlainPassword, one_time};
use careid_store::accounts;

/// The demo account's email.
pub const DEMO_EMAIL: &str = "demo@careid.local";

/// Creates the demo account if the database has no accounts at all. Returns the new
/// password, which exists nowhere else.
pub async fn ensure_account(accounts: &Accounts) -> Result<Option<PlainPassword>, AccountsError> {
    if !accounts::is_empty(&accounts.db).await? {
        return Ok(None);
    }
    // Random, and shaped to pass the default rules: upper, digit and symbol appended.
    let password = PlainPassword::new(format!("{}-Care7", &one_time::new_token()[..12]));
    accounts
        .create_account(DEMO_EMAIL, "Dana Demo", password.clone(), password.clone())
        .await?;
    Ok(Some(password))
}
