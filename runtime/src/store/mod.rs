//! Server-side stores: the record lives in a store, the cookie holds only a signed id.
//!
//! [`Keepsake::with_store`](crate::Keepsake::with_store) takes any [`SessionStore`]:
//! [`MemoryStore`] for one process and for tests, [`FileStore`] for the processes of
//! one machine (embedded, like Flask-Session's `filesystem`), `RedisStore` (feature `redis`)
//! for more than one machine, `PostgresStore`, `MySqlStore` and `SqliteStore`
//! (features `postgres`, `mysql`, `sqlite`) for the database an app already runs,
//! `MemcachedStore` (feature `memcached`), or
//! your own. The `store` configuration key picks one by URL with no code change.
//!
//! ```rust
//! use rocket_keepsake::{store::MemoryStore, Keepsake};
//!
//! // In code: a store built with its own settings.
//! let store = MemoryStore::new().with_max_sessions(10_000);
//! let rocket = rocket::build().attach(Keepsake::with_store(store));
//!
//! // Or by configuration (`[default.keepsake] store = "..."` in Rocket.toml, or
//! // `ROCKET_KEEPSAKE_STORE`), with `Keepsake::fairing()`.
//! let figment = rocket::Config::figment()
//!     .merge(("keepsake.store", "memory?max_sessions=10000"));
//! let rocket = rocket::custom(figment).attach(Keepsake::fairing());
//! ```
//!
//! Every store keeps the same promises, tested on each: a save writes only the keys
//! a request changed (two requests that change different keys both survive); a session
//! deleted or moved by one request is never brought back by another that loaded it
//! earlier; an unknown id gets a fresh session with a new id; a store that is down or
//! slow answers 503 within its time limit, logged as "not saved" or "may not have
//! been saved" (see [`StoreErrorKind`]); a record that cannot be read is deleted and
//! replaced by a fresh session.
//!
//! # The stores
//!
//! The SQL stores (`PostgresStore`, `MySqlStore`, `SqliteStore`; features `postgres`,
//! `mysql`, `sqlite`, on sqlx 0.8) are one store, `SqlStore<E>`, over each engine's SQL.
//! They keep one row per session in a table (default
//! `keepsake_sessions`, `.with_table(name)`) created on first use: `id` the primary key,
//! `data` the record (JSONB on PostgreSQL, JSON on MySQL/MariaDB, TEXT checked by JSON1
//! on SQLite), `expires_at` indexed. A save changes only the changed keys in one
//! statement (`(data || $set) - $removed`, `JSON_SET`/`JSON_REMOVE`,
//! `json_set`/`json_remove`) and never recreates a row that was deleted, renamed or
//! expired; expired rows are never loaded and are swept in batches of 1000 off the
//! request path (every 5 minutes, `.with_sweep_interval(d)`, one process at a time;
//! `.sweep()` runs one now). `new(url)` is synchronous and connects on first use, with
//! at most 10 connections and a 2-second wait for one (then a 503); pass your own sqlx
//! 0.8 pool (sizes, timeouts, TLS) to `from_pool(pool)`. SQLite needs nothing running
//! and survives restarts.
//!
//! `RedisStore::sentinel(&sentinels, service)` (or
//! `redis+sentinel://host:port,host:port/service`) uses the master that the Sentinel
//! deployment names, and asks again after any failure: a failover gives 503s while
//! there is no master (tested: a master killed under requests, 503s for about two
//! seconds, then the promoted replica serves the sessions it had replicated), and
//! service resumes without a restart. Replication is asynchronous, so writes the old
//! master acknowledged just before it crashed can be missing on the new one.
//!
//! `RedisStore` keeps one hash per session under `<prefix><id>`: one `HGETALL` to load,
//! one script call (`HSET`/`HDEL` of the changed fields plus `PEXPIRE`, conditional on the
//! record existing) to save. It connects on first use and reconnects after a drop.
//! In Flask-Session's layout (`RedisStore::flask_session`, or `flask_session = true`
//! with a `redis` URL) each session is instead one msgpack string, as Flask-Session
//! writes it: one `GET` to load, and to save a `GET` then a compare-and-set script,
//! again on a race.
//!
//! `RedisStore::cluster(&["redis://host:port", ..])` (or `redis+cluster://host:port,..`)
//! talks to a Redis Cluster through redis-rs' cluster client, which follows slot moves
//! and reconnects. A session is one hash, so one slot: loads and saves are the same
//! single-slot scripts. `cycle_id()` crosses slots, so it copies the record under the
//! new id, then deletes the old one only if it still holds exactly what was copied (else
//! it undoes the copy and tries again): once it returns, only the new id works. With
//! `cluster-require-full-coverage no` on the nodes, a master that is down gives 503s for
//! the sessions in its slots only. A cluster keeps no `#[session(index)]` sets (they
//! would span slots), so `revoke_all` and `sessions` answer "not supported" there.
//!
//! `FileStore::new(dir)` keeps one file per session, `<dir>/<id>.json`, named by the
//! random id only. A write is a temporary file, `fsync`ed and renamed over the old one; a
//! save reads, merges and writes under an advisory file lock (one of 64 lock files in
//! `<dir>/.locks`), so processes sharing the directory merge each other's changes.
//! Expired files are never read and are swept every 5 minutes off the request path; past
//! `with_max_files(n)` (default 10,000, like Flask-Session's `SESSION_FILE_THRESHOLD`) a
//! new session makes room by deleting expired files, then the least recently written,
//! with a warning. The directory is created readable by its owner only (`0700`). File
//! calls run on Rocket's blocking pool.
//!
//! `MemcachedStore::new("memcache://a:11211,b:11211")` (feature `memcached`, on the
//! `memcache` crate, whose calls run on Rocket's blocking pool) keeps one item per
//! session. A save is `gets`, merge, `cas`, retried up to 16 times (after a random pause) when another request
//! changed the item meanwhile, then a 503 rather than a lost write; a new session is
//! written only with `add` and an existing one only with `cas`, so nothing is
//! resurrected; a removed session's item becomes an empty tombstone (by `cas`) that
//! loads as nothing. Times to live over 30 days are sent as absolute Unix times, as
//! Memcached requires. Sessions are spread over the servers by key hash; a server that
//! is down gives 503s for the sessions on it. Memcached cannot list its items, so
//! `revoke_all` and `sessions` answer "not supported" there. In Flask-Session's layout
//! (`MemcachedStore::flask_session`, or `flask_session = true` with a `memcache` URL)
//! the item holds the msgpack map Flask-Session writes, merged the same way.
//!
//! To keep sessions anywhere else, implement [`SessionStore`]; its docs carry a
//! complete example.
//!
//! # In the app's own rocket_db_pools database
//!
//! Most Rocket apps reach their database through `rocket_db_pools` 0.2, whose pools are
//! sqlx 0.7: `from_pool` (sqlx 0.8) cannot take them, and an app on rocket_db_pools'
//! `sqlx_sqlite` cannot even build beside the `sqlite` feature (both versions link
//! `sqlite3`). Enable only the `rocket_db_pools` feature instead, and hand the fairing
//! the app's database:
//!
//! ```rust
//! // rocket_db_pools = { version = "0.2", features = ["sqlx_postgres"] }  (or sqlx_mysql, sqlx_sqlite)
//! // rocket_keepsake = { path = "..", features = ["rocket_db_pools"] }
//! use rocket_db_pools::{sqlx, Database};
//! use rocket_keepsake::Keepsake;
//!
//! #[derive(Database)]
//! #[database("app")]
//! struct Db(sqlx::PgPool);
//!
//! let rocket = rocket::build()
//!     .attach(Db::init()) // first: the fairing takes the pool at launch
//!     .attach(Keepsake::with_db::<Db>()); // sessions in `keepsake_sessions` of that database
//! ```
//!
//! The engine is whichever rocket_db_pools feature the app builds with, found from the
//! pool's type; the table, SQL and guarantees are the SQL stores' (per-key merge, no
//! resurrection, sweep, `revoke_all`, 503 when the database is down, taking a
//! connection and running a statement each within 2 seconds). Attaching it before
//! `Db::init()` fails launch, saying so. This path runs on the sqlx 0.7 the app
//! already has, with its advisories (RUSTSEC-2024-0363); MySQL and SQLite pay one
//! more small query per write on the same connection to count the rows it changed,
//! which sqlx 0.7 does not report for a database known only by its name. The
//! repository's `examples/db_pools` runs two instances of one app over each engine.
//!
//! rocket_db_pools' Redis pool (`deadpool_redis` 0.15, redis 0.25) cannot carry
//! `RedisStore`, which is built on redis 1.x: give `RedisStore::new` the same URL, so
//! that it keeps its own connection, or set `store = "redis://.."`.

