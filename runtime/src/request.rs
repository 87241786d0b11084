//! Per-request session state: the record a request loaded, shared by every guard.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rocket::request::Outcome;
use rocket::tokio::sync::OnceCell;
use rocket::{Ignite, Request, Rocket};

use crate::error::SessionError;
use crate::record::{FlashEntry, Record};
use crate::state::Shared;

/// Per-request session state, in `Request::local_cache`: the record, loaded at most
/// once per request however many guards ask for it, even across forwards.
#[derive(Default)]
pub(crate) struct RequestSession {
    record: OnceCell<Result<Mutex<Record>, SessionError>>,
    /// Messages of `Flash` responders, added to the record when the response goes out.
    queued_flashes: Mutex<Vec<FlashEntry>>,
}

impl RequestSession {
    pub(crate) fn of<'r>(req: &'r Request<'_>) -> &'r RequestSession {
        req.local_cache(RequestSession::default)
    }

    /// The request's record, loading it on first use. A failed load is remembered:
    /// the request does not ask a failing store twice.
    pub(crate) async fn load<'r>(req: &'r Request<'_>) -> Result<&'r Mutex<Record>, SessionError> {
        let shared = req.rocket().state::<Shared>().ok_or_else(|| {
            log::error!(target: "rocket_keepsake", "{}", SessionError::NotAttached);
            SessionError::NotAttached
        })?;
        let loaded = RequestSession::of(req)
            .record
            .get_or_init(|| async { shared.load(req).await.map(Mutex::new) })
            .await;
        loaded.as_ref().map_err(Clone::clone)
    }

    /// The request's record for a guard: its failure, already logged where it was
    /// found, is the guard's error.
    pub(crate) async fn guard<'r>(
        req: &'r Request<'_>,
    ) -> Outcome<&'r Mutex<Record>, SessionError> {
        match RequestSession::load(req).await {
            Ok(record) => Outcome::Success(record),
            Err(e) => Outcome::Error((e.status(), e)),
        }
    }

    /// The record, if a guard loaded it successfully.
    pub(crate) fn loaded(&self) -> Option<&Mutex<Record>> {
        self.record.get().and_then(|loaded| loaded.as_ref().ok())
    }

    pub(crate) fn queue_flashes(&self, messages: impl IntoIterator<Item = FlashEntry>) {
        self.queued_flashes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(messages);
    }

    pub(crate) fn take_queued_flashes(&self) -> Vec<FlashEntry> {
        std::mem::take(
            &mut *self
                .queued_flashes
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// A sentinel's answer for every type that needs the fairing: abort launch, saying
/// what to attach, when it is missing.
pub(crate) fn abort_unless_attached(rocket: &Rocket<Ignite>) -> bool {
    let missing = rocket.state::<Shared>().is_none();
    if missing {
        log::error!(target: "rocket_keepsake", "{}", SessionError::NotAttached);
    }
    missing
}

/// Locks a record; a panic in another guard holding it does not poison the session.
pub(crate) fn lock(record: &Mutex<Record>) -> MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(PoisonError::into_inner)
}
