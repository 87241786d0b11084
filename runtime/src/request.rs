//! Per-request session state: the record a request loaded, shared by every guard.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use rocket::request::Outcome;
use rocket::{Ignite, Request, Rocket};

use crate::error::SessionError;
use crate::record::{FlashEntry, Record};
use crate::state::Shared;

/// Per-request session state, in `Request::local_cache`: the record, loaded once per
/// request however many guards ask for it, even across forwards. (Two guards awaited
/// together, with `join!`, may both load it; the first to finish is kept, and the
/// other, unchanged, dropped.)
pub(crate) struct RequestSession {
    /// Boxed from the start, so that the record is not copied each time it moves.
    record: OnceLock<Result<Mutex<Box<Record>>, SessionError>>,
    /// Messages of `Flash` responders, added to the record when the response goes out.
    queued_flashes: Mutex<Vec<FlashEntry>>,
    _counted: InFlight,
}

/// Counts a request in [`Shared::in_flight`] while its session state lives: from the
/// first guard or `Flash` that asks for it until the request is dropped, whether its
/// response went out or the client went away first.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::AcqRel);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RequestSession {
    /// The request's session state, made on first use: the request then counts in
    /// [`Shared::in_flight`] while it lives.
    pub(crate) fn of<'r>(req: &'r Request<'_>, shared: &Shared) -> &'r RequestSession {
        req.local_cache(|| RequestSession {
            record: OnceLock::new(),
            queued_flashes: Mutex::default(),
            _counted: InFlight::new(&shared.in_flight),
        })
    }

    /// Whether any request holds session state now: when none does, a response has
    /// nothing to save, and the fairing need not look.
    pub(crate) fn any(in_flight: &AtomicUsize) -> bool {
        in_flight.load(Ordering::Acquire) != 0
    }

    /// The request's record, loading it on first use. A failed load is remembered:
    /// the request does not ask a failing store twice.
    pub(crate) async fn load<'r>(
        req: &'r Request<'_>,
    ) -> Result<&'r Mutex<Box<Record>>, SessionError> {
        let shared = req.rocket().state::<Shared>().ok_or_else(|| {
            log::error!(target: "rocket_keepsake", "{}", SessionError::NotAttached);
            SessionError::NotAttached
        })?;
        let session = RequestSession::of(req, shared);
        let loaded = match session.record.get() {
            Some(loaded) => loaded,
            None => {
                let loaded = shared.load(req).await.map(Mutex::new);
                session.record.get_or_init(|| loaded)
            }
        };
        loaded.as_ref().map_err(Clone::clone)
    }

    /// The request's record for a guard: its failure, already logged where it was
    /// found, is the guard's error.
    pub(crate) async fn guard<'r>(
        req: &'r Request<'_>,
    ) -> Outcome<&'r Mutex<Box<Record>>, SessionError> {
        match RequestSession::load(req).await {
            Ok(record) => Outcome::Success(record),
            Err(e) => Outcome::Error((e.status(), e)),
        }
    }

    /// The record, if a guard loaded it successfully.
    pub(crate) fn loaded(&self) -> Option<&Mutex<Box<Record>>> {
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
pub(crate) fn lock(record: &Mutex<Box<Record>>) -> MutexGuard<'_, Box<Record>> {
    record.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use rocket::local::asynchronous::Client;
    use rocket::{get, routes, Request};

    use super::RequestSession;
    use crate::Keepsake;

    /// Loads the request's session state, as a guard does.
    struct Loads;

    #[rocket::async_trait]
    impl<'r> rocket::request::FromRequest<'r> for Loads {
        type Error = ();

        async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Loads, ()> {
            let loaded = RequestSession::load(req).await;
            assert!(loaded.is_ok());
            rocket::request::Outcome::Success(Loads)
        }
    }

    #[get("/plain")]
    fn plain() {}

    #[get("/state")]
    fn state(_loads: Loads) {}

    #[get("/panics")]
    fn panics(_loads: Loads) {
        panic!("a handler that fails after its guard loaded the session");
    }

    #[rocket::async_test]
    async fn a_request_counts_while_its_session_state_lives() {
        let fairing = Keepsake::fairing();
        let count = fairing.in_flight.clone();
        let rocket = rocket::custom(rocket::Config::debug_default())
            .attach(fairing)
            .mount("/", routes![plain, state, panics]);
        let client = Client::untracked(rocket).await.unwrap();
        let now = || count.load(Ordering::Acquire);
        let response = client.get("/plain").dispatch().await;
        assert_eq!(now(), 0, "a route without session state adds none");
        drop(response);
        let response = client.get("/state").dispatch().await;
        assert_eq!(now(), 1, "counted while the request lives");
        let other = client.get("/plain").dispatch().await;
        assert_eq!(
            now(),
            2,
            "a response seen while another counts makes its own state"
        );
        drop((response, other));
        assert_eq!(now(), 0, "and each is uncounted when dropped");
        let response = client.get("/panics").dispatch().await;
        assert_eq!(response.status().code, 500);
        drop(response);
        assert_eq!(
            now(),
            0,
            "a handler's panic does not leave a request counted"
        );
    }
}
