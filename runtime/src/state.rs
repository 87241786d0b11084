//! What the fairing keeps in Rocket's managed state once ignited, and how a request's
//! record is loaded with it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rocket::figment::{value::Value, Figment};
use rocket::Request;

use crate::clock::{unix_seconds, Clock};
use crate::codec::{
    self, Encrypted, Flask, FlaskSessionIds, Format, Limits, Purpose, Signed, Tags,
};
use crate::config::{BadKey, Config, ConfigError, Rule, Secret};
use crate::cookie::CookieHeaders;
use crate::error::{report, SessionError};
use crate::record::Record;
use crate::store::{SessionId, SessionStore, StoreErrorKind};

/// Where records live.
pub(crate) enum Backend {
    /// In the cookie itself.
    Cookie,
    /// In a server-side store; the cookie holds a signed id.
    Store(Arc<dyn SessionStore>),
}

impl Backend {
    /// The server-side store, if records live in one.
    pub(crate) fn store(&self) -> Option<&dyn SessionStore> {
        match self {
            Backend::Cookie => None,
            Backend::Store(store) => Some(&**store),
        }
    }
}

/// The ignited fairing's state.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The session cookie's headers, their attributes formatted once.
    pub(crate) cookies: CookieHeaders,
    /// Seals the cookie: the record itself, or a store's session id.
    pub(crate) format: Format,
    /// With `migrate_cookie_sessions`: the formats of the signed-cookie store's
    /// cookies, whose sessions move into the store.
    pub(crate) migrate: Vec<Format>,
    pub(crate) limits: Limits,
    pub(crate) backend: Backend,
    /// Makes the handles `SessionAdmin::sessions` gives a server-side store's
    /// sessions.
    pub(crate) tags: Option<Tags>,
    pub(crate) clock: Arc<dyn Clock>,
    /// A `Secure` cookie was already sent to a plain-http, non-loopback host, and
    /// the warning about it logged.
    pub(crate) warned_insecure: AtomicBool,
    /// The runtime the instance ignited on, where the blocking test helpers run store
    /// calls (a store's connections belong to it).
    #[cfg(feature = "testing")]
    pub(crate) runtime: Option<rocket::tokio::runtime::Handle>,
    /// How many requests hold session state (the fairing's count, shared).
    pub(crate) in_flight: Arc<AtomicUsize>,
}

