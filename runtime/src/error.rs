//! Errors: a guard's, a save's, and how a chain of causes is logged.

use std::fmt;
use std::sync::Arc;

use rocket::http::Status;

use crate::codec::MAX_COOKIE_LEN;
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
    /// `SessionAdmin` is used with the signed-cookie store, which cannot end a session.
    #[error(
        "`SessionAdmin` needs a server-side store: the signed-cookie store cannot revoke a \
         cookie that a client has copied; use `Keepsake::with_store(..)` or the `store` key"
    )]
    NoServerStore,
}

impl SessionError {
    /// The status a request fails with.
    pub fn status(&self) -> Status {
        match self {
            SessionError::NotAttached | SessionError::NoServerStore => Status::InternalServerError,
            SessionError::Store(_) => Status::ServiceUnavailable,
        }
    }
}

/// Why a request's session changes cannot be saved: the response becomes a 500 and
/// the client keeps its previous session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaveError {
    #[error("session key `{key}` cannot be serialized")]
    Unserializable {
        key: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("flash messages cannot be serialized")]
    Flashes(#[source] serde_json::Error),
    #[error(
        "session cookie would be {size} bytes, over the {MAX_COOKIE_LEN} browsers keep, so it \
         was not sent and the client keeps its previous session; largest keys: {largest}; \
         store less, or keep sessions server-side with `Keepsake::with_store`"
    )]
    TooBig { size: usize, largest: LargestKeys },
    #[error("no random nonce could be drawn to encrypt the session cookie")]
    NoRandom(#[source] getrandom::Error),
}

/// The largest keys of a record with their encoded sizes, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LargestKeys(pub(crate) Vec<(String, usize)>);

impl fmt::Display for LargestKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, bytes)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{key}` ({bytes} B)")?;
        }
        Ok(())
    }
}

/// Formats an error with its chain of sources, for the log. A cause whose text the
/// message already holds (many errors repeat their source's) is not repeated.
pub(crate) fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_is_reported_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused (os 111)");
        let store = StoreError::new("redis", Repeats(io()));
        assert_eq!(
            report(&store),
            "session store `redis` failed: outer: refused (os 111)"
        );
    }
}
