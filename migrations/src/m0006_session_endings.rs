//! What ending a browser session needs (issue 11):
//!
//! - `refresh_tokens.sid`: the session a refresh token is bound to. Set for a token issued
//!   without `offline_access` (it dies with the session, OIDC Core §11); empty for an
//!   offline token, which outlives the session. Indexed: ending a session revokes by it.
//! - `logout_deliveries`: the outbox of back-channel logouts (OIDC Back-Channel Logout
//!   1.0). Ending a session inserts one row per client and subject in the same
//!   transaction; a background job on any instance claims due rows, sends, and records
//!   the outcome. The index on `due_at` serves the job's search.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_session_endings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(RefreshTokens::Table)
                .add_column(text_null(RefreshTokens::Sid))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("refresh_tokens_sid")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::Sid)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LogoutDeliveries::Table)
                .col(big_pk_auto(LogoutDeliveries::Id))
                .col(text(LogoutDeliveries::Sid))
                .col(text(LogoutDeliveries::ClientId))
                .col(text(LogoutDeliveries::Subject))
                .col(timestamp_with_time_zone(LogoutDeliveries::CreatedAt))
                .col(timestamp_with_time_zone(LogoutDeliveries::DueAt))
                .col(integer(LogoutDeliveries::Attempts).default(0))
                .col(timestamp_with_time_zone_null(LogoutDeliveries::DeliveredAt))
                .col(timestamp_with_time_zone_null(LogoutDeliveries::GaveUpAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("logout_deliveries_due_at")
                .table(LogoutDeliveries::Table)
                .col(LogoutDeliveries::DueAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LogoutDeliveries::Table).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("refresh_tokens_sid")
                .table(RefreshTokens::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshTokens::Table)
                .drop_column(RefreshTokens::Sid)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RefreshTokens {
    Table,
    Sid,
}

#[derive(DeriveIden, Clone, Copy)]
enum LogoutDeliveries {
    Table,
    Id,
    Sid,
    ClientId,
    Subject,
    CreatedAt,
    DueAt,
    Attempts,
    DeliveredAt,
    GaveUpAt,
}
