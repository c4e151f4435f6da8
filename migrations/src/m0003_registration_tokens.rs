//! Initial access tokens for dynamic client registration (RFC 7591 §3) made by
//! `careid registration token issue`: only their SHA-256 digests.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_registration_tokens"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RegistrationTokens::Table)
                .col(text(RegistrationTokens::Digest).primary_key())
                .col(timestamp_with_time_zone(RegistrationTokens::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RegistrationTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RegistrationTokens {
    Table,
    Digest,
    CreatedAt,
}
