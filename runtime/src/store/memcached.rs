//! `MemcachedStore`: records in Memcached, one item per session.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memcache::{CommandError, MemcacheError, Url};

use super::{Changes, Fields, Loaded, Saved, SessionId, SessionStore, StoreError, StoreErrorKind};

const STORE: &str = "memcached";

/// How many times a save re-reads and retries when another request changed the item
/// between its `gets` and its `cas`, before answering 503 rather than losing a write.
/// Twenty requests of one session writing at once over real HTTP need more than 8.
const CAS_RETRIES: usize = 16;

/// Memcached reads an expiration over 30 days as an absolute Unix time.
const RELATIVE_LIMIT: u64 = 30 * 24 * 60 * 60;

/// What a removed session's item is overwritten with, for a moment: a `cas` that
/// cannot be undone by a request that loaded it before (a delete could be).
const TOMBSTONE: &str = "{}";

/// Records in Memcached, one item per session under `<prefix><id>` (the prefix is
/// `keepsake:` unless set), holding the record as a JSON object: Flask-Session's
/// `memcached` type, on the maintained [`memcache`](https://docs.rs/memcache) client.
///
/// - **Per-key merge.** A save reads the item with `gets`, merges its changed keys
///   and writes it back with `cas`; when another request changed it meanwhile, it
///   reads again and retries after a random pause that grows with each lost race, up to
///   16 times, then answers `503` rather than lose a write.
/// - **No resurrection.** An existing session is only ever written with `cas`, a new
///   one only with `add`: a session another request deleted or renamed is not
///   recreated. A cleared or renamed session's item is overwritten (with `cas`) by an
///   empty record that loads as nothing and expires within a second.
/// - **Expiry** is Memcached's: times to live over 30 days are sent as absolute Unix
///   times, as Memcached requires.
/// - **Several servers**: `memcache://a:11211,b:11211` spreads sessions over them by
///   key hash; a server that is down gives `503`s for the sessions on it.
/// - `rename` (`cycle_id()`) writes the record under the new id, then turns the old
///   item into a tombstone with `cas` (undoing the copy if the old item changed
///   meanwhile), so that once it returns only the new id works.
/// - [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) and
///   [`SessionAdmin::sessions`](crate::SessionAdmin::sessions) are not supported:
///   Memcached cannot list its items, and keeps no index.
///
/// The client is synchronous: every call runs on Rocket's blocking thread pool, never
/// on its async workers. Each server gets a pool of up to 16 connections; a call waits
/// at most 2 seconds for one, and each socket read or write at most 2 seconds
/// (`?timeout=` in the URL changes that).
///
/// ```rust
/// use rocket_keepsake::{store::MemcachedStore, Keepsake};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemcachedStore::new("memcache://127.0.0.1:11211")?;
/// let rocket = rocket::build().attach(Keepsake::with_store(store));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemcachedStore {
    client: Arc<memcache::Client>,
    prefix: String,
    layout: Layout,
}

/// How an item holds its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// keepsake's: a JSON object.
    Json,
    /// Flask-Session's: a msgpack map ([`flask_session`](super::flask_session)).
    FlaskSession,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl MemcachedStore {
    /// A store for the servers of `url`: `memcache://host:port`, several separated by
    /// commas (`memcache://a:11211,b:11211`). Only parses the URL: connections are
    /// made when first needed, and remade after they fail.
    pub fn new(url: &str) -> Result<MemcachedStore, MemcacheError> {
        let mut pools = Vec::new();
        for server in servers(url)? {
            let pool = r2d2::Pool::builder()
                .max_size(16)
                .min_idle(Some(0))
                .connection_timeout(Duration::from_secs(2))
                .build_unchecked(memcache::ConnectionManager::new(server));
            pools.push(pool);
        }
        Ok(MemcachedStore {
            client: Arc::new(memcache::Client::with_pools(pools)?),
            prefix: "keepsake:".into(),
            layout: Layout::Json,
        })
    }

    /// Keeps sessions in Flask-Session's layout instead (0.7, 0.8): each item, under
    /// `<prefix><id>` (the prefix is then `session:`, Flask-Session's
    /// `SESSION_KEY_PREFIX`, unless [`with_prefix`](MemcachedStore::with_prefix) says
    /// otherwise), holding the session dict as msgpack, so that a Flask app on
    /// Flask-Session and this one share sessions. Saves merge and retry with
    /// `gets`/`cas` as in keepsake's own layout. The `flask_session` configuration key
    /// builds it from `store`, with the cookie in Flask-Session's format too.
    pub fn flask_session(mut self) -> MemcachedStore {
        if self.prefix == "keepsake:" {
            self.prefix = "session:".into();
        }
        self.layout = Layout::FlaskSession;
        self
    }

    /// Sets the prefix of the item keys. Default: `"keepsake:"`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> MemcachedStore {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }

    /// Runs `f` with the client on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&memcache::Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let client = self.client.clone();
        rocket::tokio::task::spawn_blocking(move || f(&client))
            .await
            .unwrap_or_else(|e| Err(StoreError::new(STORE, e)))
    }
}

