//! `PostgresStore`: records in PostgreSQL, one row per session, the record as JSONB.

use std::sync::OnceLock;
use std::time::Duration;

use rocket::tokio::sync::OnceCell;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;

use super::sql::{self, check_table, failed};
use super::{Changes, Fields, Saved, SessionId, SessionStore, StoreError};

const STORE: &str = "postgres";

/// Records in PostgreSQL, on sqlx: one row per session in a table (default
/// `keepsake_sessions`) created on first use:
///
/// ```sql
/// CREATE TABLE keepsake_sessions (
///     id         TEXT PRIMARY KEY,
///     data       JSONB NOT NULL,        -- the record: key -> JSON value
///     expires_at TIMESTAMPTZ NOT NULL   -- indexed, for the sweep
/// );
/// ```
///
/// A save changes exactly the keys a request changed in one statement
/// (`data = (data || $set) - $removed`), so concurrent requests of one client that
/// change different keys all survive, and it never recreates a row another request
/// deleted or renamed, nor one that expired. Expired rows are never loaded, and are
/// deleted in batches by a sweep off the request path (every 5 minutes unless set
/// with [`with_sweep_interval`](Self::with_sweep_interval); one process at a time,
/// under an advisory lock). Time is the database's `now()`.
///
/// The pool of [`new`](Self::new) holds at most 10 connections and waits at most
/// 2 seconds for one; a database that is down or that slow gives 503s. Build your own
/// pool (sizes, timeouts, TLS) and pass it to [`from_pool`](Self::from_pool), for
/// instance the one `rocket_db_pools` manages:
///
/// ```rust,no_run
/// use rocket_keepsake::{store::PostgresStore, Keepsake};
///
/// # fn main() -> Result<(), sqlx::Error> {
/// let store = PostgresStore::new("postgres://postgres@127.0.0.1/test")?.with_table("sessions");
/// let rocket = rocket::build().attach(Keepsake::with_store(store));
///
/// // Sharing a pool: `PostgresStore::from_pool(pool.clone())`, where `pool` is a
/// // `sqlx::PgPool` (with rocket_db_pools, the `sqlx::PgPool` inside your
/// // `#[derive(Database)]` struct, e.g. in an `AdHoc::on_ignite` after it).
/// # Ok(()) }
/// ```
///
/// An `#[session(index)]` key gets an expression index on `(data -> 'key')`, made on
/// first use, which [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) uses.
pub struct PostgresStore {
    /// Made on first use, inside the runtime (sqlx's pools need one).
    pool: OnceLock<PgPool>,
    /// What [`new`](Self::new) parsed, to make the pool with.
    connect: Option<PgConnectOptions>,
    table: String,
    sweep_every: Duration,
    ready: OnceCell<()>,
    /// The `#[session(index)]` keys given an SQL index.
    indexed: sql::IndexedKeys,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store for the database at `url` (e.g. `postgres://user@host/db`). Only
    /// parses the URL: connections are made on first use.
    pub fn new(url: &str) -> Result<PostgresStore, sqlx::Error> {
        let connect = PgConnectOptions::from_str(url)?;
        Ok(PostgresStore {
            connect: Some(connect),
            ..PostgresStore::from_pool_parts()
        })
    }

    fn from_pool_parts() -> PostgresStore {
        PostgresStore {
            pool: OnceLock::new(),
            connect: None,
            table: sql::DEFAULT_TABLE.into(),
            sweep_every: sql::DEFAULT_SWEEP,
            ready: OnceCell::new(),
            indexed: sql::IndexedKeys::default(),
        }
    }

    /// The pool: the app's own, or one made from the URL on first use.
    fn pool(&self) -> &PgPool {
        self.pool.get_or_init(|| {
            PgPoolOptions::new()
                .max_connections(sql::MAX_CONNECTIONS)
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_lazy_with(self.connect.clone().unwrap_or_default())
        })
    }

    /// A store over a pool the app already has.
    pub fn from_pool(pool: PgPool) -> PostgresStore {
        PostgresStore {
            pool: OnceLock::from(pool),
            ..PostgresStore::from_pool_parts()
        }
    }

    /// Keeps sessions in table `name` (letters, digits and `_`). Default:
    /// `keepsake_sessions`.
    pub fn with_table(mut self, name: impl Into<String>) -> PostgresStore {
        self.table = name.into();
        self
    }

    /// Sweeps expired rows this often; `Duration::ZERO` never. Default: 5 minutes.
    pub fn with_sweep_interval(mut self, every: Duration) -> PostgresStore {
        self.sweep_every = every;
        self
    }

