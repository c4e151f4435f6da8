//! careid-server
