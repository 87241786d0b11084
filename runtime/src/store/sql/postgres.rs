//! PostgreSQL's SQL: the record as JSONB, time as `TIMESTAMPTZ`.

use super::{literal, BadKey, Bind, Changes, Count, Engine, Sql};

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
/// (`data = (data || $set) - $key …`); see [`SqlStore`](super::SqlStore) for what that guarantees.
/// The table is created under an advisory lock, so that processes starting together
/// do not race, and one process at a time sweeps, under another. Time is the
/// database's `now()`.
///
/// ```rust,no_run
/// use rocket_keepsake::{store::PostgresStore, Keepsake};
///
/// # fn main() -> Result<(), sqlx::Error> {
/// let store = PostgresStore::new("postgres://postgres@127.0.0.1/test")?.with_table("sessions");
/// let rocket = rocket::build().attach(Keepsake::with_store(store));
///
/// // Your own pool (sizes, timeouts, TLS): `PostgresStore::from_pool(pool)`, where
/// // `pool` is a sqlx 0.8 `sqlx::PgPool`.
/// # Ok(()) }
/// ```
///
/// An `#[session(index)]` key gets an expression index on `(data -> 'key')`, made on
/// first use, which [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) uses.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub type PostgresStore = super::SqlStore<Postgres>;

engine! {
    /// PostgreSQL, the [`Engine`] of `PostgresStore` (feature `postgres`).
    Postgres
}

impl Engine for Postgres {
    const NAME: &'static str = "postgres";
    const NUMBERED: bool = true;
    const NOW: &'static str = "now()";
    const EXPIRES: &'static str = "now() + make_interval(secs => ?::int8 / 1000.0)";
    const DATA: &'static str = "data::text";
    const OBJECT: &'static str = "?::jsonb";
    const EMPTY: &'static str = "data = '{}'::jsonb";
    const SWEEP_LOCK: Option<(&'static str, &'static str)> = Some((
        "SELECT CASE WHEN pg_try_advisory_lock(hashtext(?)) THEN 1::int8 ELSE 0::int8 END",
        "SELECT pg_advisory_unlock(hashtext(?))::int::int8",
    ));

    const COUNT: Count = Count::Returning;

    fn create(t: &str) -> Vec<String> {
        vec![
            format!(
                "SELECT pg_advisory_xact_lock(hashtext({}))",
                literal(&format!("keepsake create {t}"))
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, data JSONB NOT NULL, \
                 expires_at TIMESTAMPTZ NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at)"),
        ]
    }

    fn flask_create(t: &str) -> Vec<String> {
        vec![
            format!(
                "SELECT pg_advisory_xact_lock(hashtext({}))",
                literal(&format!("keepsake create {t}"))
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (id SERIAL NOT NULL, session_id VARCHAR(255), \
                 data BYTEA, expiry TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id), \
                 UNIQUE (session_id))"
            ),
        ]
    }

    const FLASK_NOW: &'static str = "(now() AT TIME ZONE 'UTC')";
    const FLASK_TIME: &'static str = "CAST(? AS TIMESTAMP)";

    fn sweep(t: &str) -> String {
        format!(
            "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= now() LIMIT ?)"
        )
    }

    fn changed<'a>(sql: &mut Sql<'a>, changes: &'a Changes) -> Result<(), BadKey> {
        // `||` merges the set keys in as one object; `-` drops one key at a time.
        sql.push("(data");
        if !changes.set.is_empty() {
            let object = super::set_object(changes);
            let object = Self::json_in(&object).into_owned();
            sql.push(" || ?::jsonb").bind(Bind::Text(object.into()));
        }
        sql.push(")");
        for key in &changes.removed {
            sql.push(" - ?::text").bind(Bind::Text(Self::key_in(key)));
        }
        Ok(())
    }

    // jsonb refuses `\u0000` and lone surrogate escapes.
    const ESCAPES: bool = true;

    fn value_of(key: &str) -> Result<String, BadKey> {
        // The key as a literal, so that the expression index serves the query.
        Ok(format!("data -> {}", literal(key)))
    }

    const MATCH: &'static str = "?::jsonb";
}

#[cfg(feature = "postgres")]
impl super::Driver for Postgres {
    type Db = sqlx::Postgres;

    fn connect(url: &str) -> Result<super::pool::Connect<sqlx::Postgres>, sqlx::Error> {
        Ok((super::pool::options(), url.parse()?))
    }
}
