//! Which clients received tokens in which browser session, so that ending the session
//! can tell each of them (OIDC Back-Channel Logout 1.0 §2.7). One row per session,
//! client and subject; the unique index also serves the lookup by `sid`.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_session_clients"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SessionClients::Table)
                .col(big_pk_auto(SessionClients::Id))
                .col(text(SessionClients::Sid))
                .col(text(SessionClients::ClientId))
                .col(text(SessionClients::Subject))
                .col(timestamp_with_time_zone(SessionClients::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_session_clients_sid_client_subject")
                .table(SessionClients::Table)
                .col(SessionClients::Sid)
                .col(SessionClients::ClientId)
                .col(SessionClients::Subject)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SessionClients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionClients {
    Table,
    Id,
    Sid,
    ClientId,
    Subject,
    CreatedAt,
}
