//! An index for "the latest event of this kind for this account" (the last sign-in the
//! admin API and `careid user show` report, the outbox file of the latest invitation):
//! with only `(account_id, at)` that read walked every event of the account, and an
//! account signs in every working day.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_audit_account_kind_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_audit_events_account_kind_id")
                .table(AuditEvents::Table)
                .col(AuditEvents::AccountId)
                .col(AuditEvents::Kind)
                .col(AuditEvents::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_audit_events_account_kind_id")
                .table(AuditEvents::Table)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    AccountId,
    Kind,
}