/// The server URLs of `url`, each with a 2-second socket timeout unless it sets one.
fn servers(url: &str) -> Result<Vec<Url>, MemcacheError> {
    let rest = url
        .strip_prefix("memcache://")
        .ok_or_else(|| MemcacheError::BadURL(format!("`{url}` does not start with memcache://")))?;
    let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hosts = hosts.trim_end_matches('/');
    if hosts.is_empty() {
        return Err(MemcacheError::BadURL(format!("`{url}` names no server")));
    }
    hosts
        .split(',')
        .map(|host| {
            let mut server = Url::parse(&format!("memcache://{host}"))
                .map_err(|e| MemcacheError::BadURL(format!("`{host}`: {e}")))?;
            server.set_query((!query.is_empty()).then_some(query));
            if !server.query_pairs().any(|(k, _)| k == "timeout") {
                server.query_pairs_mut().append_pair("timeout", "2");
            }
            Ok(server)
        })
        .collect()
}

fn failed(error: MemcacheError) -> StoreError {
    let kind = match &error {
        MemcacheError::IOError(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            StoreErrorKind::TimedOut
        }
        // A record past the server's item size (`-I`, 1 MiB by default).
        MemcacheError::CommandError(memcache::CommandError::ValueTooLarge) => {
            StoreErrorKind::Refused
        }
        MemcacheError::ServerError(memcache::ServerError::Error(said))
            if said.contains("too large") =>
        {
            StoreErrorKind::Refused
        }
        _ => StoreErrorKind::Unavailable,
    };
    StoreError::of_kind(STORE, kind, error)
}

/// The expiration Memcached takes for `ttl`: seconds, or past 30 days a Unix time.
fn expiration(ttl: Duration) -> u32 {
    let seconds = ttl.as_secs().max(1);
    let value = if seconds > RELATIVE_LIMIT {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        now + seconds
    } else {
        seconds
    };
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl Layout {
    /// An item's record; `None` for a tombstone.
    fn decode(self, bytes: &[u8]) -> Result<Option<Fields>, StoreError> {
        let fields = match self {
            Layout::Json => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| StoreError::of_kind(STORE, StoreErrorKind::Unreadable, e))?;
                super::fields_of_object(STORE, text)?
            }
            Layout::FlaskSession => {
                super::flask_session::fields(bytes).map_err(|e| e.into_store_error(STORE))?
            }
        };
        Ok(Some(fields).filter(|f| !f.is_empty()))
    }

    /// The item's bytes with `changes` applied (`current`: none for a new record);
    /// `None` when no key is left.
    fn merged(
        self,
        current: Option<&[u8]>,
        changes: &Changes,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Layout::Json => {
                let mut fields = match current {
                    Some(bytes) => self.decode(bytes)?.unwrap_or_default(),
                    None => Fields::new(),
                };
                fields.extend(changes.set.iter().cloned());
                for removed in &changes.removed {
                    fields.remove(removed);
                }
                let object =
                    crate::json::object(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                Ok((!fields.is_empty()).then(|| object.into_bytes()))
            }
            Layout::FlaskSession => super::flask_session::apply(STORE, current, changes),
        }
    }

    /// What a removed session's item is overwritten with for a moment: an empty
    /// record, which loads as nothing.
    fn tombstone(self) -> &'static [u8] {
        match self {
            Layout::Json => TOMBSTONE.as_bytes(),
            // An empty msgpack map: Flask-Session reads it as an empty session too.
            Layout::FlaskSession => &[0x80],
        }
    }
}

/// The item under `key` with its CAS token, if it holds a live record.
fn gets(
    client: &memcache::Client,
    layout: Layout,
    key: &str,
) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
    let item: Option<(Vec<u8>, u32, Option<u64>)> = client.get(key).map_err(failed)?;
    let Some((bytes, _, cas)) = item else {
        return Ok(None);
    };
    let cas = cas.ok_or_else(|| StoreError::new(STORE, "the server sent no CAS token"))?;
    Ok(layout.decode(&bytes)?.map(|_| (bytes, cas)))
}

fn contended() -> StoreError {
    StoreError::new(
        STORE,
        format!("the session changed under {CAS_RETRIES} attempts in a row to save it"),
    )
}

/// Waits a random moment before retry `attempt` (from 0), up to a millisecond more
/// each time, so that writers racing for one item spread out instead of colliding
/// again in step.
fn back_off(attempt: usize) {
    let mut bytes = [0; 2];
    let micros = match getrandom::getrandom(&mut bytes) {
        Ok(()) => u64::from(u16::from_le_bytes(bytes)) % 1000,
        Err(_) => 500,
    };
    std::thread::sleep(Duration::from_micros(micros * attempt as u64));
}

