//! Security notices by email (issue 17): mail that tells the owner of an account about
//! a change to how it signs in that she may not have made herself. A recovery code used
//! to sign in, and the second factors removed by staff, each send one, so that someone
//! who did not do it learns of it and can act.

use careid_mail::Delivered;
use careid_store::AccountId;
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc2822};

use crate::{AccountsError, Branding, Lifecycle};

/// What happened to the account, and so which message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A recovery code signed in; `left` of the set are still unused.
    RecoveryCodeUsed { left: u64 },
    /// Staff removed the account's authenticator app and recovery codes
    /// (`careid user reset-mfa`).
    SecondFactorsRemoved,
}

impl Notice {
    /// The message's name among the theme's mail templates.
    pub fn message(self) -> &'static str {
        match self {
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::SecondFactorsRemoved => "second_factors_removed",
        }
    }
}

impl Lifecycle {
    /// Mails `notice` to the owner of account `id`, in careid's own branding: the change
    /// concerns her careid account whichever application she was signing in to. The
    /// message links to `/account/security`, where she can see and change her second
    /// factors.
    pub async fn notify(&self, id: AccountId, notice: Notice) -> Result<Delivered, AccountsError> {
        let account = self.account(id).await?;
        let now = self.accounts.clock.now();
        let left = match notice {
            Notice::RecoveryCodeUsed { left } => Some(left),
            Notice::SecondFactorsRemoved => None,
        };
        let ctx = json!({
            "link": format!("{}/account/security", self.issuer),
            "when": when(now),
            "left": left,
        });
        self.render_and_send(&account, &Branding::default(), notice.message(), ctx)
            .await
    }
}

/// The moment in a message: an RFC 2822 date in UTC, as mail clients show dates.
fn when(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc2822)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moment_reads_as_a_mail_date() {
        let at = time::macros::datetime!(2026-12-01 13:40:05 +01:00);
        assert_eq!(when(at), "Tue, 01 Dec 2026 12:40:05 +0000");
    }

    #[test]
    fn each_notice_has_its_own_message() {
        assert_eq!(
            Notice::RecoveryCodeUsed { left: 3 }.message(),
            "recovery_code_used"
        );
        assert_eq!(
            Notice::SecondFactorsRemoved.message(),
            "second_factors_removed"
        );
    }
}
