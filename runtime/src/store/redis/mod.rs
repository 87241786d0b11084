//! `RedisStore`: records in Redis, one hash per session.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{
    AsyncCommands, AsyncConnectionConfig, Client, Cmd, FromRedisValue, Pipeline, RedisError,
    RedisFuture, Script, ScriptInvocation, Value,
};
use rocket::tokio::sync::{Mutex, OnceCell};

use super::{Changes, Fields, Loaded, Saved, SessionId, SessionStore, StoreError, StoreErrorKind};

mod flask;

/// The names of the index keys (`#[session(index)]`) ever used, under the prefix, and
/// the set of the sessions whose key `name` holds `value`: shared by every script.
const INDEX_HELPERS: &str = r"
local prefix = ARGV[1]
local names_key = prefix .. 'index-keys'
local function entry(name, value)
  return prefix .. 'index:' .. string.len(name) .. ':' .. name .. ':' .. value
end
local function value_of(key, name)
  local value = redis.call('HGET', key, name)
  if value == 'null' then return false end
  return value
end
local function keep(set, ttl)
  if redis.call('PTTL', set) < tonumber(ttl) then redis.call('PEXPIRE', set, ttl) end
end
";

/// Applies one request's changes atomically: refuses to recreate a record that is
/// gone (unless creating), writes and deletes only the changed fields, sets the TTL,
/// and moves the session between index sets where an index key's value changed.
///
/// KEYS: the record. ARGV: prefix, id, create, ttl, #set, #removed, #index, the set
/// pairs, the removed keys, the index key names this request's views declare.
const SAVE: &str = r"
local id, create, ttl = ARGV[2], ARGV[3], ARGV[4]
local ns, nr, ni = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if create == '0' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local first = 8 + 2 * ns + nr
for j = first, first + ni - 1 do redis.call('SADD', names_key, ARGV[j]) end
local names = redis.call('SMEMBERS', names_key)
local old = {}
for _, name in ipairs(names) do old[name] = value_of(KEYS[1], name) end
if ns > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 8, 7 + 2 * ns)) end
if nr > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 8 + 2 * ns, first - 1)) end
-- 0 when the hash is gone: removing its last fields deletes it.
local live = redis.call('PEXPIRE', KEYS[1], ttl) == 1
for _, name in ipairs(names) do
  local new = live and value_of(KEYS[1], name)
  if old[name] and old[name] ~= new then redis.call('SREM', entry(name, old[name]), id) end
  if new then
    local set = entry(name, new)
    redis.call('SADD', set, id)
    keep(set, ttl)
  end
end
return 1
";

/// Deletes a record and takes it out of its index sets.
///
/// KEYS: the record. ARGV: prefix, id.
const DELETE: &str = r"
for _, name in ipairs(redis.call('SMEMBERS', names_key)) do
  local value = value_of(KEYS[1], name)
  if value then redis.call('SREM', entry(name, value), ARGV[2]) end
end
return redis.call('DEL', KEYS[1])
";

/// Moves a record to a new key with a fresh TTL, if it still exists, and its index
/// entries with it.
///
/// KEYS: the record, its new key. ARGV: prefix, from, to, ttl.
const RENAME: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, name in ipairs(redis.call('SMEMBERS', names_key)) do
  local value = value_of(KEYS[1], name)
  if value then
    local set = entry(name, value)
    redis.call('SREM', set, ARGV[2])
    redis.call('SADD', set, ARGV[3])
    keep(set, ARGV[4])
  end
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
";

/// Ends the live sessions in a value's index set whose key still holds it (a member
/// may have expired, or changed its value since), and deletes the set.
///
/// ARGV: prefix, name, value.
const REVOKE: &str = r"
local name, value = ARGV[2], ARGV[3]
local set = entry(name, value)
local names = redis.call('SMEMBERS', names_key)
local ended = 0
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local key = prefix .. id
  if value_of(key, name) == value then
    for _, other in ipairs(names) do
      local held = value_of(key, other)
      if held and other ~= name then redis.call('SREM', entry(other, held), id) end
    end
    redis.call('DEL', key)
    ended = ended + 1
  end
end
redis.call('DEL', set)
return ended
";

