//! Magic links (issue 13): a person who signs in without a password asks for a link by
//! email and follows it. A link works once, for `lifecycle.magic_link_hours`, and only the
//! newest works: asking again voids every older one. Opening a link only looks at it (a
//! mail scanner that fetches links must not burn it); the person confirms, and only that
//! uses it up. The welcome link of a passwordless client's invitation is a magic link
//! too: its first use activates the invited account.
//!
//! A request for an unknown (or disabled) email answers the same and sends nothing. The
//! request itself does the same work for every email (one lookup, one audit row); the
//! link is stored and mailed off the request path, so neither the answer nor its timing
//! tells which emails have accounts. Tokens are stored as SHA-256 digests only. Pages,
//! wording, the rate limits per address and per email, and the session itself are
//! `careid-ui`'s.

use std::sync::Arc;

use careid_policy::{is_inactive_expired, one_time};
use careid_store::{
    AccountId, ClientId,
    accounts::{self, Account, Status},
    audit,
    one_time_tokens::{self, NewToken, OneTimeToken},
};
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    AccountsError, Branding,
    invitation::void_invitation_links,
    lifecycle::{Lifecycle, MAGIC_LINK, PENDING_INVITATION},
    service::{commit, event},
};

/// The page a magic link opens; the token follows as `?token=`.
pub const MAGIC_LINK_PATH: &str = "/magic-link/sign-in";

/// Why a magic link cannot sign anyone in. Each is its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MagicLinkProblem {
    /// No link has this token (cut off, mistyped, never issued).
    Unknown,
    /// The link signed someone in already.
    Used,
    /// A newer link was sent since; only the newest works.
    Superseded,
    /// The link is past its lifetime.
    Expired,
    /// An administrator disabled the account.
    AccountDisabled,
    /// The account expired for inactivity; an administrator reactivates it.
    AccountExpired,
}

impl MagicLinkProblem {
    /// The `result` label of `careid_sign_ins_total`: a link that cannot sign in counts
    /// as wrong credentials, an account that may not as its status.
    pub fn metric_result(&self) -> &'static str {
        match self {
            Self::AccountDisabled => "disabled",
            Self::AccountExpired => "expired",
            Self::Unknown | Self::Used | Self::Superseded | Self::Expired => "wrong_credentials",
        }
    }

    /// A lower-case word for the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Used => "used",
            Self::Superseded => "superseded",
            Self::Expired => "expired",
            Self::AccountDisabled => "account_disabled",
            Self::AccountExpired => "account_expired",
        }
    }
}

/// A usable link, as its confirmation page needs it.
#[derive(Debug, Clone)]
pub struct MagicLink {
    /// The account's email, shown so the person sees whom they sign in as.
    pub email: String,
    /// The client the link was asked from (or invited for), for the theme and landing.
    pub client_id: Option<ClientId>,
}

/// A sign-in by magic link that went through.
#[derive(Debug, Clone)]
pub struct MagicSignIn {
    /// The account now signed in.
    pub account_id: AccountId,
    /// The client the link was asked from (or invited for).
    pub client_id: Option<ClientId>,
    /// Whether this first use activated an invited account.
    pub is_activation: bool,
}

/// Statuses whose owner may be sent a link. An invited account may: its first sign-in
/// activates it, as the welcome link does.
fn may_receive(account: &Account) -> bool {
    matches!(account.status(), Status::Active | Status::Invited)
}

/// Whether a token found by its digest can be used at `now`, and why not. `successor`
/// is the account's first link issued after this one: a link voided at the moment its
/// successor was made was superseded, any other used link was used.
pub(crate) fn problem_of(
    found: Option<&OneTimeToken>,
    successor: Option<&OneTimeToken>,
    now: OffsetDateTime,
) -> Option<MagicLinkProblem> {
    let Some(token) = found else {
        return Some(MagicLinkProblem::Unknown);
    };
    if let Some(used_at) = token.used_at {
        let is_superseded = successor.is_some_and(|next| next.created_at <= used_at);
        return Some(if is_superseded {
            MagicLinkProblem::Superseded
        } else {
            MagicLinkProblem::Used
        });
    }
    if !one_time::is_usable(token.expires_at, token.used_at, now) {
        return Some(MagicLinkProblem::Expired);
    }
    None
}

