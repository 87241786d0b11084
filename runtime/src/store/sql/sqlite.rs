//! SQLite's SQL: the record as JSON1 text, time as unix milliseconds.

use super::{literal, path, BadKey, Changes, Count, Engine, Sql};

/// Records in an SQLite database file, on sqlx: embedded (nothing to run) and, unlike
/// [`MemoryStore`](crate::store::MemoryStore), kept across restarts. One row per
/// session in a table (default `keepsake_sessions`) created on first use:
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
/// (`json_remove(json_set(data, ..), ..)`); see [`SqlStore`](super::SqlStore) for what that
/// guarantees. [`new`](super::SqlStore::new) takes `sqlite://path/to/file.db` (created if
/// missing, opened in WAL mode) or `sqlite::memory:`, which keeps one in-memory
/// database on one connection. Time is the database's clock.
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
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub type SqliteStore = super::SqlStore<Sqlite>;

engine! {
    /// SQLite, the [`Engine`] of `SqliteStore` (feature `sqlite`).
    Sqlite
}

/// Now, in unix milliseconds, by SQLite's clock.
macro_rules! now {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}

impl Engine for Sqlite {
    const NAME: &'static str = "sqlite";
    const NOW: &'static str = now!();
    const EXPIRES: &'static str = concat!(now!(), " + ?");
    const DATA: &'static str = "data";
    const ONE_WRITER: bool = true;
    const OBJECT: &'static str = "?";
    const EMPTY: &'static str = "data = '{}'";

    const COUNT: Count = Count::After("SELECT changes()");

    fn create(t: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, \
                 data TEXT NOT NULL CHECK (json_valid(data)), expires_at INTEGER NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at)"),
        ]
    }

    fn flask_create(t: &str) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER NOT NULL, session_id VARCHAR(255), \
             data BLOB, expiry DATETIME, PRIMARY KEY (id), UNIQUE (session_id))"
        )]
    }

    // SQLAlchemy keeps a SQLite `DateTime` as text, `YYYY-MM-DD HH:MM:SS.ffffff`.
    const FLASK_NOW: &'static str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

    fn sweep(t: &str) -> String {
        format!(
            "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= {} LIMIT ?)",
            now!()
        )
    }

    fn changed<'a>(sql: &mut Sql<'a>, changes: &'a Changes) -> Result<(), BadKey> {
        super::set_and_remove::<Self>(sql, ["json_set", "json(?)", "json_remove"], changes)
    }

    fn value_of(key: &str) -> Result<String, BadKey> {
        Ok(format!(
            "json_extract(data, {})",
            literal(&path::<Self>(key)?)
        ))
    }

    const MATCH: &'static str = "json_extract(?, '$')";
}

#[cfg(feature = "sqlite")]
impl super::Driver for Sqlite {
    type Db = sqlx::Sqlite;

    fn connect(url: &str) -> Result<super::pool::Connect<sqlx::Sqlite>, sqlx::Error> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

        let options = url
            .parse::<SqliteConnectOptions>()?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = super::pool::options();
        let pool = if url.contains(":memory:") || url.contains("mode=memory") {
            // Each connection would get its own empty database: keep one, forever.
            pool.max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool
        };
        Ok((pool, options))
    }
}
