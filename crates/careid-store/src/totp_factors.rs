//! `totp_factors`: an account's TOTP secret (sealed by `careid-accounts`; this module
//! never sees it in the clear), when it was confirmed, and the last time step a code was
//! accepted for. Unconfirmed rows are enrolments under way.

use sea_orm::{
    ActiveValue::Set,
    QueryFilter,
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
};
use time::OffsetDateTime;

use crate::{AccountId, StoreError};

pub use entity::Model as TotpFactor;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::AccountId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "totp_factors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: AccountId,
        pub sealed_secret: String,
        pub confirmed_at: Option<TimeDateTimeWithTimeZone>,
        pub last_step: Option<i64>,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

impl TotpFactor {
    /// Whether the person confirmed the factor with a code, so sign-in asks for one.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// The account's TOTP factor, confirmed or under way.
pub async fn find_by_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Option<TotpFactor>, StoreError> {
    Ok(Entity::find_by_id(account_id).one(db).await?)
}

/// Starts an enrolment with a fresh sealed secret. `false` (nothing stored) when the
/// account already has a factor: an enrolment under way is reused, a confirmed one is
/// only replaced after `delete_for_account`.
pub async fn insert_pending(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    sealed_secret: String,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let inserted = Entity::insert(ActiveModel {
        account_id: Set(account_id),
        sealed_secret: Set(sealed_secret),
        confirmed_at: Set(None),
        last_step: Set(None),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::AccountId])
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(1)))
}

/// Confirms an enrolment under way with the step its first code was for. `false` when
/// there is none (already confirmed, or removed meanwhile).
pub async fn update_confirmed(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    step: i64,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::ConfirmedAt, Expr::value(now))
        .col_expr(Column::LastStep, Expr::value(step))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Records that a code of `step` was accepted. `false` when a code of this step or a
/// later one already was: the statement's own `WHERE` is the check, so two requests with
/// the same code cannot both succeed.
pub async fn update_last_step(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    step: i64,
) -> Result<bool, StoreError> {
    let updated = Entity::update_many()
        .col_expr(Column::LastStep, Expr::value(step))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::ConfirmedAt.is_not_null())
        .filter(
            Expr::col(Column::LastStep)
                .is_null()
                .or(Expr::col(Column::LastStep).lt(step)),
        )
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Removes the account's factor, confirmed or not. `false` when it had none.
pub async fn delete_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<bool, StoreError> {
    let deleted = Entity::delete_many()
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}
