//! `careid user …`: account administration from the command line.

use std::{
    io::{BufRead, IsTerminal},
    path::Path,
    sync::Arc,
};

use anyhow::{Context, bail};
use careid_accounts::{
    AccountsError, Branding, Lifecycle, Notice, SecondFactor, invitation_state_label,
    parse_lifetime,
};
use careid_policy::PlainPassword;
use careid_store::{AccountId, ClientId, accounts, audit};
use clap::Subcommand;

/// `careid user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active account with a password (asked twice, or read from stdin).
    Add {
        /// The person's email; it is also their username.
        email: String,
        /// The person's name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Disable an account: it cannot sign in, its sessions and refresh tokens end now.
    Disable {
        /// The account's email.
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The account's email.
        email: String,
    },
    /// Reactivate an account that expired for inactivity; its 90 days start again.
    Reactivate {
        /// The account's email.
        email: String,
    },
    /// Clear a lock from too many wrong passwords (harmless when not locked).
    Unlock {
        /// The account's email.
        email: String,
    },
    /// Remove the account's second factors (authenticator app, recovery codes,
    /// passkeys), for a lost phone or key: the next sign-in takes the password alone.
    ResetMfa {
        /// The account's email.
        email: String,
    },
    /// Require a second factor of this person at every client (audited); with `--off`,
    /// stop requiring it (a client's `require_mfa` still applies).
    RequireMfa {
        /// The account's email.
        email: String,
        /// Stop requiring a second factor of this account.
        #[arg(long)]
        off: bool,
    },
    /// Delete an account for good with its profiles, sessions (their clients are told),
    /// tokens and consents; the audit trail stays. Deleting one that is gone succeeds.
    Delete {
        /// The account's email.
        email: String,
        /// Confirm the deletion; without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Create an invited account (no password) and email its activation link.
    Invite {
        /// The person's email.
        email: String,
        /// The person's name.
        #[arg(long, default_value = "")]
        name: String,
        /// The client whose name and theme the email carries (e.g. `crm`).
        #[arg(long)]
        client: Option<String>,
        /// Send an invited account a new link; the older ones stop working.
        #[arg(long)]
        resend: bool,
    },
    /// Print a password-reset link valid for `--expires` (e.g. 30m, 48h, 7d); with
    /// `--send`, email it too.
    ResetLink {
        /// The account's email.
        email: String,
        /// How long the link works: a number and m, h or d. At most
        /// `lifecycle.admin_reset_max_days`.
        #[arg(long, default_value = "48h")]
        expires: String,
        /// Also email the link to the person.
        #[arg(long)]
        send: bool,
        /// The client whose name and theme the email carries.
        #[arg(long)]
        client: Option<String>,
    },
    /// Show one account: status, invitation state, last activity.
    Show {
        /// The account's email.
        email: String,
    },
    /// List every account with its status and invitation state.
    List,
}

/// Runs a `user` subcommand.
pub async fn run(config_path: &Path, command: UserCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    if let UserCommand::Add { email, name } = &command {
        // Ask before touching the database, so a typo costs nothing.
        let (password, confirmation) = read_password()?;
        let accounts = super::open_accounts(&config).await?;
        return match accounts
            .create_account(email, name, password, confirmation)
            .await
        {
            Ok(account) => {
                println!("created {} (account {})", account.email, account.id);
                Ok(())
            }
            Err(err) => Err(explain(err)),
        };
    }
    match command {
        UserCommand::Invite {
            email,
            name,
            client,
            resend,
        } => {
            let client = client.map(ClientId::new);
            return invite(&config, &email, &name, client.as_ref(), resend).await;
        }
        UserCommand::ResetLink {
            email,
            expires,
            send,
            client,
        } => {
            let client = client.map(ClientId::new);
            return reset_link(&config, &email, &expires, send, client.as_ref()).await;
        }
        UserCommand::Show { email } => {
            let accounts = super::open_accounts(&config).await?;
            let Some(account) = accounts::find_by_email(&accounts.db, &email).await? else {
                bail!("no account has this email");
            };
            println!("email:       {}", account.email);
            println!("status:      {}", account.status);
            println!(
                "invitation:  {}",
                invitation_state_label(&account.invitation_state)
            );
            if account.invitation_state == "written_to_outbox" {
                println!(
                    "             not sent: [mail] transport = \"outbox\" wrote it to {}",
                    outbox_file(&accounts.db, account.id)
                        .await?
                        .unwrap_or_else(|| config.mail.outbox_dir.display().to_string())
                );
            }
            println!("activity:    {}", crate::rfc3339(account.activity_at));
            print_second_factors(&accounts.second_factor_details(account.id).await?);
            println!(
                "require mfa: {}",
                if account.require_mfa { "yes" } else { "no" }
            );
            println!(
                "password:    {}",
                if account.password_hash.is_some() {
                    "set"
                } else {
                    "not set"
                }
            );
            return Ok(());
        }
        UserCommand::Delete { email, yes } => return delete(&config, &email, yes).await,
        UserCommand::List => {
            let accounts = super::open_accounts(&config).await?;
            println!("{:<40} {:<10} {:<10}", "EMAIL", "STATUS", "INVITATION");
            for account in accounts::find_all(&accounts.db).await? {
                println!(
                    "{:<40} {:<10} {:<10}",
                    account.email,
                    account.status,
                    invitation_state_label(&account.invitation_state)
                );
            }
            return Ok(());
        }
        _ => {}
    }
    let accounts = super::open_accounts(&config).await?;
    let email = match &command {
        UserCommand::Add { .. }
        | UserCommand::Invite { .. }
        | UserCommand::ResetLink { .. }
        | UserCommand::Show { .. }
        | UserCommand::Delete { .. }
        | UserCommand::List => unreachable!("handled above"),
        UserCommand::Disable { email }
        | UserCommand::Enable { email }
        | UserCommand::Reactivate { email }
        | UserCommand::Unlock { email }
        | UserCommand::ResetMfa { email }
        | UserCommand::RequireMfa { email, .. } => email,
    };
    let id = accounts.account_by_email(email).await.map_err(explain)?.id;
    let (outcome, done) = match &command {
        UserCommand::Disable { .. } => (accounts.disable(id).await, "disabled"),
        UserCommand::Enable { .. } => (accounts.enable(id).await, "enabled"),
        UserCommand::Reactivate { .. } => (accounts.reactivate(id).await, "reactivated"),
        UserCommand::ResetMfa { .. } => (accounts.reset_mfa(id).await, "second factors removed"),
        UserCommand::RequireMfa { off: false, .. } => (
            accounts.set_require_mfa(id, true).await,
            "must now sign in with a second factor",
        ),
        UserCommand::RequireMfa { off: true, .. } => (
            accounts.set_require_mfa(id, false).await,
            "no longer needs a second factor (a client may still require one)",
        ),
        _ => (accounts.unlock(id).await, "unlocked"),
    };
    let account = outcome.map_err(explain)?;
    println!("{} {done}", account.email);
    if matches!(command, UserCommand::ResetMfa { .. }) {
        tell_owner(&config, account.id, Notice::SecondFactorsRemoved).await;
    }
    Ok(())
}

/// Mails the account's owner `notice`; the change is made whether or not the mail goes.
async fn tell_owner(config: &crate::Config, id: AccountId, notice: Notice) {
    let sent = async {
        let (lifecycle, _) = open_lifecycle(config, None).await?;
        lifecycle.notify(id, notice).await.map_err(explain)
    };
    match sent.await {
        Ok(careid_mail::Delivered::Sent) => println!("the owner was told by mail"),
        Ok(careid_mail::Delivered::Outbox(path)) => {
            println!("the owner's notice was written to {}", path.display());
        }
        Err(err) => eprintln!("warning: the owner could not be told by mail: {err:#}"),
    }
}

/// The `2nd factor:` lines of `careid user show`: one per factor, with when it was
/// added and last used.
fn print_second_factors(factors: &[SecondFactor]) {
    if factors.is_empty() {
        println!("2nd factor:  none");
    }
    for (i, factor) in factors.iter().enumerate() {
        let label = if i == 0 { "2nd factor:" } else { "" };
        let detail = factor
            .detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let last_used = factor
            .last_used_at
            .map_or_else(|| "never".to_owned(), crate::rfc3339);
        println!(
            "{label:<12} {}{detail}, added {}, last used {last_used}",
            factor.kind,
            crate::rfc3339(factor.added_at)
        );
    }
}

/// `careid user delete`: asks for `--yes`, and succeeds when the account is gone
/// already, so a repeated run is safe.
async fn delete(config: &crate::Config, email: &str, yes: bool) -> anyhow::Result<()> {
    if !yes {
        bail!(
            "deleting {email} removes the account, its profiles, sessions and tokens for good; run again with --yes"
        );
    }
    let accounts = super::open_accounts(config).await?;
    let account = match accounts.account_by_email(email).await {
        Ok(account) => account,
        Err(AccountsError::UnknownAccount) => {
            println!("no account has this email; nothing to delete");
            return Ok(());
        }
        Err(err) => return Err(explain(err)),
    };
    if accounts
        .delete_account(account.id, None)
        .await
        .map_err(explain)?
    {
        println!("deleted {} (account {})", account.email, account.id);
    } else {
        println!("no account has this email; nothing to delete");
    }
    Ok(())
}

/// `careid user invite`.
async fn invite(
    config: &crate::Config,
    email: &str,
    name: &str,
    client: Option<&ClientId>,
    resend: bool,
) -> anyhow::Result<()> {
    let (lifecycle, branding) = open_lifecycle(config, client).await?;
    let outcome = if resend {
        lifecycle.resend_invitation(email, &branding, client).await
    } else {
        lifecycle.invite(email, name, &branding, client).await
    };
    let invitation = outcome.map_err(explain)?;
    let account = &invitation.account;
    if let Some(file) = &invitation.outbox_file {
        println!(
            "invited {} (account {}): activation email NOT sent but written to {} ([mail] transport = \"outbox\"); link valid for {}",
            account.email,
            account.id,
            file.display(),
            careid_accounts::expires_in(lifecycle.config.invitation())
        );
        Ok(())
    } else if invitation.is_sent {
        println!(
            "invited {} (account {}): activation email sent, link valid for {}",
            account.email,
            account.id,
            careid_accounts::expires_in(lifecycle.config.invitation())
        );
        Ok(())
    } else {
        bail!(
            "{} is invited (account {}) but the activation email could not be sent (invitation state not_sent); fix [mail] and run `careid user invite {} --resend`",
            account.email,
            account.id,
            account.email
        )
    }
}

/// `careid user reset-link`.
async fn reset_link(
    config: &crate::Config,
    email: &str,
    expires: &str,
    send: bool,
    client: Option<&ClientId>,
) -> anyhow::Result<()> {
    let Some(lifetime) = parse_lifetime(expires) else {
        bail!("--expires {expires:?}: give a whole number and m, h or d, such as 48h");
    };
    let (lifecycle, branding) = open_lifecycle(config, client).await?;
    let issued = lifecycle
        .issue_admin_reset_link(email, lifetime, send, &branding, client)
        .await
        .map_err(explain)?;
    println!("{}", issued.link);
    println!("valid until {}", crate::rfc3339(issued.expires_at));
    match (issued.is_sent, &issued.outbox_file) {
        (Some(true), Some(file)) => println!(
            "not emailed: written to {} ([mail] transport = \"outbox\")",
            file.display()
        ),
        (Some(true), None) => println!("emailed to {email}"),
        (Some(false), _) => {
            bail!("the link works, but the email to {email} could not be sent")
        }
        (None, _) => {}
    }
    Ok(())
}

/// The lifecycle service over the configured database and mail, and the branding of
/// `client` (careid's own without one).
pub(super) async fn open_lifecycle(
    config: &crate::Config,
    client: Option<&ClientId>,
) -> anyhow::Result<(Lifecycle, Branding)> {
    let branding = match client {
        None => Branding::default(),
        Some(id) => {
            let (clients, _) = crate::clients::load_dir(&config.clients_dir);
            let Some(found) = clients.into_iter().find(|c| c.client_id == *id) else {
                bail!(
                    "no client {:?} in {}",
                    id.as_str(),
                    config.clients_dir.display()
                );
            };
            careid_ui::client_branding(&found)
        }
    };
    let accounts = Arc::new(super::open_accounts(config).await?);
    let mailer = careid_mail::Mailer::new(&config.mail).context("setting up [mail]")?;
    let renderer = careid_mail::Renderer::new(config.themes_dir.clone());
    let lifecycle = Lifecycle::new(
        accounts,
        mailer,
        renderer,
        &config.issuer,
        config.lifecycle.clone(),
    );
    Ok((lifecycle, branding))
}

/// The outbox file the account's latest invitation was written to, from the audit trail.
pub(crate) async fn outbox_file(
    db: &careid_store::Db,
    account_id: AccountId,
) -> anyhow::Result<Option<String>> {
    let latest = audit::find_latest_of_kind(db, account_id, "invitation_written_to_outbox").await?;
    Ok(latest
        .and_then(|event| serde_json::from_str::<serde_json::Value>(&event.detail).ok())
        .and_then(|detail| detail["outbox_file"].as_str().map(str::to_owned)))
}

/// Turns an account error into a sentence for the operator.
fn explain(err: AccountsError) -> anyhow::Error {
    match err {
        AccountsError::PasswordRejected(violations) => {
            for violation in &violations {
                eprintln!("- {}", violation.message());
            }
            anyhow::anyhow!("the password does not meet the rules")
        }
        AccountsError::EmailTaken => anyhow::anyhow!("an account with this email exists already"),
        AccountsError::UnknownAccount => anyhow::anyhow!("no account has this email"),
        AccountsError::InvalidEmail => anyhow::anyhow!("this is not an email address"),
        AccountsError::LifetimeOutOfRange { max_hours } => anyhow::anyhow!(
            "a reset link may last from 1 minute to {max_hours} hours (lifecycle.admin_reset_max_days)"
        ),
        AccountsError::WrongStatus(status) => {
            anyhow::anyhow!(
                "this does not apply to an account that is {}",
                status.as_str()
            )
        }
        err => err.into(),
    }
}

/// Asks twice on a terminal; reads one line (used as both entries) from a pipe.
fn read_password() -> anyhow::Result<(PlainPassword, PlainPassword)> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        Ok((PlainPassword::new(first), PlainPassword::new(second)))
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.is_empty() {
            bail!("no password on standard input");
        }
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        Ok((
            PlainPassword::new(password.clone()),
            PlainPassword::new(password),
        ))
    }
}
