//! careid-accounts
