//! `SqliteStore`: records in an SQLite database, one row per session.

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocket::tokio::sync::OnceCell;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::sql::{self, check_table, failed};
use super::{Changes, Fields, Saved, SessionId, SessionStore, StoreError};

const STORE: &str = "sqlite";

/// Records in an SQLite database file, on sqlx: embedded (nothing to run) and, unlike
/// [`MemoryStore`](super::MemoryStore), kept across restarts. One row per session in
/// a table (default `keepsake_sessions`) created on first use:
///
/// ```sql
/// CREATE TABLE keepsake_sessions (
///     id         TEXT PRIMARY KEY,
///     data       TEXT NOT NULL CHECK (json_valid(data)),  -- the record, JSON1
///     expires_at INTEGER NOT NULL                          -- unix ms, indexed
/// );
/// ```
///
/// A save changes exactly the keys a request changed in one statement
/// (`json_remove(json_set(data, ..), ..)`), so concurrent requests that change
/// different keys all survive, and it never recreates a row another request deleted
/// or renamed, nor one that expired. Expired rows are never loaded, and are deleted in
/// batches by a sweep off the request path (every 5 minutes unless set with
/// [`with_sweep_interval`](Self::with_sweep_interval)). The file is opened in WAL
/// mode; `sqlite::memory:` keeps one in-memory database on one connection.
///
/// ```rust,no_run
/// use rocket_keepsake::{store::SqliteStore, Keepsake};
///
/// # fn main() -> Result<(), sqlx::Error> {
/// let store = SqliteStore::new("sqlite://sessions.db")?;
/// let rocket = rocket::build().attach(Keepsake::with_store(store));
/// # Ok(()) }
/// ```
///
/// An `#[session(index)]` key gets an expression index on
/// `json_extract(data, '$."key"')`, made on first use, which
/// [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) uses.
pub struct SqliteStore {
    /// Made on first use, inside the runtime (sqlx's pools need one).
    pool: OnceLock<SqlitePool>,
    /// What [`new`](Self::new) parsed, to make the pool with.
    connect: Option<SqliteConnectOptions>,
    /// The database is `:memory:`: one connection, kept.
    memory: bool,
    table: String,
    sweep_every: Duration,
    ready: OnceCell<()>,
    /// The `#[session(index)]` keys given an SQL index.
    indexed: sql::IndexedKeys,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// A store for the database at `url`: `sqlite://path/to/file.db` (created if
    /// missing) or `sqlite::memory:`. Only parses the URL: the file is opened on first
    /// use.
    pub fn new(url: &str) -> Result<SqliteStore, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        Ok(SqliteStore {
            memory: url.contains(":memory:") || url.contains("mode=memory"),
            connect: Some(options),
            ..SqliteStore::from_pool_parts()
        })
    }

    fn from_pool_parts() -> SqliteStore {
        SqliteStore {
            pool: OnceLock::new(),
            connect: None,
            memory: false,
            table: sql::DEFAULT_TABLE.into(),
            sweep_every: sql::DEFAULT_SWEEP,
            ready: OnceCell::new(),
            indexed: sql::IndexedKeys::default(),
        }
    }

    /// The pool: the app's own, or one made from the URL on first use.
    fn pool(&self) -> &SqlitePool {
        self.pool.get_or_init(|| {
            let options = if self.memory {
                // Each connection would get its own empty database: keep one, forever.
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(sql::MAX_CONNECTIONS)
            };
            options
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_lazy_with(self.connect.clone().unwrap_or_default())
        })
    }

    /// A store over a pool the app already has.
    pub fn from_pool(pool: SqlitePool) -> SqliteStore {
        SqliteStore {
            pool: OnceLock::from(pool),
            ..SqliteStore::from_pool_parts()
        }
    }

    /// Keeps sessions in table `name` (letters, digits and `_`). Default:
    /// `keepsake_sessions`.
    pub fn with_table(mut self, name: impl Into<String>) -> SqliteStore {
        self.table = name.into();
        self
    }

    /// Sweeps expired rows this often; `Duration::ZERO` never. Default: 5 minutes.
    pub fn with_sweep_interval(mut self, every: Duration) -> SqliteStore {
        self.sweep_every = every;
        self
    }

    /// Deletes expired rows now, in batches; how many.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        self.ready().await?;
        sweep(self.pool(), &self.table).await
    }

    /// Gives each of `keys` an expression index over its value, once per process.
    async fn index(&self, keys: &[String]) {
        let t = &self.table;
        let ddl = |key: &str| {
            let (name, path) = (sql::index_name(t, key), sql::literal(&sql::path(key)?));
            Ok(format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {t} (json_extract(data, {path}))"
            ))
        };
        let run = |statement: String| async move {
            sqlx::query(&statement).execute(self.pool()).await.map(drop)
        };
        self.indexed.ensure(STORE, keys, ddl, run).await;
    }

    /// Creates the table if missing and starts the sweep.
    async fn ready(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                check_table(&self.table).map_err(|e| StoreError::new(STORE, e))?;
                let t = &self.table;
                for statement in [
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, \
                         data TEXT NOT NULL CHECK (json_valid(data)), expires_at INTEGER NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at)"),
                ] {
                    sqlx::query(&statement)
                        .execute(self.pool())
                        .await
                        .map_err(|e| failed(STORE, e))?;
                }
                sql::spawn_sweeper(
                    self.pool().clone(),
                    self.table.clone(),
                    self.sweep_every,
                    |pool, table| async move { sweep(&pool, &table).await },
                );
                Ok(())
            })
            .await
            .map(drop)
    }
}

