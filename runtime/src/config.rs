//! Configuration: the `keepsake` table of Rocket's figment, and the secret keys.

use std::fmt;
use std::time::Duration;

use rocket::figment::{value::Value, Figment};
use rocket::http::SameSite;
use rocket::serde::{de, Deserialize, Deserializer};

/// The `keepsake` configuration, read from Rocket's figment when the fairing ignites.
///
/// Set it in `Rocket.toml` under `[default.keepsake]` (or a profile's table), as
/// `ROCKET_KEEPSAKE={max_age="7d"}`, or one key at a time as `ROCKET_KEEPSAKE_MAX_AGE=7d`.
/// Every default is safe in production. An invalid value fails ignite with a message
/// naming the key.
///
/// ```toml
/// [default.keepsake]
/// cookie_name = "session"
/// max_age = "31d"
/// idle_timeout = "2h"
/// same_site = "strict"
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
#[serde(crate = "rocket::serde", default, deny_unknown_fields)]
pub struct Config {
    /// Name of the session cookie. Default: `"session"`.
    pub cookie_name: String,
    /// Lifetime of a permanent session, and the oldest signature accepted for any session.
    /// Default: 31 days.
    #[serde(deserialize_with = "duration")]
    pub max_age: Duration,
    /// Re-send the cookie of a permanent session on every request that loads it, so
    /// that its expiry slides forward (Flask's `SESSION_REFRESH_EACH_REQUEST`). Default: `true`.
    pub refresh_each_request: bool,
    /// A session not loaded by any request for this long is expired. While set, every
    /// request that loads the session renews its cookie. Default: off.
    #[serde(deserialize_with = "optional_duration")]
    pub idle_timeout: Option<Duration>,
    /// How long a server-side store keeps a session that is not permanent and holds
    /// nothing but pending flash messages (a failed login, a page flashed to an
    /// anonymous visitor): such records are many and are read at once or never, so
    /// they must not live for `max_age`. Default: 10 minutes.
    #[serde(deserialize_with = "duration")]
    pub flash_only_ttl: Duration,
    /// A session is expired this long after it was created, however active. Default: off.
    #[serde(deserialize_with = "optional_duration")]
    pub absolute_timeout: Option<Duration>,
    /// `Path` attribute of the cookie. Default: `"/"`.
    pub cookie_path: String,
    /// `Domain` attribute of the cookie. Default: none (the cookie is host-only).
    pub cookie_domain: Option<String>,
    /// `Secure` attribute. Default: `true` (browsers accept Secure cookies from
    /// `http://localhost`, so development still works).
    pub secure: bool,
    /// `HttpOnly` attribute. Default: `true`.
    pub http_only: bool,
    /// `SameSite` attribute: `"lax"`, `"strict"` or `"none"`. Default: `"lax"`.
    #[serde(deserialize_with = "same_site")]
    pub same_site: SameSite,
    /// `Partitioned` attribute (CHIPS). Default: `false`.
    pub partitioned: bool,
    /// Encrypt the cookie (AES-256-GCM) as well as authenticate it, so that the client
    /// cannot read the record: for what must not be read, not just not be changed. An
    /// encrypted cookie never opens as a signed one, nor the reverse, so switching this
    /// on starts every client afresh. With a server-side store, the id cookie is
    /// encrypted. Not with `flask_secret_key`. Default: `false`.
    pub encrypt: bool,
    /// Previous values of Rocket's `secret_key`, in the same formats: cookies signed
    /// with them are still accepted, and re-signed with the current key on their next
    /// write. Default: none.
    pub fallback_keys: Vec<String>,
    /// A Flask app's `SECRET_KEY`: when set, the session cookie is read and written in
    /// Flask's own format (itsdangerous, TaggedJSON), so that the two apps share one
    /// session. Only with the signed-cookie store. Default: none.
    pub flask_secret_key: Option<String>,
    /// The Flask app's `SECRET_KEY_FALLBACKS`: still verify, and their cookies are
    /// re-signed with `flask_secret_key`. Default: none.
    pub flask_fallback_keys: Vec<String>,
    /// The salt of Flask's session signer. Default: `"cookie-session"`, Flask's own.
    pub flask_salt: String,
    /// The server-side store for [`Keepsake::fairing()`](crate::Keepsake::fairing), as
    /// a URL: `"memory"` (or `"memory?max_sessions=N"`, its cap; default 100,000),
    /// `redis://..`, `postgres://..`, `mysql://..`/`mariadb://..`,
    /// `sqlite://path` or `sqlite::memory:`. A scheme whose cargo feature is not
    /// enabled fails launch, naming the feature. Default: none (the signed cookie).
    pub store: Option<String>,
    /// The table of the SQL store that `store` names, or of
    /// `Keepsake::with_db`'s: letters, digits and `_`.
    /// Two apps on one database keep apart by naming two tables. Default:
    /// `"keepsake_sessions"`. Set for a store without a table, it fails launch.
    pub store_table: Option<String>,
    /// The prefix of every key of the Redis or Memcached store that `store` names. Two
    /// apps on one server keep apart by naming two prefixes. Default: `"keepsake:"`.
    /// Set for a store without key prefixes, it fails launch.
    pub store_prefix: Option<String>,
    /// With a server-side store: a request that carries a valid session cookie of the
    /// signed-cookie store (the same `secret_key` or a fallback key; an encrypted one
    /// too when `encrypt` is on) has that session moved into the store as a new
    /// session, and the response sets the id cookie. Switching `store` from the cookie
    /// to a server then logs no one out. Keep it on for `max_age` after the switch: by
    /// then every such cookie has expired. A copy of an old cookie can be moved in
    /// until it expires, as it could be used before. Fails launch without a
    /// server-side store. Default: `false`.
    pub migrate_cookie_sessions: bool,
    /// Keep records and the id cookie in Flask-Session's format (0.7, 0.8; msgpack),
    /// on the store `store` names (`redis://`, `rediss://`, `redis+cluster://`,
    /// `redis+sentinel://`, `memcache://`, `postgres://`, `mysql://`, `sqlite://`:
    /// Flask-Session's SQLAlchemy table), so that a Flask app on Flask-Session and this
    /// one share server-side sessions. Fails launch with another store. Default:
    /// `false`.
    pub flask_session: bool,
    /// Flask-Session's `SESSION_KEY_PREFIX`, with `flask_session`. Default: `"session:"`.
    pub flask_session_prefix: String,
    /// Flask-Session's `SESSION_SQLALCHEMY_TABLE`, with `flask_session` on an SQL store.
    /// Default: `"sessions"`.
    pub flask_session_table: String,
    /// Flask-Session's `SESSION_USE_SIGNER`: the id cookie is signed with
    /// `flask_secret_key` (itsdangerous' `Signer`, salt `flask-session`), which must be
    /// set. Default: `false`.
    pub flask_session_signer: bool,
}

