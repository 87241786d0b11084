//! `RedisStore`: records in Redis, one hash per session.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, RedisError, Script};
use rocket::tokio::sync::OnceCell;

use super::{Changes, Fields, Saved, SessionId, SessionStore, StoreError, StoreErrorKind};

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
local live = redis.call('EXISTS', KEYS[1]) == 1
if live then redis.call('PEXPIRE', KEYS[1], ttl) end
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
    client: Client,
    prefix: String,
    connection: OnceCell<ConnectionManager>,
    save: Script,
    delete: Script,
    rename: Script,
    revoke: Script,
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
        RedisStore {
            client,
            prefix: "keepsake:".into(),
            connection: OnceCell::new(),
            save: script(SAVE),
            delete: script(DELETE),
            rename: script(RENAME),
            revoke: script(REVOKE),
        }
    }

    /// Sets the prefix of the keys this store uses. Default: `"keepsake:"`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }

    /// The shared connection, made on first use; a failed attempt is retried by the
    /// next request.
    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let connection = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .map_err(failed)?;
        Ok(connection.clone())
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
        let raw: Vec<(Vec<u8>, Vec<u8>)> = self
            .connection()
            .await?
            .hgetall(self.key(id))
            .await
            .map_err(failed)?;
        let mut fields = Fields::with_capacity(raw.len());
        for (field, value) in raw {
            let field = String::from_utf8_lossy(&field).into_owned();
            match String::from_utf8(value) {
                Ok(value) => fields.insert(field, value),
                Err(_) => {
                    let cause = NotUtf8 { field };
                    return Err(StoreError::of_kind(
                        "redis",
                        StoreErrorKind::Unreadable,
                        cause,
                    ));
                }
            };
        }
        Ok(Some(fields).filter(|f| !f.is_empty()))
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
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
        let applied: i64 = invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(saved(applied))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut invocation = self.delete.key(self.key(id));
        invocation.arg(&self.prefix).arg(id.as_str());
        let _: i64 = invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let mut invocation = self.rename.key(self.key(from));
        invocation
            .key(self.key(to))
            .arg(&self.prefix)
            .arg(from.as_str())
            .arg(to.as_str())
            .arg(millis(ttl));
        let applied: i64 = invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(saved(applied))
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        let mut invocation = self.revoke.prepare_invoke();
        invocation.arg(&self.prefix).arg(key).arg(value);
        let ended: usize = invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(ended)
    }
}
