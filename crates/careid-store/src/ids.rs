//! Typed ids, so that an account id cannot be passed where a profile id is wanted, nor a
//! client id where any other string is. Each is stored and sent exactly as the bare value
//! it wraps: the columns keep their types (`DeriveValueType`) and JSON sees a plain number
//! or string (`#[serde(transparent)]`).

use std::fmt;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

/// The id of an account (`accounts.id`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    DeriveValueType,
)]
#[serde(transparent)]
pub struct AccountId(i64);

impl AccountId {
    /// Wraps a stored or received account id.
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The bare number, for the wire and for rules that take one.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for AccountId {
    fn from(id: i64) -> Self {
        Self(id)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