/// Shows every setting but the keys.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "[redacted]" } else { "none" };
        f.debug_struct("Config")
            .field("cookie_name", &self.cookie_name)
            .field("max_age", &self.max_age)
            .field("refresh_each_request", &self.refresh_each_request)
            .field("idle_timeout", &self.idle_timeout)
            .field("flash_only_ttl", &self.flash_only_ttl)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("cookie_path", &self.cookie_path)
            .field("cookie_domain", &self.cookie_domain)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("partitioned", &self.partitioned)
            .field("encrypt", &self.encrypt)
            .field("fallback_keys", &redacted(!self.fallback_keys.is_empty()))
            .field(
                "flask_secret_key",
                &redacted(self.flask_secret_key.is_some()),
            )
            .field(
                "flask_fallback_keys",
                &redacted(!self.flask_fallback_keys.is_empty()),
            )
            .field("flask_salt", &self.flask_salt)
            .field(
                "store",
                &self.store.as_deref().map(crate::store::url::redact),
            )
            .field("store_table", &self.store_table)
            .field("store_prefix", &self.store_prefix)
            .field("migrate_cookie_sessions", &self.migrate_cookie_sessions)
            .field("flask_session", &self.flask_session)
            .field("flask_session_prefix", &self.flask_session_prefix)
            .field("flask_session_table", &self.flask_session_table)
            .field("flask_session_signer", &self.flask_session_signer)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cookie_name: "session".into(),
            max_age: Duration::from_secs(31 * 24 * 60 * 60),
            refresh_each_request: true,
            idle_timeout: None,
            flash_only_ttl: Duration::from_secs(10 * 60),
            absolute_timeout: None,
            cookie_path: "/".into(),
            cookie_domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
            encrypt: false,
            fallback_keys: Vec::new(),
            flask_secret_key: None,
            flask_fallback_keys: Vec::new(),
            flask_salt: "cookie-session".into(),
            store: None,
            store_table: None,
            store_prefix: None,
            migrate_cookie_sessions: false,
            flask_session: false,
            flask_session_prefix: "session:".into(),
            flask_session_table: "sessions".into(),
            flask_session_signer: false,
        }
    }
}

