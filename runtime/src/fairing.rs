//! The `Keepsake` fairing: reads the configuration at ignite, and carries out each
//! response's save [`plan`](crate::plan) when it goes out.

use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use rocket::catcher::Catcher;
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{Cookie, Header, Status};
use rocket::{Build, Request, Response, Rocket};

use crate::clock::{Clock, SystemClock};
use crate::error::report;
use crate::plan::{plan, CookieLife, Plan, Rules, Target, Write};
use crate::record::Record;
use crate::request::{lock, RequestSession};
use crate::state::{Backend, Shared};
use crate::store::{SessionId, SessionStore, StoreError, StoreErrorKind};

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
        shared.save(req, record, res).await;
    }
}

impl Shared {
    /// Carries out the record's save plan, then sets or deletes the cookie.
    async fn save<'r>(
        &self,
        req: &'r Request<'_>,
        record: &Mutex<Box<Record>>,
        res: &mut Response<'r>,
    ) {
        res.adjoin_raw_header("Vary", "Cookie");
        let had_cookie = req.cookies().get(&self.config.cookie_name).is_some();
        let now = self.now();
        let rules = Rules {
            config: &self.config,
            format: &self.format,
            server_side: matches!(self.backend, Backend::Store(_)),
        };
        let plan = plan(&mut lock(record), &rules, had_cookie, now);
        match plan {
            Plan::Nothing => {}
            Plan::Fail(e) => {
                log::error!(target: "rocket_keepsake", "session changes cannot be saved: {}", report(&e));
                respond_with_catcher(req, res, Status::InternalServerError).await;
            }
            Plan::Remove { stored } => {
                if let (Some(id), Backend::Store(store)) = (stored, &self.backend) {
                    if let Err(e) = store.delete(&id).await {
                        return store_failed(req, res, &e).await;
                    }
                }
                res.adjoin_header(self.removal_cookie());
            }
            Plan::Cookie {
                value,
                life,
                dropped_flashes,
            } => {
                if dropped_flashes > 0 {
                    log::warn!(
                        target: "rocket_keepsake",
                        "the session cookie would be over 4096 bytes with every pending flash \
                         message, so the {dropped_flashes} oldest were dropped"
                    );
                }
                self.warn_if_dropped_by_browsers(req);
                res.adjoin_header(self.cookie(value, life, now));
            }
            Plan::Store { write, stamp, life } => {
                let Backend::Store(store) = &self.backend else {
                    return;
                };
                match apply(&**store, write).await {
                    Ok(Some(id)) => match self.format.seal(stamp, id.as_str().as_bytes()) {
                        Ok(value) => {
                            self.warn_if_dropped_by_browsers(req);
                            res.adjoin_header(self.cookie(value, life, now));
                        }
                        Err(e) => {
                            log::error!(target: "rocket_keepsake", "session saved, but its cookie cannot be sealed: {e}");
                            respond_with_catcher(req, res, Status::InternalServerError).await;
                        }
                    },
                    Ok(None) => log::warn!(
                        target: "rocket_keepsake",
                        "the session was deleted or moved by a concurrent request (a logout or \
                         a new id), so this request's changes were not saved; the client starts \
                         a fresh session"
                    ),
                    Err(e) => store_failed(req, res, &e).await,
                }
            }
        }
    }

    /// The `Set-Cookie` header. Written without percent-encoding, which Rocket's
    /// conversion applies character by character: our values are URL-safe base64.
    fn cookie(&self, value: String, life: CookieLife, now: u64) -> Header<'static> {
        let mut cookie = self.base_cookie(value);
        if let CookieLife::Permanent(lifetime) = life {
            let max_age = time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX);
            let now = time::OffsetDateTime::from_unix_timestamp(now.try_into().unwrap_or(0))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            cookie.set_max_age(max_age);
            cookie.set_expires(now.saturating_add(max_age));
        }
        Header::new("Set-Cookie", cookie.to_string())
    }

    /// The `Set-Cookie` header that deletes the session cookie.
    fn removal_cookie(&self) -> Header<'static> {
        let mut cookie = self.base_cookie(String::new());
        cookie.make_removal();
        Header::new("Set-Cookie", cookie.to_string())
    }

    /// The session cookie with its configured attributes.
    fn base_cookie(&self, value: String) -> Cookie<'static> {
        let config = &self.config;
        let mut cookie = Cookie::build((config.cookie_name.clone(), value))
            .path(config.cookie_path.clone())
            .secure(config.secure)
            .http_only(config.http_only)
            .same_site(config.same_site);
        if config.partitioned {
            cookie = cookie.partitioned(true);
        }
        if let Some(domain) = &config.cookie_domain {
            cookie = cookie.domain(domain.clone());
        }
        cookie.build()
    }
}

