//! The pages' extractors: a form or query that cannot be read is the crate's own error,
//! rendered once as the "form could not be read" page, not a `map_err` in every handler
//! (axum's `customize-extractor-error` example).

use axum::extract::{
    FromRequest, FromRequestParts,
    rejection::{FormRejection, QueryRejection},
};

use crate::UiError;

/// A form body (`application/x-www-form-urlencoded`); a bad one is [`UiError::BadForm`].
#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(UiError))]
pub(crate) struct PageForm<T>(pub T);

/// A query string; a bad one is [`UiError::BadForm`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(UiError))]
pub(crate) struct PageQuery<T>(pub T);

impl From<FormRejection> for UiError {
    fn from(_: FormRejection) -> Self {
        Self::BadForm
    }
}

impl From<QueryRejection> for UiError {
    fn from(_: QueryRejection) -> Self {
        Self::BadForm
    }
}
