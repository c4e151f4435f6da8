//! Accounts get `require_mfa` (issue 17): an administrator can require a second factor of
//! one person, whichever client she signs in to. Existing accounts start without it.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_account_require_mfa"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(boolean(Accounts::RequireMfa).default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .drop_column(Accounts::RequireMfa)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    RequireMfa,
}