/// Performs a store write; the id the record now lives under, or `None` if another
/// request deleted or moved it meanwhile (it is then not recreated).
pub(crate) async fn apply(
    store: &dyn SessionStore,
    write: Write,
) -> Result<Option<SessionId>, StoreError> {
    let new_id = || SessionId::generate().map_err(|e| StoreError::new("keepsake", e));
    let id = match write.target {
        Target::Create => new_id()?,
        Target::Update(id) => id,
        Target::Rename { from } => {
            let new = new_id()?;
            if store.rename(&from, &new, write.ttl).await? == crate::store::Saved::Gone {
                return Ok(None);
            }
            new
        }
        Target::Replace { retired } => {
            store.delete(&retired).await?;
            new_id()?
        }
    };
    if store.save(&id, &write.changes, write.ttl).await? == crate::store::Saved::Gone {
        return Ok(None);
    }
    Ok(Some(id))
}

/// Answers a failed store write with a 503, logging what may have happened.
async fn store_failed<'r>(req: &'r Request<'_>, res: &mut Response<'r>, error: &StoreError) {
    if error.kind() == StoreErrorKind::TimedOut {
        log::error!(
            target: "rocket_keepsake",
            "session may not have been saved (a write that timed out can still be applied \
             when the store resumes): {}",
            report(error)
        );
    } else {
        log::error!(target: "rocket_keepsake", "session not saved: {}", report(error));
    }
    respond_with_catcher(req, res, Status::ServiceUnavailable).await;
}

/// Replaces the response with what Rocket's catchers give for `status`: the app's
/// own catcher if one matches, else Rocket's default. Headers of the old response
/// that the new one lacks (Shield's, `Vary`) are kept; its body, cookies, content
/// headers and `Location` are not, as when Rocket itself answers with a catcher.
async fn respond_with_catcher<'r>(req: &'r Request<'_>, res: &mut Response<'r>, status: Status) {
    let caught = match catcher_for(req, status) {
        Some(catcher) => catcher.handler.handle(status, req).await.ok(),
        None => None,
    };
    let mut fresh = match caught {
        Some(fresh) => fresh,
        None => {
            let default = Catcher::default();
            match default.handler.handle(status, req).await {
                Ok(fresh) => fresh,
                Err(_) => Response::build().status(status).finalize(),
            }
        }
    };
    fresh.set_status(status);
    let old = std::mem::replace(res, fresh);
    const DROPPED: &[&str] = &[
        "set-cookie",
        "location",
        "content-type",
        "content-length",
        "content-encoding",
    ];
    for header in old.headers().iter() {
        let name = header.name().as_str();
        if !DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d)) && !res.headers().contains(name) {
            res.adjoin_header(Header::new(name.to_owned(), header.value().to_owned()));
        }
    }
}

/// The catcher Rocket would pick for `status` on this request: the one for the
/// status, else the default one, with the longest base that prefixes the path.
fn catcher_for<'a>(req: &'a Request<'_>, status: Status) -> Option<&'a Catcher> {
    let path = req.uri().path();
    let best = |code: Option<u16>| {
        req.rocket()
            .catchers()
            .filter(|c| c.code == code && c.base.path().segments().prefix_of(path.segments()))
            .max_by_key(|c| c.base.path().segments().len())
    };
    match (best(Some(status.code)), best(None)) {
        (Some(explicit), Some(default))
            if default.base.path().segments().len() > explicit.base.path().segments().len() =>
        {
            Some(default)
        }
        (Some(explicit), _) => Some(explicit),
        (None, default) => default,
    }
}
