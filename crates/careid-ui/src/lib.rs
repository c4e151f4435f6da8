//! careid-ui