/// Why the configuration was refused at ignite.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value under `keepsake` could not be read.
    #[error("invalid `keepsake` configuration")]
    Invalid(#[source] Box<rocket::figment::Error>),
    /// A rule between values is broken, e.g. a `__Host-` cookie that is not `Secure`.
    #[error("invalid `keepsake` configuration")]
    Rule(#[source] Rule),
    /// The release profile has no `secret_key`.
    #[error(
        "no `secret_key` is configured for profile `{0}`, and sessions cannot be signed without \
         one; generate one with `openssl rand -base64 32` and set it as `secret_key` in \
         Rocket.toml or `ROCKET_SECRET_KEY`"
    )]
    MissingSecret(String),
    /// A secret key could not be decoded or is too short.
    #[error("`{key}` is invalid")]
    BadSecret {
        /// Which setting, e.g. `secret_key` or `keepsake.fallback_keys[0]`.
        key: String,
        /// What is wrong with it.
        #[source]
        reason: BadKey,
    },
    /// The `store` URL names no store this build can make.
    #[error("invalid `keepsake.store`")]
    Store(#[source] crate::store::StoreUrlError),
    /// `store_table` (or [`Keepsake::with_table`](crate::Keepsake::with_table)) is not
    /// a plain SQL identifier.
    #[error("invalid `keepsake.store_table`")]
    StoreTable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `store` is set, and the fairing was also given a store in code.
    #[error(
        "`keepsake.store` is set, and the fairing was given a store in code \
         (`Keepsake::with_store` or `Keepsake::with_db`); remove one of them"
    )]
    StoreTwice,
    /// `store_table` or `store_prefix` is set (in configuration, or by
    /// [`Keepsake::with_table`]) where it has no effect: with the signed cookie, a
    /// `store` URL whose store has no table or no prefix, the store given to
    /// [`Keepsake::with_store`] (built with its own names), or a prefix for
    /// `Keepsake::with_db`'s table.
    ///
    /// [`Keepsake::with_table`]: crate::Keepsake::with_table
    /// [`Keepsake::with_store`]: crate::Keepsake::with_store
    #[error(
        "`keepsake.{0}` is set, but the session store does not take it (tables are the SQL \
         stores', key prefixes Redis' and Memcached's; the signed cookie, `memory` and `file:` \
         have neither; a store built in code keeps its own: name them on it with \
         `.with_table(..)` or `.with_prefix(..)`); remove the setting"
    )]
    NameUnused(&'static str),
    /// `Keepsake::with_db`'s database is not in Rocket's
    /// state: its `init()` fairing is not attached, or attached after this one.
    #[error(
        "`Keepsake::with_db::<{database}>()` found no database `{database}` in Rocket's state: \
         attach `{database}::init()` before the Keepsake fairing"
    )]
    NoDatabase {
        /// The database type, as written in code.
        database: &'static str,
    },
    /// `Keepsake::with_db`'s database is of an engine
    /// there is no SQL for.
    #[error(
        "`Keepsake::with_db` keeps sessions in PostgreSQL, MySQL/MariaDB or SQLite, not in \
         {0}"
    )]
    UnknownEngine(&'static str),
    /// The debug profile has no `secret_key`, and no random one could be made.
    #[error("no `secret_key` is configured, and no random one could be generated")]
    NoRandomKey(#[source] getrandom::Error),
}

/// A rule between `keepsake` values that browsers would enforce by silently dropping
/// the cookie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rule {
    /// `cookie_name` is not a cookie name.
    #[error("`cookie_name` {0:?} is not a valid cookie name; use letters, digits and `-_.`")]
    CookieName(String),
    /// `cookie_path` does not start with `/`.
    #[error("`cookie_path` {0:?} must start with `/`")]
    CookiePath(String),
    /// A duration that must be positive is zero.
    #[error("`{0}` must be more than zero seconds; omit it to disable")]
    Zero(&'static str),
    /// A `__Secure-` cookie that is not `Secure`.
    #[error("cookie `{0}` needs `secure = true` (the `__Secure-` prefix)")]
    SecurePrefix(String),
    /// A `__Host-` cookie that is not `Secure`, host-only, at `/`.
    #[error(
        "cookie `{0}` needs `secure = true`, `cookie_path = \"/\"` and no `cookie_domain` (the \
         `__Host-` prefix)"
    )]
    HostPrefix(String),
    /// `same_site = "none"` without `secure`.
    #[error("`same_site = \"none\"` needs `secure = true`; browsers refuse it otherwise")]
    SameSiteNone,
    /// `partitioned` without `secure`.
    #[error("`partitioned = true` needs `secure = true`")]
    Partitioned,
    /// `flask_secret_key` (or a Flask fallback key) is empty.
    #[error("`flask_secret_key` and `flask_fallback_keys` must not be empty")]
    EmptyFlaskKey,
    /// `flask_secret_key` with `absolute_timeout`.
    #[error(
        "`absolute_timeout` cannot be enforced with `flask_secret_key`: Flask's cookie carries \
         only the time it was signed, not when the session began; remove one of them"
    )]
    FlaskWithAbsoluteTimeout,
    /// `flask_secret_key` with a server-side store.
    #[error(
        "`flask_secret_key` works only with the signed-cookie store (`Keepsake::fairing()`): \
         Flask-Session's server-side records are another format; remove the key or the store"
    )]
    FlaskWithStore,
    /// `migrate_cookie_sessions` without a server-side store.
    #[error(
        "`migrate_cookie_sessions` moves signed-cookie sessions into a server-side store, \
         and none is configured; set `store` (or give the fairing a store), or remove it"
    )]
    MigrateWithoutStore,
    /// `flask_session` with a store Flask-Session does not share, or none.
    #[error(
        "`flask_session = true` shares sessions with Flask-Session on Redis (`store = \
         \"redis://..\"`, `rediss://`, `redis+cluster://`, `redis+sentinel://`), Memcached \
         (`memcache://`) or its SQLAlchemy table (`postgres://`, `mysql://`, `sqlite://`); \
         {0}: set `store` to where your Flask app keeps its sessions, or remove \
         `flask_session` (Flask-Session's filesystem and cachelib layouts store pickles)"
    )]
    FlaskSessionStore(&'static str),
    /// `flask_session_signer` without `flask_secret_key`.
    #[error(
        "`flask_session_signer = true` signs the id cookie with Flask's `SECRET_KEY`: set \
         `flask_secret_key`, or remove `flask_session_signer`"
    )]
    FlaskSessionSignerWithoutKey,
    /// `flask_session_signer` or another Flask-Session key without `flask_session`.
    #[error("`{0}` is set, but `flask_session` is not; set `flask_session = true`, or remove it")]
    FlaskSessionKeyUnused(&'static str),
    /// `flask_session` with `encrypt`, `absolute_timeout` or `store_prefix`.
    #[error(
        "`{0}` cannot be used with `flask_session`: Flask-Session's cookie holds the plain or \
         signed id, with no time in it, and its records are named by `flask_session_prefix` \
         and `flask_session_table`; remove one of them"
    )]
    FlaskSessionWith(&'static str),
    /// `flask_secret_key` with `encrypt`.
    #[error(
        "`encrypt = true` cannot be used with `flask_secret_key`: Flask reads only its own \
         signed, readable cookies; remove one of them"
    )]
    FlaskWithEncrypt,
}