    /// Deletes expired rows now, in batches; how many. Skipped (0) while another
    /// process sweeps the same table.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        self.ready().await?;
        sweep(self.pool(), &self.table).await
    }

    /// Gives each of `keys` an expression index over its value, once per process.
    async fn index(&self, keys: &[String]) {
        let t = &self.table;
        let ddl = |key: &str| {
            let name = sql::index_name(t, key);
            let value = sql::literal(key);
            Ok(format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {t} ((data -> {value}))"
            ))
        };
        let run = |statement: String| async move {
            sqlx::query(&statement).execute(self.pool()).await.map(drop)
        };
        self.indexed.ensure(STORE, keys, ddl, run).await;
    }

    /// Creates the table if missing (once, under an advisory lock, so that processes
    /// starting together do not race) and starts the sweep.
    async fn ready(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                check_table(&self.table).map_err(|e| StoreError::new(STORE, e))?;
                let t = &self.table;
                let mut tx = self.pool().begin().await.map_err(|e| failed(STORE, e))?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(format!("keepsake create {t}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| failed(STORE, e))?;
                for statement in [
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, data JSONB NOT NULL, \
                         expires_at TIMESTAMPTZ NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at)"),
                ] {
                    sqlx::query(&statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| failed(STORE, e))?;
                }
                tx.commit().await.map_err(|e| failed(STORE, e))?;
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

async fn sweep(pool: &PgPool, table: &str) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await.map_err(|e| failed(STORE, e))?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
        .bind(format!("keepsake sweep {table}"))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| failed(STORE, e))?;
    if !locked {
        return Ok(0);
    }
    let statement = format!(
        "DELETE FROM {table} WHERE id IN \
         (SELECT id FROM {table} WHERE expires_at <= now() LIMIT $1)"
    );
    let mut removed = 0;
    loop {
        let done = sqlx::query(&statement)
            .bind(sql::SWEEP_BATCH)
            .execute(&mut *tx)
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        removed += done;
        if done < sql::SWEEP_BATCH as u64 {
            break;
        }
    }
    tx.commit().await.map_err(|e| failed(STORE, e))?;
    Ok(removed)
}

fn seconds(ttl: Duration) -> f64 {
    sql::millis(ttl) as f64 / 1000.0
}

#[rocket::async_trait]
impl SessionStore for PostgresStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        self.ready().await?;
        let statement = format!(
            "SELECT data::text FROM {} WHERE id = $1 AND expires_at > now()",
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
        let statement = if changes.create {
            format!(
                "INSERT INTO {t} AS s (id, data, expires_at) \
                 VALUES ($1, $2::jsonb - $3::text[], now() + make_interval(secs => $4)) \
                 ON CONFLICT (id) DO UPDATE SET data = (s.data || $2::jsonb) - $3::text[], \
                 expires_at = EXCLUDED.expires_at \
                 RETURNING data = '{{}}'::jsonb"
            )
        } else {
            format!(
                "UPDATE {t} SET data = (data || $2::jsonb) - $3::text[], \
                 expires_at = now() + make_interval(secs => $4) \
                 WHERE id = $1 AND expires_at > now() RETURNING data = '{{}}'::jsonb"
            )
        };
        let emptied: Option<bool> = sqlx::query(&statement)
            .bind(id.as_str())
            .bind(sql::set_object(changes))
            .bind(&changes.removed)
            .bind(seconds(ttl))
            .fetch_optional(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .map(|row| row.get(0));
        match emptied {
            None => Ok(Saved::Gone),
            Some(true) => {
                let statement = format!("DELETE FROM {t} WHERE id = $1 AND data = '{{}}'::jsonb");
                sqlx::query(&statement)
                    .bind(id.as_str())
                    .execute(self.pool())
                    .await
                    .map_err(|e| failed(STORE, e))?;
                Ok(Saved::Done)
            }
            Some(false) => Ok(Saved::Done),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.ready().await?;
        sqlx::query(&format!("DELETE FROM {} WHERE id = $1", self.table))
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
            "UPDATE {} SET id = $2, expires_at = now() + make_interval(secs => $3) \
             WHERE id = $1 AND expires_at > now()",
            self.table
        );
        let moved = sqlx::query(&statement)
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(seconds(ttl))
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        Ok(if moved == 1 { Saved::Done } else { Saved::Gone })
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        self.ready().await?;
        self.index(&[key.to_owned()]).await;
        let statement = format!(
            "DELETE FROM {} WHERE data -> {} = $1::jsonb AND expires_at > now()",
            self.table,
            sql::literal(key)
        );
        let ended = sqlx::query(&statement)
            .bind(value)
            .execute(self.pool())
            .await
            .map_err(|e| failed(STORE, e))?
            .rows_affected();
        Ok(usize::try_from(ended).unwrap_or(usize::MAX))
    }
}
