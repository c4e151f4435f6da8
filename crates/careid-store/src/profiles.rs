//! Profiles: who a relying party sees. An account owns one or more (self, a couple, a
//! dependent); each has its own stable `subject`, the OIDC `sub`.

use sea_orm::{
    ActiveValue::Set, DbBackend, QueryFilter, QueryOrder, QueryTrait, SelectTwo, SelectTwoModel,
    SelectorTrait, Statement, entity::prelude::*,
};
use time::OffsetDateTime;

use crate::{AccountId, ProfileId, StoreError, sql_once::SqlOnce};

pub use entity::Model as Profile;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    use crate::{AccountId, ProfileId};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profiles")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: ProfileId,
        pub account_id: AccountId,
        #[sea_orm(unique)]
        pub subject: String,
        pub kind: String,
        pub position: i32,
        pub name: String,
        pub given_name: Option<String>,
        pub family_name: Option<String>,
        pub email: Option<String>,
        pub email_verified: bool,
        pub created_at: TimeDateTimeWithTimeZone,
        /// OIDC Core §5.1 `birthdate`, `YYYY-MM-DD`, where given.
        pub birthdate: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "crate::accounts::entity::Entity",
            from = "Column::AccountId",
            to = "crate::accounts::entity::Column::Id"
        )]
        Account,
    }

    impl Related<crate::accounts::entity::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Account.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity};

/// A profile to add to an account.
#[derive(Debug, Clone)]
pub struct NewProfile {
    /// The owning account.
    pub account_id: AccountId,
    /// Random, stable OIDC subject.
    pub subject: String,
    /// `self`, `couple`, `dependent`…
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Contact email of this profile, if any.
    pub email: Option<String>,
    /// Date of birth, `YYYY-MM-DD`, if given.
    pub birthdate: Option<String>,
}

/// Adds a profile after the account's existing ones.
pub async fn insert_profile(
    db: &impl ConnectionTrait,
    new: NewProfile,
    now: OffsetDateTime,
) -> Result<Profile, StoreError> {
    let position = Entity::find()
        .filter(Column::AccountId.eq(new.account_id))
        .count(db)
        .await? as i32;
    let (given_name, family_name) = split_name(&new.name);
    Ok(ActiveModel {
        account_id: Set(new.account_id),
        subject: Set(new.subject),
        kind: Set(new.kind),
        position: Set(position),
        name: Set(new.name.clone()),
        given_name: Set(given_name),
        family_name: Set(family_name),
        email: Set(new.email),
        email_verified: Set(false),
        created_at: Set(now),
        birthdate: Set(new.birthdate),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The account's profiles, self first.
pub async fn find_for_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Vec<Profile>, StoreError> {
    Ok(Entity::find()
        .filter(Column::AccountId.eq(account_id))
        .order_by_asc(Column::Position)
        .all(db)
        .await?)
}

/// The profile with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: ProfileId,
) -> Result<Option<Profile>, StoreError> {
    Ok(Entity::find_by_id(id).one(db).await?)
}

/// The profile with this OIDC subject.
pub async fn find_by_subject(
    db: &impl ConnectionTrait,
    subject: &str,
) -> Result<Option<Profile>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Subject.eq(subject))
        .one(db)
        .await?)
}

/// Which profile [`find_with_account`] looks for.
#[derive(Debug, Clone, Copy)]
pub enum ProfileKey<'a> {
    /// By its row id (what grants and sessions hold).
    Id(ProfileId),
    /// By its OIDC subject (what tokens carry).
    Subject(&'a str),
}

/// A profile and the account that owns it, in one statement: every token, userinfo and
/// introspection answer needs both (the claims, and the account's standing).
pub async fn find_with_account(
    db: &impl ConnectionTrait,
    key: ProfileKey<'_>,
) -> Result<Option<(Profile, crate::accounts::Account)>, StoreError> {
    one_with_account(db, with_account_statement(db.get_database_backend(), key)).await
}

