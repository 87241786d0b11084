//! `FileStore`: one file per session in a directory (Flask-Session's `filesystem`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocket::tokio::sync::OnceCell;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Changes, Fields, Loaded, Saved, SessionId, SessionStore, StoreError, StoreErrorKind};

const STORE: &str = "file";

/// Lock files, one per stripe of sessions: a session's read-merge-write holds its
/// stripe's advisory lock, across threads and processes. Never deleted, so that two
/// processes always lock the same file.
const STRIPES: u64 = 64;

/// Records as files under one directory, one file per session: embedded, nothing to
/// run, and shared by every process on the machine that uses the directory
/// (Flask-Session's `filesystem` type).
///
/// - A session is `<dir>/<id>.json`, named by its random id, never by anything a
///   client sent. Writes are atomic: a temporary file is written, flushed to disk
///   (`fsync`) and renamed over the old one, so a reader sees the old record or the
///   new one, never half of one.
/// - A save reads, merges its changed keys and writes under an advisory file lock
///   (one of 64 lock files under `<dir>/.locks`, picked by the id), so concurrent
///   requests in any process that change different keys of one session both survive,
///   and a session deleted or renamed meanwhile is not recreated.
/// - Expired files are never read, and are deleted off the request path, by a sweep
///   every 5 minutes ([`with_sweep_interval`](Self::with_sweep_interval)).
/// - At most [`with_max_files`](Self::with_max_files) sessions (default 10,000; like
///   Flask-Session's `SESSION_FILE_THRESHOLD`): past it, a new session first makes room
///   by deleting expired files, then the least recently written ones, with a warning.
/// - The directory is created, if missing, readable by its owner only (`0700`).
/// - [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) and
///   [`SessionAdmin::sessions`](crate::SessionAdmin::sessions) read every file: the
///   store keeps no separate index.
///
/// File system calls run on Rocket's blocking thread pool, never on its async workers.
///
/// ```rust
/// use rocket_keepsake::{store::FileStore, Keepsake};
///
/// let rocket = rocket::build().attach(Keepsake::with_store(FileStore::new("sessions")));
/// ```
#[derive(Debug)]
pub struct FileStore {
    inner: Arc<Inner>,
    sweep_every: Duration,
    ready: OnceCell<()>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    max_files: usize,
    /// Session files, as this process last counted them.
    files: AtomicUsize,
}

/// A session file's contents.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// Unix milliseconds after which the record is gone.
    expires: u64,
    fields: BTreeMap<String, Box<RawValue>>,
}

impl FileStore {
    /// A store in `dir`, created (owner-only) on first use if it does not exist.
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore {
            inner: Arc::new(Inner {
                dir: dir.into(),
                max_files: 10_000,
                files: AtomicUsize::new(0),
            }),
            sweep_every: Duration::from_secs(5 * 60),
            ready: OnceCell::new(),
        }
    }

    /// Keeps at most `max` sessions; a new one past it deletes expired files first,
    /// then the least recently written. Default: 10,000.
    pub fn with_max_files(mut self, max: usize) -> FileStore {
        Arc::get_mut(&mut self.inner)
            .expect("not shared before first use")
            .max_files = max.max(1);
        self
    }

    /// How often expired files are deleted. Default: 5 minutes.
    pub fn with_sweep_interval(mut self, every: Duration) -> FileStore {
        self.sweep_every = every;
        self
    }

    /// Deletes the expired session files now; returns how many.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.run(|inner| inner.sweep()).await
    }

    /// Creates the directory and starts the sweep, once.
    async fn ready(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                blocking(self.inner.clone(), |inner| inner.create()).await?;
                let (inner, every) = (Arc::downgrade(&self.inner), self.sweep_every);
                rocket::tokio::spawn(async move {
                    let mut ticks = rocket::tokio::time::interval(every);
                    ticks.tick().await;
                    loop {
                        ticks.tick().await;
                        let Some(inner) = inner.upgrade() else {
                            return;
                        };
                        if let Err(e) = blocking(inner, |inner| inner.sweep()).await {
                            log::warn!(target: "rocket_keepsake", "file store sweep failed: {}", crate::error::report(&e));
                        }
                    }
                });
                Ok(())
            })
            .await
            .map(drop)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.ready().await?;
        blocking(self.inner.clone(), f).await
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    inner: Arc<Inner>,
    f: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    match rocket::tokio::task::spawn_blocking(move || f(&inner)).await {
        Ok(result) => result.map_err(failed),
        Err(e) => Err(StoreError::new(STORE, e)),
    }
}

