//! Password resets: self-service in two steps (a reset link by email, then a 6-digit
//! security code sent when the link is opened, good only in that browser), the code-only
//! variant some clients choose (the first email carries the code, good only in the
//! browser that asked for it), and the reset link an
//! administrator issues (no code step: the administrator vouches for the person).
//!
//! An unknown email gets no mail and no different answer, and the mail is sent off the
//! request path, so neither the page nor its timing tells which emails have accounts.
//! Wording and cookies are `careid-ui`'s; setting the password is
//! [`crate::Accounts::set_password`], which also ends the account's sessions, clears a
//! lockout and activates an invited account.

use std::sync::Arc;

use careid_policy::{PlainPassword, one_time};
use careid_store::{
    ClientId,
    accounts::{self, Account, Status},
    audit, one_time_tokens,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{
    AccountsError, Branding, LinkProblem,
    lifecycle::{ADMIN_RESET, Lifecycle, RESET_CODE, RESET_LINK, code_digest},
    service::{commit, event, rfc3339},
};

/// A usable reset link, as its page needs it.
#[derive(Debug, Clone)]
pub struct ResetLink {
    /// The account's email.
    pub email: String,
    /// The client the reset started from, for the page's theme.
    pub client_id: Option<ClientId>,
    /// An administrator's link: it leads straight to the new password, no code step.
    pub is_admin: bool,
}

/// A reset link an administrator issued.
#[derive(Debug, Clone)]
pub struct AdminResetLink {
    /// The link to give the person.
    pub link: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// With `--send`, whether the mail was delivered (to the relay, or to the outbox).
    pub is_sent: Option<bool>,
    /// With `--send` and the outbox transport, the `.eml` file the message was written
    /// to instead of being sent.
    pub outbox_file: Option<std::path::PathBuf>,
}

/// Statuses whose owner may reset a password by email. A disabled or expired account
/// needs an administrator first; a reset would not let it sign in.
fn may_reset(account: &Account) -> bool {
    matches!(account.status(), Status::Active | Status::Invited)
}

impl Lifecycle {
    /// "Forgot password?": mails a reset link (or, for a code-only client, a code) to the
    /// account with this email, if there is one that may reset. Answers the same either
    /// way; the mail is sent in the background. A code-only code is bound to the browser
    /// holding `binding` (a random secret in a cookie), when one is given: the code is
    /// refused in any other browser.
    pub async fn request_reset(
        self: &Arc<Self>,
        email: &str,
        branding: Branding,
        client_id: Option<ClientId>,
        ip: Option<String>,
        binding: Option<&str>,
    ) -> Result<(), AccountsError> {
        let now = self.accounts.clock.now();
        let requested = |account_id, detail| audit::NewEvent {
            kind: "reset_requested",
            account_id,
            client_id: client_id.clone(),
            ip: ip.clone(),
            detail,
        };
        let mode = if branding.is_code_only {
            "code_only"
        } else {
            "link"
        };
        // The limits are counted and the request recorded in one transaction (SQLite's
        // one writer; on PostgreSQL the account row is locked), so concurrent requests
        // cannot all read "under the limit" and all go through.
        let window = now - Duration::HOUR;
        let txn = self.accounts.begin().await?;
        // Checked first and for any email: an address cannot mail-bomb many people, and
        // the answer says nothing about which emails have accounts.
        if let Some(ip) = &ip {
            let recent = audit::count_from_ip(&txn, "reset_requested", ip, window).await?;
            if recent >= u64::from(self.config.reset_requests_per_address_per_hour) {
                let throttled = audit::NewEvent {
                    kind: "reset_throttled",
                    detail: json!({ "reason": "address", "recent": recent }),
                    ..requested(None, json!({}))
                };
                audit::insert_event(&txn, throttled, now).await?;
                commit(txn).await?;
                return Err(AccountsError::TooManyRequests {
                    retry_after_minutes: 60,
                });
            }
        }
        let found = match accounts::find_by_email(&txn, email).await? {
            Some(found) => accounts::find_by_id_for_update(&txn, found.id).await?,
            None => None,
        };
        let Some(account) = found.filter(may_reset) else {
            let detail = json!({ "reason": "no_account_may_reset" });
            audit::insert_event(&txn, requested(None, detail), now).await?;
            return commit(txn).await;
        };
        // Past the per-account limit the answer is the same, but nothing is sent and the
        // pending link or code stays as it was: a stranger can neither flood the person's
        // mailbox nor mint fresh codes to guess at.
        let recent = audit::count_for_account(&txn, "reset_requested", account.id, window).await?;
        let is_throttled = recent >= u64::from(self.config.reset_requests_per_hour);
        let recorded = if is_throttled {
            audit::NewEvent {
                kind: "reset_throttled",
                detail: json!({ "reason": "account", "recent": recent }),
                ..requested(Some(account.id), json!({}))
            }
        } else {
            requested(Some(account.id), json!({ "mode": mode }))
        };
        audit::insert_event(&txn, recorded, now).await?;
        if is_throttled {
            return commit(txn).await;
        }
        // The new link or code is stored (voiding the older ones) in the same transaction
        // as the request is recorded: a crash leaves both or neither.
        let (message, link, code, lifetime) = if branding.is_code_only {
            let bound = binding.map(one_time::digest);
            let code = self
                .insert_code(&txn, account.id, client_id.as_ref(), bound)
                .await?;
            let sent = audit::NewEvent {
                client_id: client_id.clone(),
                detail: json!({ "mode": mode, "bound": binding.is_some() }),
                ..event("reset_code_sent", account.id)
            };
            audit::insert_event(&txn, sent, now).await?;
            ("reset_code", String::new(), code, self.config.reset_code())
        } else {
            let lifetime = self.config.reset_link();
            let token = self
                .insert_link(&txn, account.id, RESET_LINK, client_id.as_ref(), lifetime)
                .await?;
            (
                "reset_link",
                self.link("/reset", &token),
                String::new(),
                lifetime,
            )
        };
        commit(txn).await?;
        // Waiting on the relay would make a known email answer slower than an unknown one.
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let sent = this
                .mail(&account, &branding, message, &link, &code, lifetime)
                .await;
            if let Err(err) = sent {
                tracing::error!(%err, account = account.id.get(), "reset mail not sent");
            }
        });
        Ok(())
    }

    /// Checks a link that `/reset` received: a self-service reset link or an
    /// administrator's. Nothing is used up yet.
    pub async fn open_reset_link(&self, token: &str) -> Result<ResetLink, AccountsError> {
        let (stored, is_admin) = match self.usable_link(token, RESET_LINK).await {
            Err(AccountsError::LinkNotUsable(LinkProblem::Unknown)) => {
                (self.usable_link(token, ADMIN_RESET).await?, true)
            }
            other => (other?, false),
        };
        let account = self.account(stored.account_id).await?;
        if !may_reset(&account) {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        Ok(ResetLink {
            email: account.email,
            client_id: stored.client_id,
            is_admin,
        })
    }

    /// Second step of a self-service reset: uses the link up and mails a 6-digit code
    /// that only the browser holding `binding` (a random secret in a cookie) may enter.
    /// Returns the account's email. If the code cannot be sent the link stays usable.
    pub async fn send_reset_code(
        &self,
        token: &str,
        binding: &str,
        branding: &Branding,
    ) -> Result<String, AccountsError> {
        let stored = self.usable_link(token, RESET_LINK).await?;
        let account = self.account(stored.account_id).await?;
        if !may_reset(&account) {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        let db = &self.accounts.db;
        let now = self.accounts.clock.now();
        // The link is used up and the code stored in one transaction: a crash between
        // the two cannot leave a used link and no code.
        let txn = self.accounts.begin().await?;
        if !one_time_tokens::take_token(&txn, stored.id, now).await? {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        let code = self
            .insert_code(
                &txn,
                account.id,
                stored.client_id.as_ref(),
                Some(one_time::digest(binding)),
            )
            .await?;
        commit(txn).await?;
        let lifetime = self.config.reset_code();
        if let Err(err) = self
            .mail(&account, branding, "reset_code", "", &code, lifetime)
            .await
        {
            one_time_tokens::update_released(db, stored.id, now).await?;
            return Err(err);
        }
        let sent = audit::NewEvent {
            client_id: stored.client_id.clone(),
            detail: json!({ "mode": "link_then_code" }),
            ..event("reset_code_sent", account.id)
        };
        audit::insert_event(db, sent, now).await?;
        Ok(account.email)
    }

    /// Last step of a self-service reset: the code from the mail and the new password,
    /// typed twice. `binding` is the browser's binding secret; a code sent for one browser
    /// is refused in any other. Every try counts, from any browser; at the limit the code
    /// stops working. Only a right code entered in another browser is told
    /// [`AccountsError::WrongBrowser`]; a wrong one is wrong wherever it is entered.
    pub async fn complete_code_reset(
        &self,
        email: &str,
        code: &str,
        binding: Option<&str>,
        new: PlainPassword,
        confirmation: PlainPassword,
    ) -> Result<Account, AccountsError> {
        let db = &self.accounts.db;
        let now = self.accounts.clock.now();
        let account = careid_store::accounts::find_by_email(db, email)
            .await?
            .ok_or(AccountsError::CodeDead)?;
        let Some(stored) = one_time_tokens::find_live(db, account.id, RESET_CODE, now).await?
        else {
            return Err(AccountsError::CodeDead);
        };
        let failed = |reason: &str, attempts: i32| audit::NewEvent {
            detail: json!({ "reason": reason, "attempts": attempts }),
            ..event("reset_code_failed", account.id)
        };
        // Every guess takes an attempt before it is compared, in one conditional
        // statement: concurrent guesses get no more comparisons than the limit allows.
        let rules = self.config.one_time_rules();
        let Some(attempts) =
            one_time_tokens::take_attempt(db, stored.id, rules.code_attempts, now).await?
        else {
            audit::insert_event(db, failed("attempts_spent", stored.attempts), now).await?;
            return Err(AccountsError::CodeDead);
        };
        let presented = code_digest(account.id, code.trim());
        let is_right = one_time::digests_match(&presented, &stored.digest);
        let is_same_browser = stored.binding_digest.as_deref().is_none_or(|bound| {
            binding.is_some_and(|secret| one_time::digests_match(&one_time::digest(secret), bound))
        });
        if !is_right || !is_same_browser {
            let reason = if is_right {
                "other_browser"
            } else {
                "wrong_code"
            };
            audit::insert_event(db, failed(reason, attempts), now).await?;
            let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
            if one_time::attempts_exhausted(attempts, &rules) {
                // Used up: the next guess, right or wrong, finds no code.
                one_time_tokens::take_token(db, stored.id, now).await?;
                return Err(AccountsError::CodeDead);
            }
            if is_right {
                return Err(AccountsError::WrongBrowser);
            }
            return Err(AccountsError::CodeWrong {
                attempts_left: rules.code_attempts - attempts,
            });
        }
        // A concurrent try that already used the right code up leaves this one a dead code.
        self.set_with_token(&stored, new, confirmation, Some("code"))
            .await
            .map_err(|err| match err {
                AccountsError::LinkNotUsable(_) => AccountsError::CodeDead,
                other => other,
            })?;
        self.account(account.id).await
    }

    /// Sets a new password from an administrator's reset link (no code step).
    pub async fn complete_admin_reset(
        &self,
        token: &str,
        new: PlainPassword,
        confirmation: PlainPassword,
    ) -> Result<Account, AccountsError> {
        let stored = self.usable_link(token, ADMIN_RESET).await?;
        let account = self.account(stored.account_id).await?;
        if !may_reset(&account) {
            return Err(AccountsError::LinkNotUsable(LinkProblem::Used));
        }
        self.set_with_token(&stored, new, confirmation, Some("admin_link"))
            .await?;
        self.account(account.id).await
    }

    /// An administrator's reset link for `email`, valid for `lifetime` (at most
    /// `admin_reset_max_days`); mailed too when `send`. Older admin links stop working.
    pub async fn issue_admin_reset_link(
        &self,
        email: &str,
        lifetime: Duration,
        send: bool,
        branding: &Branding,
        client_id: Option<&ClientId>,
    ) -> Result<AdminResetLink, AccountsError> {
        let max = self.config.admin_reset_max();
        if lifetime < Duration::MINUTE || lifetime > max {
            return Err(AccountsError::LifetimeOutOfRange {
                max_hours: max.whole_hours(),
            });
        }
        let account = self.account_by_email(email).await?;
        if !may_reset(&account) {
            return Err(AccountsError::WrongStatus(account.status()));
        }
        let token = self
            .issue_link(account.id, ADMIN_RESET, client_id, lifetime)
            .await?;
        let link = self.link("/reset", &token);
        let (is_sent, outbox_file) = if send {
            let sent = self
                .mail(&account, branding, "admin_reset_link", &link, "", lifetime)
                .await;
            match sent {
                Ok(careid_mail::Delivered::Sent) => (Some(true), None),
                Ok(careid_mail::Delivered::Outbox(path)) => (Some(true), Some(path)),
                Err(err) => {
                    tracing::error!(%err, account = account.id.get(), "admin reset link not sent");
                    (Some(false), None)
                }
            }
        } else {
            (None, None)
        };
        let now = self.accounts.clock.now();
        let expires_at = now + lifetime;
        let issued = audit::NewEvent {
            client_id: client_id.cloned(),
            detail: json!({
                "expires_at": rfc3339(expires_at),
                "sent": is_sent,
                "outbox_file": outbox_file.as_ref().map(|path| path.display().to_string()),
            }),
            ..event("admin_reset_link_issued", account.id)
        };
        audit::insert_event(&self.accounts.db, issued, now).await?;
        Ok(AdminResetLink {
            link,
            expires_at,
            is_sent,
            outbox_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use careid_mail::{
        MailConfig,
        testing::{SmtpSink, links, text_part},
    };

    use super::*;
    use crate::{
        SignInError,
        lifecycle::testing::lifecycle,
        testing::{Fixture, PASSWORD, pw},
    };

    const EMAIL: &str = "ada@clinic.example";
    const NEW: &str = "Willow-Creek-17";
    const BINDING: &str = "this-browser";

    fn code_of(raw: &str) -> String {
        let text = text_part(raw).unwrap();
        text.split_whitespace()
            .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
            .unwrap()
            .to_owned()
    }

    fn token_of(raw: &str) -> String {
        links(raw)[0].split("token=").nth(1).unwrap().to_owned()
    }

    async fn started(fx: &Fixture, sink: &mut SmtpSink) -> (Arc<Lifecycle>, String) {
        let life = lifecycle(fx, &sink.mail_config());
        fx.active(EMAIL, PASSWORD).await;
        life.request_reset(EMAIL, Branding::default(), None, None, None)
            .await
            .unwrap();
        let token = token_of(&sink.next_message().await);
        life.send_reset_code(&token, BINDING, &Branding::default())
            .await
            .unwrap();
        let code = code_of(&sink.next_message().await);
        (life, code)
    }

    fn differs_from(code: &str) -> &'static str {
        if code == "000000" { "000001" } else { "000000" }
    }

    #[tokio::test]
    async fn link_then_code_sets_the_password_and_uses_both_up() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let (life, code) = started(&fx, &mut sink).await;
        let account = life
            .complete_code_reset(EMAIL, &code, Some(BINDING), pw(NEW), pw(NEW))
            .await
            .unwrap();
        assert!(fx.sign_in(EMAIL, NEW).await.is_ok());
        let again = life
            .complete_code_reset(EMAIL, &code, Some(BINDING), pw(PASSWORD), pw(PASSWORD))
            .await;
        assert!(matches!(again, Err(AccountsError::CodeDead)));
        let events = fx.events(account.id).await;
        for kind in ["reset_requested", "reset_code_sent", "password_reset"] {
            assert!(events.contains(&kind.to_string()), "{kind} in {events:?}");
        }
    }

    #[tokio::test]
    async fn the_fifth_wrong_code_kills_it_and_the_fourth_does_not() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let (life, code) = started(&fx, &mut sink).await;
        let wrong = differs_from(&code);
        for left in (1..=4).rev() {
            let result = life
                .complete_code_reset(EMAIL, wrong, Some(BINDING), pw(NEW), pw(NEW))
                .await;
            assert!(
                matches!(result, Err(AccountsError::CodeWrong { attempts_left }) if attempts_left == left),
                "{result:?}"
            );
        }
        let fifth = life
            .complete_code_reset(EMAIL, wrong, Some(BINDING), pw(NEW), pw(NEW))
            .await;
        assert!(matches!(fifth, Err(AccountsError::CodeDead)));
        let right = life
            .complete_code_reset(EMAIL, &code, Some(BINDING), pw(NEW), pw(NEW))
            .await;
        assert!(matches!(right, Err(AccountsError::CodeDead)));
    }

    #[tokio::test]
    async fn a_code_sent_for_one_browser_is_refused_in_another() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let (life, code) = started(&fx, &mut sink).await;
        for other in [None, Some("another-browser")] {
            let result = life
                .complete_code_reset(EMAIL, &code, other, pw(NEW), pw(NEW))
                .await;
            assert!(matches!(result, Err(AccountsError::WrongBrowser)));
        }
        assert!(
            life.complete_code_reset(EMAIL, &code, Some(BINDING), pw(NEW), pw(NEW))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_refused_password_keeps_the_code_and_history_applies() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let (life, code) = started(&fx, &mut sink).await;
        let reused = life
            .complete_code_reset(EMAIL, &code, Some(BINDING), pw(PASSWORD), pw(PASSWORD))
            .await;
        assert!(
            matches!(reused, Err(AccountsError::PasswordRejected(v)) if v == [careid_policy::Violation::Reused])
        );
        assert!(
            life.complete_code_reset(EMAIL, &code, Some(BINDING), pw(NEW), pw(NEW))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_unknown_or_disabled_email_gets_no_mail() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let off = fx.active("off@clinic.example", PASSWORD).await;
        fx.accounts.disable(off.id).await.unwrap();
        fx.active(EMAIL, PASSWORD).await;
        for email in ["nobody@clinic.example", "off@clinic.example", EMAIL] {
            life.request_reset(email, Branding::default(), None, None, None)
                .await
                .unwrap();
        }
        let raw = sink.next_message().await;
        assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
        assert!(sink.try_next_message().is_none());
    }

    #[tokio::test]
    async fn an_admin_link_is_bounded_by_configuration() {
        let fx = Fixture::new().await;
        let life = lifecycle(
            &fx,
            &MailConfig::outbox(tempfile::tempdir().unwrap().keep()),
        );
        fx.active(EMAIL, PASSWORD).await;
        let branding = Branding::default();
        let at_max = life
            .issue_admin_reset_link(EMAIL, Duration::days(7), false, &branding, None)
            .await
            .unwrap();
        assert_eq!(at_max.expires_at, fx.clock_now() + Duration::days(7));
        assert_eq!(at_max.is_sent, None);
        let past = life
            .issue_admin_reset_link(
                EMAIL,
                Duration::days(7) + Duration::MINUTE,
                false,
                &branding,
                None,
            )
            .await;
        assert!(matches!(
            past,
            Err(AccountsError::LifetimeOutOfRange { max_hours: 168 })
        ));
    }

    #[tokio::test]
    async fn a_reset_clears_a_lockout() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let (life, code) = started(&fx, &mut sink).await;
        for _ in 0..5 {
            let _ = fx.sign_in(EMAIL, "Not-The-Password-1").await;
        }
        assert!(matches!(
            fx.sign_in(EMAIL, PASSWORD).await,
            Err(SignInError::Locked { .. })
        ));
        life.complete_code_reset(EMAIL, &code, Some(BINDING), pw(NEW), pw(NEW))
            .await
            .unwrap();
        assert!(fx.sign_in(EMAIL, NEW).await.is_ok());
    }
}