/// [`find_with_account`] for the bearer of an access token, in the same one statement:
/// `None` also when the token `jti` or its grant has been revoked
/// ([`crate::revoked_access_tokens`]).
pub async fn find_with_account_unless_revoked(
    db: &impl ConnectionTrait,
    key: ProfileKey<'_>,
    jti: &str,
    grant: Option<&str>,
) -> Result<Option<(Profile, crate::accounts::Account)>, StoreError> {
    let stmt = bearer_statement(db.get_database_backend(), key, jti, grant);
    one_with_account(db, stmt).await
}

fn with_account_statement(backend: DbBackend, key: ProfileKey<'_>) -> Statement {
    static SQL: [SqlOnce; 2] = [SqlOnce::new(), SqlOnce::new()];
    SQL[key.kind()].statement(backend, vec![key.value()], || {
        with_account(select(key)).build(backend)
    })
}

pub(crate) fn bearer_statement(
    backend: DbBackend,
    key: ProfileKey<'_>,
    jti: &str,
    grant: Option<&str>,
) -> Statement {
    static SQL: [SqlOnce; 4] = [
        SqlOnce::new(),
        SqlOnce::new(),
        SqlOnce::new(),
        SqlOnce::new(),
    ];
    // The `1` is the `SELECT 1` of the `NOT EXISTS` subquery, bound like any value.
    let mut values = vec![key.value(), Value::from(1i32)];
    values.extend(
        crate::revoked_access_tokens::keys(jti, grant)
            .into_iter()
            .map(Value::from),
    );
    let shape = key.kind() * 2 + usize::from(grant.is_some());
    SQL[shape].statement(backend, values, || {
        built_bearer_statement(backend, key, jti, grant)
    })
}

/// What sea-query builds for [`bearer_statement`].
fn built_bearer_statement(
    backend: DbBackend,
    key: ProfileKey<'_>,
    jti: &str,
    grant: Option<&str>,
) -> Statement {
    let query = select(key).filter(crate::revoked_access_tokens::is_not_revoked(jti, grant));
    with_account(query).build(backend)
}

impl ProfileKey<'_> {
    /// Which statement text serves this kind of key.
    fn kind(self) -> usize {
        match self {
            Self::Id(_) => 0,
            Self::Subject(_) => 1,
        }
    }

    /// The value the statement binds for it.
    fn value(self) -> Value {
        match self {
            Self::Id(id) => id.into(),
            Self::Subject(subject) => subject.into(),
        }
    }
}

fn select(key: ProfileKey<'_>) -> Select<Entity> {
    match key {
        ProfileKey::Id(id) => Entity::find_by_id(id),
        ProfileKey::Subject(subject) => Entity::find().filter(Column::Subject.eq(subject)),
    }
}

fn with_account(query: Select<Entity>) -> SelectTwo<Entity, crate::accounts::entity::Entity> {
    query.find_also_related(crate::accounts::entity::Entity)
}

/// Runs a [`with_account`] statement: a profile whose account is missing is no match.
async fn one_with_account(
    db: &impl ConnectionTrait,
    stmt: Statement,
) -> Result<Option<(Profile, crate::accounts::Account)>, StoreError> {
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(None);
    };
    let (profile, account) =
        SelectTwoModel::<Profile, crate::accounts::Account>::from_raw_query_result(row)?;
    Ok(account.map(|account| (profile, account)))
}

/// Marks the profile's email as verified (an emailed link was followed).
pub async fn update_email_verified(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::EmailVerified, sea_orm::sea_query::Expr::value(true))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq("self"))
        .exec(db)
        .await?;
    Ok(())
}

