//! MySQL's and MariaDB's SQL: the record as JSON, time as `DATETIME(6)`.

use super::{index_name, literal, path, BadKey, Changes, Count, Engine, Sql};

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
/// (`JSON_REMOVE(JSON_SET(data, ..), ..)`); see [`SqlStore`](super::SqlStore) for what that
/// guarantees. One process at a time sweeps, under `GET_LOCK`. Time is the
/// database's `NOW(6)`. [`new`](super::SqlStore::new) takes `mysql://` URLs, and
/// `mariadb://` as `mysql://`.
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
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub type MySqlStore = super::SqlStore<MySql>;

engine! {
    /// MySQL and MariaDB, the [`Engine`] of `MySqlStore` (feature `mysql`).
    MySql
}

impl Engine for MySql {
    const NAME: &'static str = "mysql";
    const NOW: &'static str = "NOW(6)";
    const EXPIRES: &'static str = "NOW(6) + INTERVAL (? * 1000) MICROSECOND";
    const DATA: &'static str = "CAST(data AS CHAR)";
    const OBJECT: &'static str = "?";
    const EMPTY: &'static str = "JSON_LENGTH(data) = 0";
    const SWEEP_LOCK: Option<(&'static str, &'static str)> =
        Some(("SELECT GET_LOCK(?, 0)", "SELECT RELEASE_LOCK(?)"));

    const COUNT: Count = Count::After("SELECT ROW_COUNT()");

    fn create(t: &str) -> Vec<String> {
        // `IF NOT EXISTS` is atomic on MySQL and MariaDB: no lock needed.
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id VARCHAR(64) NOT NULL PRIMARY KEY, \
             data JSON NOT NULL, expires_at DATETIME(6) NOT NULL, \
             INDEX {t}_expires (expires_at))"
        )]
    }

    fn flask_create(t: &str) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER NOT NULL AUTO_INCREMENT, \
             session_id VARCHAR(255), data BLOB, expiry DATETIME, PRIMARY KEY (id), \
             UNIQUE (session_id))"
        )]
    }

    const FLASK_NOW: &'static str = "UTC_TIMESTAMP()";
    // SQLAlchemy's `LargeBinary` is a `BLOB` here.
    const FLASK_MAX_DATA: usize = 65_535;

    fn sweep(t: &str) -> String {
        format!("DELETE FROM {t} WHERE expires_at <= NOW(6) LIMIT ?")
    }

    fn changed<'a>(sql: &mut Sql<'a>, changes: &'a Changes) -> Result<(), BadKey> {
        let functions = ["JSON_SET", "JSON_EXTRACT(?, '$')", "JSON_REMOVE"];
        super::set_and_remove::<Self>(sql, functions, changes)
    }

    /// A virtual column of the value's first 190 characters, with an index: MariaDB's
    /// syntax (MySQL scans instead).
    fn index(t: &str, key: &str) -> Result<String, BadKey> {
        let (column, value) = (index_name(t, key), Self::value_of(key)?);
        Ok(format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {column} VARCHAR(190) AS \
             (LEFT(JSON_UNQUOTE({value}), 190)) VIRTUAL, ADD INDEX IF NOT EXISTS {column} ({column})"
        ))
    }

    fn value_of(key: &str) -> Result<String, BadKey> {
        // As text, written by the same function as `MATCH`: MariaDB compares a string
        // taken from a JSON column unquoted, so two JSON values never equal there.
        Ok(format!(
            "CONCAT(JSON_EXTRACT(data, {}))",
            literal(&path::<Self>(key)?)
        ))
    }

    const MATCH: &'static str = "CONCAT(JSON_EXTRACT(?, '$'))";

    // MariaDB's JSON_VALID refuses lone surrogate escapes.
    const ESCAPES: bool = true;

    /// The column narrows the rows through its index; the JSON decides.
    fn narrow(t: &str, key: &str) -> Option<String> {
        Some(format!(
            "{} = LEFT(JSON_UNQUOTE(?), 190)",
            index_name(t, key)
        ))
    }
}

#[cfg(feature = "mysql")]
impl super::Driver for MySql {
    type Db = sqlx::MySql;

    fn connect(url: &str) -> Result<super::pool::Connect<sqlx::MySql>, sqlx::Error> {
        let options = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}").parse()?,
            None => url.parse()?,
        };
        Ok((super::pool::options(), options))
    }
}
