//! Running statements: the pool and the connections an [`SqlStore`](super::SqlStore)
//! talks to, whichever sqlx they are of: 0.8 for the stores built from a URL or a
//! pool, 0.7 for an app's rocket_db_pools database. The store's logic is written once,
//! against these two traits.

use rocket::futures::future::BoxFuture;

use super::Bind;

/// What the database driver said went wrong, and whether a statement it was running
/// may still have been applied.
#[derive(Debug)]
pub(crate) struct DbError {
    /// The statement was sent and its answer lost (the connection broke): it may
    /// have been applied.
    pub(crate) outcome_unknown: bool,
    pub(crate) source: Box<dyn std::error::Error + Send + Sync>,
}

impl DbError {
    /// A failure before anything was sent: taking a connection, or connecting.
    pub(crate) fn before_sending(
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DbError {
        DbError {
            outcome_unknown: false,
            source: Box::new(source),
        }
    }
}

/// A pool of connections to one database.
pub(crate) trait Connections: Send + Sync + 'static {
    /// A connection, within the pool's acquire timeout.
    fn acquire(&self) -> BoxFuture<'_, Result<Box<dyn Connection>, DbError>>;

    /// The pool was closed: the sweep stops.
    fn is_closed(&self) -> bool;
}

/// One connection, taken from a pool until dropped.
pub(crate) trait Connection: Send {
    /// Runs `sql`; the rows it changed.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<u64, DbError>>;

    /// The first column of the first row of `sql`, as text.
    fn fetch_text<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<String>, DbError>>;

    /// The first two columns of every row of `sql`, as text.
    fn fetch_pairs<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, DbError>>;

    /// The first column of the first row of `sql`, as bytes.
    fn fetch_bytes<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, DbError>>;

    /// The first column of the first row of `sql`, as an integer.
    fn fetch_int<'a>(
        &'a mut self,
        sql: &'a str,
        binds: &'a [Bind<'a>],
    ) -> BoxFuture<'a, Result<Option<i64>, DbError>>;

    /// Runs `statements`, which bind nothing, in order in one transaction.
    fn transaction<'a>(
        &'a mut self,
        statements: &'a [String],
    ) -> BoxFuture<'a, Result<(), DbError>>;
}

/// Whether SQLSTATE `code` says the server ended the connection or the statement from
/// outside (class 08, connection exception; 57, operator intervention, as a shutdown;
/// MySQL's 70100, query interrupted): whatever the statement did may have been
/// committed before the answer was lost.
pub(crate) fn connection_ended(code: &str) -> bool {
    // 57014 is a statement cancelled by a time limit: rolled back.
    code.starts_with("08") || (code.starts_with("57") && code != "57014") || code == "70100"
}

