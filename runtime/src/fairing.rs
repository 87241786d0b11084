//! The `Keepsake` fairing: reads the configuration, loads records lazily, saves them.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::{value::Value, Figment};
use rocket::http::{Cookie, Header, Status};
use rocket::request::Outcome;
use rocket::tokio::sync::OnceCell;
use rocket::{Build, Ignite, Request, Response, Rocket};

use crate::codec::{Codec, Limits, Purpose, Stamp, MAX_COOKIE_LEN};
use crate::config::{Config, ConfigError, Secret};
use crate::error::{report, SessionError};
use crate::record::{FlashEntry, Record};
use crate::store::{Changes, Saved, SessionId, SessionStore, StoreError};

/// The session fairing. Attach it once; every `Session`, `Flashes` and `Flash` needs it.
///
/// It reads the [`Config`] from the `keepsake` key of Rocket's configuration when
/// the instance ignites, loads a client's record the first time a request asks for
/// it (a request that never does pays nothing), and saves it when the response goes
/// out: `Set-Cookie` when the record changed (or is permanent and
/// `refresh_each_request` is on), a deleted cookie when it was emptied, and
/// `Vary: Cookie` whenever it was loaded.
///
/// ```rust,no_run
/// use rocket_keepsake::Keepsake;
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     rocket::build().attach(Keepsake::fairing())
/// }
/// ```
#[derive(Default)]
pub struct Keepsake {
    store: Option<Arc<dyn SessionStore>>,
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

impl Keepsake {
    /// The fairing with the default store: the whole record in a signed cookie, so
    /// nothing needs to run beside the application.
    pub fn fairing() -> Keepsake {
        Keepsake { store: None }
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
        }
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
        match Shared::from_figment(rocket.figment(), self.store.clone()) {
            Ok(shared) => Ok(rocket.manage(shared)),
            Err(e) => {
                log::error!(target: "rocket_keepsake", "{}", report(&e));
                Err(rocket)
            }
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let session = RequestSession::of(req);
        let queued = session.take_queued_flashes();
        if session.loaded().is_none() && queued.is_empty() {
            return;
        }
        let Some(shared) = req.rocket().state::<Shared>() else {
            return;
        };
        let record = match RequestSession::load(req).await {
            Ok(record) => record,
            Err(e) => return fail(res, Status::ServiceUnavailable, &e),
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

/// Where records live.
enum Backend {
    /// In the cookie itself.
    Cookie,
    /// In a server-side store; the cookie holds a signed id.
    Store(Arc<dyn SessionStore>),
}

/// What the fairing keeps in Rocket's managed state once ignited.
pub(crate) struct Shared {
    config: Config,
    /// Signs the cookie: the record itself, or a store's session id.
    codec: Codec,
    limits: Limits,
    backend: Backend,
}

/// What a response must do about the session, decided under the record's lock.
enum Plan {
    Nothing,
    /// The changes cannot be saved: a 500, with this logged.
    Fail(String),
    /// Delete the cookie, and the stored record if there is one.
    Remove {
        stored: Option<SessionId>,
    },
    /// Send this signed cookie value.
    Cookie {
        value: String,
        permanent: bool,
    },
    /// Write to the store, then send a cookie with the (possibly new) id.
    Store {
        write: StoreWrite,
        stamp: Stamp,
        permanent: bool,
    },
}

/// One request's write to a server-side store.
struct StoreWrite {
    store: Arc<dyn SessionStore>,
    /// The id the record was loaded under; `None` for a new record.
    loaded: Option<SessionId>,
    /// Move the record to a new id first (`cycle_id`).
    cycle: bool,
    changes: Changes,
    ttl: Duration,
}

impl Shared {
    fn from_figment(
        figment: &Figment,
        store: Option<Arc<dyn SessionStore>>,
    ) -> Result<Shared, ConfigError> {
        let config = Config::from_figment(figment)?;
        let secret = match figment.find_value("secret_key") {
            Ok(value) => Secret::from_value("secret_key", &value)?,
            Err(_) => None,
        };
        let secret = match secret {
            Some(secret) => secret,
            None if figment.profile() == rocket::Config::DEBUG_PROFILE => {
                log::warn!(
                    target: "rocket_keepsake",
                    "no `secret_key` configured: signing sessions with a random key, so they \
                     will not survive a restart (this is refused outside the debug profile)"
                );
                Secret::generate().map_err(|e| {
                    ConfigError::Rule(format!("no secret key, and none could be generated: {e}"))
                })?
            }
            None => return Err(ConfigError::MissingSecret(figment.profile().to_string())),
        };
        let fallbacks = config
            .fallback_keys
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let key = format!("keepsake.fallback_keys[{i}]");
                Secret::from_value(&key, &Value::from(text.as_str()))?.ok_or(
                    ConfigError::BadSecret {
                        key,
                        reason: "an all-zero key is not a key".into(),
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (purpose, backend) = match store {
            None => (Purpose::Record, Backend::Cookie),
            Some(store) => (Purpose::SessionId, Backend::Store(store)),
        };
        let codec = Codec::new(purpose, &secret, &fallbacks);
        let limits = Limits {
            max_age: config.max_age,
            idle: config.idle_timeout,
            absolute: config.absolute_timeout,
        };
        Ok(Shared {
            config,
            codec,
            limits,
            backend,
        })
    }

    /// The record the request's cookie points to, or a fresh one. A cookie that does
    /// not verify, has expired, or names an unknown id is not an error: it starts a
    /// new session (which never adopts the client's id). A store that fails is.
    async fn load(&self, req: &Request<'_>) -> Result<Record, SessionError> {
        let now = unix_now();
        let Some(cookie) = req.cookies().get(&self.config.cookie_name) else {
            return Ok(Record::new(now));
        };
        let opened = self.codec.open(cookie.value()).and_then(|opened| {
            self.limits.check(opened.stamp, now)?;
            Ok(opened)
        });
        let opened = match opened {
            Ok(opened) => opened,
            Err(why) => return Ok(fresh(now, &why)),
        };
        let (stamp, rotated) = (opened.stamp, opened.rotated);
        let mut record = match &self.backend {
            Backend::Cookie => match Record::from_json(opened.payload, stamp.created) {
                Ok(record) => record,
                Err(e) => {
                    return Ok(fresh(
                        now,
                        &format!("cookie payload is not a JSON object: {e}"),
                    ))
                }
            },
            Backend::Store(store) => {
                let Some(id) = SessionId::from_verified(opened.payload) else {
                    return Ok(fresh(now, &"cookie holds no session id"));
                };
                match store.load(&id).await {
                    Ok(Some(fields)) => match Record::from_fields(id, fields, stamp.created) {
                        Ok(record) => record,
                        Err(e) => {
                            return Ok(fresh(
                                now,
                                &format!("the stored session is unreadable: {e}"),
                            ))
                        }
                    },
                    Ok(None) => return Ok(fresh(now, &"the store has no session with this id")),
                    Err(e) => {
                        log::error!(target: "rocket_keepsake", "cannot load the session: {}", report(&e));
                        return Err(SessionError::Store(Arc::new(e)));
                    }
                }
            }
        };
        record.reissue = rotated;
        Ok(record)
    }

    /// Saves the record as Flask would, then sets or deletes the cookie.
    async fn save<'r>(&self, req: &Request<'_>, record: &Mutex<Record>, res: &mut Response<'r>) {
        res.adjoin_raw_header("Vary", "Cookie");
        let plan = self.plan(req, &mut lock(record));
        match plan {
            Plan::Nothing => {}
            Plan::Fail(why) => {
                log::error!(target: "rocket_keepsake", "{why}");
                *res = Response::build()
                    .status(Status::InternalServerError)
                    .finalize();
            }
            Plan::Remove { stored } => {
                if let (Some(id), Backend::Store(store)) = (stored, &self.backend) {
                    if let Err(e) = store.delete(&id).await {
                        return fail(res, Status::ServiceUnavailable, &e);
                    }
                }
                res.adjoin_header(self.cookie(String::new(), CookieLife::Removal));
            }
            Plan::Cookie { value, permanent } => {
                res.adjoin_header(self.cookie(value, CookieLife::of(permanent)))
            }
            Plan::Store {
                write,
                stamp,
                permanent,
            } => match write.apply().await {
                Ok(Some(id)) => {
                    let value = self.codec.seal(stamp, id.as_str().as_bytes());
                    res.adjoin_header(self.cookie(value, CookieLife::of(permanent)));
                }
                Ok(None) => log::warn!(
                    target: "rocket_keepsake",
                    "the session was deleted or moved by a concurrent request (a logout or a \
                     new id), so this request's changes were not saved; the client starts a \
                     fresh session"
                ),
                Err(e) => fail(res, Status::ServiceUnavailable, &e),
            },
        }
    }

    /// Applies Flask's rules for when to send, refresh or delete the cookie.
    fn plan(&self, req: &Request<'_>, record: &mut Record) -> Plan {
        record.flush();
        if let Some(failure) = record.failure.take() {
            return Plan::Fail(format!("session changes cannot be saved: {failure}"));
        }
        let config = &self.config;
        if record.is_empty() {
            let had_cookie = req.cookies().get(&config.cookie_name).is_some();
            if had_cookie && (record.is_modified() || record.cleared) {
                return Plan::Remove {
                    stored: record.id.clone(),
                };
            }
            return Plan::Nothing;
        }
        let permanent = record.is_permanent();
        let send = record.is_modified()
            || record.reissue
            || record.cycle
            || (permanent && config.refresh_each_request)
            || config.idle_timeout.is_some();
        if !send {
            return Plan::Nothing;
        }
        let now = unix_now();
        let stamp = Stamp {
            issued: now,
            created: record.created,
        };
        if let Backend::Store(store) = &self.backend {
            let write = StoreWrite {
                store: store.clone(),
                loaded: record.id.clone(),
                cycle: record.cycle,
                changes: record.changes(),
                ttl: self.ttl(record.created, now),
            };
            return Plan::Store {
                write,
                stamp,
                permanent,
            };
        }
        let value = self.codec.seal(stamp, &record.to_json());
        let size = config.cookie_name.len() + 1 + value.len();
        if size > MAX_COOKIE_LEN {
            let largest: Vec<String> = record
                .largest_keys(3)
                .into_iter()
                .map(|(key, bytes)| format!("`{key}` ({bytes} B)"))
                .collect();
            return Plan::Fail(format!(
                "session cookie would be {size} bytes, over the {MAX_COOKIE_LEN} browsers keep, so \
                 it was not sent and the client keeps its previous session; largest keys: {}; \
                 store less, or keep sessions server-side with `Keepsake::with_store`",
                largest.join(", ")
            ));
        }
        Plan::Cookie { value, permanent }
    }

    /// How long a stored record lives unless refreshed: the idle timeout if set, else
    /// `max_age`, and never past the absolute timeout.
    fn ttl(&self, created: u64, now: u64) -> Duration {
        let ttl = self.config.idle_timeout.unwrap_or(self.config.max_age);
        match self.config.absolute_timeout {
            Some(absolute) => {
                let lived = Duration::from_secs(now.saturating_sub(created));
                ttl.min(absolute.saturating_sub(lived))
                    .max(Duration::from_secs(1))
            }
            None => ttl,
        }
    }

    /// The `Set-Cookie` header. Written without percent-encoding, which Rocket's
    /// conversion applies character by character: our values are URL-safe base64.
    fn cookie(&self, value: String, life: CookieLife) -> Header<'static> {
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
        match life {
            CookieLife::Browser => {}
            CookieLife::Permanent => {
                let max_age =
                    time::Duration::try_from(config.max_age).unwrap_or(time::Duration::MAX);
                cookie = cookie
                    .max_age(max_age)
                    .expires(time::OffsetDateTime::now_utc().saturating_add(max_age));
            }
            CookieLife::Removal => cookie = cookie.removal(),
        }
        Header::new("Set-Cookie", cookie.build().to_string())
    }
}

impl StoreWrite {
    /// Performs the write; the id the record now lives under, or `None` if another
    /// request deleted or moved it meanwhile (it is then not recreated).
    async fn apply(self) -> Result<Option<SessionId>, StoreError> {
        let new_id = || SessionId::generate().map_err(|e| StoreError::new("keepsake", e));
        let id = match self.loaded {
            None => new_id()?,
            Some(old) if self.cycle => {
                let new = new_id()?;
                if self.store.rename(&old, &new, self.ttl).await? == Saved::Gone {
                    return Ok(None);
                }
                new
            }
            Some(id) => id,
        };
        if self.store.save(&id, &self.changes, self.ttl).await? == Saved::Gone {
            return Ok(None);
        }
        Ok(Some(id))
    }
}

/// A fresh session, for a cookie that could not be used; why is logged at debug.
fn fresh(now: u64, why: &dyn fmt::Display) -> Record {
    log::debug!(target: "rocket_keepsake", "starting a fresh session: {why}");
    Record::new(now)
}

/// Replaces the response with an empty one of `status`, logging why.
fn fail(res: &mut Response<'_>, status: Status, error: &dyn std::error::Error) {
    log::error!(target: "rocket_keepsake", "session not saved: {}", report(error));
    *res = Response::build().status(status).finalize();
}

/// How long the browser keeps a cookie.
enum CookieLife {
    /// Until the browser closes: neither `Expires` nor `Max-Age`.
    Browser,
    /// `max_age`: both `Expires` and `Max-Age`.
    Permanent,
    /// Delete it now.
    Removal,
}

impl CookieLife {
    fn of(permanent: bool) -> CookieLife {
        if permanent {
            CookieLife::Permanent
        } else {
            CookieLife::Browser
        }
    }
}

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

    fn loaded(&self) -> Option<&Mutex<Record>> {
        self.record.get().and_then(|loaded| loaded.as_ref().ok())
    }

    pub(crate) fn queue_flashes(&self, messages: impl IntoIterator<Item = FlashEntry>) {
        self.queued_flashes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(messages);
    }

    fn take_queued_flashes(&self) -> Vec<FlashEntry> {
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
