//! `RedisStore` in Flask-Session's layout ([`RedisStore::flask_session`]): each session
//! one string, `<prefix><id>`, holding the session dict as a msgpack map
//! ([`flask_session`](crate::store::flask_session)), as Flask-Session's
//! `RedisSessionInterface` reads and writes it.
//!
//! A save reads the blob, applies the request's changes to it and writes it back with
//! [`CAS`]: only if the blob is still the one read (compared by its SHA-1, which the
//! script computes; no value passes through a Lua number). A race retries with the
//! blob as it is now, so concurrent requests changing different keys all survive. The
//! first try uses the blob the request's load found (kept, bounded, for that): a save
//! that follows its load costs one round trip, as Flask-Session's own `SET` does.
//! Nothing is indexed: `revoke_all` and `sessions` are not supported.

use std::time::Duration;

use redis::{AsyncCommands, Script};
use sha1::{Digest, Sha1};

use super::{millis, saved, RedisStore};
use crate::store::flask_session::swapped::{self, Recent};
use crate::store::flask_session::{self, Unreadable};
use crate::store::{Changes, Fields, Saved, SessionId, StoreError};

/// Writes a blob, or deletes it (an empty value), if the key still holds the blob whose
/// SHA-1 is given (`''`: if it holds none). KEYS: the record. ARGV: the SHA-1 in hex,
/// the new blob, the time to live in milliseconds.
const CAS: &str = r"
local current = redis.call('GET', KEYS[1])
local digest = ''
if current then digest = redis.sha1hex(current) end
if digest ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
";

/// Moves a blob to a new key with a fresh time to live, if it exists (one Redis, where
/// both keys are in reach). KEYS: from, to. ARGV: the time to live in milliseconds.
const MOVE: &str = r"
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('SET', KEYS[2], value, 'PX', ARGV[1])
redis.call('DEL', KEYS[1])
return 1
";

/// The Flask-Session layout's scripts, and the blobs requests loaded last.
pub(super) struct FlaskLayout {
    cas: Script,
    moved: Script,
    /// The blob each recent load found: a save that follows its load tries its
    /// compare-and-set against it first, without reading the blob again.
    recent: Recent,
}

impl FlaskLayout {
    pub(super) fn new() -> FlaskLayout {
        FlaskLayout {
            cas: Script::new(CAS),
            moved: Script::new(MOVE),
            recent: Recent::default(),
        }
    }
}

fn unreadable(e: Unreadable) -> StoreError {
    e.into_store_error("redis")
}

impl RedisStore {
    /// The blob under `key`, if any.
    async fn blob(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection().await?;
        connection.get(key).await.map_err(|e| self.failed(e))
    }

    /// Writes `new` (deletes, if `None`) under `key` if it still holds `old`.
    async fn swap(
        &self,
        layout: &FlaskLayout,
        key: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let digest = old
            .map(|old| hex::encode(Sha1::digest(old)))
            .unwrap_or_default();
        let mut invocation = layout.cas.key(key);
        invocation
            .arg(digest)
            .arg(new.unwrap_or_default())
            .arg(millis(ttl));
        let applied: i64 = self.run(&invocation).await?;
        Ok(applied == 1)
    }

    pub(super) async fn flask_load(
        &self,
        layout: &FlaskLayout,
        id: &SessionId,
    ) -> Result<Option<Fields>, StoreError> {
        let key = self.key(id);
        let Some(blob) = self.blob(&key).await? else {
            return Ok(None);
        };
        let fields = flask_session::fields(&blob).map_err(unreadable)?;
        layout.recent.remember(&key, &blob);
        Ok(Some(fields))
    }

    pub(super) async fn flask_save(
        &self,
        layout: &FlaskLayout,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let key = self.key(id);
        let loaded = layout.recent.take(&key);
        if swapped::only_expiry(changes) {
            // Only the expiry moves.
            let mut connection = self.connection().await?;
            let applied: i64 = connection
                .pexpire(&key, millis(ttl) as i64)
                .await
                .map_err(|e| self.failed(e))?;
            return Ok(saved(applied));
        }
        let key = &key;
        swapped::save(
            "redis",
            changes,
            loaded,
            || Box::pin(self.blob(key)),
            |old, new| {
                Box::pin(async move {
                    self.swap(layout, key, old.as_deref(), new.as_deref(), ttl)
                        .await
                })
            },
        )
        .await
    }

    pub(super) async fn flask_rename(
        &self,
        layout: &FlaskLayout,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let (from, to) = (self.key(from), self.key(to));
        if !self.is_cluster() {
            let mut invocation = layout.moved.key(&from);
            invocation.key(&to).arg(millis(ttl));
            let moved: i64 = self.run(&invocation).await?;
            return Ok(saved(moved));
        }
        // In a cluster the two keys are in different slots: copy, then delete the old
        // one if it still holds what was copied, else undo the copy and look again.
        for _ in 0..swapped::TRIES {
            let Some(blob) = self.blob(&from).await? else {
                return Ok(Saved::Gone);
            };
            if !self.swap(layout, &to, None, Some(&blob), ttl).await? {
                return Err(StoreError::new("redis", "the new session id is taken"));
            }
            if self.swap(layout, &from, Some(&blob), None, ttl).await? {
                return Ok(Saved::Done);
            }
            self.swap(layout, &to, Some(&blob), None, ttl).await?;
        }
        Err(swapped::contended("redis"))
    }
}