fn save(
    client: &memcache::Client,
    layout: Layout,
    key: &str,
    changes: &Changes,
    ttl: Duration,
) -> Result<Saved, StoreError> {
    for attempt in 0..CAS_RETRIES {
        back_off(attempt);
        let (current, cas) = match gets(client, layout, key)? {
            Some((bytes, cas)) => (Some(bytes), Some(cas)),
            None if changes.create => (None, None),
            None => return Ok(Saved::Gone),
        };
        let merged = layout.merged(current.as_deref(), changes)?;
        let (value, exp) = match &merged {
            Some(bytes) => (bytes.as_slice(), expiration(ttl)),
            None => (layout.tombstone(), 1),
        };
        let stored = match cas {
            Some(cas) => client.cas(key, value, exp, cas).map_err(failed)?,
            None if merged.is_none() => return Ok(Saved::Done),
            None => match client.add(key, value, exp) {
                Ok(()) => true,
                Err(MemcacheError::CommandError(CommandError::KeyExists)) => false,
                Err(e) => return Err(failed(e)),
            },
        };
        if stored {
            return Ok(Saved::Done);
        }
    }
    Err(contended())
}

fn rename(
    client: &memcache::Client,
    layout: Layout,
    from: &str,
    to: &str,
    ttl: Duration,
) -> Result<Saved, StoreError> {
    for attempt in 0..CAS_RETRIES {
        back_off(attempt);
        let Some((bytes, cas)) = gets(client, layout, from)? else {
            return Ok(Saved::Gone);
        };
        client
            .add(to, bytes.as_slice(), expiration(ttl))
            .map_err(failed)?;
        if client
            .cas(from, layout.tombstone(), 1, cas)
            .map_err(failed)?
        {
            return Ok(Saved::Done);
        }
        // The old item changed (or went) meanwhile: undo the copy and read it again.
        client.delete(to).map_err(failed)?;
    }
    Err(contended())
}

#[rocket::async_trait]
impl SessionStore for MemcachedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        let (key, layout) = (self.key(id), self.layout);
        self.run(move |client| {
            let bytes: Option<Vec<u8>> = client.get(&key).map_err(failed)?;
            bytes.map_or(Ok(None), |bytes| layout.decode(&bytes))
        })
        .await
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let (key, changes, layout) = (self.key(id), changes.clone(), self.layout);
        self.run(move |client| save(client, layout, &key, &changes, ttl))
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = self.key(id);
        self.run(move |client| client.delete(&key).map(drop).map_err(failed))
            .await
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let (from, to, layout) = (self.key(from), self.key(to), self.layout);
        self.run(move |client| rename(client, layout, &from, &to, ttl))
            .await
    }

    async fn revoke_all(&self, _key: &str, _value: &str) -> Result<usize, StoreError> {
        Err(unindexed())
    }

    async fn find(&self, _key: &str, _value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        Err(unindexed())
    }
}

/// Memcached's answer to `revoke_all` and `find`.
fn unindexed() -> StoreError {
    StoreError::of_kind(
        STORE,
        StoreErrorKind::Unsupported,
        "Memcached cannot list its items, so sessions cannot be found by an \
         `#[session(index)]` value (for `revoke_all` or `sessions`); use another \
         server-side store",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_one_or_more_servers() {
        let one = servers("memcache://127.0.0.1:11211").unwrap();
        assert_eq!(one[0].as_str(), "memcache://127.0.0.1:11211?timeout=2");
        let two = servers("memcache://a:1,b:2?timeout=0.5").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[1].as_str(), "memcache://b:2?timeout=0.5");
        assert!(servers("redis://a:1").is_err());
        assert!(servers("memcache://").is_err());
    }

    #[test]
    fn long_lifetimes_are_absolute_times() {
        assert_eq!(expiration(Duration::from_secs(60)), 60);
        assert_eq!(expiration(Duration::ZERO), 1, "0 would mean never");
        let thirty_one_days = Duration::from_secs(31 * 24 * 60 * 60);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let absolute = u64::from(expiration(thirty_one_days));
        assert!(absolute >= now + 31 * 24 * 60 * 60 && absolute < now + 31 * 24 * 60 * 60 + 5);
    }

    #[test]
    fn tombstones_load_as_nothing() {
        for layout in [Layout::Json, Layout::FlaskSession] {
            assert_eq!(
                layout.decode(layout.tombstone()).unwrap(),
                None,
                "{layout:?}"
            );
            let changes = Changes {
                create: true,
                set: vec![("a".into(), "1".into()), ("b".into(), "[2]".into())],
                ..Changes::default()
            };
            let item = layout.merged(None, &changes).unwrap().unwrap();
            let fields = layout.decode(&item).unwrap().unwrap();
            assert_eq!((fields["a"].as_str(), fields["b"].as_str()), ("1", "[2]"));
            let removed = Changes {
                removed: vec!["a".into(), "b".into()],
                ..Changes::default()
            };
            assert_eq!(layout.merged(Some(&item), &removed).unwrap(), None);
            let error = layout.decode(b"\xc1 not json").unwrap_err();
            assert_eq!(error.kind(), StoreErrorKind::Unreadable);
        }
    }
}
