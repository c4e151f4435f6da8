//! An index for the per-address sign-in limit: failed sign-ins are counted by client
//! address, kind and time from the audit trail, so that count must not scan it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_audit_ip_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_audit_events_ip_kind_at")
                .table(AuditEvents::Table)
                .col(AuditEvents::Ip)
                .col(AuditEvents::Kind)
                .col(AuditEvents::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_audit_events_ip_kind_at")
                .table(AuditEvents::Table)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Ip,
    Kind,
    At,
}
