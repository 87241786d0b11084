//! `MySqlStore`: records in MySQL or MariaDB, one row per session, the record as JSON.

use std::sync::OnceLock;
use std::time::Duration;

use rocket::tokio::sync::OnceCell;
use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use super::sql::{self, check_table, failed};
use super::{Changes, Fields, Saved, SessionId, SessionStore, StoreError};

const STORE: &str = "mysql";

/// Records in MySQL or MariaDB, on sqlx: one row per session in a table (default
/// `keepsake_sessions`) created on first use:
///
/// ```sql
/// CREATE TABLE keepsake_sessions (
///     id         VARCHAR(64) NOT NULL PRIMARY KEY,
///     data       JSON NOT NULL,          -- the record: key -> JSON value
///     expires_at DATETIME(6) NOT NULL,   -- indexed, for the sweep
///     INDEX keepsake_sessions_expires (expires_at)
/// );
/// ```
///
/// A save changes exactly the keys a request changed in one statement
/// (`JSON_REMOVE(JSON_SET(data, ..), ..)`), so concurrent requests of one client that
/// change different keys all survive, and it never recreates a row another request
/// deleted or renamed, nor one that expired. Expired rows are never loaded, and are
/// deleted in batches by a sweep off the request path (every 5 minutes unless set
/// with [`with_sweep_interval`](Self::with_sweep_interval); one process at a time,
/// under `GET_LOCK`). Time is the database's `NOW(6)`.
///
/// The pool of [`new`](Self::new) holds at most 10 connections and waits at most
/// 2 seconds for one; a database that is down or that slow gives 503s. Pass your own
/// pool (for instance `rocket_db_pools`' `sqlx::MySqlPool`) to
/// [`from_pool`](Self::from_pool).
///
/// ```rust,no_run
/// use rocket_keepsake::{store::MySqlStore, Keepsake};
///
/// # fn main() -> Result<(), sqlx::Error> {
/// let store = MySqlStore::new("mysql://root@127.0.0.1/test")?;
/// let rocket = rocket::build().attach(Keepsake::with_store(store));
/// # Ok(()) }
/// ```
///
/// An `#[session(index)]` key gets, on MariaDB, an indexed virtual column of its value
/// (its first 190 characters), made on first use, which
/// [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) uses; on MySQL, whose
/// syntax differs, that fails once with a warning and `revoke_all` scans the table.
pub struct MySqlStore {
    /// Made on first use, inside the runtime (sqlx's pools need one).
    pool: OnceLock<MySqlPool>,
    /// What [`new`](Self::new) parsed, to make the pool with.
    connect: Option<MySqlConnectOptions>,
    table: String,
    sweep_every: Duration,
    ready: OnceCell<()>,
    /// The `#[session(index)]` keys given an SQL index.
    indexed: sql::IndexedKeys,
}

impl std::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl MySqlStore {
    /// A store for the database at `url` (`mysql://user@host/db`; `mariadb://` is
    /// taken as `mysql://`). Only parses the URL: connections are made on first use.
    pub fn new(url: &str) -> Result<MySqlStore, sqlx::Error> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let connect = MySqlConnectOptions::from_str(&url)?;
        Ok(MySqlStore {
            connect: Some(connect),
            ..MySqlStore::from_pool_parts()
        })
    }

    fn from_pool_parts() -> MySqlStore {
        MySqlStore {
            pool: OnceLock::new(),
            connect: None,
            table: sql::DEFAULT_TABLE.into(),
            sweep_every: sql::DEFAULT_SWEEP,
            ready: OnceCell::new(),
            indexed: sql::IndexedKeys::default(),
        }
    }

    /// The pool: the app's own, or one made from the URL on first use.
    fn pool(&self) -> &MySqlPool {
        self.pool.get_or_init(|| {
            MySqlPoolOptions::new()
                .max_connections(sql::MAX_CONNECTIONS)
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_lazy_with(self.connect.clone().unwrap_or_default())
        })
    }

    /// A store over a pool the app already has.
    pub fn from_pool(pool: MySqlPool) -> MySqlStore {
        MySqlStore {
            pool: OnceLock::from(pool),
            ..MySqlStore::from_pool_parts()
        }
    }

    /// Keeps sessions in table `name` (letters, digits and `_`). Default:
    /// `keepsake_sessions`.
    pub fn with_table(mut self, name: impl Into<String>) -> MySqlStore {
        self.table = name.into();
        self
    }

    /// Sweeps expired rows this often; `Duration::ZERO` never. Default: 5 minutes.
    pub fn with_sweep_interval(mut self, every: Duration) -> MySqlStore {
        self.sweep_every = every;
        self
    }

    /// Deletes expired rows now, in batches; how many. Skipped (0) while another
    /// process sweeps the same table.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        self.ready().await?;
        sweep(self.pool(), &self.table).await
    }

    /// Gives each of `keys` a virtual column of its value (its first 190 characters)
    /// with an index, once per process; MariaDB's syntax (MySQL scans instead).
    async fn index(&self, keys: &[String]) {
        let t = &self.table;
        let ddl = |key: &str| {
            let (column, path) = (sql::index_name(t, key), sql::literal(&sql::path(key)?));
            Ok(format!(
                "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {column} VARCHAR(190) AS \
                 (LEFT(JSON_UNQUOTE(JSON_EXTRACT(data, {path})), 190)) VIRTUAL, \
                 ADD INDEX IF NOT EXISTS {column} ({column})"
            ))
        };
        let run = |statement: String| async move {
            sqlx::query(&statement).execute(self.pool()).await.map(drop)
        };
        self.indexed.ensure(STORE, keys, ddl, run).await;
    }

    /// Creates the table if missing (`IF NOT EXISTS` is atomic on MySQL and MariaDB)
    /// and starts the sweep.
    async fn ready(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                check_table(&self.table).map_err(|e| StoreError::new(STORE, e))?;
                let t = &self.table;
                let statement = format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id VARCHAR(64) NOT NULL PRIMARY KEY, \
                     data JSON NOT NULL, expires_at DATETIME(6) NOT NULL, \
                     INDEX {t}_expires (expires_at))"
                );
                sqlx::query(&statement)
                    .execute(self.pool())
                    .await
                    .map_err(|e| failed(STORE, e))?;
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

