//! Authorization codes: stored as digests, single use, short-lived. The grant they carry
//! (account, profile, scope, PKCE challenge, nonce…) is the protocol crate's JSON.

use sea_orm::{ActiveValue::Set, QueryFilter, entity::prelude::*, sea_query::Expr};
use time::OffsetDateTime;

use crate::{ClientId, StoreError};

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::ClientId;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "authorization_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub digest: String,
        pub client_id: ClientId,
        pub grant: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub expires_at: TimeDateTimeWithTimeZone,
        pub used_at: Option<TimeDateTimeWithTimeZone>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// Stores a new code.
pub async fn insert_code(
    db: &impl ConnectionTrait,
    digest: &str,
    client_id: &ClientId,
    grant: &serde_json::Value,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    ActiveModel {
        digest: Set(digest.to_owned()),
        client_id: Set(client_id.to_owned()),
        grant: Set(grant.to_string()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// What happened when a code was presented.
#[derive(Debug)]
pub enum Taken {
    /// First use: the code's client and grant.
    Fresh {
        client_id: ClientId,
        grant: serde_json::Value,
    },
    /// The code was used before: its grant, so the caller can revoke what it issued.
    Replayed {
        client_id: ClientId,
        grant: serde_json::Value,
    },
    /// Unknown or expired.
    Invalid,
}

/// Consumes a code. The consuming write is one conditional UPDATE, so two instances
/// redeeming the same code at once see exactly one success.
pub async fn take_code(
    db: &impl ConnectionTrait,
    digest: &str,
    now: OffsetDateTime,
) -> Result<Taken, StoreError> {
    // The first use is one statement; only a code that was not taken is read again,
    // to tell a replay (whose grant must be revoked) from a code that never worked.
    let consumed = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Digest.eq(digest))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec_with_returning(db)
        .await?
        .pop();
    let (consumed, row) = match consumed {
        Some(row) => (true, row),
        None => match Entity::find_by_id(digest.to_owned()).one(db).await? {
            Some(row) => (false, row),
            None => return Ok(Taken::Invalid),
        },
    };
    let grant = serde_json::from_str(&row.grant)?;
    Ok(if consumed {
        Taken::Fresh {
            client_id: row.client_id,
            grant,
        }
    } else if row.used_at.is_some() && row.expires_at > now - time::Duration::hours(1) {
        Taken::Replayed {
            client_id: row.client_id,
            grant,
        }
    } else {
        Taken::Invalid
    })
}

/// Removes codes that expired more than an hour before `now` (kept that long so a
/// replay is still recognised).
pub async fn delete_expired(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lte(now - time::Duration::hours(1)))
        .exec(db)
        .await?
        .rows_affected)
}
