//! Secrets generated once per installation and shared by every instance through the
//! database, such as the key that signs the pages' CSRF tokens. Named rows: the primary
//! key makes the first start's "generate if absent" atomic across instances.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_install_secrets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InstallSecrets::Table)
                .col(text(InstallSecrets::Name).primary_key())
                .col(text(InstallSecrets::Value))
                .col(timestamp_with_time_zone(InstallSecrets::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InstallSecrets::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum InstallSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}