/// Renames the profile `subject` of `account_id`, its given and family names with it.
/// `None` when the account has no such profile (the statement's own `WHERE` checks
/// the owner).
pub async fn update_name(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    subject: &str,
    name: &str,
) -> Result<Option<Profile>, StoreError> {
    use sea_orm::sea_query::Expr;
    let (given_name, family_name) = split_name(name);
    let mut updated = Entity::update_many()
        .col_expr(Column::Name, Expr::value(name.trim()))
        .col_expr(Column::GivenName, Expr::value(given_name))
        .col_expr(Column::FamilyName, Expr::value(family_name))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Subject.eq(subject))
        .exec_with_returning(db)
        .await?;
    Ok(updated.pop())
}

/// Deletes the profile `id` of `account_id` unless it is the account's last one, in one
/// statement (the count is the statement's own condition). The caller holds the
/// account's row (or SQLite's write lock), so two removals cannot each see the other's
/// profile still there. `false`: not the account's, or its last.
pub async fn delete_unless_last(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    id: ProfileId,
) -> Result<bool, StoreError> {
    use sea_orm::{QuerySelect, QueryTrait, sea_query::Expr};
    let siblings = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Id.ne(id))
        .into_query();
    let deleted = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .filter(Expr::exists(siblings))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// "Ada Lovelace" → given "Ada", family "Lovelace"; a single word is a given name.
pub(crate) fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = name.trim();
    match name.rsplit_once(' ') {
        Some((given, family)) => (Some(given.trim().to_owned()), Some(family.to_owned())),
        None if name.is_empty() => (None, None),
        None => (Some(name.to_owned()), None),
    }
}

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use time::macros::datetime;

    use super::*;
    use crate::accounts::{NewAccount, Status, insert_account};

    #[tokio::test]
    async fn a_profile_comes_with_its_own_account_by_id_or_subject() {
        let db = crate::connect("sqlite::memory:", 1).await.unwrap();
        Migrator::up(db.writer(), None).await.unwrap();
        let mut accounts = Vec::new();
        for who in ["ada", "bo"] {
            let new = NewAccount {
                email: format!("{who}@clinic.example"),
                password_hash: None,
                status: Status::Active,
                invitation_state: "none",
                name: who.into(),
                subject: format!("sub-{who}"),
            };
            let account = insert_account(&db, new, datetime!(2026-01-01 09:00 UTC));
            accounts.push(account.await.unwrap());
        }
        let bo = &accounts[1];
        let (profile, account) = find_with_account(&db, ProfileKey::Subject("sub-bo"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((profile.name.as_str(), account.id), ("bo", bo.id));
        let by_id = find_with_account(&db, ProfileKey::Id(profile.id)).await;
        assert_eq!(by_id.unwrap().unwrap().1.email, "bo@clinic.example");
        let unknown = find_with_account(&db, ProfileKey::Subject("sub-nobody")).await;
        assert!(unknown.unwrap().is_none());
    }

    #[test]
    fn a_name_splits_at_its_last_space() {
        assert_eq!(
            split_name("Mary Ann Smith"),
            (Some("Mary Ann".into()), Some("Smith".into()))
        );
        assert_eq!(split_name("Cher"), (Some("Cher".into()), None));
        assert_eq!(split_name(" "), (None, None));
    }

    /// Each cached text with the values given binds what sea-query would build, for every
    /// shape on both backends: a value listed out of order fails here.
    #[test]
    fn a_cached_statement_is_the_one_sea_query_builds() {
        let calls = [
            ("sub-a", "jti-a", "grant-a", 7),
            ("sub-b", "jti-b", "grant-b", 8),
        ];
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for (subject, jti, grant, id) in calls {
                for key in [
                    ProfileKey::Id(ProfileId::from(id)),
                    ProfileKey::Subject(subject),
                ] {
                    assert_eq!(
                        with_account_statement(backend, key),
                        with_account(select(key)).build(backend)
                    );
                    for grant in [None, Some(grant)] {
                        assert_eq!(
                            bearer_statement(backend, key, jti, grant),
                            built_bearer_statement(backend, key, jti, grant)
                        );
                    }
                }
            }
        }
    }
}