mod file;
#[cfg(any(
    feature = "redis",
    feature = "memcached",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools"
))]
pub(crate) mod flask_session;
#[cfg(feature = "memcached")]
mod memcached;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools"
))]
mod sql;
pub(crate) mod url;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

#[cfg(feature = "memcached")]
#[cfg_attr(docsrs, doc(cfg(feature = "memcached")))]
pub use self::memcached::MemcachedStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisStore;
#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools"
))]
pub(crate) use self::sql::check_table;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite")))
)]
pub use self::sql::Driver;
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use self::sql::MySqlStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::sql::PostgresStore;
#[cfg(feature = "rocket_db_pools")]
#[cfg_attr(docsrs, doc(cfg(feature = "rocket_db_pools")))]
pub use self::sql::SessionPool;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use self::sql::SqliteStore;
#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "postgres",
        feature = "mysql",
        feature = "sqlite",
        feature = "rocket_db_pools"
    )))
)]
pub use self::sql::{Engine, MySql, Postgres, SqlStore, Sqlite};
pub use self::url::StoreUrlError;
pub use file::FileStore;
pub use memory::MemoryStore;

/// A record's fields as a store keeps them: each key with its value as JSON text.
pub type Fields = HashMap<String, String>;

/// A record as [`SessionStore::load_record`] hands it to the fairing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loaded {
    /// Each key with its value as JSON text, as [`SessionStore::load`] returns them.
    Fields(Fields),
    /// The whole record as the text of one JSON object, keys to values, as a store
    /// that keeps it so holds it: no need to split it into fields first. Text that
    /// is not a JSON object reads as an empty session (with a warning), so return
    /// this only for text the store wrote itself.
    Object(String),
}

