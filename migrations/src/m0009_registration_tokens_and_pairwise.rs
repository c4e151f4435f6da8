//! Issue 12, item 10:
//!
//! - `registration_tokens.expires_at` and `revoked_at`: initial access tokens made by
//!   `careid registration token issue` expire and can be revoked. A token made before
//!   this migration has no `expires_at`; careid treats it as expiring 30 days after it
//!   was made.
//! - `pairwise_subjects` (the pairwise salt itself is an `install_secrets` row, m0007): which profile a pairwise `sub` stands for, so that /userinfo
//!   and /introspect can find it (the `sub` is a one-way hash). The `sub` is the key.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_registration_tokens_and_pairwise"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        m.alter_table(
            Table::alter()
                .table(RegistrationTokens::Table)
                .add_column(timestamp_with_time_zone_null(RegistrationTokens::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RegistrationTokens::Table)
                .add_column(timestamp_with_time_zone_null(RegistrationTokens::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PairwiseSubjects::Table)
                .col(text(PairwiseSubjects::Subject).primary_key())
                .col(big_integer(PairwiseSubjects::ProfileId))
                .col(timestamp_with_time_zone(PairwiseSubjects::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PairwiseSubjects::Table).to_owned())
            .await?;
        for column in [RegistrationTokens::RevokedAt, RegistrationTokens::ExpiresAt] {
            m.alter_table(
                Table::alter()
                    .table(RegistrationTokens::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RegistrationTokens {
    Table,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PairwiseSubjects {
    Table,
    Subject,
    ProfileId,
    CreatedAt,
}
