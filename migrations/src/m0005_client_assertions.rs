//! The `jti` of every client assertion careid accepted (RFC 7523 §3, OIDC Core §9),
//! kept until the assertion expires so that none is accepted twice. The primary key
//! makes the check atomic across instances.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_client_assertions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ClientAssertions::Table)
                .col(text(ClientAssertions::ClientId))
                .col(text(ClientAssertions::Jti))
                .col(timestamp_with_time_zone(ClientAssertions::ExpiresAt))
                .primary_key(
                    Index::create()
                        .col(ClientAssertions::ClientId)
                        .col(ClientAssertions::Jti),
                )
                .to_owned(),
        )
        .await?;
        // The clean-up job deletes by expiry.
        m.create_index(
            Index::create()
                .name("client_assertions_expires_at")
                .table(ClientAssertions::Table)
                .col(ClientAssertions::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ClientAssertions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ClientAssertions {
    Table,
    ClientId,
    Jti,
    ExpiresAt,
}