/// The live sessions in a value's index set whose key still holds it, each as its id
/// then its fields.
///
/// ARGV: prefix, name, value.
const FIND: &str = r"
local name, value = ARGV[2], ARGV[3]
local found = {}
for _, id in ipairs(redis.call('SMEMBERS', entry(name, value))) do
  local key = prefix .. id
  if value_of(key, name) == value then
    found[#found + 1] = id
    found[#found + 1] = redis.call('HGETALL', key)
  end
end
return found
";

/// The cluster's save: [`SAVE`] without the index, whose sets live in other slots.
///
/// KEYS: the record. ARGV: create, ttl, #set, the set pairs, the removed keys.
const CLUSTER_SAVE: &str = r"
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[3])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + 2 * n)) end
if #ARGV >= 4 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 4 + 2 * n)) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The cluster's rename, step one, in the new id's slot: writes the copy, unless the
/// key exists. KEYS: the new record. ARGV: ttl, the field/value pairs.
const CLUSTER_COPY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// The cluster's rename, step two, in the old id's slot: deletes the old record if it
/// still holds exactly what was copied. KEYS: the old record. ARGV: the pairs copied.
const CLUSTER_DELETE_IF_SAME: &str = r"
local now = redis.call('HGETALL', KEYS[1])
if #now ~= #ARGV or #now == 0 then return 0 end
local copied = {}
for i = 1, #ARGV, 2 do copied[ARGV[i]] = ARGV[i + 1] end
for i = 1, #now, 2 do
  if copied[now[i]] ~= now[i + 1] then return 0 end
end
redis.call('DEL', KEYS[1])
return 1
";

/// How many times a cluster rename copies again when the session changed meanwhile.
const CLUSTER_RENAME_TRIES: usize = 8;

/// A script with the index helpers before its body.
fn script(body: &str) -> Script {
    Script::new(&format!("{INDEX_HELPERS}{body}"))
}

/// Records in Redis, for more than one machine: each session is one hash under
/// `<prefix><id>` (the prefix is `keepsake:` unless set), with Redis expiring it.
///
/// A request that loads a session costs one `HGETALL`; one that changes keys, one
/// script call that sets and deletes exactly those fields and refreshes the TTL in
/// one atomic step, and never recreates a session another request deleted or
/// renamed. The connection is made on first use and remade after it drops; while
/// Redis is unreachable, requests that need it get `503 Service Unavailable`.
///
/// Each command waits at most 2 seconds. A write that times out is answered with a
/// 503 and logged as "may not have been saved": Redis may still apply it when it
/// resumes. A key that is not a session hash (another type, or a value that is not
/// UTF-8) is deleted, and the client starts a fresh session.
///
/// `#[session(index)]` values are kept as one set of session ids per value, under
/// `<prefix>index:…`, changed by the same script as the record and expiring no
/// earlier than its longest-lived session; `<prefix>index-keys` names the index keys.
///
/// ```rust
/// use rocket_keepsake::{store::RedisStore, Keepsake};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::new("redis://127.0.0.1:6379")?.with_prefix("myapp:session:");
/// let rocket = rocket::build().attach(Keepsake::with_store(store));
/// # Ok(()) }
/// ```
pub struct RedisStore {
    target: Target,
    prefix: String,
    connection: OnceCell<Connection>,
    save: Script,
    delete: Script,
    rename: Script,
    revoke: Script,
    find: Script,
    cluster_save: Script,
    cluster_copy: Script,
    cluster_delete_if_same: Script,
    /// In Flask-Session's layout: its scripts and the blobs recently loaded.
    flask: Option<flask::FlaskLayout>,
}

/// One Redis, a Redis Cluster, or the master of a Redis that Sentinel manages.
enum Target {
    Single(Client),
    /// Boxed: a cluster client is twice a client's size.
    Cluster(Box<ClusterClient>),
    Sentinel(Box<Sentinel>),
}

/// A Redis that Sentinel manages: the sentinels to ask which server is the master,
/// and the connection to the master they named last, dropped after any failure so
/// that the next request asks again (a failover moves the master).
struct Sentinel {
    client: Mutex<SentinelClient>,
    master: std::sync::Mutex<Option<MultiplexedConnection>>,
}

