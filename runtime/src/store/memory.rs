//! `MemoryStore`: records in this process's memory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Changes, Fields, Loaded, Saved, SessionId, SessionStore, StoreError};

/// Records in this process's memory: for one process, for development and for tests.
/// Sessions are lost on restart and not shared between processes.
///
/// Expired records are never returned, and are swept out every so many writes, so
/// memory holds only live sessions (plus at most one sweep interval's worth). It holds
/// at most 100,000 sessions ([`with_max_sessions`](Self::with_max_sessions)): past
/// that, a new session evicts those closest to expiring, with a warning.
/// `#[session(index)]` values are kept in a map beside the records, changed under the
/// same lock as each write and removed with the record.
///
/// ```rust
/// use rocket_keepsake::{store::MemoryStore, Keepsake};
///
/// let rocket = rocket::build().attach(Keepsake::with_store(MemoryStore::new()));
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_sessions: usize,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore {
            inner: Mutex::default(),
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

/// How many sessions a `MemoryStore` holds unless told otherwise.
const DEFAULT_MAX_SESSIONS: usize = 100_000;

#[derive(Debug, Default)]
struct Inner {
    /// Keyed by ids this process made at random and reads only from signed cookies,
    /// so a fast hasher serves: no client can choose the keys it collides.
    records: HashMap<SessionId, Stored, foldhash::fast::RandomState>,
    /// `#[session(index)]` entries: (key, value as JSON text) to the sessions holding it.
    index: HashMap<(String, String), HashSet<SessionId>>,
    /// The index keys ever named in a write's [`Changes::index`].
    index_keys: BTreeSet<String>,
    writes_since_sweep: usize,
}

/// One session's fields, when they expire, and the index entries it is under.
#[derive(Debug)]
struct Stored {
    fields: Fields,
    /// The fields as one JSON object's text, keys in order: what a load hands out,
    /// written once per save rather than once per request.
    object: String,
    expires: Instant,
    indexed: Vec<(String, String)>,
}

/// Sweep expired records after this many writes.
const SWEEP_EVERY: usize = 256;

impl MemoryStore {
    /// An empty store, holding at most 100,000 sessions.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Holds at most `max` sessions: a new session past it evicts the ones closest to
    /// expiring (expired ones first), a hundredth of `max` at a time, with a warning.
    /// A flood of new sessions (every anonymous request that flashes makes one) then
    /// cannot grow memory without bound. Default: 100,000.
    pub fn with_max_sessions(mut self, max: usize) -> MemoryStore {
        self.max_sessions = max.max(1);
        self
    }

    /// How many records are held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many index entries (`#[session(index)]` values) are held: each is removed
    /// with the last record under it, and an expired record's with the record.
    pub fn index_len(&self) -> usize {
        self.lock().index.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The live record under `id`; an expired one is removed.
    fn live(&mut self, id: &SessionId, now: Instant) -> Option<&mut Stored> {
        if self.records.get(id).is_some_and(|r| r.expires <= now) {
            self.remove(id);
        }
        self.records.get_mut(id)
    }

    /// The sessions indexed under `key` holding `value`, live or not.
    fn indexed(&self, key: &str, value: &str) -> Vec<SessionId> {
        let entry = (key.to_owned(), value.to_owned());
        let ids = self.index.get(&entry).into_iter().flatten();
        ids.cloned().collect()
    }

    /// Removes the record under `id` and its index entries.
    fn remove(&mut self, id: &SessionId) -> Option<Stored> {
        let stored = self.records.remove(id)?;
        for entry in &stored.indexed {
            self.unindex(entry, id);
        }
        Some(stored)
    }

    fn unindex(&mut self, entry: &(String, String), id: &SessionId) {
        if let Some(ids) = self.index.get_mut(entry) {
            ids.remove(id);
            if ids.is_empty() {
                self.index.remove(entry);
            }
        }
    }

    /// Brings the index entries of the record under `id` up to date for `keys`.
    fn reindex(&mut self, id: &SessionId, keys: &BTreeSet<String>) {
        let Some(stored) = self.records.get_mut(id) else {
            return;
        };
        let mut stale = Vec::new();
        let mut fresh = Vec::new();
        for key in keys {
            let now = stored
                .fields
                .get(key)
                .filter(|value| value.as_str() != "null");
            let before = stored.indexed.iter().position(|(k, _)| k == key);
            match (before, now) {
                (Some(i), Some(value)) if stored.indexed[i].1 == *value => {}
                (before, now) => {
                    if let Some(i) = before {
                        stale.push(stored.indexed.swap_remove(i));
                    }
                    if let Some(value) = now {
                        let entry = (key.clone(), value.clone());
                        stored.indexed.push(entry.clone());
                        fresh.push(entry);
                    }
                }
            }
        }
        for entry in &stale {
            self.unindex(entry, id);
        }
        for entry in fresh {
            self.index.entry(entry).or_default().insert(id.clone());
        }
    }

    /// Makes room for one more session under `max`: removes the soonest-expiring
    /// hundredth of them (all the expired ones if there are more).
    fn evict(&mut self, max: usize, now: Instant) {
        let mut expiries: Vec<(Instant, SessionId)> = self
            .records
            .iter()
            .map(|(id, r)| (r.expires, id.clone()))
            .collect();
        let expired = expiries.iter().filter(|(at, _)| *at <= now).count();
        let evict = expired.max(max / 100).max(1).min(expiries.len());
        if evict < expiries.len() {
            expiries.select_nth_unstable_by_key(evict, |(at, _)| *at);
        }
        for (_, id) in &expiries[..evict] {
            self.remove(id);
        }
        if evict > expired {
            log::warn!(
                target: "rocket_keepsake",
                "MemoryStore is full ({max} sessions): evicted the {} closest to expiring",
                evict - expired
            );
        }
    }

    fn wrote(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY {
            self.writes_since_sweep = 0;
            let expired: Vec<SessionId> = self
                .records
                .iter()
                .filter(|(_, r)| r.expires <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                self.remove(id);
            }
            // A map far larger than what it holds gives the room back: after a crowd
            // of sessions expires, the memory they took is returned.
            if self.records.capacity() > 4 * self.records.len().max(256) {
                self.records.shrink_to_fit();
                self.index.shrink_to_fit();
            }
        }
    }
}

/// `fields` as one JSON object's text, keys in order (so that a split finds them sorted).
fn object_of(fields: &Fields) -> String {
    let mut sorted: Vec<(&str, &str)> = fields
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    sorted.sort_unstable_by_key(|&(key, _)| key);
    crate::json::object(sorted)
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        Ok(self
            .lock()
            .live(id, Instant::now())
            .map(|r| r.fields.clone()))
    }

    async fn load_record(&self, id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        Ok(self
            .lock()
            .live(id, Instant::now())
            .map(|r| Loaded::Object(r.object.clone())))
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let expires = now + ttl;
        if inner.live(id, now).is_none() {
            if !changes.create {
                return Ok(Saved::Gone);
            }
            if inner.records.len() >= self.max_sessions {
                inner.evict(self.max_sessions, now);
            }
            let record = Stored {
                fields: Fields::new(),
                object: String::new(),
                expires,
                indexed: Vec::new(),
            };
            inner.records.insert(id.clone(), record);
        }
        // Found live or just inserted: the lock is held.
        let Some(record) = inner.records.get_mut(id) else {
            return Ok(Saved::Gone);
        };
        record.fields.extend(changes.set.iter().cloned());
        for key in &changes.removed {
            record.fields.remove(key);
        }
        record.object = object_of(&record.fields);
        record.expires = expires;
        if record.fields.is_empty() {
            inner.remove(id);
        } else {
            for key in &changes.index {
                if !inner.index_keys.contains(key) {
                    inner.index_keys.insert(key.clone());
                }
            }
            if !inner.index_keys.is_empty() {
                let keys = std::mem::take(&mut inner.index_keys);
                inner.reindex(id, &keys);
                inner.index_keys = keys;
            }
        }
        inner.wrote(now);
        Ok(Saved::Done)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.lock().remove(id);
        Ok(())
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.live(from, now).is_none() {
            return Ok(Saved::Gone);
        }
        let Some(mut record) = inner.remove(from) else {
            return Ok(Saved::Gone);
        };
        record.expires = now + ttl;
        for entry in &record.indexed {
            inner
                .index
                .entry(entry.clone())
                .or_default()
                .insert(to.clone());
        }
        inner.records.insert(to.clone(), record);
        inner.wrote(now);
        Ok(Saved::Done)
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let ids = inner.indexed(key, value);
        let mut ended = 0;
        for id in &ids {
            if let Some(stored) = inner.remove(id) {
                ended += usize::from(stored.expires > now);
            }
        }
        Ok(ended)
    }

    async fn find(&self, key: &str, value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let ids = inner.indexed(key, value);
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                let object = inner.live(&id, now)?.object.clone();
                Some((id, Loaded::Object(object)))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SessionId {
        SessionId::generate().unwrap()
    }

    fn set(key: &str, value: &str) -> Changes {
        Changes {
            create: false,
            set: vec![(key.into(), value.into())],
            removed: vec![],
            index: vec![],
        }
    }

    /// Like `set`, for a new record.
    fn create(key: &str, value: &str) -> Changes {
        Changes {
            create: true,
            ..set(key, value)
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[rocket::async_test]
    async fn a_record_is_handed_out_as_the_object_of_its_fields() {
        let store = MemoryStore::new();
        let id = id();
        store.save(&id, &create("zeta", "[1]"), HOUR).await.unwrap();
        let changes = Changes {
            create: false,
            set: vec![
                ("q\"uote".into(), "\"x\"".into()),
                ("a".into(), "{}".into()),
            ],
            removed: vec!["zeta".into()],
            index: vec![],
        };
        store.save(&id, &changes, HOUR).await.unwrap();
        let Some(Loaded::Object(text)) = store.load_record(&id).await.unwrap() else {
            panic!("not an object");
        };
        assert_eq!(text, r#"{"a":{},"q\"uote":"x"}"#, "keys in order, escaped");
        let fields = store.load(&id).await.unwrap().unwrap();
        let parsed: std::collections::HashMap<String, serde_json::Value> =
            serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.len(), fields.len());
        for (key, value) in &fields {
            assert_eq!(
                parsed[key],
                serde_json::from_str::<serde_json::Value>(value).unwrap()
            );
        }
        let shared = std::sync::Arc::new(store);
        assert!(
            matches!(
                shared.load_record(&id).await.unwrap(),
                Some(Loaded::Object(_))
            ),
            "an `Arc` hands out what the store does"
        );
        shared.delete(&id).await.unwrap();
        assert_eq!(shared.load_record(&id).await.unwrap(), None);
    }

    #[rocket::async_test]
    async fn per_key_merge_and_no_resurrection() {
        let store = MemoryStore::new();
        let id = id();
        assert_eq!(
            store.save(&id, &set("a", "1"), HOUR).await.unwrap(),
            Saved::Gone
        );
        assert!(store.is_empty(), "no create: nothing written");
        let create = create("a", "1");
        assert_eq!(store.save(&id, &create, HOUR).await.unwrap(), Saved::Done);
        store.save(&id, &set("b", "2"), HOUR).await.unwrap();
        let fields = store.load(&id).await.unwrap().unwrap();
        assert_eq!((fields["a"].as_str(), fields["b"].as_str()), ("1", "2"));
        store.delete(&id).await.unwrap();
        assert_eq!(
            store.save(&id, &set("c", "3"), HOUR).await.unwrap(),
            Saved::Gone
        );
        assert_eq!(store.load(&id).await.unwrap(), None);
    }

    #[rocket::async_test]
    async fn rename_moves_and_invalidates() {
        let store = MemoryStore::new();
        let (old, new) = (id(), id());
        store.save(&old, &create("a", "1"), HOUR).await.unwrap();
        assert_eq!(store.rename(&old, &new, HOUR).await.unwrap(), Saved::Done);
        assert_eq!(store.load(&old).await.unwrap(), None);
        assert!(store.load(&new).await.unwrap().is_some());
        assert_eq!(store.rename(&old, &id(), HOUR).await.unwrap(), Saved::Gone);
    }

    #[rocket::async_test]
    async fn expired_records_are_gone_and_swept() {
        let store = MemoryStore::new();
        for _ in 0..SWEEP_EVERY - 1 {
            store
                .save(&id(), &create("a", "1"), Duration::ZERO)
                .await
                .unwrap();
        }
        assert_eq!(store.len(), SWEEP_EVERY - 1);
        let live = id();
        store.save(&live, &create("a", "1"), HOUR).await.unwrap();
        assert_eq!(store.len(), 1, "the sweep left only the live record");
        let expired = id();
        store
            .save(&expired, &create("a", "1"), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(store.load(&expired).await.unwrap(), None);
    }

    #[rocket::async_test]
    async fn emptied_records_are_deleted() {
        let store = MemoryStore::new();
        let id = id();
        store.save(&id, &create("a", "1"), HOUR).await.unwrap();
        let remove = Changes {
            create: false,
            set: vec![],
            removed: vec!["a".into()],
            index: vec![],
        };
        store.save(&id, &remove, HOUR).await.unwrap();
        assert!(store.is_empty());
    }

    fn indexed(key: &str, value: &str) -> Changes {
        Changes {
            index: vec!["uid".into()],
            ..create(key, value)
        }
    }

    #[rocket::async_test]
    async fn the_index_follows_writes_renames_and_expiry() {
        let store = MemoryStore::new();
        let (a, b, c) = (id(), id(), id());
        store.save(&a, &indexed("uid", "7"), HOUR).await.unwrap();
        store.save(&b, &indexed("uid", "7"), HOUR).await.unwrap();
        store.save(&c, &indexed("uid", "8"), HOUR).await.unwrap();
        assert_eq!(store.index_len(), 2);
        // `c` moves from 8 to 7 through a write that names no index key: the store
        // knows `uid` is one.
        store.save(&c, &set("uid", "7"), HOUR).await.unwrap();
        assert_eq!(store.index_len(), 1, "8's entry went with its last session");
        let renamed = id();
        store.rename(&a, &renamed, HOUR).await.unwrap();
        store.save(&b, &set("uid", "null"), HOUR).await.unwrap();
        assert_eq!(
            store.revoke_all("uid", "7").await.unwrap(),
            2,
            "renamed and c"
        );
        assert_eq!(store.load(&renamed).await.unwrap(), None);
        assert!(
            store.load(&b).await.unwrap().is_some(),
            "null is not indexed"
        );
        // An expired session is not counted, and its entry goes with it.
        let expired = id();
        store
            .save(&expired, &indexed("uid", "9"), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(store.revoke_all("uid", "9").await.unwrap(), 0);
        assert_eq!(store.index_len(), 0);
    }

    #[rocket::async_test]
    async fn a_full_store_evicts_the_sessions_closest_to_expiring() {
        let store = MemoryStore::new().with_max_sessions(200);
        let soon = id();
        store
            .save(&soon, &create("a", "1"), Duration::from_secs(60))
            .await
            .unwrap();
        let ids: Vec<SessionId> = (0..199).map(|_| id()).collect();
        for id in &ids {
            store.save(id, &create("a", "1"), HOUR).await.unwrap();
        }
        assert_eq!(store.len(), 200);
        let newest = id();
        store.save(&newest, &create("a", "1"), HOUR).await.unwrap();
        assert!(store.len() <= 200, "{}", store.len());
        assert_eq!(
            store.load(&soon).await.unwrap(),
            None,
            "the soonest to expire went"
        );
        assert!(store.load(&newest).await.unwrap().is_some());
        // A flood stays bounded.
        for _ in 0..2000 {
            store
                .save(&id(), &create("_flashes", "[]"), HOUR)
                .await
                .unwrap();
        }
        assert!(store.len() <= 200, "{}", store.len());
    }

    #[test]
    fn ids_are_long_random_and_redacted_in_debug() {
        let (a, b) = (id(), id());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