/// Why a secret key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadKey {
    /// Not base64, hex or an array of bytes.
    #[error("expected a base64 or hex string, or an array of bytes")]
    Format,
    /// Shorter than 32 bytes.
    #[error(
        "it is {0} bytes; at least 32 are required (generate one with `openssl rand -base64 32`)"
    )]
    TooShort(usize),
    /// All zeros: Rocket's "unset" key.
    #[error("an all-zero key is not a key")]
    AllZero,
}

/// Names of the keys of [`Config`], for `ROCKET_KEEPSAKE_<KEY>` environment overrides.
const KEYS: &[&str] = &[
    "cookie_name",
    "max_age",
    "refresh_each_request",
    "idle_timeout",
    "flash_only_ttl",
    "absolute_timeout",
    "cookie_path",
    "cookie_domain",
    "secure",
    "http_only",
    "same_site",
    "partitioned",
    "encrypt",
    "fallback_keys",
    "flask_secret_key",
    "flask_fallback_keys",
    "flask_salt",
    "store",
    "store_table",
    "store_prefix",
    "migrate_cookie_sessions",
    "flask_session",
    "flask_session_prefix",
    "flask_session_table",
    "flask_session_signer",
];

impl Config {
    /// Reads the `keepsake` table from `figment`, then the flat `keepsake_<key>` values
    /// that Rocket's `ROCKET_KEEPSAKE_<KEY>` environment variables become, and checks it.
    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let mut focused = figment.focus("keepsake");
        for key in KEYS {
            if let Ok(value) = figment.find_value(&format!("keepsake_{key}")) {
                focused = focused.merge((*key, value));
            }
        }
        let config: Config = focused
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.check()?;
        Ok(config)
    }

    /// Checks the rules between values that browsers enforce by silently dropping the cookie.
    fn check(&self) -> Result<(), ConfigError> {
        self.broken_rule()
            .map_or(Ok(()), |rule| Err(ConfigError::Rule(rule)))
    }

    fn broken_rule(&self) -> Option<Rule> {
        let name = &self.cookie_name;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Some(Rule::CookieName(name.clone()));
        }
        if !self.cookie_path.starts_with('/') {
            return Some(Rule::CookiePath(self.cookie_path.clone()));
        }
        if self.max_age.is_zero() {
            return Some(Rule::Zero("max_age"));
        }
        if self.flash_only_ttl.is_zero() {
            return Some(Rule::Zero("flash_only_ttl"));
        }
        if self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return Some(Rule::Zero("idle_timeout"));
        }
        if self.absolute_timeout.is_some_and(|d| d.is_zero()) {
            return Some(Rule::Zero("absolute_timeout"));
        }
        if name.starts_with("__Secure-") && !self.secure {
            return Some(Rule::SecurePrefix(name.clone()));
        }
        if name.starts_with("__Host-")
            && (!self.secure || self.cookie_path != "/" || self.cookie_domain.is_some())
        {
            return Some(Rule::HostPrefix(name.clone()));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Some(Rule::SameSiteNone);
        }
        if self.partitioned && !self.secure {
            return Some(Rule::Partitioned);
        }
        if let Some(rule) = self.broken_flask_session_rule() {
            return Some(rule);
        }
        if let Some(key) = &self.flask_secret_key {
            if key.is_empty() || self.flask_fallback_keys.iter().any(String::is_empty) {
                return Some(Rule::EmptyFlaskKey);
            }
            if self.absolute_timeout.is_some() && !self.flask_session {
                return Some(Rule::FlaskWithAbsoluteTimeout);
            }
            if self.encrypt {
                return Some(Rule::FlaskWithEncrypt);
            }
        }
        None
    }
}

