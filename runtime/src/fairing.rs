//! The `Keepsake` fairing: its builder, and its two hooks: reading the configuration
//! at ignite, and handing each response with session state to [`save`](crate::save).

use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Request, Response, Rocket};

use crate::clock::{Clock, SystemClock};
use crate::error::report;
use crate::request::{lock, RequestSession};
use crate::save::{respond_with_catcher, save};
use crate::state::Shared;
use crate::store::SessionStore;

/// The session fairing. Attach it once; every `Session`, `Flashes` and `Flash` needs it.
///
/// It reads the [`Config`](crate::Config) from the `keepsake` key of Rocket's
/// configuration when the instance ignites, loads a client's record the first time a
/// request asks for it (a request that never does pays nothing), and saves it when
/// the response goes out: `Set-Cookie` when the record changed (or is permanent and
/// `refresh_each_request` is on), a deleted cookie when it was emptied, and
/// `Vary: Cookie` whenever it was loaded.
///
/// When the changes cannot be saved, the response is replaced by the one Rocket's
/// catchers give for the status (your own `#[catch(503)]`, say), keeping the headers
/// other fairings such as Shield set: `503 Service Unavailable` when the store fails,
/// `500 Internal Server Error` when the record cannot be encoded or is too big.
///
/// ```rust,no_run
/// use rocket_keepsake::Keepsake;
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     rocket::build().attach(Keepsake::fairing())
/// }
/// ```
pub struct Keepsake {
    store: Option<Arc<dyn SessionStore>>,
    clock: Arc<dyn Clock>,
    /// How many requests hold session state (made by a guard or a `Flash`). While it
    /// is zero, no response has anything to save, and a route without a session guard
    /// costs nothing more than checking it.
    pub(crate) in_flight: Arc<AtomicUsize>,
}

impl fmt::Debug for Keepsake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = if self.store.is_some() {
            "server-side"
        } else {
            "signed cookie"
        };
        f.debug_struct("Keepsake").field("store", &store).finish()
    }
}

impl Default for Keepsake {
    fn default() -> Keepsake {
        Keepsake::fairing()
    }
}

impl Keepsake {
    /// The fairing with the default store: the whole record in a signed cookie, so
    /// nothing needs to run beside the application.
    pub fn fairing() -> Keepsake {
        Keepsake {
            store: None,
            clock: Arc::new(SystemClock),
            in_flight: Arc::default(),
        }
    }

    /// The fairing with records kept server-side in `store`; the cookie then holds
    /// only a signed, random session id. Handlers do not change.
    ///
    /// ```rust
    /// use rocket_keepsake::{store::MemoryStore, Keepsake};
    ///
    /// let rocket = rocket::build().attach(Keepsake::with_store(MemoryStore::new()));
    /// ```
    pub fn with_store(store: impl SessionStore) -> Keepsake {
        Keepsake {
            store: Some(Arc::new(store)),
            ..Keepsake::fairing()
        }
    }

    /// Reads the time from `clock` instead of the system clock: for tests, which can
    /// then advance a `ManualClock` (feature `testing`) past an expiry instead of
    /// sleeping. Default: the system clock.
    ///
    /// ```rust
    /// # #[cfg(feature = "testing")] {
    /// use rocket_keepsake::{Keepsake, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let rocket = rocket::build().attach(Keepsake::fairing().with_clock(clock.clone()));
    /// # }
    /// ```
    pub fn with_clock(mut self, clock: impl Clock) -> Keepsake {
        self.clock = Arc::new(clock);
        self
    }
}

#[rocket::async_trait]
impl Fairing for Keepsake {
    fn info(&self) -> Info {
        Info {
            name: "Keepsake sessions",
            kind: Kind::Ignite | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match Shared::from_figment(rocket.figment(), self.store.clone(), self.clock.clone()) {
            Ok(shared) => {
                let shared = Shared {
                    in_flight: self.in_flight.clone(),
                    ..shared
                };
                let rocket = rocket.manage(shared);
                #[cfg(feature = "testing")]
                let rocket = rocket.mount("/", vec![crate::testing::seed_route()]);
                Ok(rocket)
            }
            Err(e) => {
                log::error!(target: "rocket_keepsake", "{}", report(&e));
                Err(rocket)
            }
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        // A request with session state counts while it lives: none counting means this
        // one has none.
        if !RequestSession::any(&self.in_flight) {
            return;
        }
        let Some(shared) = req.rocket().state::<Shared>() else {
            return;
        };
        let session = RequestSession::of(req, shared);
        let queued = session.take_queued_flashes();
        if session.loaded().is_none() && queued.is_empty() {
            return;
        }
        let record = match RequestSession::load(req).await {
            Ok(record) => record,
            // Logged where it was found.
            Err(e) => return respond_with_catcher(req, res, e.status()).await,
        };
        if !queued.is_empty() {
            let mut record = lock(record);
            for (category, message) in queued {
                record.push_flash(&category, message);
            }
        }
        save(shared, req, record, res).await;
    }
}
