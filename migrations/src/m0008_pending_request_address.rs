//! The client address of each pending authorization request, so the number one address
//! may keep waiting is capped (issue 12, item 6): counted by address among the live
//! ones, through the index.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_pending_request_address"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuthorizationRequests::Table)
                .add_column(text_null(AuthorizationRequests::ClientIp))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_authorization_requests_client_ip_expiry")
                .table(AuthorizationRequests::Table)
                .col(AuthorizationRequests::ClientIp)
                .col(AuthorizationRequests::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_authorization_requests_client_ip_expiry")
                .table(AuthorizationRequests::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuthorizationRequests::Table)
                .drop_column(AuthorizationRequests::ClientIp)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum AuthorizationRequests {
    Table,
    ClientIp,
    ExpiresAt,
}