impl Config {
    /// The rules of the Flask-Session keys that need no store to check.
    fn broken_flask_session_rule(&self) -> Option<Rule> {
        if !self.flask_session {
            let defaults = Config::default();
            if self.flask_session_signer {
                return Some(Rule::FlaskSessionKeyUnused("flask_session_signer"));
            }
            if self.flask_session_prefix != defaults.flask_session_prefix {
                return Some(Rule::FlaskSessionKeyUnused("flask_session_prefix"));
            }
            if self.flask_session_table != defaults.flask_session_table {
                return Some(Rule::FlaskSessionKeyUnused("flask_session_table"));
            }
            return None;
        }
        if self.flask_session_signer && self.flask_secret_key.is_none() {
            return Some(Rule::FlaskSessionSignerWithoutKey);
        }
        let with = [
            ("encrypt", self.encrypt),
            ("absolute_timeout", self.absolute_timeout.is_some()),
            ("store_prefix", self.store_prefix.is_some()),
            ("store_table", self.store_table.is_some()),
        ];
        with.into_iter()
            .find(|(_, set)| *set)
            .map(|(key, _)| Rule::FlaskSessionWith(key))
    }
}

/// RFC 6265 `token` characters, minus the ones browsers treat inconsistently.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'^'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Parses a duration: integer seconds, or a number followed by `s`, `m`, `h` or `d`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return None,
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(factor).map(Duration::from_secs)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration: integer seconds, or e.g. \"90s\", \"30m\", \"12h\", \"7d\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    de.deserialize_any(DurationVisitor)
}

fn optional_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    de.deserialize_any(DurationVisitor).map(Some)
}

fn same_site<'de, D: Deserializer<'de>>(de: D) -> Result<SameSite, D::Error> {
    let text = String::deserialize(de)?;
    match text.to_ascii_lowercase().as_str() {
        "lax" => Ok(SameSite::Lax),
        "strict" => Ok(SameSite::Strict),
        "none" => Ok(SameSite::None),
        _ => Err(de::Error::invalid_value(
            de::Unexpected::Str(&text),
            &"one of \"lax\", \"strict\", \"none\"",
        )),
    }
}