/// A stored JSON object as the record's fields; anything else is an unreadable record.
#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools",
    feature = "memcached"
))]
pub(crate) fn fields_of_object(store: &'static str, json: &str) -> Result<Fields, StoreError> {
    crate::json::fields(json).map_err(|e| StoreError::of_kind(store, StoreErrorKind::Unreadable, e))
}

/// A session id: 192 bits from the operating system's random number generator, as
/// 32 characters of URL-safe base64. It reaches the client only inside a signed cookie
/// (in Flask-Session's layout, 256 bits, 43 characters, in the cookie as Flask-Session
/// sends it).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// How many random bytes a keepsake id holds.
    pub(crate) const BYTES: usize = 24;

    /// How many random bytes a Flask-Session id holds (`secrets.token_urlsafe(32)`).
    pub(crate) const FLASK_SESSION_BYTES: usize = 32;

    /// A new random id.
    #[cfg(test)]
    pub(crate) fn generate() -> Result<SessionId, getrandom::Error> {
        SessionId::generate_of(SessionId::BYTES)
    }

    /// A new random id of `n` random bytes (at most 64).
    pub(crate) fn generate_of(n: usize) -> Result<SessionId, getrandom::Error> {
        use base64::Engine;
        let mut bytes = [0u8; 64];
        let bytes = &mut bytes[..n.min(64)];
        getrandom::getrandom(bytes)?;
        Ok(SessionId(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// An id read back from a verified cookie (or a Flask-Session cookie, which holds
    /// the id as it is): URL-safe base64 of 16 to 64 bytes, as keepsake and
    /// Flask-Session make them. Nothing else names a record.
    pub(crate) fn from_verified(bytes: Vec<u8>) -> Option<SessionId> {
        let url_safe = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        if !(22..=86).contains(&bytes.len()) || !bytes.iter().all(url_safe) {
            return None;
        }
        String::from_utf8(bytes).ok().map(SessionId)
    }

    /// The id as text, e.g. to build a database key from it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shows only the start of the id: it is as good as a password while it lives.
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", &self.0[..6.min(self.0.len())])
    }
}

/// What one request changed in a record: the keys to write and the keys to delete.
/// Keys the request did not change are not named, so concurrent requests that change
/// different keys of one session both survive. Of two writes to one key, the last wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// The record is new: write it even though no record has this id yet. When
    /// `false`, a record that no longer exists (deleted or renamed by another request)
    /// must not be recreated: [`SessionStore::save`] returns [`Saved::Gone`].
    pub create: bool,
    /// Keys to set, with their values as JSON text.
    pub set: Vec<(String, String)>,
    /// Keys to delete.
    pub removed: Vec<String>,
    /// The keys of `#[session(index)]` fields among the record's keys: a store that
    /// supports [`SessionStore::revoke_all`] indexes the session under each one's
    /// value (when it is set and not `null`), in the same atomic step as the write.
    pub index: Vec<String>,
}