impl Sentinel {
    /// The connection to the current master: the one made last, or a new one to the
    /// server the sentinels name now.
    async fn master(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(master) = self.current() {
            return Ok(master);
        }
        let mut client = self.client.lock().await;
        // Another request may have connected while this one waited.
        if let Some(master) = self.current() {
            return Ok(master);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let master = client.get_async_connection_with_config(&config).await?;
        *self.lock() = Some(master.clone());
        Ok(master)
    }

    fn current(&self) -> Option<MultiplexedConnection> {
        self.lock().clone()
    }

    /// Drops the connection to the master: the next request asks the sentinels.
    fn forget(&self) {
        self.lock().take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.master
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a connection or a reply may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The connection to any of them, made on first use.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Master(MultiplexedConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
            Connection::Master(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Master(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
            Connection::Master(c) => c.get_db(),
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for the Redis at `url` (e.g. `redis://127.0.0.1:6379`). Only parses
    /// the URL: the connection is made on first use.
    pub fn new(url: &str) -> Result<RedisStore, RedisError> {
        Client::open(url).map(RedisStore::from_client)
    }

    /// A store over an existing client.
    pub fn from_client(client: Client) -> RedisStore {
        RedisStore::with_target(Target::Single(client))
    }

    /// A store for the Redis Cluster that `nodes` belong to (`redis://host:port` each;
    /// one reachable node is enough, the client discovers the others). Only parses
    /// the URLs: connections are made on first use. Each session is one hash, so one
    /// slot: loads and saves stay single-slot, atomic scripts, and reconnects and slot
    /// moves are the client's (redis-rs `cluster-async`). A master that is down gives
    /// 503s for the sessions in its slots only, when the cluster is configured with
    /// `cluster-require-full-coverage no`.
    ///
    /// Two things differ from a single Redis. `rename` (`cycle_id()`) crosses slots,
    /// so it is two steps: the record is copied under the new id, then the old one is
    /// deleted only if it still holds exactly what was copied (else the copy is
    /// undone and tried again); once it returns, only the new id works. And the
    /// `#[session(index)]` sets would live in other slots than the records, so a
    /// cluster keeps no index: `SessionAdmin::revoke_all` is not supported.
    ///
    /// ```rust
    /// use rocket_keepsake::{store::RedisStore, Keepsake};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::cluster(&["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
    /// let rocket = rocket::build().attach(Keepsake::with_store(store));
    /// # Ok(()) }
    /// ```
    pub fn cluster(nodes: &[&str]) -> Result<RedisStore, RedisError> {
        let client = ClusterClient::builder(nodes.iter().copied())
            .connection_timeout(TIMEOUT)
            .response_timeout(TIMEOUT)
            .retries(2)
            .build()?;
        Ok(RedisStore::with_target(Target::Cluster(Box::new(client))))
    }

    /// A store for the Redis that the Sentinel deployment at `sentinels`
    /// (`redis://host:port` each) manages as `service`: each request uses the master
    /// the sentinels name, and after a failure the next request asks them again, so a
    /// failover needs no restart. While there is no master (between the old one's fall
    /// and the new one's promotion), requests that need their session get 503s.
    /// Replication to the replicas is asynchronous: a write acknowledged by the old
    /// master just before it fell can be missing on the new one, as Redis documents.
    /// Only parses the URLs: connections are made on first use.
    ///
    /// ```rust
    /// use rocket_keepsake::{store::RedisStore, Keepsake};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sentinels = ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"];
    /// let store = RedisStore::sentinel(&sentinels, "sessions")?;
    /// let rocket = rocket::build().attach(Keepsake::with_store(store));
    /// # Ok(()) }
    /// ```
    pub fn sentinel(sentinels: &[&str], service: &str) -> Result<RedisStore, RedisError> {
        let client = SentinelClient::build(
            sentinels.to_vec(),
            service.to_owned(),
            None,
            SentinelServerType::Master,
        )?;
        Ok(RedisStore::with_target(Target::Sentinel(Box::new(
            Sentinel {
                client: Mutex::new(client),
                master: std::sync::Mutex::new(None),
            },
        ))))
    }

    /// A store for a `redis+sentinel://host:port,host:port/service` URL.
    pub(crate) fn sentinel_url(url: &str) -> Result<RedisStore, RedisError> {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let Some((hosts, service)) = rest.split_once('/').filter(|(_, s)| !s.is_empty()) else {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "expected redis+sentinel://host:port[,host:port...]/<service name>",
            )));
        };
        let sentinels: Vec<String> = hosts.split(',').map(|h| format!("redis://{h}")).collect();
        let sentinels: Vec<&str> = sentinels.iter().map(String::as_str).collect();
        RedisStore::sentinel(&sentinels, service)
    }

    /// A store for the cluster in a `redis+cluster://host:port,host:port` URL.
    pub(crate) fn cluster_url(url: &str) -> Result<RedisStore, RedisError> {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (hosts, query) = rest
            .split_once('?')
            .map_or((rest, None), |(h, q)| (h, Some(q)));
        let nodes: Vec<String> = hosts
            .trim_end_matches('/')
            .split(',')
            .map(|host| match query {
                Some(query) => format!("redis://{host}/?{query}"),
                None => format!("redis://{host}"),
            })
            .collect();
        let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
        RedisStore::cluster(&nodes)
    }

    fn with_target(target: Target) -> RedisStore {
        RedisStore {
            target,
            prefix: "keepsake:".into(),
            connection: OnceCell::new(),
            save: script(SAVE),
            delete: script(DELETE),
            rename: script(RENAME),
            revoke: script(REVOKE),
            find: script(FIND),
            cluster_save: Script::new(CLUSTER_SAVE),
            cluster_copy: Script::new(CLUSTER_COPY),
            cluster_delete_if_same: Script::new(CLUSTER_DELETE_IF_SAME),
            flask: None,
        }
    }

    /// Keeps sessions in Flask-Session's layout instead (0.7, 0.8): each one string
    /// under `<prefix><id>` (the prefix is then `session:`, Flask-Session's
    /// `SESSION_KEY_PREFIX`, unless [`with_prefix`](RedisStore::with_prefix) says
    /// otherwise) holding the session dict as msgpack, so that a Flask app on
    /// Flask-Session and this one share sessions. The `flask_session` configuration key
    /// builds it from `store`, with the cookie in Flask-Session's format too.
    ///
    /// A save reads the record, applies the request's changes and writes it back only
    /// if it did not change meanwhile (a script compares its SHA-1), else tries again:
    /// concurrent requests changing different keys all survive. No index is kept:
    /// `SessionAdmin::revoke_all` and `sessions` are not supported.
    pub fn flask_session(mut self) -> RedisStore {
        if self.prefix == "keepsake:" {
            self.prefix = "session:".into();
        }
        self.flask = Some(flask::FlaskLayout::new());
        self
    }

    fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// Sets the prefix of the keys this store uses. Default: `"keepsake:"`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }

    /// The connection: the shared one, made on first use (a failed attempt is retried
    /// by the next request), or, with Sentinel, the one to the current master.
    async fn connection(&self) -> Result<Connection, StoreError> {
        let connection = match &self.target {
            Target::Single(client) => self
                .connection
                .get_or_try_init(|| async {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(TIMEOUT))
                        .set_response_timeout(Some(TIMEOUT))
                        .set_number_of_retries(2);
                    ConnectionManager::new_with_config(client.clone(), config)
                        .await
                        .map(Connection::Single)
                })
                .await
                .cloned(),
            Target::Cluster(client) => self
                .connection
                .get_or_try_init(|| async {
                    client.get_async_connection().await.map(Connection::Cluster)
                })
                .await
                .cloned(),
            Target::Sentinel(sentinel) => sentinel.master().await.map(Connection::Master),
        };
        connection.map_err(|e| self.failed(e))
    }

    async fn cluster_save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let mut invocation = self.cluster_save.key(self.key(id));
        invocation
            .arg(if changes.create { "1" } else { "0" })
            .arg(millis(ttl))
            .arg(changes.set.len());
        for (field, value) in &changes.set {
            invocation.arg(field).arg(value);
        }
        for field in &changes.removed {
            invocation.arg(field);
        }
        let applied: i64 = self.run(&invocation).await?;
        Ok(saved(applied))
    }