/// Secret key material, at least 32 bytes.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Secret {
    /// Decodes a key in any of the formats Rocket accepts for `secret_key`: a base64 or
    /// hex string, or an array of bytes. `None` for an all-zero key (Rocket's "unset").
    pub(crate) fn from_value(key: &str, value: &Value) -> Result<Option<Secret>, ConfigError> {
        let bad = |reason: BadKey| ConfigError::BadSecret {
            key: key.into(),
            reason,
        };
        let bytes = match value {
            Value::String(_, text) => decode_key_text(text).ok_or_else(|| bad(BadKey::Format))?,
            Value::Array(_, items) => items
                .iter()
                .map(|item| item.to_u128().and_then(|n| u8::try_from(n).ok()))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| bad(BadKey::Format))?,
            _ => return Err(bad(BadKey::Format)),
        };
        if bytes.len() < 32 {
            return Err(bad(BadKey::TooShort(bytes.len())));
        }
        Ok((!bytes.iter().all(|b| *b == 0)).then_some(Secret(bytes)))
    }

    /// A random key, for development runs without a configured `secret_key`.
    pub(crate) fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = vec![0; 64];
        getrandom::getrandom(&mut bytes)?;
        Ok(Secret(bytes))
    }
}

fn decode_key_text(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = text.trim();
    if text.len() == 64 || text.len() == 128 {
        if let Ok(bytes) = hex::decode(text) {
            return Some(bytes);
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::Serialized;

    fn figment(pairs: &[(&str, Value)]) -> Figment {
        pairs.iter().fold(Figment::new(), |f, (k, v)| {
            f.merge(Serialized::global(k, v))
        })
    }

    #[test]
    fn defaults_are_safe() {
        let config = Config::from_figment(&Figment::new()).unwrap();
        assert_eq!(config.cookie_name, "session");
        assert_eq!(config.max_age, Duration::from_secs(31 * 86400));
        assert!(config.refresh_each_request && config.secure && config.http_only);
        assert_eq!(config.same_site, SameSite::Lax);
        assert_eq!(config.cookie_path, "/");
        assert!(config.idle_timeout.is_none() && config.absolute_timeout.is_none());
        assert!(!config.partitioned);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604800)));
        assert_eq!(parse_duration("42"), Some(Duration::from_secs(42)));
        for bad in ["", "s", "1w", "-1s", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nested_table_and_flat_env_keys() {
        let fig = figment(&[
            (
                "keepsake",
                Value::from(std::collections::BTreeMap::from([("max_age", "2h")])),
            ),
            ("keepsake_idle_timeout", Value::from(600u64)),
            ("keepsake_same_site", Value::from("Strict")),
        ]);
        let config = Config::from_figment(&fig).unwrap();
        assert_eq!(config.max_age, Duration::from_secs(7200));
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(config.same_site, SameSite::Strict);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let fig = figment(&[("keepsake_max_age", Value::from("soon"))]);
        let err = Config::from_figment(&fig).unwrap_err();
        let ConfigError::Invalid(inner) = &err else {
            panic!("{err:?}")
        };
        assert!(inner.to_string().contains("max_age"), "{inner}");

        let fig = figment(&[
            ("keepsake_secure", Value::from(false)),
            ("keepsake_cookie_name", Value::from("__Host-s")),
        ]);
        assert!(matches!(
            Config::from_figment(&fig),
            Err(ConfigError::Rule(Rule::HostPrefix(name))) if name == "__Host-s"
        ));

        let fig = figment(&[("keepsake_cookie_name", Value::from("a b"))]);
        assert!(matches!(
            Config::from_figment(&fig),
            Err(ConfigError::Rule(_))
        ));
    }

    #[test]
    fn secrets() {
        let b64 = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";
        assert_eq!(
            Secret::from_value("k", &Value::from(b64))
                .unwrap()
                .unwrap()
                .0
                .len(),
            32
        );
        let hex = "ab".repeat(32);
        assert_eq!(
            Secret::from_value("k", &Value::from(hex.as_str()))
                .unwrap()
                .unwrap()
                .0,
            vec![0xab; 32]
        );
        assert!(Secret::from_value("k", &Value::from(vec![0u8; 64]))
            .unwrap()
            .is_none());
        let short = Secret::from_value("k", &Value::from("c2hvcnQ=")).unwrap_err();
        assert!(
            matches!(
                &short,
                ConfigError::BadSecret {
                    reason: BadKey::TooShort(5),
                    ..
                }
            ),
            "{short:?}"
        );
        assert!(crate::error::report(&short).contains("at least 32"));
    }
}