/// The outcome of a write that may find its record gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The write was applied.
    Done,
    /// The record no longer exists, and nothing was written.
    Gone,
}

/// A store failed: unreachable, timed out, answered with an error, or holds a record
/// that cannot be read. Requests that need the store then fail with
/// `503 Service Unavailable`, except for an unreadable record, which is deleted and
/// replaced by a fresh session; nothing is reported as saved that was not.
#[derive(Debug, thiserror::Error)]
#[error("session store `{store}` {}", .kind.what())]
pub struct StoreError {
    store: &'static str,
    kind: StoreErrorKind,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// Unreachable, or answered with an error: nothing was done.
    Unavailable,
    /// No answer in time. A write may still have been applied when the store
    /// resumes: the response is a 503 that says the session "may not have been saved".
    TimedOut,
    /// The connection broke after a request was sent, before its answer came: as with
    /// [`TimedOut`](StoreErrorKind::TimedOut), a write may have been applied.
    Interrupted,
    /// The record exists but is not a session record (wrong type, not UTF-8): the
    /// fairing deletes it and the client starts a fresh session, as with a bad cookie.
    Unreadable,
    /// The store cannot do what was asked (say, [`SessionStore::revoke_all`] on a
    /// store that keeps no index).
    Unsupported,
    /// A value to look sessions up by (as [`SessionAdmin::revoke_all`] takes) cannot
    /// be written as JSON: nothing was done.
    ///
    /// [`SessionAdmin::revoke_all`]: crate::SessionAdmin::revoke_all
    BadValue,
    /// The operating system gave no random bytes for a new session id: nothing was
    /// written.
    NoRandomId,
    /// The store cannot hold what it was given, however often it is asked (say, a
    /// session key holding `"`, which an SQL JSON path cannot name): nothing was
    /// written. A save that fails this way answers `500 Internal Server Error`, as a
    /// record that cannot be encoded does, not a 503.
    Refused,
}

impl StoreErrorKind {
    /// Whether a write that failed this way may still have been applied: it timed
    /// out, or the connection broke after it was sent.
    pub fn may_have_applied(self) -> bool {
        matches!(self, StoreErrorKind::TimedOut | StoreErrorKind::Interrupted)
    }

    fn what(self) -> &'static str {
        match self {
            StoreErrorKind::Unavailable => "failed",
            StoreErrorKind::TimedOut => "timed out",
            StoreErrorKind::Interrupted => "lost the connection before answering",
            StoreErrorKind::Unreadable => "holds a record that cannot be read",
            StoreErrorKind::Unsupported => "cannot do this",
            StoreErrorKind::BadValue => "was given a value that cannot be written as JSON",
            StoreErrorKind::NoRandomId => "got no random bytes for a new session id",
            StoreErrorKind::Refused => "cannot hold what it was given",
        }
    }
}

