//! Errors a session guard can fail with.

use std::sync::Arc;

use rocket::http::Status;

use crate::store::StoreError;

/// Why a [`Session`](struct@crate::Session) guard could not be created.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The `Keepsake` fairing is not attached to this Rocket instance.
    #[error("keepsake fairing is not attached; call `.attach(Keepsake::fairing())`")]
    NotAttached,
    /// The session store could not load the session.
    #[error("the session store is unavailable")]
    Store(#[source] Arc<StoreError>),
}

impl SessionError {
    /// The status a request fails with.
    pub fn status(&self) -> Status {
        match self {
            SessionError::NotAttached => Status::InternalServerError,
            SessionError::Store(_) => Status::ServiceUnavailable,
        }
    }
}

/// Formats an error with its chain of sources, for the log.
pub(crate) fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