/// Declares, in the module that calls it, `trait Run`: statements with [`Bind`]
/// values run on any database of the `sqlx` in scope there, over sqlx's generic
/// traits. sqlx 0.7 and 0.8 differ only in how a database names its arguments type:
/// the module names it `Arguments<'q, DB>`, and gives the bound that makes it usable.
macro_rules! sqlx_run {
    ($($arguments:tt)*) => {
        /// A statement's failure: the database answered with an error (nothing was
        /// applied), or the connection broke after it was sent, or the server ended it
        /// (a shutdown, a killed backend): then it may have been applied.
        impl From<sqlx::Error> for super::run::DbError {
            fn from(error: sqlx::Error) -> super::run::DbError {
                let outcome_unknown = match &error {
                    sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
                        true
                    }
                    sqlx::Error::Database(e) => {
                        e.code().is_some_and(|code| super::run::connection_ended(&code))
                    }
                    _ => false,
                };
                super::run::DbError {
                    outcome_unknown,
                    source: Box::new(error),
                }
            }
        }

        /// Runs statements with [`Bind`](super::Bind) values on one sqlx database:
        /// written once for every engine, over sqlx's generic traits.
        #[doc(hidden)]
        pub trait Run: sqlx::Database {
            /// `sql` with `binds` bound to its placeholders, in order.
            fn query<'a>(
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> sqlx::query::Query<'a, Self, Arguments<'a, Self>>;

            /// Runs `sql`.
            fn run<'a>(
                con: &'a mut Self::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Self::QueryResult, sqlx::Error>>;

            /// The first row of `sql`.
            fn fetch_row<'a>(
                con: &'a mut Self::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<Self::Row>, sqlx::Error>>;

            /// The first column of the first row of `sql`, as text.
            fn fetch_text<'a>(
                con: &'a mut Self::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<String>, sqlx::Error>>;

            /// The first two columns of every row of `sql`, as text.
            fn fetch_pairs<'a>(
                con: &'a mut Self::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Vec<(String, String)>, sqlx::Error>>;

            /// The first column of the first row of `sql`, as bytes.
            fn fetch_bytes<'a>(
                con: &'a mut Self::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<Vec<u8>>, sqlx::Error>>;

            /// The first column of the first row of `sql`, as an integer.
            fn fetch_int<'a>(
                con: &'a mut Self::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<i64>, sqlx::Error>>;

            /// Runs `statements` in order in one transaction.
            fn transaction<'a>(
                con: &'a mut Self::Connection,
                statements: &'a [String],
            ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
        }

        impl<DB> Run for DB
        where
            DB: sqlx::Database,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
            $($arguments)*
            for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
            String: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
            for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            Vec<u8>: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
            usize: sqlx::ColumnIndex<DB::Row>,
        {
            fn query<'a>(
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> sqlx::query::Query<'a, DB, Arguments<'a, DB>> {
                binds.iter().fold(sqlx::query(sql), |query, bind| match bind {
                    super::Bind::Text(text) => query.bind(text.as_ref()),
                    super::Bind::Int(int) => query.bind(*int),
                    super::Bind::Bytes(bytes) => query.bind(*bytes),
                })
            }

            fn run<'a>(
                con: &'a mut DB::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<DB::QueryResult, sqlx::Error>> {
                Box::pin(Self::query(sql, binds).execute(con))
            }

            fn fetch_row<'a>(
                con: &'a mut DB::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<DB::Row>, sqlx::Error>> {
                Box::pin(Self::query(sql, binds).fetch_optional(con))
            }

            fn fetch_text<'a>(
                con: &'a mut DB::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<String>, sqlx::Error>> {
                Box::pin(async move {
                    let row = Self::fetch_row(con, sql, binds).await?;
                    row.map(|row| sqlx::Row::try_get::<String, _>(&row, 0))
                        .transpose()
                })
            }

            fn fetch_pairs<'a>(
                con: &'a mut DB::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Vec<(String, String)>, sqlx::Error>> {
                Box::pin(async move {
                    let rows = Self::query(sql, binds).fetch_all(con).await?;
                    rows.iter()
                        .map(|row| Ok((sqlx::Row::try_get(row, 0)?, sqlx::Row::try_get(row, 1)?)))
                        .collect()
                })
            }

            fn fetch_bytes<'a>(
                con: &'a mut DB::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<Vec<u8>>, sqlx::Error>> {
                Box::pin(async move {
                    let row = Self::fetch_row(con, sql, binds).await?;
                    row.map(|row| sqlx::Row::try_get::<Vec<u8>, _>(&row, 0))
                        .transpose()
                })
            }

            fn fetch_int<'a>(
                con: &'a mut DB::Connection,
                sql: &'a str,
                binds: &'a [super::Bind<'a>],
            ) -> BoxFuture<'a, Result<Option<i64>, sqlx::Error>> {
                Box::pin(async move {
                    let row = Self::fetch_row(con, sql, binds).await?;
                    let int = row.map(|row| sqlx::Row::try_get::<Option<i64>, _>(&row, 0));
                    int.transpose().map(Option::flatten)
                })
            }

            fn transaction<'a>(
                con: &'a mut DB::Connection,
                statements: &'a [String],
            ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let mut tx = sqlx::Connection::begin(con).await?;
                    for statement in statements {
                        sqlx::query(statement).execute(&mut *tx).await?;
                    }
                    tx.commit().await
                })
            }
        }
    };
}

pub(super) use sqlx_run;

#[cfg(test)]
mod tests {
    #[test]
    fn a_connection_ended_by_the_server_may_have_applied_the_statement() {
        for code in ["08006", "57P01", "57P02", "70100"] {
            assert!(super::connection_ended(code), "{code}");
        }
        for code in ["23505", "42P01", "57014", "22P05"] {
            assert!(!super::connection_ended(code), "{code}");
        }
    }
}
