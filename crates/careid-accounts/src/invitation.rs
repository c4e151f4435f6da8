//! Invitations: an administrator creates an account in status `invited` with no password
//! and careid emails an activation link; the person opens it (invitation `opened`) and
//! sets a password under the rules (status `active`, invitation `accepted`); for a client
//! whose people sign in without a password the mail is a welcome link that signs in and
//! activates (`magic_link.rs`). The pages
//! are `careid-ui`'s; an expired link leads to the reset flow in `reset.rs`, which
//! completes an activation as well.

use std::path::PathBuf;

use careid_mail::Delivered;
use careid_policy::PlainPassword;
use careid_store::{
    AccountId, ClientId, StoreError,
    accounts::{self, Account, NewAccount, Status, normalise_email},
    audit, one_time_tokens,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    AccountsError, Branding, LinkProblem,
    lifecycle::{INVITATION, Lifecycle, MAGIC_LINK, UNOPENED_INVITATION},
    magic_link::MAGIC_LINK_PATH,
    service::{commit, event, random_id},
};

/// An invitation that went out, or should have.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The invited account, as it is now.
    pub account: Account,
    /// Whether the mail was delivered (to the relay, or to the outbox); when not, the
    /// invitation state is `not_sent` and the administrator resends it.
    pub is_sent: bool,
    /// With the outbox transport, the `.eml` file the message was written to instead of
    /// being sent (invitation state `written_to_outbox`).
    pub outbox_file: Option<PathBuf>,
}

/// How an invitation state (as stored and as the API names it: `not_sent`, `sent`,
/// `written_to_outbox`, `opened`, `accepted`, `none`) reads for an administrator.
pub fn invitation_state_label(state: &str) -> String {
    state.replace('_', " ")
}

/// What an activation or reset page needs to know about a usable link.
#[derive(Debug, Clone)]
pub struct LinkHolder {
    /// The account's email.
    pub email: String,
    /// The client whose invitation or reset this is, for the page's theme.
    pub client_id: Option<ClientId>,
}

/// Voids the account's outstanding invitation links, in the caller's transaction that
/// activates it: the activation links (`/activate`) and the sign-in links (a welcome link,
/// or a link the invited person asked for). Whichever way an invited account became
/// active (a PIN, a magic link, a password set through a link), a link that was mailed
/// to activate it must not keep working for the rest of its week: it reads as used.
/// Audited as `invitation_links_voided` when there were any.
pub(crate) async fn void_invitation_links(
    txn: &careid_store::Tx,
    account_id: AccountId,
    now: OffsetDateTime,
) -> Result<(), AccountsError> {
    let mut voided = 0;
    for purpose in [INVITATION, MAGIC_LINK] {
        voided += one_time_tokens::update_superseded(txn, account_id, purpose, now).await?;
    }
    if voided > 0 {
        let recorded = audit::NewEvent {
            detail: json!({ "count": voided }),
            ..event("invitation_links_voided", account_id)
        };
        audit::insert_event(txn, recorded, now).await?;
    }
    Ok(())
}

impl Lifecycle {
    /// Creates an invited account for `email` (self profile named `name`) and emails its
    /// activation link, in `branding`. A failed send is reported in
    /// [`Invitation::is_sent`], never dropped.
    pub async fn invite(
        &self,
        email: &str,
        name: &str,
        branding: &Branding,
        client_id: Option<&ClientId>,
    ) -> Result<Invitation, AccountsError> {
        let email = normalise_email(email);
        if !careid_mail::is_valid_address(&email) {
            return Err(AccountsError::InvalidEmail);
        }
        let now = self.accounts.clock.now();
        let new = NewAccount {
            email,
            password_hash: None,
            status: Status::Invited,
            invitation_state: "not_sent",
            name: name.trim().to_owned(),
            subject: random_id(),
        };
        let account = match accounts::insert_account(&self.accounts.db, new, now).await {
            Ok(account) => account,
            Err(StoreError::Duplicate) => return Err(AccountsError::EmailTaken),
            Err(err) => return Err(err.into()),
        };
        let invited = audit::NewEvent {
            client_id: client_id.cloned(),
            ..event("account_invited", account.id)
        };
        audit::insert_event(&self.accounts.db, invited, now).await?;
        self.send_invitation(account, branding, client_id).await
    }

