//! The `Keepsake` fairing: reads the configuration, loads records lazily, saves them.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::{value::Value, Figment};
use rocket::http::{Cookie, Status};
use rocket::tokio::sync::OnceCell;
use rocket::{Build, Request, Response, Rocket};

use crate::codec::{Codec, Limits, Purpose, Stamp, MAX_COOKIE_LEN};
use crate::config::{Config, ConfigError, Secret};
use crate::error::{report, SessionError};
use crate::record::{FlashEntry, Record};

/// The session fairing. Attach it once; every `Session` and `Flashes` guard needs it.
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
#[derive(Debug, Default)]
pub struct Keepsake {
    _private: (),
}

impl Keepsake {
    /// The fairing with the default store: the whole record in a signed cookie, so
    /// nothing needs to run beside the application.
    pub fn fairing() -> Keepsake {
        Keepsake { _private: () }
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
        match Shared::from_figment(rocket.figment()) {
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
        let (Some(shared), Ok(record)) = (
            req.rocket().state::<Shared>(),
            RequestSession::load(req).await,
        ) else {
            return;
        };
        let mut record = lock(record);
        for (category, message) in queued {
            record.push_flash(&category, message);
        }
        shared.save(req, &mut record, res);
    }
}

/// What the fairing keeps in Rocket's managed state once ignited.
pub(crate) struct Shared {
    config: Config,
    codec: Codec,
    limits: Limits,
}

impl Shared {
    fn from_figment(figment: &Figment) -> Result<Shared, ConfigError> {
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
        let codec = Codec::new(Purpose::Record, &secret, &fallbacks);
        let limits = Limits {
            max_age: config.max_age,
            idle: config.idle_timeout,
            absolute: config.absolute_timeout,
        };
        Ok(Shared {
            config,
            codec,
            limits,
        })
    }

    /// The record the request's cookie holds, or a fresh one. A cookie that does not
    /// verify, has expired or does not decode is not an error: it starts a new session.
    fn load(&self, req: &Request<'_>) -> Record {
        let now = unix_now();
        let Some(cookie) = req.cookies().get(&self.config.cookie_name) else {
            return Record::new(now);
        };
        let opened = self.codec.open(cookie.value()).and_then(|opened| {
            self.limits.check(opened.stamp, now)?;
            Ok(opened)
        });
        let outcome = opened.map_err(|e| e.to_string()).and_then(|opened| {
            let mut record = Record::from_json(&opened.payload, opened.stamp.created)
                .map_err(|e| format!("cookie payload is not a JSON object: {e}"))?;
            record.reissue = opened.rotated;
            Ok(record)
        });
        outcome.unwrap_or_else(|why| {
            log::debug!(target: "rocket_keepsake", "starting a fresh session: {why}");
            Record::new(now)
        })
    }

    /// Applies Flask's rules for when to send, refresh or delete the cookie.
    fn save<'r>(&self, req: &Request<'_>, record: &mut Record, res: &mut Response<'r>) {
        res.adjoin_raw_header("Vary", "Cookie");
        record.flush();
        if let Some(failure) = &record.failure {
            log::error!(target: "rocket_keepsake", "session changes cannot be saved: {failure}");
            *res = Response::build()
                .status(Status::InternalServerError)
                .finalize();
            return;
        }
        let config = &self.config;
        if record.is_empty() {
            let had_cookie = req.cookies().get(&config.cookie_name).is_some();
            if had_cookie && (record.is_modified() || record.cleared) {
                res.adjoin_header(self.cookie(String::new(), CookieLife::Removal));
            }
            return;
        }
        let permanent = record.is_permanent();
        let send = record.is_modified()
            || record.reissue
            || (permanent && config.refresh_each_request)
            || config.idle_timeout.is_some();
        if !send {
            return;
        }
        let stamp = Stamp {
            issued: unix_now(),
            created: record.created,
        };
        let value = self.codec.seal(stamp, &record.to_json());
        let size = config.cookie_name.len() + 1 + value.len();
        if size > MAX_COOKIE_LEN {
            let largest: Vec<String> = record
                .largest_keys(3)
                .into_iter()
                .map(|(key, bytes)| format!("`{key}` ({bytes} B)"))
                .collect();
            log::error!(
                target: "rocket_keepsake",
                "session cookie would be {size} bytes, over the {MAX_COOKIE_LEN} browsers keep, so \
                 it was not sent and the client keeps its previous session; largest keys: {}; \
                 store less, or keep sessions server-side with `Keepsake::with_store`",
                largest.join(", ")
            );
            *res = Response::build()
                .status(Status::InternalServerError)
                .finalize();
            return;
        }
        let life = if permanent {
            CookieLife::Permanent
        } else {
            CookieLife::Browser
        };
        res.adjoin_header(self.cookie(value, life));
    }

    fn cookie(&self, value: String, life: CookieLife) -> Cookie<'static> {
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
        cookie.build()
    }
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

/// Per-request session state, in `Request::local_cache`: the record, loaded at most
/// once per request however many guards ask for it, even across forwards.
#[derive(Default)]
pub(crate) struct RequestSession {
    record: OnceCell<Mutex<Record>>,
    /// Messages of `Flash` responders, added to the record when the response goes out.
    queued_flashes: Mutex<Vec<FlashEntry>>,
}

impl RequestSession {
    pub(crate) fn of<'r>(req: &'r Request<'_>) -> &'r RequestSession {
        req.local_cache(RequestSession::default)
    }

    /// The request's record, loading it on first use.
    pub(crate) async fn load<'r>(req: &'r Request<'_>) -> Result<&'r Mutex<Record>, SessionError> {
        let shared = req
            .rocket()
            .state::<Shared>()
            .ok_or(SessionError::NotAttached)?;
        let record = RequestSession::of(req)
            .record
            .get_or_init(|| async { Mutex::new(shared.load(req)) })
            .await;
        Ok(record)
    }

    fn loaded(&self) -> Option<&Mutex<Record>> {
        self.record.get()
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

/// Whether `rocket` has the fairing attached (for sentinels).
pub(crate) fn is_attached<P: rocket::Phase>(rocket: &Rocket<P>) -> bool {
    rocket.state::<Shared>().is_some()
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
