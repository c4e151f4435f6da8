//! Database migrations for careid. The same migrations run on SQLite and PostgreSQL, so
//! they use only portable types: text, booleans, integers and timestamps with time zone.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_session_clients;
mod m0003_registration_tokens;
mod m0004_audit_ip_index;
mod m0005_client_assertions;
mod m0006_session_endings;
mod m0007_install_secrets;
mod m0008_pending_request_address;
mod m0009_registration_tokens_and_pairwise;
mod m0011_profile_birthdate;
mod m0012_totp_factors;
mod m0013_recovery_codes;
mod m0014_audit_account_kind_index;
mod m0015_account_require_mfa;
mod m0016_passkeys;

/// Every careid migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_session_clients::Migration),
            Box::new(m0003_registration_tokens::Migration),
            Box::new(m0004_audit_ip_index::Migration),
            Box::new(m0005_client_assertions::Migration),
            Box::new(m0006_session_endings::Migration),
            Box::new(m0007_install_secrets::Migration),
            Box::new(m0008_pending_request_address::Migration),
            Box::new(m0009_registration_tokens_and_pairwise::Migration),
            Box::new(m0011_profile_birthdate::Migration),
            Box::new(m0012_totp_factors::Migration),
            Box::new(m0013_recovery_codes::Migration),
            Box::new(m0014_audit_account_kind_index::Migration),
            Box::new(m0015_account_require_mfa::Migration),
            Box::new(m0016_passkeys::Migration),
        ]
    }
}
