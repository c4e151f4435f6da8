//! Profiles get an optional `birthdate` (OIDC Core §5.1, `YYYY-MM-DD`), so a dependent's
//! date of birth reaches the portal; and the lookups a profile's removal makes (its
//! sessions, its pairwise subjects) get their indexes.

use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_profile_birthdate"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Profiles::Table)
                .add_column(text_null(Profiles::Birthdate))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sessions_profile")
                .table(Sessions::Table)
                .col(Sessions::ProfileId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pairwise_subjects_profile")
                .table(PairwiseSubjects::Table)
                .col(PairwiseSubjects::ProfileId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_pairwise_subjects_profile")
                .table(PairwiseSubjects::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_sessions_profile")
                .table(Sessions::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Profiles::Table)
                .drop_column(Profiles::Birthdate)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Birthdate,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ProfileId,
}

#[derive(DeriveIden)]
enum PairwiseSubjects {
    Table,
    ProfileId,
}
