//! Passkeys (WebAuthn, issue 17): an account's registered credentials, and the
//! ceremonies under way (a registration or a sign-in waiting for the browser's answer).
//!
//! `passkeys` holds each credential's name, the webauthn-rs `Passkey` as JSON (public key,
//! algorithm, signature counter: no secret, so it is not sealed), its credential id
//! (base64url, unique: one credential belongs to one account) and the account's WebAuthn
//! user handle, the same for all its passkeys. `passkey_ceremonies` holds the state of a
//! ceremony under the SHA-256 digest of the handle the browser carries; a ceremony is
//! deleted when it is used, so no challenge is answered twice.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_passkeys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Passkeys::Table)
                .col(big_pk_auto(Passkeys::Id))
                .col(big_integer(Passkeys::AccountId))
                .col(text(Passkeys::UserHandle))
                .col(text_uniq(Passkeys::CredentialId))
                .col(text(Passkeys::Name))
                .col(text(Passkeys::Passkey))
                .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Passkeys::Table, Passkeys::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_passkeys_account")
                .table(Passkeys::Table)
                .col(Passkeys::AccountId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PasskeyCeremonies::Table)
                .col(big_pk_auto(PasskeyCeremonies::Id))
                .col(text_uniq(PasskeyCeremonies::Digest))
                .col(text(PasskeyCeremonies::Purpose))
                .col(big_integer_null(PasskeyCeremonies::AccountId))
                .col(text(PasskeyCeremonies::State))
                .col(timestamp_with_time_zone(PasskeyCeremonies::ExpiresAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(PasskeyCeremonies::Table, PasskeyCeremonies::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // The sweep of ceremonies nobody finished goes by expiry.
        m.create_index(
            Index::create()
                .name("ix_passkey_ceremonies_expires")
                .table(PasskeyCeremonies::Table)
                .col(PasskeyCeremonies::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasskeyCeremonies::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Passkeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Passkeys {
    Table,
    Id,
    AccountId,
    UserHandle,
    CredentialId,
    Name,
    Passkey,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PasskeyCeremonies {
    Table,
    Id,
    Digest,
    Purpose,
    AccountId,
    State,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
}