    /// Sends an invited account a new activation link; the older ones stop working.
    pub async fn resend_invitation(
        &self,
        email: &str,
        branding: &Branding,
        client_id: Option<&ClientId>,
    ) -> Result<Invitation, AccountsError> {
        let account = self.account_by_email(email).await?;
        if account.status() != Status::Invited {
            return Err(AccountsError::WrongStatus(account.status()));
        }
        self.send_invitation(account, branding, client_id).await
    }

    async fn send_invitation(
        &self,
        account: Account,
        branding: &Branding,
        client_id: Option<&ClientId>,
    ) -> Result<Invitation, AccountsError> {
        let lifetime = self.config.invitation();
        // A client whose people sign in without a password gets a welcome link that
        // signs in (a magic link living as long as an invitation); its first use
        // activates the account. Everyone else sets a password on the activation page.
        let (link, message) = if branding.signs_in_by_link {
            let now = self.accounts.clock.now();
            let txn = self.accounts.begin().await?;
            let token = self
                .insert_sign_in_link(&txn, account.id, client_id, lifetime, now)
                .await?;
            commit(txn).await?;
            (self.link(MAGIC_LINK_PATH, &token), "welcome_link")
        } else {
            let token = self
                .issue_link(account.id, INVITATION, client_id, lifetime)
                .await?;
            (self.link("/activate", &token), "invitation")
        };
        let sent = self
            .mail(&account, branding, message, &link, "", lifetime)
            .await;
        let db = &self.accounts.db;
        let now = self.accounts.clock.now();
        // The outbox transport writes a file nobody receives: say so, and where, rather
        // than "sent" (issue #15).
        let (state, kind, detail) = match &sent {
            Ok(Delivered::Sent) => ("sent", "invitation_sent", json!({})),
            Ok(Delivered::Outbox(path)) => (
                "written_to_outbox",
                "invitation_written_to_outbox",
                json!({ "outbox_file": path.display().to_string() }),
            ),
            Err(err) => {
                tracing::error!(%err, account = account.id.get(), "invitation not sent");
                (
                    "not_sent",
                    "invitation_not_sent",
                    json!({ "error": err.to_string() }),
                )
            }
        };
        accounts::update_invitation_state(db, account.id, state, now).await?;
        let recorded = audit::NewEvent {
            client_id: client_id.cloned(),
            detail,
            ..event(kind, account.id)
        };
        audit::insert_event(db, recorded, now).await?;
        Ok(Invitation {
            account: self.account(account.id).await?,
            is_sent: sent.is_ok(),
            outbox_file: match sent {
                Ok(Delivered::Outbox(path)) => Some(path),
                _ => None,
            },
        })
    }

