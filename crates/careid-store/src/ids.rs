//! Typed ids, so that an account id cannot be passed where a profile id is wanted, nor a
//! client id where any other string is. Each is stored and sent exactly as the bare value
//! it wraps: the columns keep their types (`DeriveValueType`) and JSON sees a plain number
//! or string (`#[serde(transparent)]`).

use std::fmt;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

/// A row id of one table, as its own type.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
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
        pub struct $name(i64);

        impl $name {
            /// Wraps a stored or received id.
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The bare number, for the wire, logs and rules that take one.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

row_id!(
    /// The id of an account (`accounts.id`).
    AccountId
);

row_id!(
    /// The id of a profile (`profiles.id`): what sessions, grants and consents hold. The
    /// OIDC `sub` is the profile's subject, never this.
    ProfileId
);