/// Now, in unix milliseconds.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn sweep(pool: &SqlitePool, table: &str) -> Result<u64, StoreError> {
    let statement = format!(
        "DELETE FROM {table} WHERE id IN \
         (SELECT id FROM {table} WHERE expires_at <= ? LIMIT ?)"
    );
    let mut removed = 0;
    loop {
        let done = sqlx::query(&statement)
            .bind(now())
            .bind(sql::SWEEP_BATCH)
            .execute(pool)
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        removed += done;
        if done < sql::SWEEP_BATCH as u64 {
            return Ok(removed);
        }
    }
}

/// The JSON functions of SQLite.
const JSON: sql::JsonFunctions = sql::JsonFunctions {
    set: "json_set",
    value: "json(?)",
    remove: "json_remove",
};

#[rocket::async_trait]
impl SessionStore for SqliteStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        self.ready().await?;
        let statement = format!(
            "SELECT data FROM {} WHERE id = ? AND expires_at > ?",
            self.table
        );
        let row: Option<String> = sqlx::query_scalar(&statement)
            .bind(id.as_str())
            .bind(now())
            .fetch_optional(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?;
        row.map(|json| sql::fields(STORE, &json)).transpose()
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        self.ready().await?;
        if !changes.index.is_empty() {
            self.index(&changes.index).await;
        }
        let t = &self.table;
        let now = now();
        let expires = now.saturating_add(sql::millis(ttl));
        let applied = if changes.create {
            let statement = format!("INSERT INTO {t} (id, data, expires_at) VALUES (?, ?, ?)");
            sqlx::query(&statement)
                .bind(id.as_str())
                .bind(sql::set_object(changes))
                .bind(expires)
                .execute(self.pool())
                .await
        } else {
            let (data, binds) = sql::changed_data(STORE, &JSON, changes)?;
            let statement = format!(
                "UPDATE {t} SET data = {data}, expires_at = ? WHERE id = ? AND expires_at > ?"
            );
            let mut query = sqlx::query(&statement);
            for bind in &binds {
                query = query.bind(bind);
            }
            query
                .bind(expires)
                .bind(id.as_str())
                .bind(now)
                .execute(self.pool())
                .await
        };
        if applied.map_err(|e| failed(STORE, e))?.rows_affected() == 0 {
            return Ok(Saved::Gone);
        }
        if !changes.removed.is_empty() {
            let statement = format!("DELETE FROM {t} WHERE id = ? AND data = '{{}}'");
            sqlx::query(&statement)
                .bind(id.as_str())
                .execute(self.pool())
                .await
                .map_err(|e| failed(STORE, e))?;
        }
        Ok(Saved::Done)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.ready().await?;
        sqlx::query(&format!("DELETE FROM {} WHERE id = ?", self.table))
            .bind(id.as_str())
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?;
        Ok(())
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        self.ready().await?;
        let now = now();
        let statement = format!(
            "UPDATE {} SET id = ?, expires_at = ? WHERE id = ? AND expires_at > ?",
            self.table
        );
        let moved = sqlx::query(&statement)
            .bind(to.as_str())
            .bind(now.saturating_add(sql::millis(ttl)))
            .bind(from.as_str())
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        Ok(if moved == 1 { Saved::Done } else { Saved::Gone })
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        self.ready().await?;
        self.index(&[key.to_owned()]).await;
        let path = sql::path(key).map_err(|e| StoreError::new(STORE, e))?;
        let statement = format!(
            "DELETE FROM {} WHERE json_extract(data, {}) = json_extract(?, '$') AND expires_at > ?",
            self.table,
            sql::literal(&path)
        );
        let ended = sqlx::query(&statement)
            .bind(value)
            .bind(now())
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        Ok(usize::try_from(ended).unwrap_or(usize::MAX))
    }
}
