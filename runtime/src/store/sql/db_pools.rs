//! Sessions in an app's own rocket_db_pools database, for
//! [`Keepsake::with_db`](crate::Keepsake::with_db): its sqlx 0.7 pool, of an engine
//! this crate knows only by the name sqlx gives it, so that the app's own
//! rocket_db_pools features pick the driver (and the one `libsqlite3-sys`).

use std::sync::Arc;

use rocket::futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx07 as sqlx;

use super::run::{sqlx_run, Connection, Connections, DbError};
use super::{sealed, Bind, Count, Engine, MySql, Postgres, SqlStore, Sqlite};
use crate::store::SessionStore;

sqlx_run!(
    for<'q> <DB as sqlx::database::HasArguments<'q>>::Arguments: sqlx::IntoArguments<'q, DB>,
);

/// A database's statement arguments, as sqlx 0.7 names them.
type Arguments<'q, DB> = <DB as sqlx::database::HasArguments<'q>>::Arguments;

/// The pool of a rocket_db_pools database that [`Keepsake::with_db`] can keep
/// sessions in: a sqlx 0.7 `Pool` of PostgreSQL, MySQL/MariaDB or SQLite, such as
/// `rocket_db_pools::sqlx::PgPool`. Sealed.
///
/// [`Keepsake::with_db`]: crate::Keepsake::with_db
pub trait SessionPool: Send + Sync + 'static + sealed::Sealed {
    /// A store of sessions in `table` of this pool's database, through this pool; the
    /// engine's name if this crate has no SQL for it.
    #[doc(hidden)]
    fn session_store(&self, table: Option<&str>) -> Result<Arc<dyn SessionStore>, &'static str>;
}

impl<DB: sqlx::Database> sealed::Sealed for sqlx::Pool<DB> {}

impl<DB: Run> SessionPool for sqlx::Pool<DB> {
    fn session_store(&self, table: Option<&str>) -> Result<Arc<dyn SessionStore>, &'static str> {
        match DB::NAME {
            "PostgreSQL" => Ok(store::<Postgres, DB>(self, table)),
            "MySQL" => Ok(store::<MySql, DB>(self, table)),
            "SQLite" => Ok(store::<Sqlite, DB>(self, table)),
            other => Err(other),
        }
    }
}

/// The store that speaks `E`'s SQL through `pool`.
fn store<E: Engine, DB: Run>(pool: &sqlx::Pool<DB>, table: Option<&str>) -> Arc<dyn SessionStore> {
    let db = Counted {
        pool: pool.clone(),
        count: E::COUNT,
    };
    let store = SqlStore::<E>::with_connections(Arc::new(db));
    match table {
        Some(table) => Arc::new(store.with_table(table)),
        None => Arc::new(store),
    }
}

/// A sqlx 0.7 pool whose statements' changed rows are counted through SQL: the
/// results of a database known only by name do not say.
struct Counted<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    count: Count,
}

/// A connection of a [`Counted`] pool.
struct CountedConnection<DB: sqlx::Database> {
    con: PoolConnection<DB>,
    count: Count,
}

impl<DB: Run> Connections for Counted<DB> {
    fn acquire(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, DbError>> {
        Box::pin(async move {
            let con = self.pool.acquire().await;
            let con = con.map_err(DbError::before_sending)?;
            let count = self.count;
            Ok(Box::new(CountedConnection { con, count }) as Box<dyn Connection>)
        })
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

impl<DB: Run> Connection for CountedConnection<DB> {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<u64, DbError>> {
        Box::pin(async move {
            let changed = match self.count {
                Count::Returning => {
                    let counted =
                        format!("WITH changed AS ({sql} RETURNING 1) SELECT count(*) FROM changed");
                    DB::fetch_int(&mut self.con, &counted, binds).await?
                }
                Count::After(query) => {
                    DB::run(&mut self.con, sql, binds).await?;
                    DB::fetch_int(&mut self.con, query, &[]).await?
                }
            };
            Ok(changed.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
        })
    }

    fn fetch_text<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<String>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_text(&mut self.con, sql, binds).await?) })
    }

    fn fetch_pairs<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_pairs(&mut self.con, sql, binds).await?) })
    }

    fn fetch_bytes<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_bytes(&mut self.con, sql, binds).await?) })
    }

    fn fetch_int<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<i64>, DbError>> {
        Box::pin(async move { Ok(DB::fetch_int(&mut self.con, sql, binds).await?) })
    }

    fn transaction<'a>(
        &'a mut self,
        statements: &'a [String],
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(DB::transaction(&mut self.con, statements).await?) })
    }
}