impl StoreError {
    /// Wraps the cause of a failure of the store called `store`: it is unavailable.
    pub fn new(
        store: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StoreError {
        StoreError::of_kind(store, StoreErrorKind::Unavailable, source)
    }

    /// A failure of the given kind.
    pub fn of_kind(
        store: &'static str,
        kind: StoreErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StoreError {
        StoreError {
            store,
            kind,
            source: source.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

/// Where records live when they do not live in the cookie.
///
/// The fairing calls a store only when a request needs it: `load` once per request
/// that uses a session guard, `save` only when something changed (or an expiry must be
/// refreshed), `delete` when a session is cleared, `rename` on `cycle_id()`. Each
/// call gives the record's time to live: a store must forget a record once its `ttl`
/// has passed without a `save` or `rename` refreshing it.
///
/// A complete store over a `HashMap` (without expiry, for brevity):
///
/// ```rust
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use rocket_keepsake::store::{Changes, Fields, Saved, SessionId, SessionStore, StoreError};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<String, Fields>>);
///
/// #[rocket::async_trait]
/// impl SessionStore for MapStore {
///     async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
///         Ok(self.0.lock().unwrap().get(id.as_str()).cloned())
///     }
///
///     async fn save(&self, id: &SessionId, changes: &Changes, _ttl: Duration) -> Result<Saved, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let fields = match map.get_mut(id.as_str()) {
///             Some(fields) => fields,
///             None if changes.create => map.entry(id.as_str().to_owned()).or_default(),
///             None => return Ok(Saved::Gone), // never resurrect a deleted session
///         };
///         fields.extend(changes.set.iter().cloned());
///         for key in &changes.removed {
///             fields.remove(key);
///         }
///         if fields.is_empty() {
///             map.remove(id.as_str());
///         }
///         Ok(Saved::Done)
///     }
///
///     async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
///         self.0.lock().unwrap().remove(id.as_str());
///         Ok(())
///     }
///
///     async fn rename(&self, from: &SessionId, to: &SessionId, _ttl: Duration) -> Result<Saved, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let Some(fields) = map.remove(from.as_str()) else { return Ok(Saved::Gone) };
///         map.insert(to.as_str().to_owned(), fields);
///         Ok(Saved::Done)
///     }
/// }
///
/// let fairing = rocket_keepsake::Keepsake::with_store(MapStore::default());
/// ```
#[rocket::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The record stored under `id`, or `None` if there is none (never stored,
    /// expired, deleted or renamed).
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError>;

    /// The record stored under `id`, as [`load`](SessionStore::load) finds it, in the
    /// form the store keeps it: what the fairing calls. The default returns
    /// [`Loaded::Fields`] of `load`; a store that keeps each record as one JSON
    /// object's text, written by itself, can return [`Loaded::Object`] and save the
    /// request splitting the text into fields and joining them again.
    async fn load_record(&self, id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        Ok(self.load(id).await?.map(Loaded::Fields))
    }

    /// Applies `changes` to the record under `id` and sets its time to live to `ttl`,
    /// in one atomic step. A record left with no fields is deleted. Without
    /// `changes.create`, a record that does not exist stays absent: return
    /// [`Saved::Gone`].
    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError>;

    /// Deletes the record under `id`, if any.
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError>;

    /// Moves the record under `from` to `to` with time to live `ttl`, so that `from`
    /// no longer finds it, atomically. [`Saved::Gone`] if there is no record `from`.
    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError>;

    /// Ends every live session whose index key `key` (the key of an
    /// `#[session(index)]` field) holds `value` (JSON text), as
    /// [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) asks, and returns
    /// how many ended. A store that supports it keeps an index, updated from
    /// [`Changes::index`] in the same step as each write, removed with the record and
    /// expiring with it. The default keeps none: an [`Unsupported`] error.
    ///
    /// [`Unsupported`]: StoreErrorKind::Unsupported
    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        let _ = (key, value);
        Err(no_index::<Self>())
    }

    /// The live sessions whose index key `key` holds `value` (JSON text), each with
    /// its record, as [`SessionAdmin::sessions`](crate::SessionAdmin::sessions) asks:
    /// found through the same index as [`revoke_all`](SessionStore::revoke_all). The
    /// default keeps none: an [`Unsupported`] error.
    ///
    /// [`Unsupported`]: StoreErrorKind::Unsupported
    async fn find(&self, key: &str, value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        let _ = (key, value);
        Err(no_index::<Self>())
    }
}

/// What a store without an index of sessions answers when asked to use one.
fn no_index<S: ?Sized>() -> StoreError {
    StoreError::of_kind(
        std::any::type_name::<S>(),
        StoreErrorKind::Unsupported,
        "this store keeps no index of sessions by `#[session(index)]` value",
    )
}

/// A shared store: keep an `Arc` to inspect or administer the store the fairing uses.
#[rocket::async_trait]
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        (**self).load(id).await
    }

    async fn load_record(&self, id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        (**self).load_record(id).await
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        (**self).save(id, changes, ttl).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        (**self).delete(id).await
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        (**self).rename(from, to, ttl).await
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        (**self).revoke_all(key, value).await
    }

    async fn find(&self, key: &str, value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        (**self).find(key, value).await
    }
}
