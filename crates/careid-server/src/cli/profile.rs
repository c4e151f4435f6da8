//! `careid profile …`: an account's profiles (self, a couple, a dependent child), each
//! its own `sub` with its own claims. The rules are `careid_accounts::Accounts`'.

use std::path::Path;

use anyhow::bail;
use careid_accounts::{AccountsError, NewProfileFields, ProfileKind};
use clap::Subcommand;

/// `careid profile …`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Add a profile to an account (e.g. a child the account holder acts for).
    Add {
        /// The account's email.
        email: String,
        /// The profile's name, as applications show it.
        #[arg(long)]
        name: String,
        /// `self`, `couple` or `dependent`.
        #[arg(long)]
        kind: String,
        /// The profile's own email, if it has one.
        #[arg(long = "email")]
        profile_email: Option<String>,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        birthdate: Option<String>,
    },
    /// List an account's profiles with their subjects.
    List {
        /// The account's email.
        email: String,
    },
    /// Rename a profile.
    Rename {
        /// The account's email.
        email: String,
        /// The profile's subject (from `careid profile list`). A subject may begin
        /// with `-`, so it is never read as an option.
        #[arg(allow_hyphen_values = true)]
        subject: String,
        /// The new name.
        #[arg(long)]
        name: String,
    },
    /// Remove a profile (never the last): its tokens and consents end.
    Remove {
        /// The account's email.
        email: String,
        /// The profile's subject (from `careid profile list`). A subject may begin
        /// with `-`, so it is never read as an option.
        #[arg(allow_hyphen_values = true)]
        subject: String,
    },
}

/// Runs a `profile` subcommand.
pub async fn run(config_path: &Path, command: ProfileCommand) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let accounts = super::open_accounts(&config).await?;
    match command {
        ProfileCommand::Add {
            email,
            name,
            kind,
            profile_email,
            birthdate,
        } => {
            let Some(kind) = ProfileKind::parse(&kind) else {
                bail!("--kind {kind:?}: give self, couple or dependent");
            };
            let fields = NewProfileFields {
                name,
                kind,
                email: profile_email,
                birthdate,
            };
            let profile = accounts
                .add_profile_to(&email, fields)
                .await
                .map_err(explain)?;
            println!(
                "added {} ({}) to {email}: subject {}",
                profile.name, profile.kind, profile.subject
            );
        }
        ProfileCommand::List { email } => {
            let (_, profiles) = accounts.profiles_of(&email).await.map_err(explain)?;
            println!(
                "{:<24} {:<10} {:<30} {:<11} EMAIL",
                "SUBJECT", "KIND", "NAME", "BIRTHDATE"
            );
            for p in profiles {
                println!(
                    "{:<24} {:<10} {:<30} {:<11} {}",
                    p.subject,
                    p.kind,
                    p.name,
                    p.birthdate.as_deref().unwrap_or("-"),
                    p.email.as_deref().unwrap_or("-")
                );
            }
        }
        ProfileCommand::Rename {
            email,
            subject,
            name,
        } => {
            let profile = accounts
                .rename_profile(&email, &subject, &name)
                .await
                .map_err(explain)?;
            println!("renamed {subject} to {}", profile.name);
        }
        ProfileCommand::Remove { email, subject } => {
            accounts
                .remove_profile(&email, &subject)
                .await
                .map_err(explain)?;
            println!("removed {subject} from {email}; its tokens and consents ended");
        }
    }
    Ok(())
}

/// Turns an account error into a sentence for staff.
fn explain(err: AccountsError) -> anyhow::Error {
    match err {
        AccountsError::UnknownAccount => anyhow::anyhow!("no account has this email"),
        AccountsError::UnknownProfile => {
            anyhow::anyhow!("this account has no profile with that subject")
        }
        AccountsError::LastProfile => {
            anyhow::anyhow!("an account keeps at least one profile; this is its last")
        }
        AccountsError::InvalidProfile { why, .. } => anyhow::anyhow!("{why}"),
        err => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ProfileCommand;
    use crate::cli::{Cli, Command};

    /// Subjects are random base64url, so about one in 64 begins with `-`.
    #[test]
    fn a_subject_that_begins_with_a_hyphen_is_a_subject() {
        let args = [
            "careid",
            "profile",
            "rename",
            "a@b.example",
            "-lXq",
            "--name",
            "Sam",
        ];
        let cli = Cli::try_parse_from(args).expect("parses");
        let Command::Profile(ProfileCommand::Rename { subject, name, .. }) = cli.command else {
            panic!("a rename");
        };
        assert_eq!((subject.as_str(), name.as_str()), ("-lXq", "Sam"));
        let args = ["careid", "profile", "remove", "a@b.example", "-lXq"];
        let cli = Cli::try_parse_from(args).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Profile(ProfileCommand::Remove { subject, .. }) if subject == "-lXq"
        ));
    }
}
