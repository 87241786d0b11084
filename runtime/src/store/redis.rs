//! `RedisStore`: records in Redis, one hash per session.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, RedisError, Script};
use rocket::tokio::sync::OnceCell;

use super::{Changes, Fields, Saved, SessionId, SessionStore, StoreError, StoreErrorKind};

/// Applies one request's changes atomically: refuses to recreate a record that is
/// gone (unless creating), writes and deletes only the changed fields, sets the TTL.
///
/// KEYS[1]: the hash. ARGV: create ("1"/"0"), ttl in ms, number of fields to set,
/// then the field/value pairs, then the fields to delete.
const SAVE: &str = r"
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[3])
local i = 4
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, i, i + 2 * n - 1)) end
i = i + 2 * n
if #ARGV >= i then redis.call('HDEL', KEYS[1], unpack(ARGV, i)) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// Moves a record to a new key with a fresh TTL, if it still exists.
const RENAME: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
";

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
    rename: Script,
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
            save: Script::new(SAVE),
            rename: Script::new(RENAME),
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
            .arg(if changes.create { "1" } else { "0" })
            .arg(millis(ttl))
            .arg(changes.set.len());
        for (field, value) in &changes.set {
            invocation.arg(field).arg(value);
        }
        for field in &changes.removed {
            invocation.arg(field);
        }
        let applied: i64 = invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(saved(applied))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let _: i64 = self
            .connection()
            .await?
            .del(self.key(id))
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
        invocation.key(self.key(to)).arg(millis(ttl));
        let applied: i64 = invocation
            .invoke_async(&mut self.connection().await?)
            .await
            .map_err(failed)?;
        Ok(saved(applied))
    }
}
