//! An account's TOTP second factor (issue 17): its secret, sealed under the installation's
//! TOTP key, when the person confirmed it with a first code, and the last time step a code
//! was accepted for, so no code works twice. One per account: the account id is the key,
//! and the row goes with the account.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_totp_factors"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TotpFactors::Table)
                .col(big_integer(TotpFactors::AccountId).primary_key())
                .col(text(TotpFactors::SealedSecret))
                .col(timestamp_with_time_zone_null(TotpFactors::ConfirmedAt))
                .col(big_integer_null(TotpFactors::LastStep))
                .col(timestamp_with_time_zone(TotpFactors::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(TotpFactors::Table, TotpFactors::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TotpFactors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TotpFactors {
    Table,
    AccountId,
    SealedSecret,
    ConfirmedAt,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    Id,
}