    async fn cluster_rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let (from, to) = (self.key(from), self.key(to));
        let mut connection = self.connection().await?;
        for _ in 0..CLUSTER_RENAME_TRIES {
            let fields: Vec<(Vec<u8>, Vec<u8>)> = connection
                .hgetall(&from)
                .await
                .map_err(|e| self.failed(e))?;
            if fields.is_empty() {
                return Ok(Saved::Gone);
            }
            let mut copy = self.cluster_copy.key(&to);
            copy.arg(millis(ttl));
            for (field, value) in &fields {
                copy.arg(field).arg(value);
            }
            let copied: i64 = copy
                .invoke_async(&mut connection)
                .await
                .map_err(|e| self.failed(e))?;
            if copied != 1 {
                return Err(StoreError::new("redis", "the new session id is taken"));
            }
            let mut delete = self.cluster_delete_if_same.key(&from);
            for (field, value) in &fields {
                delete.arg(field).arg(value);
            }
            let moved: i64 = delete
                .invoke_async(&mut connection)
                .await
                .map_err(|e| self.failed(e))?;
            if moved == 1 {
                return Ok(Saved::Done);
            }
            // The old record changed (or went) meanwhile: undo the copy, look again.
            let _: i64 = connection.del(&to).await.map_err(|e| self.failed(e))?;
        }
        Err(StoreError::new(
            "redis",
            format!("the session changed under {CLUSTER_RENAME_TRIES} attempts to move it"),
        ))
    }
}

