//! careid-protocol
