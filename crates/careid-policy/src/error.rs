//! The one error type of careid-policy. Rule checks never fail; only hashing can.

/// What went wrong while applying a credential policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Hashing a password failed, for example because the configured argon2
    /// parameters are out of range.
    #[error("password hashing failed: {0}")]
    Hash(String),
}
