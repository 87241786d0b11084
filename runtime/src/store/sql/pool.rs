//! The pools of the stores built from a URL or handed a pool ([`SqlStore::new`],
//! [`SqlStore::from_pool`]): sqlx 0.8, whose engines this build names by feature.

use std::sync::{Arc, OnceLock};

use rocket::futures::future::BoxFuture;
use sqlx::pool::{PoolConnection, PoolOptions};

use super::run::{sqlx_run, Connection, Connections, DbError};
use super::{Bind, Engine, SqlStore};

sqlx_run!(for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,);

/// A database's statement arguments, as sqlx 0.8 names them.
type Arguments<'q, DB> = <DB as sqlx::Database>::Arguments<'q>;

/// The options a store's own pool connects with.
pub(crate) type ConnectOptions<DB> =
    <<DB as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// How long a request waits for a pooled connection before its session store is
/// unavailable (a 503), unless the pool is the app's own.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A store's own pool, as [`Driver::connect`] describes it before connecting.
pub(crate) type Connect<DB> = (PoolOptions<DB>, ConnectOptions<DB>);

/// Connections per pool unless the pool is the app's own.
const MAX_CONNECTIONS: u32 = 10;

/// A store's own pool: at most [`MAX_CONNECTIONS`], waiting [`ACQUIRE_TIMEOUT`].
pub(crate) fn options<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// An [`Engine`] that this build runs on sqlx 0.8, by its cargo feature: the ones a
/// store can be built for from a URL or a pool.
pub trait Driver: Engine {
    /// The sqlx database.
    #[doc(hidden)]
    type Db: RowsAffected;

    /// The pool and connection options for the database at `url`.
    #[doc(hidden)]
    fn connect(url: &str) -> Result<Connect<Self::Db>, sqlx::Error>;
}

impl<E: Driver> SqlStore<E> {
    /// A store for the database at `url` (`postgres://user@host/db`,
    /// `mysql://user@host/db`, `sqlite://path/to/file.db`, …). Only parses the URL:
    /// connections are made on first use.
    pub fn new(url: &str) -> Result<Self, sqlx::Error> {
        let (pool, options) = E::connect(url)?;
        let lazy = Pool::Lazy(OnceLock::new(), pool, options);
        Ok(SqlStore::with_connections(Arc::new(lazy)))
    }

    /// A store over a sqlx 0.8 pool the app already has.
    pub fn from_pool(pool: sqlx::Pool<E::Db>) -> Self {
        SqlStore::with_connections(Arc::new(Pool::Given(pool)))
    }
}

/// A sqlx 0.8 database whose results say how many rows a statement changed.
#[doc(hidden)]
pub trait RowsAffected: Run {
    /// The rows `result`'s statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

macro_rules! rows_affected {
    ($($feature:literal => $db:ty),*) => {$(
        #[cfg(feature = $feature)]
        impl RowsAffected for $db {
            fn rows_affected(result: &Self::QueryResult) -> u64 {
                result.rows_affected()
            }
        }
    )*};
}

rows_affected!(
    "postgres" => sqlx::Postgres,
    "mysql" => sqlx::MySql,
    "sqlite" => sqlx::Sqlite
);

/// A store's pool.
enum Pool<DB: sqlx::Database> {
    /// The app's own.
    Given(sqlx::Pool<DB>),
    /// Made on first use from what [`SqlStore::new`] parsed, inside the runtime
    /// (sqlx's pools need one).
    Lazy(
        OnceLock<sqlx::Pool<DB>>,
        PoolOptions<DB>,
        ConnectOptions<DB>,
    ),
}

impl<DB: sqlx::Database> Pool<DB> {
    fn get(&self) -> &sqlx::Pool<DB> {
        match self {
            Pool::Given(pool) => pool,
            Pool::Lazy(made, pool, options) => {
                made.get_or_init(|| pool.clone().connect_lazy_with(options.clone()))
            }
        }
    }
}

impl<DB: RowsAffected> Connections for Pool<DB> {
    fn acquire(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, DbError>> {
        Box::pin(async move {
            let con = self.get().acquire().await;
            let con = con.map_err(DbError::before_sending)?;
            Ok(Box::new(con) as Box<dyn Connection>)
        })
    }

    fn is_closed(&self) -> bool {
        self.get().is_closed()
    }
}

impl<DB: RowsAffected> Connection for PoolConnection<DB> {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<u64, DbError>> {
        Box::pin(async move {
            let done = DB::run(self, sql, binds).await?;
            Ok(DB::rows_affected(&done))
        })
    }

    fn fetch_text<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<String>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_text(self, sql, binds).await?) })
    }

    fn fetch_pairs<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_pairs(self, sql, binds).await?) })
    }

    fn fetch_bytes<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_bytes(self, sql, binds).await?) })
    }

    fn fetch_int<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<i64>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_int(self, sql, binds).await?) })
    }

    fn transaction<'a>(
        &'a mut self,
        statements: &'a [String],
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(DB::transaction(self, statements).await?) })
    }
}