    /// Checks an activation link and records that the person followed it (invitation
    /// `opened`, once). A link of an account that is no longer invited counts as used.
    pub async fn open_invitation(&self, token: &str) -> Result<LinkHolder, AccountsError> {
        let stored = self.usable_link(token, INVITATION).await?;
        let account = self.account(stored.account_id).await?;
        if account.status() != Status::Invited {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        let now = self.accounts.clock.now();
        let db = &self.accounts.db;
        if accounts::update_invitation_state_from(
            db,
            account.id,
            &UNOPENED_INVITATION,
            "opened",
            now,
        )
        .await?
        {
            audit::insert_event(db, event("invitation_opened", account.id), now).await?;
        }
        Ok(LinkHolder {
            email: account.email,
            client_id: stored.client_id,
        })
    }

    /// Sets the first password from an activation link: the account becomes active and
    /// the invitation accepted. A refused password leaves the link usable.
    pub async fn accept_invitation(
        &self,
        token: &str,
        new: PlainPassword,
        confirmation: PlainPassword,
    ) -> Result<Account, AccountsError> {
        let stored = self.usable_link(token, INVITATION).await?;
        let account = self.account(stored.account_id).await?;
        if account.status() != Status::Invited {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        self.set_with_token(&stored, new, confirmation, None)
            .await?;
        self.account(account.id).await
    }
}

#[cfg(test)]
mod tests {
    use careid_mail::testing::{SmtpSink, links, text_part};
    use careid_store::one_time_tokens;
    use time::Duration;

    use super::*;
    use crate::{
        lifecycle::testing::lifecycle,
        testing::{Fixture, PASSWORD, pw},
    };

    const EMAIL: &str = "ada@clinic.example";

    fn token_of(link: &str) -> String {
        link.split("token=").nth(1).unwrap().to_owned()
    }

    #[tokio::test]
    async fn an_invitation_creates_an_invited_account_and_mails_its_link() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let invited = life
            .invite(
                EMAIL,
                "Ada Okafor",
                &Branding::default(),
                Some(&ClientId::from("crm")),
            )
            .await
            .unwrap();
        assert!(invited.is_sent);
        assert_eq!(invited.account.status(), Status::Invited);
        assert_eq!(invited.account.invitation_state, "sent");
        assert!(invited.account.password_hash.is_none());
        let raw = sink.next_message().await;
        assert!(text_part(&raw).unwrap().contains("Hello Ada Okafor"));
        let link = &links(&raw)[0];
        assert!(link.starts_with("https://id.clinic.example/activate?token="));
        // Only the digest is stored.
        let token = token_of(link);
        let stored = one_time_tokens::find_by_digest(
            &fx.accounts.db,
            &careid_policy::one_time::digest(&token),
            INVITATION,
        )
        .await
        .unwrap()
        .unwrap();
        assert_ne!(stored.digest, token);
        assert_eq!(stored.expires_at, fx.clock_now() + Duration::days(7));
    }

    #[tokio::test]
    async fn an_invitation_that_cannot_be_delivered_stays_not_sent() {
        let fx = Fixture::new().await;
        let sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let invited = life
            .invite(
                careid_mail::testing::REJECTED_RECIPIENT,
                "",
                &Branding::default(),
                None,
            )
            .await
            .unwrap();
        assert!(!invited.is_sent);
        assert_eq!(invited.account.invitation_state, "not_sent");
        assert!(
            fx.events(invited.account.id)
                .await
                .contains(&"invitation_not_sent".to_string())
        );
    }

    #[tokio::test]
    async fn a_resent_invitation_replaces_the_old_link() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        life.invite(EMAIL, "Ada", &Branding::default(), None)
            .await
            .unwrap();
        let first = token_of(&links(&sink.next_message().await)[0]);
        life.resend_invitation(EMAIL, &Branding::default(), None)
            .await
            .unwrap();
        let second = token_of(&links(&sink.next_message().await)[0]);
        assert!(matches!(
            life.open_invitation(&first).await,
            Err(AccountsError::LinkNotUsable(LinkProblem::Used))
        ));
        assert_eq!(life.open_invitation(&second).await.unwrap().email, EMAIL);
    }

    #[tokio::test]
    async fn accepting_activates_once_and_a_refused_password_keeps_the_link() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let invited = life
            .invite(EMAIL, "Ada", &Branding::default(), None)
            .await
            .unwrap();
        let token = token_of(&links(&sink.next_message().await)[0]);
        life.open_invitation(&token).await.unwrap();
        assert_eq!(
            fx.account(invited.account.id).await.invitation_state,
            "opened"
        );
        let short = life
            .accept_invitation(&token, pw("Tulip-Ha4"), pw("Tulip-Ha4"))
            .await;
        assert!(matches!(short, Err(AccountsError::PasswordRejected(_))));
        let account = life
            .accept_invitation(&token, pw(PASSWORD), pw(PASSWORD))
            .await
            .unwrap();
        assert_eq!(account.status(), Status::Active);
        assert_eq!(account.invitation_state, "accepted");
        assert!(fx.sign_in(EMAIL, PASSWORD).await.is_ok());
        assert!(matches!(
            life.accept_invitation(&token, pw(PASSWORD), pw(PASSWORD))
                .await,
            Err(AccountsError::LinkNotUsable(LinkProblem::Used))
        ));
    }

    #[tokio::test]
    async fn an_invitation_link_works_for_seven_days_and_not_a_second_more() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        life.invite(EMAIL, "Ada", &Branding::default(), None)
            .await
            .unwrap();
        let token = token_of(&links(&sink.next_message().await)[0]);
        fx.advance(Duration::days(7) - Duration::SECOND);
        assert!(life.open_invitation(&token).await.is_ok());
        fx.advance(Duration::SECOND);
        assert!(matches!(
            life.open_invitation(&token).await,
            Err(AccountsError::LinkNotUsable(LinkProblem::Expired))
        ));
    }
}
