//! The identity model of DESIGN.md: accounts and their profiles, password history,
//! one-time tokens, browser sessions, pending authorization requests, codes, refresh
//! tokens, revoked access tokens, consents, clients, signing keys and the audit trail.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(big_pk_auto(Accounts::Id))
                .col(text_uniq(Accounts::Email))
                .col(text_null(Accounts::PasswordHash))
                .col(text(Accounts::Status))
                .col(text(Accounts::InvitationState))
                .col(timestamp_with_time_zone(Accounts::ActivityAt))
                .col(integer(Accounts::FailedAttempts).default(0))
                .col(integer(Accounts::Lockouts).default(0))
                .col(timestamp_with_time_zone_null(Accounts::LockedUntil))
                .col(timestamp_with_time_zone_null(Accounts::DisabledAt))
                .col(timestamp_with_time_zone_null(Accounts::ExpiredAt))
                .col(timestamp_with_time_zone(Accounts::CreatedAt))
                .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // The inactivity sweep scans active accounts by their last activity.
        index(
            m,
            Accounts::Table,
            "ix_accounts_status_activity",
            &[Accounts::Status, Accounts::ActivityAt],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Profiles::Table)
                .col(big_pk_auto(Profiles::Id))
                .col(big_integer(Profiles::AccountId))
                .col(text_uniq(Profiles::Subject))
                .col(text(Profiles::Kind))
                .col(integer(Profiles::Position))
                .col(text(Profiles::Name))
                .col(text_null(Profiles::GivenName))
                .col(text_null(Profiles::FamilyName))
                .col(text_null(Profiles::Email))
                .col(boolean(Profiles::EmailVerified).default(false))
                .col(timestamp_with_time_zone(Profiles::CreatedAt))
                .foreign_key(&mut fk(Profiles::Table, Profiles::AccountId))
                .to_owned(),
        )
        .await?;
        index(
            m,
            Profiles::Table,
            "ix_profiles_account",
            &[Profiles::AccountId, Profiles::Position],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PasswordHistory::Table)
                .col(big_pk_auto(PasswordHistory::Id))
                .col(big_integer(PasswordHistory::AccountId))
                .col(text(PasswordHistory::PasswordHash))
                .col(timestamp_with_time_zone(PasswordHistory::CreatedAt))
                .foreign_key(&mut fk(PasswordHistory::Table, PasswordHistory::AccountId))
                .to_owned(),
        )
        .await?;
        index(
            m,
            PasswordHistory::Table,
            "ix_password_history_account",
            &[PasswordHistory::AccountId, PasswordHistory::Id],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(OneTimeTokens::Table)
                .col(big_pk_auto(OneTimeTokens::Id))
                .col(text_uniq(OneTimeTokens::Digest))
                .col(big_integer(OneTimeTokens::AccountId))
                .col(text(OneTimeTokens::Purpose))
                .col(text_null(OneTimeTokens::ClientId))
                .col(text_null(OneTimeTokens::BindingDigest))
                .col(integer(OneTimeTokens::Attempts).default(0))
                .col(timestamp_with_time_zone(OneTimeTokens::CreatedAt))
                .col(timestamp_with_time_zone(OneTimeTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(OneTimeTokens::UsedAt))
                .foreign_key(&mut fk(OneTimeTokens::Table, OneTimeTokens::AccountId))
                .to_owned(),
        )
        .await?;
        // A new magic link supersedes the older ones of the same account and purpose.
        index(
            m,
            OneTimeTokens::Table,
            "ix_one_time_tokens_account",
            &[OneTimeTokens::AccountId, OneTimeTokens::Purpose],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(big_pk_auto(Sessions::Id))
                .col(text_uniq(Sessions::Digest))
                .col(text_uniq(Sessions::Sid))
                .col(big_integer(Sessions::AccountId))
                .col(big_integer_null(Sessions::ProfileId))
                .col(timestamp_with_time_zone(Sessions::AuthTime))
                .col(text(Sessions::Amr))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                .col(timestamp_with_time_zone_null(Sessions::EndedAt))
                .foreign_key(&mut fk(Sessions::Table, Sessions::AccountId))
                .to_owned(),
        )
        .await?;
        index(
            m,
            Sessions::Table,
            "ix_sessions_account",
            &[Sessions::AccountId],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthorizationRequests::Table)
                .col(text(AuthorizationRequests::Id).primary_key())
                .col(text(AuthorizationRequests::ClientId))
                .col(text(AuthorizationRequests::Request))
                .col(timestamp_with_time_zone(AuthorizationRequests::CreatedAt))
                .col(timestamp_with_time_zone(AuthorizationRequests::ExpiresAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            AuthorizationRequests::Table,
            "ix_authorization_requests_expiry",
            &[AuthorizationRequests::ExpiresAt],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthorizationCodes::Table)
                .col(text(AuthorizationCodes::Digest).primary_key())
                .col(text(AuthorizationCodes::ClientId))
                .col(text(AuthorizationCodes::Grant))
                .col(timestamp_with_time_zone(AuthorizationCodes::CreatedAt))
                .col(timestamp_with_time_zone(AuthorizationCodes::ExpiresAt))
                .col(timestamp_with_time_zone_null(AuthorizationCodes::UsedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            AuthorizationCodes::Table,
            "ix_authorization_codes_expiry",
            &[AuthorizationCodes::ExpiresAt],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(big_pk_auto(RefreshTokens::Id))
                .col(text_uniq(RefreshTokens::Digest))
                .col(text(RefreshTokens::FamilyId))
                .col(text(RefreshTokens::ClientId))
                .col(big_integer(RefreshTokens::AccountId))
                .col(text(RefreshTokens::Grant))
                .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                .foreign_key(&mut fk(RefreshTokens::Table, RefreshTokens::AccountId))
                .to_owned(),
        )
        .await?;
        index(
            m,
            RefreshTokens::Table,
            "ix_refresh_tokens_family",
            &[RefreshTokens::FamilyId],
        )
        .await?;
        index(
            m,
            RefreshTokens::Table,
            "ix_refresh_tokens_account",
            &[RefreshTokens::AccountId, RefreshTokens::ClientId],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RevokedAccessTokens::Table)
                .col(text(RevokedAccessTokens::Jti).primary_key())
                .col(timestamp_with_time_zone(RevokedAccessTokens::ExpiresAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Consents::Table)
                .col(big_pk_auto(Consents::Id))
                .col(big_integer(Consents::ProfileId))
                .col(text(Consents::ClientId))
                .col(text(Consents::Scopes))
                .col(timestamp_with_time_zone(Consents::GrantedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Consents::Table, Consents::ProfileId)
                        .to(Profiles::Table, Profiles::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_consents_profile_client")
                .table(Consents::Table)
                .col(Consents::ProfileId)
                .col(Consents::ClientId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Clients::Table)
                .col(text(Clients::Id).primary_key())
                .col(text(Clients::Metadata))
                .col(text_null(Clients::SecretDigest))
                .col(text_null(Clients::RegistrationTokenDigest))
                .col(timestamp_with_time_zone(Clients::CreatedAt))
                .col(timestamp_with_time_zone(Clients::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SigningKeys::Table)
                .col(text(SigningKeys::Kid).primary_key())
                .col(text(SigningKeys::Alg))
                .col(integer(SigningKeys::Generation))
                .col(text(SigningKeys::PrivatePem))
                .col(text(SigningKeys::PublicJwk))
                .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                .col(timestamp_with_time_zone(SigningKeys::ActiveFrom))
                .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                .to_owned(),
        )
        .await?;
        // Two instances starting on an empty database race to create generation 1 of
        // each algorithm; the unique index lets exactly one of them win.
        m.create_index(
            Index::create()
                .name("ux_signing_keys_alg_generation")
                .table(SigningKeys::Table)
                .col(SigningKeys::Alg)
                .col(SigningKeys::Generation)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(big_pk_auto(AuditEvents::Id))
                .col(timestamp_with_time_zone(AuditEvents::At))
                .col(text(AuditEvents::Kind))
                .col(big_integer_null(AuditEvents::AccountId))
                .col(text_null(AuditEvents::ClientId))
                .col(text_null(AuditEvents::Ip))
                .col(text(AuditEvents::Detail))
                .to_owned(),
        )
        .await?;
        index(
            m,
            AuditEvents::Table,
            "ix_audit_events_account",
            &[AuditEvents::AccountId, AuditEvents::At],
        )
        .await?;
        index(
            m,
            AuditEvents::Table,
            "ix_audit_events_at",
            &[AuditEvents::At],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Clients::Table.into_iden(),
            Consents::Table.into_iden(),
            RevokedAccessTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            AuthorizationRequests::Table.into_iden(),
            Sessions::Table.into_iden(),
            OneTimeTokens::Table.into_iden(),
            PasswordHistory::Table.into_iden(),
            Profiles::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// A foreign key from `table.column` to `accounts.id`, removed with the account.
fn fk<T: IntoIden + Copy + 'static, C: IntoIden + 'static>(
    table: T,
    column: C,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Accounts::Table, Accounts::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    m: &SchemaManager<'_>,
    table: T,
    name: &str,
    columns: &[C],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for column in columns {
        stmt.col(*column);
    }
    m.create_index(stmt.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
    Email,
    PasswordHash,
    Status,
    InvitationState,
    ActivityAt,
    FailedAttempts,
    Lockouts,
    LockedUntil,
    DisabledAt,
    ExpiredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Profiles {
    Table,
    Id,
    AccountId,
    Subject,
    Kind,
    Position,
    Name,
    GivenName,
    FamilyName,
    Email,
    EmailVerified,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PasswordHistory {
    Table,
    Id,
    AccountId,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OneTimeTokens {
    Table,
    Id,
    Digest,
    AccountId,
    Purpose,
    ClientId,
    BindingDigest,
    Attempts,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    Digest,
    Sid,
    AccountId,
    ProfileId,
    AuthTime,
    Amr,
    CreatedAt,
    LastSeenAt,
    EndedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthorizationRequests {
    Table,
    Id,
    ClientId,
    Request,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthorizationCodes {
    Table,
    Digest,
    ClientId,
    Grant,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    Id,
    Digest,
    FamilyId,
    ClientId,
    AccountId,
    Grant,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Consents {
    Table,
    Id,
    ProfileId,
    ClientId,
    Scopes,
    GrantedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    Id,
    Metadata,
    SecretDigest,
    RegistrationTokenDigest,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    Generation,
    PrivatePem,
    PublicJwk,
    CreatedAt,
    ActiveFrom,
    RetiredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Id,
    At,
    Kind,
    AccountId,
    ClientId,
    Ip,
    Detail,
}