impl Lifecycle {
    /// "Email me a sign-in link": mails a link to the account with this email, if there
    /// is one that may sign in, and voids its older links. Answers the same either way:
    /// the request itself only looks the email up and records the request, known or not;
    /// the link is made and mailed in the background, after the answer.
    pub async fn request_magic_link(
        self: &Arc<Self>,
        email: &str,
        branding: Branding,
        client_id: Option<ClientId>,
        ip: Option<String>,
    ) -> Result<(), AccountsError> {
        let now = self.accounts.clock.now();
        let db = &self.accounts.db;
        // The same two statements for every email: one lookup, one audit row. Anything
        // more for a known email (voiding its older links, storing the new one) would make
        // its answer slower than an unknown one's, and tell which emails have accounts.
        let found = accounts::find_by_email(db, email)
            .await?
            .filter(may_receive);
        let detail = match &found {
            Some(_) => json!({}),
            None => json!({ "reason": "no_account_may_sign_in" }),
        };
        let requested = audit::NewEvent {
            kind: "magic_link_requested",
            account_id: found.as_ref().map(|account| account.id),
            client_id: client_id.clone(),
            ip,
            detail,
        };
        audit::insert_event(db, requested, now).await?;
        let Some(account) = found else {
            return Ok(());
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(err) = this.send_magic_link(account.id, branding, client_id).await {
                tracing::error!(%err, account = account.id.get(), "magic link not made");
            }
        });
        Ok(())
    }

    /// The background half of [`Self::request_magic_link`]: stores a new link for the
    /// account (voiding its older ones) and mails it, auditing the send.
    async fn send_magic_link(
        &self,
        account_id: AccountId,
        branding: Branding,
        client_id: Option<ClientId>,
    ) -> Result<(), AccountsError> {
        let now = self.accounts.clock.now();
        // One transaction that holds the account (SQLite's write lock, or its row on
        // PostgreSQL): two requests at once cannot both leave a live link. The account
        // is looked at again under the lock: it may have been disabled since the request.
        let txn = self.accounts.begin().await?;
        let Some(account) = accounts::find_by_id_for_update(&txn, account_id)
            .await?
            .filter(may_receive)
        else {
            return Ok(());
        };
        let token = self
            .insert_magic_link(&txn, account.id, client_id.as_ref(), now)
            .await?;
        commit(txn).await?;
        let link = self.link(MAGIC_LINK_PATH, &token);
        let lifetime = self.config.magic_link();
        let sent = self
            .mail(&account, &branding, "magic_link", &link, "", lifetime)
            .await;
        let (kind, detail) = match &sent {
            Ok(careid_mail::Delivered::Sent) => ("magic_link_sent", json!({})),
            Ok(careid_mail::Delivered::Outbox(path)) => (
                "magic_link_written_to_outbox",
                json!({ "outbox_file": path.display().to_string() }),
            ),
            Err(err) => {
                tracing::error!(%err, account = account.id.get(), "magic link not sent");
                ("magic_link_not_sent", json!({ "error": err.to_string() }))
            }
        };
        let recorded = audit::NewEvent {
            client_id,
            detail,
            ..event(kind, account.id)
        };
        let now = self.accounts.clock.now();
        audit::insert_event(&self.accounts.db, recorded, now).await?;
        Ok(())
    }

    /// Stores a new magic link for the account in the caller's transaction, after voiding
    /// its older ones (audited as `magic_link_superseded`). Returns the token.
    pub(crate) async fn insert_magic_link(
        &self,
        txn: &careid_store::Tx,
        account_id: AccountId,
        client_id: Option<&ClientId>,
        now: OffsetDateTime,
    ) -> Result<String, AccountsError> {
        self.insert_sign_in_link(txn, account_id, client_id, self.config.magic_link(), now)
            .await
    }

    /// [`Self::insert_magic_link`] with its own lifetime (a welcome link lives as long
    /// as an invitation).
    pub(crate) async fn insert_sign_in_link(
        &self,
        txn: &careid_store::Tx,
        account_id: AccountId,
        client_id: Option<&ClientId>,
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<String, AccountsError> {
        let voided = one_time_tokens::update_superseded(txn, account_id, MAGIC_LINK, now).await?;
        if voided > 0 {
            let superseded = audit::NewEvent {
                detail: json!({ "count": voided }),
                ..event("magic_link_superseded", account_id)
            };
            audit::insert_event(txn, superseded, now).await?;
        }
        let token = one_time::new_token();
        let new = NewToken {
            digest: one_time::digest(&token),
            account_id,
            purpose: MAGIC_LINK,
            client_id: client_id.cloned(),
            binding_digest: None,
            expires_at: now + lifetime,
        };
        one_time_tokens::insert_token(txn, new, false, now).await?;
        Ok(token)
    }

    /// Looks at a link that `/magic-link/sign-in` received, using nothing up: a GET of
    /// the link (a person, or a mail scanner) only shows the confirmation.
    pub async fn open_magic_link(
        &self,
        token: &str,
    ) -> Result<Result<MagicLink, MagicLinkProblem>, AccountsError> {
        let now = self.accounts.clock.now();
        let found = self.find_magic_link(token).await?;
        let (stored, account) = match self.check_magic_link(found, now).await? {
            Ok(found) => found,
            Err(problem) => return Ok(Err(problem)),
        };
        Ok(Ok(MagicLink {
            email: account.email,
            client_id: stored.client_id,
        }))
    }

    /// Uses a link up and signs its account in: the person confirmed on the page. An
    /// invited account becomes active and its invitation accepted. One conditional
    /// UPDATE takes the link, so of two confirmations at once exactly one signs in.
    pub async fn use_magic_link(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<Result<MagicSignIn, MagicLinkProblem>, AccountsError> {
        let outcome = self.take_magic_link(token, ip).await;
        if let Ok(used) = &outcome {
            crate::sign_in::count_sign_in("magic_link", used, MagicLinkProblem::metric_result);
        }
        outcome
    }

    async fn take_magic_link(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<Result<MagicSignIn, MagicLinkProblem>, AccountsError> {
        let now = self.accounts.clock.now();
        let found = self.find_magic_link(token).await?;
        let (stored, account) = match self.check_magic_link(found.clone(), now).await? {
            Ok(found) => found,
            Err(problem) => return self.refuse(found.as_ref(), problem, ip, now).await,
        };
        let is_activation = account.status() == Status::Invited;
        let txn = self.accounts.begin().await?;
        if !one_time_tokens::take_token(&txn, stored.id, now).await? {
            drop(txn);
            // Taken in between: say why, as a second look at it would.
            let again = self.find_magic_link(token).await?;
            let problem = match self.check_magic_link(again, now).await? {
                Err(problem) => problem,
                Ok(_) => MagicLinkProblem::Used,
            };
            return self.refuse(Some(&stored), problem, ip, now).await;
        }
        if is_activation {
            accounts::update_status(&txn, account.id, Status::Active, now).await?;
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
            }
            // The activation link a password client's invitation mailed, if any.
            void_invitation_links(&txn, account.id, now).await?;
        }
        // Failure counters reset and the inactivity clock restarts, as for any sign-in.
        accounts::update_signed_in(&txn, account.id, None, now).await?;
        let used = audit::NewEvent {
            client_id: stored.client_id.clone(),
            ip: ip.clone(),
            detail: json!({ "activated": is_activation }),
            ..event("magic_link_used", account.id)
        };
        audit::insert_event(&txn, used, now).await?;
        let signed_in = audit::NewEvent {
            client_id: stored.client_id.clone(),
            ip,
            detail: json!({ "method": "magic_link" }),
            ..event("sign_in", account.id)
        };
        audit::insert_event(&txn, signed_in, now).await?;
        commit(txn).await?;
        Ok(Ok(MagicSignIn {
            account_id: account.id,
            client_id: stored.client_id,
            is_activation,
        }))
    }

    /// The stored link a token names, whatever its state: one digest, one read.
    async fn find_magic_link(&self, token: &str) -> Result<Option<OneTimeToken>, AccountsError> {
        let digest = one_time::digest(token);
        Ok(one_time_tokens::find_by_digest(&self.accounts.db, &digest, MAGIC_LINK).await?)
    }

    /// The link `found` and its account if it can sign in at `now`, else why not. An
    /// active account found idle past the limit is marked expired on the spot, as a
    /// password sign-in would.
    async fn check_magic_link(
        &self,
        found: Option<OneTimeToken>,
        now: OffsetDateTime,
    ) -> Result<Result<(OneTimeToken, Account), MagicLinkProblem>, AccountsError> {
        let db = &self.accounts.db;
        let successor = match &found {
            Some(stored) if stored.used_at.is_some() => {
                one_time_tokens::find_successor(db, stored.account_id, MAGIC_LINK, stored.id)
                    .await?
            }
            _ => None,
        };
        if let Some(problem) = problem_of(found.as_ref(), successor.as_ref(), now) {
            return Ok(Err(problem));
        }
        let Some(stored) = found else {
            return Ok(Err(MagicLinkProblem::Unknown));
        };
        let mut account = self.account(stored.account_id).await?;
        if account.status() == Status::Active
            && is_inactive_expired(
                account.activity_at,
                now,
                self.accounts.config.inactivity_expiry_days,
            )
        {
            self.accounts.expire(&account, "magic_link", now).await?;
            account.status = Status::Expired.as_str().to_owned();
        }
        match account.status() {
            Status::Active | Status::Invited => Ok(Ok((stored, account))),
            Status::Disabled => Ok(Err(MagicLinkProblem::AccountDisabled)),
            Status::Expired => Ok(Err(MagicLinkProblem::AccountExpired)),
        }
    }

    /// Records a refused confirmation of the stored link `found` (`magic_link_refused`,
    /// with the reason) and returns it.
    async fn refuse(
        &self,
        found: Option<&OneTimeToken>,
        problem: MagicLinkProblem,
        ip: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Result<MagicSignIn, MagicLinkProblem>, AccountsError> {
        let db = &self.accounts.db;
        let refused = audit::NewEvent {
            kind: "magic_link_refused",
            account_id: found.map(|t| t.account_id),
            client_id: found.and_then(|t| t.client_id.clone()),
            ip,
            detail: json!({ "reason": problem.as_str() }),
        };
        audit::insert_event(db, refused, now).await?;
        Ok(Err(problem))
    }
}

#[cfg(test)]
mod tests {
    use careid_mail::testing::{SmtpSink, links};
    use time::Duration;

    use super::*;
    use crate::{
        lifecycle::testing::lifecycle,
        testing::{Fixture, PASSWORD},
    };

    const EMAIL: &str = "ada@clinic.example";

    fn token_of(raw: &str) -> String {
        let link = &links(raw)[0];
        assert!(link.contains(MAGIC_LINK_PATH), "{link}");
        link.split("token=").nth(1).unwrap().to_owned()
    }

    async fn ask(life: &Arc<Lifecycle>, sink: &mut SmtpSink, email: &str) -> String {
        life.request_magic_link(email, Branding::default(), None, None)
            .await
            .unwrap();
        token_of(&sink.next_message().await)
    }

    #[tokio::test]
    async fn a_link_signs_in_once_and_opening_it_uses_nothing() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let account = fx.active(EMAIL, PASSWORD).await;
        let token = ask(&life, &mut sink, EMAIL).await;
        for _ in 0..2 {
            let opened = life.open_magic_link(&token).await.unwrap().unwrap();
            assert_eq!(opened.email, EMAIL);
        }
        let used = life.use_magic_link(&token, None).await.unwrap().unwrap();
        assert_eq!(used.account_id, account.id);
        assert!(!used.is_activation);
        let again = life.use_magic_link(&token, None).await.unwrap();
        assert_eq!(again.unwrap_err(), MagicLinkProblem::Used);
        // The mail task audits the send once the relay has answered; let it finish.
        let mut events = fx.events(account.id).await;
        for _ in 0..1000 {
            if events.contains(&"magic_link_sent".to_string()) {
                break;
            }
            tokio::task::yield_now().await;
            events = fx.events(account.id).await;
        }
        for kind in [
            "magic_link_requested",
            "magic_link_sent",
            "magic_link_used",
            "magic_link_refused",
        ] {
            assert!(events.contains(&kind.to_string()), "{kind} in {events:?}");
        }
    }

    #[tokio::test]
    async fn a_newer_link_supersedes_the_older_one() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let account = fx.active(EMAIL, PASSWORD).await;
        let older = ask(&life, &mut sink, EMAIL).await;
        fx.advance(Duration::MINUTE);
        let newer = ask(&life, &mut sink, EMAIL).await;
        let opened = life.open_magic_link(&older).await.unwrap();
        assert_eq!(opened.unwrap_err(), MagicLinkProblem::Superseded);
        assert!(life.use_magic_link(&newer, None).await.unwrap().is_ok());
        // Used, then a newer one asked for: the used one reads as used, not superseded.
        fx.advance(Duration::MINUTE);
        let _third = ask(&life, &mut sink, EMAIL).await;
        let opened = life.open_magic_link(&newer).await.unwrap();
        assert_eq!(opened.unwrap_err(), MagicLinkProblem::Used);
        assert!(
            fx.events(account.id)
                .await
                .contains(&"magic_link_superseded".to_string())
        );
    }

    #[tokio::test]
    async fn a_link_works_until_its_lifetime_and_not_at_it() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        fx.active(EMAIL, PASSWORD).await;
        let token = ask(&life, &mut sink, EMAIL).await;
        fx.advance(Duration::hours(24) - Duration::SECOND);
        assert!(life.open_magic_link(&token).await.unwrap().is_ok());
        fx.advance(Duration::SECOND);
        let late = life.use_magic_link(&token, None).await.unwrap();
        assert_eq!(late.unwrap_err(), MagicLinkProblem::Expired);
    }

    #[tokio::test]
    async fn an_unknown_or_disabled_email_gets_no_link() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        let off = fx.active("off@clinic.example", PASSWORD).await;
        fx.accounts.disable(off.id).await.unwrap();
        fx.active(EMAIL, PASSWORD).await;
        for email in ["nobody@clinic.example", "off@clinic.example", EMAIL] {
            life.request_magic_link(email, Branding::default(), None, None)
                .await
                .unwrap();
        }
        let raw = sink.next_message().await;
        assert!(raw.contains(&format!("To: {EMAIL}")), "{raw}");
        assert!(sink.try_next_message().is_none());
    }

    #[tokio::test]
    async fn a_link_of_an_account_disabled_since_does_not_sign_in() {
        let fx = Fixture::new().await;
        let mut sink = SmtpSink::start().await.unwrap();
        let life = lifecycle(&fx, &sink.mail_config());
        fx.active(EMAIL, PASSWORD).await;
        let token = ask(&life, &mut sink, EMAIL).await;
        fx.accounts.disable(fx.id_of(EMAIL).await).await.unwrap();
        let refused = life.use_magic_link(&token, None).await.unwrap();
        assert_eq!(refused.unwrap_err(), MagicLinkProblem::AccountDisabled);
    }

    #[test]
    fn an_unknown_token_is_unknown() {
        assert_eq!(
            problem_of(None, None, crate::testing::START),
            Some(MagicLinkProblem::Unknown)
        );
    }
}