fn failed(error: io::Error) -> StoreError {
    let kind = match error.kind() {
        io::ErrorKind::InvalidData => StoreErrorKind::Unreadable,
        _ => StoreErrorKind::Unavailable,
    };
    StoreError::of_kind(STORE, kind, error)
}

fn now_millis() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn expiry(ttl: Duration) -> u64 {
    let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    now_millis().saturating_add(ttl)
}

/// Whether `name` is a session file's name, `<id>.json`: 32 characters of URL-safe
/// base64, the only names this store writes.
fn session_of(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".json")?;
    let ours = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ours.then_some(id)
}

fn invalid(error: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl Inner {
    /// The file of session `id`. Ids come only from cookies this app signed, but a
    /// name that is not one this store writes is refused anyway: no id is a path.
    fn path(&self, id: &str) -> io::Result<PathBuf> {
        let name = format!("{id}.json");
        match session_of(&name) {
            Some(_) => Ok(self.dir.join(name)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a session id of this store",
            )),
        }
    }

    fn create(&self) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(self.dir.join(".locks"))?;
        let files = self.session_files()?.len();
        self.files.store(files, Ordering::Relaxed);
        Ok(())
    }

    /// Holds the advisory lock of `id`'s stripe until the file is dropped.
    fn lock(&self, id: &str) -> io::Result<File> {
        let stripe = self.stripe(id);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".locks").join(format!("{stripe:02}")))?;
        file.lock()?;
        Ok(file)
    }

    fn stripe(&self, id: &str) -> u64 {
        id.bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % STRIPES
    }

    /// The live record under `id`, if any.
    fn read(&self, id: &str) -> io::Result<Option<Stored>> {
        self.read_path(&self.path(id)?)
    }

    fn read_path(&self, path: &Path) -> io::Result<Option<Stored>> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(invalid)?;
        Ok((stored.expires > now_millis()).then_some(stored))
    }

    /// Writes `stored` as `id`'s file, atomically: a temporary file, flushed to disk,
    /// renamed over it.
    fn write(&self, id: &str, stored: &Stored) -> io::Result<()> {
        let target = self.path(id)?;
        let bytes = serde_json::to_vec(stored).map_err(invalid)?;
        let mut suffix = [0u8; 6];
        getrandom::getrandom(&mut suffix).map_err(io::Error::other)?;
        let temporary = self.dir.join(format!(".tmp-{id}-{}", hex::encode(suffix)));
        let written = (|| {
            let mut file = File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &target)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    fn remove(&self, id: &str) -> io::Result<bool> {
        match fs::remove_file(self.path(id)?) {
            Ok(()) => {
                self.files.fetch_sub(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn save(&self, id: &str, changes: &Changes, ttl: Duration) -> io::Result<Saved> {
        let (saved, created) = self.merge(id, changes, ttl)?;
        // With the session's lock released: making room takes other sessions' locks.
        if created && self.files.fetch_add(1, Ordering::Relaxed) + 1 > self.max_files {
            self.make_room(id)?;
        }
        Ok(saved)
    }

    /// Applies `changes` under the session's lock; whether it created the file.
    fn merge(&self, id: &str, changes: &Changes, ttl: Duration) -> io::Result<(Saved, bool)> {
        let _lock = self.lock(id)?;
        let (mut stored, created) = match self.read(id)? {
            Some(stored) => (stored, false),
            None if changes.create => {
                let empty = Stored {
                    expires: 0,
                    fields: BTreeMap::new(),
                };
                (empty, true)
            }
            None => return Ok((Saved::Gone, false)),
        };
        for (key, value) in &changes.set {
            let value = RawValue::from_string(value.clone()).map_err(invalid)?;
            stored.fields.insert(key.clone(), value);
        }
        for key in &changes.removed {
            stored.fields.remove(key);
        }
        if stored.fields.is_empty() {
            if !created {
                self.remove(id)?;
            }
            return Ok((Saved::Done, false));
        }
        stored.expires = expiry(ttl);
        self.write(id, &stored)?;
        Ok((Saved::Done, created))
    }

    fn rename(&self, from: &str, to: &str, ttl: Duration) -> io::Result<Saved> {
        // Both stripes, in one order, so that two renames cannot deadlock.
        let (first, second) = if self.stripe(from) <= self.stripe(to) {
            (from, to)
        } else {
            (to, from)
        };
        let _first = self.lock(first)?;
        let _second = (self.stripe(first) != self.stripe(second))
            .then(|| self.lock(second))
            .transpose()?;
        let Some(mut stored) = self.read(from)? else {
            return Ok(Saved::Gone);
        };
        // One rename moves it: from then on `from` finds nothing, `to` the record.
        fs::rename(self.path(from)?, self.path(to)?)?;
        stored.expires = expiry(ttl);
        self.write(to, &stored)?;
        Ok(Saved::Done)
    }

    fn delete(&self, id: &str) -> io::Result<()> {
        let _lock = self.lock(id)?;
        self.remove(id).map(drop)
    }

    /// The names of the session files in the directory.
    fn session_files(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(name) = name.to_str().filter(|n| session_of(n).is_some()) {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    /// Deletes expired (and unreadable) files; returns how many.
    fn sweep(&self) -> io::Result<usize> {
        let names = self.session_files()?;
        let mut removed = 0;
        for name in &names {
            let Some(id) = session_of(name) else { continue };
            let _lock = self.lock(id)?;
            if !matches!(self.read(id), Ok(Some(_))) && self.remove(id)? {
                removed += 1;
            }
        }
        self.files.store(names.len() - removed, Ordering::Relaxed);
        Ok(removed)
    }

    /// Brings the store back under `max_files`, keeping `keep` (the session just
    /// created): expired files first, then the least recently written.
    fn make_room(&self, keep: &str) -> io::Result<()> {
        let expired = self.sweep()?;
        let mut files = self.files.load(Ordering::Relaxed);
        if files <= self.max_files {
            if expired > 0 {
                log::warn!(target: "rocket_keepsake", "file store over {} sessions: deleted {expired} expired", self.max_files);
            }
            return Ok(());
        }
        let mut by_age = Vec::new();
        for name in self.session_files()? {
            let written = fs::metadata(self.dir.join(&name))
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            by_age.push((written, name));
        }
        by_age.sort();
        let mut evicted = 0;
        for (_, name) in by_age {
            if files <= self.max_files {
                break;
            }
            let Some(id) = session_of(&name).filter(|id| *id != keep) else {
                continue;
            };
            let _lock = self.lock(id)?;
            if self.remove(id)? {
                files -= 1;
                evicted += 1;
            }
        }
        log::warn!(
            target: "rocket_keepsake",
            "file store over {} sessions: deleted {expired} expired and the {evicted} least \
             recently written",
            self.max_files
        );
        Ok(())
    }

    fn revoke_all(&self, key: &str, value: &str) -> io::Result<usize> {
        let mut ended = 0;
        self.each_holding(key, value, |id, _| {
            ended += usize::from(self.remove(id)?);
            Ok(())
        })?;
        Ok(ended)
    }

    fn find(&self, key: &str, value: &str) -> io::Result<Vec<(SessionId, Loaded)>> {
        let mut found = Vec::new();
        self.each_holding(key, value, |id, stored| {
            let fields = stored.fields.into_iter();
            let fields = fields.map(|(key, value)| (key, value.get().to_owned()));
            if let Some(id) = SessionId::from_verified(id.as_bytes().to_vec()) {
                found.push((id, Loaded::Fields(fields.collect())));
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Calls `each`, under the session's lock, with every live session whose key
    /// `key` holds `value` (JSON text): a scan of every file, as there is no index.
    fn each_holding(
        &self,
        key: &str,
        value: &str,
        mut each: impl FnMut(&str, Stored) -> io::Result<()>,
    ) -> io::Result<()> {
        let wanted: serde_json::Value = serde_json::from_str(value).map_err(invalid)?;
        for name in self.session_files()? {
            let Some(id) = session_of(&name) else {
                continue;
            };
            let _lock = self.lock(id)?;
            let Ok(Some(stored)) = self.read(id) else {
                continue;
            };
            let held = stored
                .fields
                .get(key)
                .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok());
            if held.as_ref() == Some(&wanted) {
                each(id, stored)?;
            }
        }
        Ok(())
    }
}

#[rocket::async_trait]
impl SessionStore for FileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        let id = id.as_str().to_owned();
        let stored = self.run(move |inner| inner.read(&id)).await?;
        Ok(stored.map(|stored| {
            stored
                .fields
                .into_iter()
                .map(|(key, value)| (key, value.get().to_owned()))
                .collect()
        }))
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let (id, changes) = (id.as_str().to_owned(), changes.clone());
        self.run(move |inner| inner.save(&id, &changes, ttl)).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |inner| inner.delete(&id)).await
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let (from, to) = (from.as_str().to_owned(), to.as_str().to_owned());
        self.run(move |inner| inner.rename(&from, &to, ttl)).await
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |inner| inner.revoke_all(&key, &value)).await
    }

    async fn find(&self, key: &str, value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |inner| inner.find(&key, &value)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes).unwrap();
        std::env::temp_dir().join(format!("keepsake-file-{}", hex::encode(bytes)))
    }

    fn set(key: &str, value: &str, create: bool) -> Changes {
        Changes {
            create,
            set: vec![(key.into(), value.into())],
            ..Changes::default()
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[rocket::async_test]
    async fn merge_rename_no_resurrection_and_owner_only_directory() {
        let dir = dir();
        let store = FileStore::new(&dir);
        let id = SessionId::generate().unwrap();
        assert_eq!(
            store.save(&id, &set("a", "1", false), HOUR).await.unwrap(),
            Saved::Gone
        );
        store.save(&id, &set("a", "1", true), HOUR).await.unwrap();
        store
            .save(&id, &set("b", "[2]", false), HOUR)
            .await
            .unwrap();
        let fields = store.load(&id).await.unwrap().unwrap();
        assert_eq!((fields["a"].as_str(), fields["b"].as_str()), ("1", "[2]"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let to = SessionId::generate().unwrap();
        assert_eq!(store.rename(&id, &to, HOUR).await.unwrap(), Saved::Done);
        assert_eq!(store.load(&id).await.unwrap(), None);
        assert_eq!(
            store.save(&id, &set("c", "3", false), HOUR).await.unwrap(),
            Saved::Gone
        );
        assert!(store.load(&to).await.unwrap().is_some());
        store.delete(&to).await.unwrap();
        assert_eq!(store.load(&to).await.unwrap(), None);
        assert!(!dir.join(format!("{}.json", to.as_str())).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[rocket::async_test]
    async fn expired_files_are_not_read_and_are_swept() {
        let dir = dir();
        let store = FileStore::new(&dir);
        let (live, gone) = (
            SessionId::generate().unwrap(),
            SessionId::generate().unwrap(),
        );
        store.save(&live, &set("a", "1", true), HOUR).await.unwrap();
        store
            .save(&gone, &set("a", "1", true), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(store.load(&gone).await.unwrap(), None, "never read");
        assert!(
            dir.join(format!("{}.json", gone.as_str())).exists(),
            "until the sweep"
        );
        assert_eq!(store.sweep().await.unwrap(), 1);
        assert!(!dir.join(format!("{}.json", gone.as_str())).exists());
        assert!(store.load(&live).await.unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[rocket::async_test]
    async fn past_max_files_expired_then_oldest_sessions_make_room() {
        let dir = dir();
        let store = FileStore::new(&dir).with_max_files(3);
        let ids: Vec<SessionId> = (0..5).map(|_| SessionId::generate().unwrap()).collect();
        store
            .save(&ids[0], &set("a", "1", true), Duration::ZERO)
            .await
            .unwrap();
        for id in &ids[1..4] {
            store.save(id, &set("a", "1", true), HOUR).await.unwrap();
            std::thread::sleep(Duration::from_millis(15)); // distinct modification times
        }
        // Four files, one expired: the expired one goes, nothing else.
        assert!(store.load(&ids[1]).await.unwrap().is_some());
        assert!(!dir.join(format!("{}.json", ids[0].as_str())).exists());
        store
            .save(&ids[4], &set("a", "1", true), HOUR)
            .await
            .unwrap();
        assert_eq!(store.load(&ids[1]).await.unwrap(), None, "the oldest went");
        for id in &ids[2..] {
            assert!(store.load(id).await.unwrap().is_some());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_session_ids_name_files() {
        let inner = Inner {
            dir: dir(),
            max_files: 1,
            files: AtomicUsize::new(0),
        };
        assert!(inner.path("../../../../etc/passwd").is_err());
        assert!(
            inner.path(&"a/".repeat(16)).is_err(),
            "32 characters, one a slash"
        );
        let id = SessionId::generate().unwrap();
        assert!(inner
            .path(id.as_str())
            .unwrap()
            .ends_with(format!("{}.json", id.as_str())));
    }

    #[rocket::async_test]
    async fn a_file_that_is_not_a_record_is_unreadable() {
        let dir = dir();
        let store = FileStore::new(&dir);
        let id = SessionId::generate().unwrap();
        store.save(&id, &set("a", "1", true), HOUR).await.unwrap();
        fs::write(dir.join(format!("{}.json", id.as_str())), b"not json").unwrap();
        let error = store.load(&id).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unreadable);
        fs::remove_dir_all(&dir).unwrap();
    }
}