impl Shared {
    /// The state for `config`, read from `figment`, with records in `store` if the
    /// code gave one.
    pub(crate) fn new(
        figment: &Figment,
        config: Config,
        store: Option<Arc<dyn SessionStore>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Shared, ConfigError> {
        let store = match (store, &config.store) {
            (Some(_), Some(_)) => return Err(ConfigError::StoreTwice),
            (Some(_), None) if config.flask_session => {
                let given = "the fairing was given a store in code";
                return Err(ConfigError::Rule(Rule::FlaskSessionStore(given)));
            }
            (Some(store), None) => Some(store),
            (None, Some(url)) => {
                let table = match config.flask_session {
                    true => Some(&*config.flask_session_table),
                    false => config.store_table.as_deref(),
                };
                let names = crate::store::url::Names {
                    table,
                    prefix: config.store_prefix.as_deref(),
                    flask_session: config
                        .flask_session
                        .then_some(&*config.flask_session_prefix),
                };
                let store = crate::store::url::open(url, names).map_err(ConfigError::Store)?;
                log::info!(target: "rocket_keepsake", "sessions are kept in the store at `{}`", crate::store::url::redact(url));
                Some(store)
            }
            (None, None) if config.flask_session => {
                let none = "no `store` is set";
                return Err(ConfigError::Rule(Rule::FlaskSessionStore(none)));
            }
            (None, None) => None,
        };
        let (purpose, backend) = match store {
            None => (Purpose::Record, Backend::Cookie),
            Some(store) => (Purpose::SessionId, Backend::Store(store)),
        };
        if config.migrate_cookie_sessions && matches!(backend, Backend::Cookie) {
            return Err(ConfigError::Rule(Rule::MigrateWithoutStore));
        }
        let (mut migrate, mut tags) = (Vec::new(), None);
        let format = match (&config.flask_secret_key, &backend) {
            _ if config.flask_session => {
                let signer = config.flask_secret_key.as_deref();
                let signer = signer.filter(|_| config.flask_session_signer);
                if config.migrate_cookie_sessions {
                    let (secret, fallbacks) = keys(figment, &config)?;
                    let record = Purpose::Record;
                    migrate.push(Format::Signed(Signed::new(record, &secret, &fallbacks)));
                }
                Format::FlaskSession(FlaskSessionIds::new(signer))
            }
            (None, _) => {
                let (secret, fallbacks) = keys(figment, &config)?;
                if let Backend::Store(_) = backend {
                    tags = Some(Tags::new(&secret));
                }
                if config.migrate_cookie_sessions {
                    let record = Purpose::Record;
                    migrate.push(Format::Signed(Signed::new(record, &secret, &fallbacks)));
                    if config.encrypt {
                        let encrypted = Encrypted::new(record, &secret, &fallbacks);
                        migrate.push(Format::Encrypted(encrypted));
                    }
                }
                if config.encrypt {
                    Format::Encrypted(Encrypted::new(purpose, &secret, &fallbacks))
                } else {
                    Format::Signed(Signed::new(purpose, &secret, &fallbacks))
                }
            }
            (Some(_), Backend::Store(_)) => return Err(ConfigError::Rule(Rule::FlaskWithStore)),
            (Some(flask), Backend::Cookie) => Format::Flask(Flask::new(
                flask,
                &config.flask_fallback_keys,
                &config.flask_salt,
            )),
        };
        let limits = Limits {
            max_age: config.max_age,
            idle: config.idle_timeout,
            absolute: config.absolute_timeout,
        };
        Ok(Shared {
            cookies: CookieHeaders::new(&config),
            config,
            format,
            migrate,
            limits,
            backend,
            tags,
            clock,
            warned_insecure: AtomicBool::new(false),
            #[cfg(feature = "testing")]
            runtime: rocket::tokio::runtime::Handle::try_current().ok(),
            in_flight: Arc::default(),
        })
    }

    /// Now, in unix seconds, by the fairing's clock.
    pub(crate) fn now(&self) -> u64 {
        unix_seconds(self.clock.now())
    }

    /// The record the request's cookie points to, or a fresh one. A cookie that does
    /// not verify, has expired, or names an unknown id is not an error: it starts a
    /// new session (which never adopts the client's id), and so does a stored record
    /// that cannot be read (it is deleted). A store that fails is an error.
    pub(crate) async fn load(&self, req: &Request<'_>) -> Result<Box<Record>, SessionError> {
        let cookie = req.cookies().get(&self.config.cookie_name);
        self.load_cookie(cookie.map(|c| c.value())).await
    }

    /// [`Shared::load`], from the session cookie's value, if one arrived.
    pub(crate) async fn load_cookie(
        &self,
        value: Option<&str>,
    ) -> Result<Box<Record>, SessionError> {
        let now = self.now();
        let Some(value) = value else {
            return Ok(Box::new(Record::new(now)));
        };
        let opened = match codec::open(&self.format, &self.limits, value, now) {
            Ok(opened) => opened,
            Err(why) => {
                return Ok(self
                    .migrated(value, now)
                    .unwrap_or_else(|| fresh(now, &why)))
            }
        };
        let (created, issued, rotated) =
            (opened.stamp.created, opened.stamp.issued, opened.rotated);
        // A session with its own lifetime (shorter than `max_age`, which `open` checked).
        let within_lifetime = |mut record: Box<Record>| match record.lifetime() {
            Some(lifetime) if now.saturating_sub(issued) > lifetime.as_secs() => fresh(
                now,
                &format_args!(
                    "the session outlived its own lifetime ({}s)",
                    lifetime.as_secs()
                ),
            ),
            _ => record,
        };
        let store = match &self.backend {
            Backend::Cookie => {
                let record = if self.format.is_flask() {
                    Record::from_flask_json(&opened.payload, created, rotated)
                } else {
                    Record::from_cookie_json(opened.payload, created, rotated)
                };
                return Ok(match record {
                    Ok(record) => within_lifetime(Box::new(record)),
                    Err(e) => fresh(now, &format_args!("cookie payload is not a record: {e}")),
                });
            }
            Backend::Store(store) => store,
        };
        let Some(id) = SessionId::from_verified(opened.payload) else {
            return Ok(fresh(now, &"cookie holds no session id"));
        };
        let unreadable = match store.load_record(&id).await {
            Ok(Some(loaded)) => {
                let record = Record::from_store(id.clone(), loaded, created, rotated);
                return Ok(within_lifetime(Box::new(record)));
            }
            Ok(None) => return Ok(fresh(now, &"the store has no session with this id")),
            Err(e) if e.kind() == StoreErrorKind::Unreadable => report(&e),
            Err(e) => {
                log::error!(target: "rocket_keepsake", "cannot load the session: {}", report(&e));
                return Err(SessionError::Store(Arc::new(e)));
            }
        };
        log::warn!(
            target: "rocket_keepsake",
            "the stored session {id:?} cannot be read ({unreadable}); deleting it and starting \
             a fresh session"
        );
        if let Err(e) = store.delete(&id).await {
            log::warn!(target: "rocket_keepsake", "could not delete the unreadable session: {}", report(&e));
        }
        Ok(Box::new(Record::new(now)))
    }

    /// The session of a signed-cookie store's cookie, to move into the server-side
    /// store (`migrate_cookie_sessions`): with no id, it is created there when the
    /// response goes out, which sets the id cookie in its place.
    fn migrated(&self, value: &str, now: u64) -> Option<Box<Record>> {
        let opened = self
            .migrate
            .iter()
            .find_map(|format| codec::open(format, &self.limits, value, now).ok())?;
        let created = opened.stamp.created;
        // "Rotated": the cookie must be re-issued, as an id cookie, even if nothing
        // changes.
        let record = Record::from_cookie_json(opened.payload, created, true).ok()?;
        log::debug!(target: "rocket_keepsake", "moving a signed-cookie session into the store");
        let mut record = Box::new(record);
        match record.lifetime() {
            Some(lifetime) if now.saturating_sub(opened.stamp.issued) > lifetime.as_secs() => None,
            _ => Some(record),
        }
    }

    /// Warns, once per launch, when a `Secure` cookie goes to a browser that will drop
    /// it: a plain-http request for a host that is not loopback.
    pub(crate) fn warn_if_dropped_by_browsers(&self, req: &Request<'_>) {
        if !self.config.secure
            || req.rocket().config().tls_enabled()
            || self.warned_insecure.load(Ordering::Relaxed)
        {
            return;
        }
        let behind_https = req
            .headers()
            .get_one("X-Forwarded-Proto")
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
        // Rocket sets `host()` from a served request; fall back on the header as sent.
        let host = match req.host() {
            Some(host) => host.domain().as_str().to_owned(),
            None => match req.headers().get_one("Host") {
                Some(header) => domain_of(header).to_owned(),
                None => return,
            },
        };
        if behind_https || is_loopback(&host) {
            return;
        }
        if !self.warned_insecure.swap(true, Ordering::Relaxed) {
            log::warn!(
                target: "rocket_keepsake",
                "the session cookie is `Secure`, and this request came over plain http for \
                 `{}`, which is not localhost: browsers will drop the cookie, so sessions (and \
                 logins) will not stick; serve over HTTPS, or set `secure = false` under \
                 `[debug.keepsake]` for development (logged once)",
                host
            );
        }
    }
}

/// The domain of a `Host` header value: without its port, IPv6 brackets kept.
fn domain_of(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(host, |end| &host[..end + 2]),
        None => host.rsplit_once(':').map_or(host, |(domain, _)| domain),
    }
}