async fn sweep(pool: &MySqlPool, table: &str) -> Result<u64, StoreError> {
    // A named lock lives on one connection: take it, sweep and release on that one.
    let mut con = pool.acquire().await.map_err(|e| failed(STORE, e))?;
    let lock = format!("keepsake sweep {table}");
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
        .bind(&lock)
        .fetch_one(&mut *con)
        .await
        .map_err(|e| failed(STORE, e))?;
    if locked != Some(1) {
        return Ok(0);
    }
    let statement = format!("DELETE FROM {table} WHERE expires_at <= NOW(6) LIMIT ?");
    let mut removed = 0;
    let result = loop {
        match sqlx::query(&statement)
            .bind(sql::SWEEP_BATCH)
            .execute(&mut *con)
            .await
        {
            Ok(done) => {
                removed += done.rows_affected();
                if done.rows_affected() < sql::SWEEP_BATCH as u64 {
                    break Ok(removed);
                }
            }
            Err(e) => break Err(failed(STORE, e)),
        }
    };
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(&lock)
        .execute(&mut *con)
        .await;
    result
}

fn micros(ttl: Duration) -> i64 {
    sql::millis(ttl).saturating_mul(1000)
}

/// The JSON functions of MySQL and MariaDB.
const JSON: sql::JsonFunctions = sql::JsonFunctions {
    set: "JSON_SET",
    value: "JSON_EXTRACT(?, '$')",
    remove: "JSON_REMOVE",
};

#[rocket::async_trait]
impl SessionStore for MySqlStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        self.ready().await?;
        let statement = format!(
            "SELECT CAST(data AS CHAR) FROM {} WHERE id = ? AND expires_at > NOW(6)",
            self.table
        );
        let row: Option<String> = sqlx::query_scalar(&statement)
            .bind(id.as_str())
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
        let (data, binds) = sql::changed_data(STORE, &JSON, changes)?;
        let applied = if changes.create {
            let statement = format!(
                "INSERT INTO {t} (id, data, expires_at) VALUES (?, ?, NOW(6) + INTERVAL ? MICROSECOND)"
            );
            sqlx::query(&statement)
                .bind(id.as_str())
                .bind(sql::set_object(changes))
                .bind(micros(ttl))
                .execute(self.pool())
                .await
        } else {
            let statement = format!(
                "UPDATE {t} SET data = {data}, expires_at = NOW(6) + INTERVAL ? MICROSECOND \
                 WHERE id = ? AND expires_at > NOW(6)"
            );
            let mut query = sqlx::query(&statement);
            for bind in &binds {
                query = query.bind(bind);
            }
            query
                .bind(micros(ttl))
                .bind(id.as_str())
                .execute(self.pool())
                .await
        };
        let applied = applied.map_err(|e| failed(STORE, e))?.rows_affected();
        if applied == 0 {
            return Ok(Saved::Gone);
        }
        if !changes.removed.is_empty() {
            let statement = format!("DELETE FROM {t} WHERE id = ? AND JSON_LENGTH(data) = 0");
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
        let statement = format!(
            "UPDATE {} SET id = ?, expires_at = NOW(6) + INTERVAL ? MICROSECOND \
             WHERE id = ? AND expires_at > NOW(6)",
            self.table
        );
        let moved = sqlx::query(&statement)
            .bind(to.as_str())
            .bind(micros(ttl))
            .bind(from.as_str())
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        Ok(if moved == 1 { Saved::Done } else { Saved::Gone })
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        self.ready().await?;
        self.index(&[key.to_owned()]).await;
        let t = &self.table;
        let path = sql::literal(&sql::path(key).map_err(|e| StoreError::new(STORE, e))?);
        let exact =
            format!("JSON_EXTRACT(data, {path}) = JSON_EXTRACT(?, '$') AND expires_at > NOW(6)");
        let indexed = self.indexed.get(key) == Some(true);
        let statement = if indexed {
            let column = sql::index_name(t, key);
            format!("DELETE FROM {t} WHERE {column} = LEFT(JSON_UNQUOTE(?), 190) AND {exact}")
        } else {
            format!("DELETE FROM {t} WHERE {exact}")
        };
        let mut query = sqlx::query(&statement);
        if indexed {
            query = query.bind(value);
        }
        let ended = query
            .bind(value)
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        Ok(usize::try_from(ended).unwrap_or(usize::MAX))
    }
}