impl RedisStore {
    /// [`failed`], after which a Sentinel-managed store asks the sentinels for the
    /// master again: the failure may be a failover.
    /// Runs `script`, one of those that take the sessions whose index key `key`
    /// holds `value`; a cluster keeps no index.
    async fn by_index<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        key: &str,
        value: &str,
    ) -> Result<T, StoreError> {
        if self.is_cluster() || self.flask.is_some() {
            return Err(StoreError::of_kind(
                "redis",
                StoreErrorKind::Unsupported,
                "a Redis Cluster, or Flask-Session's layout, keeps no index of sessions",
            ));
        }
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix).arg(key).arg(value);
        self.run(&invocation).await
    }

    /// Runs a script on a connection of the store's.
    async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(|e| self.failed(e))
    }

    fn failed(&self, error: RedisError) -> StoreError {
        if let Target::Sentinel(sentinel) = &self.target {
            sentinel.forget();
        }
        failed(error)
    }
}

/// A Redis error as a store error: a timeout may have been applied, a key of the
/// wrong type is an unreadable record, anything else means Redis is unavailable.
fn failed(error: RedisError) -> StoreError {
    let kind = if error.is_timeout() {
        StoreErrorKind::TimedOut
    } else if error.code() == Some("WRONGTYPE") {
        StoreErrorKind::Unreadable
    } else {
        StoreErrorKind::Unavailable
    };
    StoreError::of_kind("redis", kind, error)
}

/// A stored value that is not UTF-8 text, so not one a session writes.
#[derive(Debug, thiserror::Error)]
#[error("the value of field `{field}` is not UTF-8")]
struct NotUtf8 {
    field: String,
}

/// A hash's fields as a record's; a value that is not UTF-8 makes it unreadable.
fn fields(raw: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Fields, StoreError> {
    let mut fields = Fields::with_capacity(raw.len());
    for (field, value) in raw {
        let field = String::from_utf8_lossy(&field).into_owned();
        let Ok(value) = String::from_utf8(value) else {
            let cause = NotUtf8 { field };
            return Err(StoreError::of_kind(
                "redis",
                StoreErrorKind::Unreadable,
                cause,
            ));
        };
        fields.insert(field, value);
    }
    Ok(fields)
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn saved(applied: i64) -> Saved {
    if applied == 1 {
        Saved::Done
    } else {
        Saved::Gone
    }
}

#[rocket::async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_load(layout, id).await;
        }
        let raw: Vec<(Vec<u8>, Vec<u8>)> = self
            .connection()
            .await?
            .hgetall(self.key(id))
            .await
            .map_err(|e| self.failed(e))?;
        let fields = fields(raw)?;
        Ok(Some(fields).filter(|f| !f.is_empty()))
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_save(layout, id, changes, ttl).await;
        }
        if self.is_cluster() {
            return self.cluster_save(id, changes, ttl).await;
        }
        let mut invocation = self.save.key(self.key(id));
        invocation
            .arg(&self.prefix)
            .arg(id.as_str())
            .arg(if changes.create { "1" } else { "0" })
            .arg(millis(ttl))
            .arg(changes.set.len())
            .arg(changes.removed.len())
            .arg(changes.index.len());
        for (field, value) in &changes.set {
            invocation.arg(field).arg(value);
        }
        for field in changes.removed.iter().chain(&changes.index) {
            invocation.arg(field);
        }
        let applied: i64 = self.run(&invocation).await?;
        Ok(saved(applied))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        if self.is_cluster() || self.flask.is_some() {
            let mut connection = self.connection().await?;
            let _: i64 = connection
                .del(self.key(id))
                .await
                .map_err(|e| self.failed(e))?;
            return Ok(());
        }
        let mut invocation = self.delete.key(self.key(id));
        invocation.arg(&self.prefix).arg(id.as_str());
        let _: i64 = self.run(&invocation).await?;
        Ok(())
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_rename(layout, from, to, ttl).await;
        }
        if self.is_cluster() {
            return self.cluster_rename(from, to, ttl).await;
        }
        let mut invocation = self.rename.key(self.key(from));
        invocation
            .key(self.key(to))
            .arg(&self.prefix)
            .arg(from.as_str())
            .arg(to.as_str())
            .arg(millis(ttl));
        let applied: i64 = self.run(&invocation).await?;
        Ok(saved(applied))
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        self.by_index(&self.revoke, key, value).await
    }

    async fn find(&self, key: &str, value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        let found: Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)> =
            self.by_index(&self.find, key, value).await?;
        let mut sessions = Vec::with_capacity(found.len());
        for (id, raw) in found {
            if let Some(id) = SessionId::from_verified(id.into_bytes()) {
                sessions.push((id, Loaded::Fields(fields(raw)?)));
            }
        }
        Ok(sessions)
    }
}
