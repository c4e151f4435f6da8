//! What second factors an account has, for staff (`careid user show`, issue 17): each
//! factor's kind, its name, when it was added and when it last signed in.

use careid_policy::totp;
use careid_store::{AccountId, recovery_codes, totp_factors};
use time::OffsetDateTime;

use crate::{Accounts, AccountsError};

/// One second factor of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactor {
    /// What it is: `authenticator app`, `passkey` or `recovery codes`.
    pub kind: &'static str,
    /// More about it: a passkey's name; for recovery codes, how many of the set are
    /// unused.
    pub detail: Option<String>,
    /// When it was added (an app: when its first code confirmed it).
    pub added_at: OffsetDateTime,
    /// When it last signed in (an app: the time step of its last accepted code).
    pub last_used_at: Option<OffsetDateTime>,
}

impl Accounts {
    /// The account's second factors: the authenticator app, the passkeys, the recovery
    /// codes. An app still waiting for its confirming code is not one yet and is left
    /// out.
    pub async fn second_factor_details(
        &self,
        id: AccountId,
    ) -> Result<Vec<SecondFactor>, AccountsError> {
        let mut factors = Vec::new();
        let app = totp_factors::find_by_account(&self.db, id).await?;
        if let Some((app, added_at)) = app.and_then(|f| f.confirmed_at.map(|at| (f, at))) {
            factors.push(SecondFactor {
                kind: "authenticator app",
                detail: None,
                added_at,
                last_used_at: app.last_step.and_then(step_start),
            });
        }
        for passkey in self.passkeys(id).await? {
            factors.push(SecondFactor {
                kind: "passkey",
                detail: Some(format!("{:?}", passkey.name)),
                added_at: passkey.created_at,
                last_used_at: passkey.last_used_at,
            });
        }
        if let Some(set) = recovery_codes::find_set(&self.db, id).await? {
            factors.push(SecondFactor {
                kind: "recovery codes",
                detail: Some(format!("{} of {} unused", set.unused, set.total)),
                added_at: set.created_at,
                last_used_at: set.last_used_at,
            });
        }
        Ok(factors)
    }
}

/// The moment TOTP time step `step` began.
fn step_start(step: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(step.checked_mul(totp::STEP_SECONDS)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TotpEnrolment, testing::Fixture};

    #[test]
    fn a_step_begins_on_its_thirty_second_boundary() {
        let start = step_start(59_000_000).unwrap();
        assert_eq!(start.unix_timestamp(), 1_770_000_000);
        assert_eq!(step_start(i64::MAX), None);
    }

    #[tokio::test]
    async fn an_app_counts_once_confirmed_with_its_recovery_codes() {
        let fx = Fixture::new().await;
        let id = fx.active("ada@example.org", "Willow-Creek-17").await.id;
        assert_eq!(fx.accounts.second_factor_details(id).await.unwrap(), []);
        let TotpEnrolment::Pending { uri } = fx
            .accounts
            .totp_enrolment(id, "ada@example.org", "careid")
            .await
            .unwrap()
        else {
            panic!("a new enrolment is pending");
        };
        // Pending is not a factor yet.
        assert_eq!(fx.accounts.second_factor_details(id).await.unwrap(), []);

        let secret = uri
            .split(['?', '&'])
            .find_map(|part| part.strip_prefix("secret="))
            .and_then(totp::from_base32)
            .unwrap();
        let now = fx.clock_now();
        let step = totp::step_at(now);
        let current = totp::code_at(&secret, step);
        fx.accounts.confirm_totp(id, &current, None).await.unwrap();
        let factors = fx.accounts.second_factor_details(id).await.unwrap();
        assert_eq!(
            factors,
            [
                SecondFactor {
                    kind: "authenticator app",
                    detail: None,
                    added_at: now,
                    last_used_at: step_start(step),
                },
                SecondFactor {
                    kind: "recovery codes",
                    detail: Some("10 of 10 unused".into()),
                    added_at: now,
                    last_used_at: None,
                },
            ]
        );
    }
}