/// Rocket's `secret_key` and the `fallback_keys`, which keepsake's own format signs
/// with. Without a `secret_key`, the debug profile makes a random one (with a
/// warning), and any other profile fails.
fn keys(figment: &Figment, config: &Config) -> Result<(Secret, Vec<Secret>), ConfigError> {
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
            Secret::generate().map_err(ConfigError::NoRandomKey)?
        }
        None => return Err(ConfigError::MissingSecret(figment.profile().to_string())),
    };
    let fallbacks = config
        .fallback_keys
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let key = format!("keepsake.fallback_keys[{i}]");
            Secret::from_value(&key, &Value::from(text.as_str()))?.ok_or(ConfigError::BadSecret {
                key,
                reason: BadKey::AllZero,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((secret, fallbacks))
}

/// Whether browsers treat `host` as a secure context over plain http.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A fresh session, for a cookie that could not be used; why is logged at debug.
fn fresh(now: u64, why: &dyn fmt::Display) -> Box<Record> {
    log::debug!(target: "rocket_keepsake", "starting a fresh session: {why}");
    Box::new(Record::new(now))
}

#[cfg(test)]
mod tests {
    use super::{domain_of, is_loopback};

    #[test]
    fn host_header_domains() {
        assert_eq!(domain_of("192.168.1.20:8000"), "192.168.1.20");
        assert_eq!(domain_of("example.com"), "example.com");
        assert_eq!(domain_of("[::1]:8000"), "[::1]");
        assert_eq!(domain_of("[::1]"), "[::1]");
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "127.0.0.1",
            "127.3.4.5",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "192.168.1.20",
            "example.com",
            "localhost.example.com",
            "10.0.0.1",
            "[::2]",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
