//! Creating an active account with a password (administrator or CLI). Invitations, which
//! create accounts without one, come later in their own module.

use careid_policy::{PlainPassword, password};
use careid_store::{
    StoreError,
    accounts::{self, Account, NewAccount, Status, normalise_email},
    audit,
};

use crate::{
    Accounts, AccountsError,
    service::{event, random_id},
};

impl Accounts {
    /// Creates an active account for `email` with a self profile named `name`.
    ///
    /// Every broken password rule comes back at once in `PasswordRejected`; a taken email
    /// (compared trimmed and lower-cased) is `EmailTaken`.
    pub async fn create_account(
        &self,
        email: &str,
        name: &str,
        password: PlainPassword,
        confirmation: PlainPassword,
    ) -> Result<Account, AccountsError> {
        let email = normalise_email(email);
        if !careid_mail::is_valid_address(&email) {
            return Err(AccountsError::InvalidEmail);
        }
        let violations = password::check(&self.config.password, &password, &confirmation, &email);
        if !violations.is_empty() {
            return Err(AccountsError::PasswordRejected(violations));
        }
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let new = NewAccount {
            email,
            password_hash: Some(hash.into_string()),
            status: Status::Active,
            invitation_state: "none",
            name: name.trim().to_owned(),
            subject: random_id(),
        };
        // STYLE.md: the unique index decides, never a check before the insert.
        let account = match accounts::insert_account(&self.db, new, now).await {
            Ok(account) => account,
            Err(StoreError::Duplicate) => return Err(AccountsError::EmailTaken),
            Err(err) => return Err(err.into()),
        };
        audit::insert_event(&self.db, event("account_created", account.id), now).await?;
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use careid_policy::Violation;
    use careid_store::profiles;

    use super::*;
    use crate::testing::{Fixture, PASSWORD, pw};

    #[tokio::test]
    async fn a_new_account_is_active_and_signs_in() {
        let fx = Fixture::new().await;
        let account = fx.active("  Ada@Clinic.Example ", PASSWORD).await;
        assert_eq!(account.email, "ada@clinic.example");
        assert_eq!(account.status(), Status::Active);
        assert_eq!(account.invitation_state, "none");
        let profiles = profiles::find_for_account(&fx.accounts.db, account.id)
            .await
            .unwrap();
        assert_eq!(profiles.len(), 1);
        assert_eq!(profiles[0].name, "Ada Okafor");
        assert_eq!(profiles[0].subject.len(), 22);
        assert!(fx.sign_in("ada@clinic.example", PASSWORD).await.is_ok());
        assert_eq!(fx.events(account.id).await, ["account_created", "sign_in"]);
    }

    #[tokio::test]
    async fn every_broken_password_rule_is_listed_at_once() {
        let fx = Fixture::new().await;
        let result = fx
            .accounts
            .create_account("ada@clinic.example", "Ada", pw("qzxvkw"), pw("qzxvkw!"))
            .await;
        let Err(AccountsError::PasswordRejected(violations)) = result else {
            panic!("expected PasswordRejected, got {result:?}");
        };
        assert_eq!(
            violations,
            [
                Violation::TooShort { min: 10 },
                Violation::NoDigit,
                Violation::NoUppercase,
                Violation::NoSymbol,
                Violation::Mismatch,
            ]
        );
    }

    #[tokio::test]
    async fn a_taken_email_is_refused_whatever_its_case() {
        let fx = Fixture::new().await;
        fx.active("ada@clinic.example", PASSWORD).await;
        let again = fx
            .accounts
            .create_account("ADA@clinic.example", "Ada", pw(PASSWORD), pw(PASSWORD))
            .await;
        assert!(matches!(again, Err(AccountsError::EmailTaken)));
    }

    #[tokio::test]
    async fn a_string_that_is_not_an_email_address_is_refused() {
        let fx = Fixture::new().await;
        for email in [
            "",
            "ada",
            "ada@",
            "@clinic.example",
            "ada okafor@clinic.example",
            "ada@clinic example",
        ] {
            let result = fx
                .accounts
                .create_account(email, "Ada", pw(PASSWORD), pw(PASSWORD))
                .await;
            assert!(
                matches!(result, Err(AccountsError::InvalidEmail)),
                "{email:?}"
            );
        }
    }
}
