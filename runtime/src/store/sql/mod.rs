//! The SQL stores: one store, [`SqlStore`], over an [`Engine`] that holds only the SQL
//! its database speaks (PostgreSQL, MySQL/MariaDB, SQLite), the way Rocket's db_pools
//! serves every sqlx engine from one generic implementation.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use rocket::tokio::sync::OnceCell;

#[cfg(feature = "rocket_db_pools")]
pub use self::db_pools::SessionPool;
pub use self::mysql::MySql;
#[cfg(feature = "mysql")]
pub use self::mysql::MySqlStore;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use self::pool::Driver;
pub use self::postgres::Postgres;
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
use self::run::{Connection, Connections, DbError};
pub use self::sqlite::Sqlite;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
use super::{Changes, Fields, Loaded, Saved, SessionId, SessionStore, StoreError, StoreErrorKind};

/// The table a store uses unless told otherwise.
const DEFAULT_TABLE: &str = "keepsake_sessions";

/// How often expired rows are swept unless told otherwise.
const DEFAULT_SWEEP: Duration = Duration::from_secs(5 * 60);

/// How long one round trip may take unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Rows deleted per sweep statement, so that no sweep holds locks for long.
const SWEEP_BATCH: i64 = 1000;

/// The SQL one database engine speaks, for [`SqlStore`]: statement texts and the
/// pieces they are made of, nothing that runs them. Implemented by [`Postgres`],
/// [`MySql`] and [`Sqlite`]; sealed.
///
/// Every statement writes its placeholders as `?`, in the order of its values;
/// an engine whose placeholders are numbered gets `$1`, `$2`, … in their place.
pub trait Engine: Send + Sync + 'static + sealed::Sealed {
    /// The store's name in errors and logs.
    #[doc(hidden)]
    const NAME: &'static str;

    /// Placeholders are numbered (`$1`) rather than `?`.
    #[doc(hidden)]
    const NUMBERED: bool = false;

    /// The database's time, in the type of `expires_at`.
    #[doc(hidden)]
    const NOW: &'static str;

    /// `expires_at` for a time to live of `?` milliseconds from now.
    #[doc(hidden)]
    const EXPIRES: &'static str;

    /// The row's record as JSON object text.
    #[doc(hidden)]
    const DATA: &'static str;

    /// A bound JSON object's text (`?`) as a value of the `data` column.
    #[doc(hidden)]
    const OBJECT: &'static str;

    /// True of a row whose record has no keys left.
    #[doc(hidden)]
    const EMPTY: &'static str;

    /// The database takes one write at a time (SQLite): the store queues its writes
    /// itself, in order, instead of letting them retry against a busy database, whose
    /// backoff left some requests waiting many times longer than the rest.
    #[doc(hidden)]
    const ONE_WRITER: bool = false;

    /// Takes the sweep's lock named by `?` without waiting, giving 1 when taken, and
    /// releases it; `None` where a sweep needs no lock.
    #[doc(hidden)]
    const SWEEP_LOCK: Option<(&'static str, &'static str)> = None;

    /// How to count the rows a statement changed where the driver does not say
    /// (sqlx 0.7's results, of a database known only by its name).
    #[doc(hidden)]
    const COUNT: Count;

    /// The statements that create `table` and its expiry index if missing, run in
    /// order in one transaction.
    #[doc(hidden)]
    fn create(table: &str) -> Vec<String>;

    /// Deletes at most `?` expired rows of `table`.
    #[doc(hidden)]
    fn sweep(table: &str) -> String;

    /// Writes, as `data`'s new value, `data` with `changes` applied: the keys set,
    /// the removed ones deleted.
    #[doc(hidden)]
    fn changed<'a>(sql: &mut Sql<'a>, changes: &'a Changes) -> Result<(), BadKey>;

    /// The engine's JSON refuses `\u0000` or lone surrogate escapes: strings holding
    /// them are written escaped, and read back (see `escape.rs`).
    #[doc(hidden)]
    const ESCAPES: bool = false;

    /// JSON text as the `data` column can hold it.
    #[doc(hidden)]
    fn json_in(json: &str) -> Cow<'_, str> {
        match Self::ESCAPES {
            true => escape::to_db(json),
            false => Cow::Borrowed(json),
        }
    }

    /// A session key as [`json_in`](Engine::json_in) writes it inside `data`.
    #[doc(hidden)]
    fn key_in(key: &str) -> Cow<'_, str> {
        match Self::ESCAPES {
            true => escape::text_to_db(key),
            false => Cow::Borrowed(key),
        }
    }

    /// JSON text read from the `data` column, as it was before [`json_in`](Engine::json_in).
    #[doc(hidden)]
    fn json_out(text: String) -> String {
        match Self::ESCAPES {
            true => escape::from_db(text),
            false => text,
        }
    }

    /// Flask-Session's table (`flask_session = true`): the statements that create it
    /// if missing, as SQLAlchemy creates Flask-Session's model on this engine, so that
    /// either app may create it.
    #[doc(hidden)]
    fn flask_create(table: &str) -> Vec<String>;

    /// The current time as Flask-Session's naive UTC `expiry` holds it.
    #[doc(hidden)]
    const FLASK_NOW: &'static str;

    /// A bound naive UTC time, `YYYY-MM-DD HH:MM:SS.ffffff` (`?`), as an `expiry`.
    #[doc(hidden)]
    const FLASK_TIME: &'static str = "?";

    /// The most bytes Flask-Session's `data` column holds.
    #[doc(hidden)]
    const FLASK_MAX_DATA: usize = usize::MAX;

    /// The value of session key `key` in `data`, as an SQL expression.
    #[doc(hidden)]
    fn value_of(key: &str) -> Result<String, BadKey>;

    /// A bound JSON text (`?`) as a value [`value_of`](Engine::value_of) can equal.
    #[doc(hidden)]
    const MATCH: &'static str;

    /// The statement that indexes the sessions of `table` by the value of `key`:
    /// an expression index over [`value_of`](Engine::value_of).
    #[doc(hidden)]
    fn index(table: &str, key: &str) -> Result<String, BadKey> {
        let name = index_name(table, key);
        let value = Self::value_of(key)?;
        Ok(format!(
            "CREATE INDEX IF NOT EXISTS {name} ON {table} (({value}))"
        ))
    }

    /// A condition over the index of [`index`](Engine::index), true of every row
    /// whose `key` holds the bound JSON text (`?`), that the engine's planner cannot
    /// find by itself; `None` where the index serves [`value_of`](Engine::value_of).
    #[doc(hidden)]
    fn narrow(table: &str, key: &str) -> Option<String> {
        let _ = (table, key);
        None
    }
}

mod sealed {
    pub trait Sealed {}
}

/// How the rows a statement changed are counted through SQL, for [`Engine::COUNT`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Count {
    /// Wrap the statement in `WITH changed AS (… RETURNING 1)` and count those rows.
    Returning,
    /// Run this query next on the same connection.
    After(&'static str),
}

/// Declares an engine: a unit type, sealed, that implements [`Engine`].
macro_rules! engine {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl super::sealed::Sealed for $name {}
    };
}

#[cfg(feature = "rocket_db_pools")]
mod db_pools;
mod escape;
mod flask;
mod mysql;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod pool;
mod postgres;
mod run;
mod sqlite;

/// Records in an SQL database, one row per session: `PostgresStore`, `MySqlStore` and
/// `SqliteStore` (features `postgres`, `mysql`, `sqlite`) are this store over their
/// engine.
///
/// A save changes exactly the keys a request changed, in one statement, so concurrent
/// requests of one client that change different keys all survive, and it never
/// recreates a row another request deleted or renamed, nor one that expired. Expired
/// rows are never loaded, and are deleted in batches by a sweep off the request path
/// (every 5 minutes unless set with [`with_sweep_interval`](Self::with_sweep_interval)).
/// Time is the database's.
///
/// The pool of `new` holds at most 10 connections and waits at most
/// 2 seconds for one. Build your own pool (sizes, timeouts, TLS) and pass it to
/// `from_pool`. Taking a connection and running a statement are each bounded by
/// 2 seconds ([`with_timeout`](Self::with_timeout)), so a database that is down,
/// frozen or holding a row locked gives 503s, of two kinds in the log:
///
/// - "session not saved": no connection could be had in time, or the database
///   answered the statement with an error. Nothing was applied.
/// - "may not have been saved": no answer within the limit, or the connection was
///   ended (by the network, a shutdown, a killed backend) after the statement was
///   sent. It may have been committed, or may still be when the database resumes.
///
/// An `#[session(index)]` key gets an SQL index over its value, made on first use,
/// which [`SessionAdmin::revoke_all`](crate::SessionAdmin::revoke_all) uses.
///
/// [`flask_session`](SqlStore::flask_session) keeps sessions in Flask-Session's
/// SQLAlchemy table instead, shared with a Flask app.
pub struct SqlStore<E: Engine> {
    db: Arc<dyn Connections>,
    table: String,
    sweep_every: Duration,
    /// The time limit of one round trip.
    timeout: Duration,
    /// The queue of writes, where the database takes one at a time.
    writes: Writes,
    /// The table exists; the statements that do not change with a request.
    ready: OnceCell<Statements>,
    /// The `#[session(index)]` keys given an SQL index.
    indexed: IndexedKeys,
    /// In Flask-Session's layout ([`SqlStore::flask_session`]).
    flask: Option<flask::FlaskLayout>,
    engine: PhantomData<E>,
}

impl<E: Engine> fmt::Debug for SqlStore<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("engine", &E::NAME)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<E: Engine> SqlStore<E> {
    /// A store that runs its statements on `db`.
    fn with_connections(db: Arc<dyn Connections>) -> Self {
        SqlStore {
            db,
            table: DEFAULT_TABLE.into(),
            sweep_every: DEFAULT_SWEEP,
            timeout: DEFAULT_TIMEOUT,
            writes: Writes(E::ONE_WRITER.then(Default::default)),
            ready: OnceCell::new(),
            indexed: IndexedKeys::default(),
            flask: None,
            engine: PhantomData,
        }
    }

    /// Keeps sessions in table `name` (letters, digits and `_`). Default:
    /// `keepsake_sessions`.
    pub fn with_table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Sweeps expired rows this often; `Duration::ZERO` never. Default: 5 minutes.
    pub fn with_sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_every = every;
        self
    }

    /// Bounds taking a connection, and running a statement, by `limit` each: a
    /// database that is down or frozen, or a row locked for longer, gives a 503 within
    /// it. A connection not had in time sent nothing ("session not saved"); a
    /// statement that ran out of time may still be applied when the database resumes
    /// ("may not have been saved"). Default: 2 seconds, as
    /// [`RedisStore`](crate::store)'s.
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Deletes expired rows now, in batches; how many. Skipped (0) while another
    /// process sweeps the same table.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let statements = self.ready().await?;
        sweep::<E>(&*self.db, statements, &self.writes).await
    }

    /// Creates the table if missing (once per process) and starts the sweep.
    async fn ready(&self) -> Result<&Statements, StoreError> {
        self.ready
            .get_or_try_init(|| async {
                check_table(&self.table).map_err(|e| StoreError::new(E::NAME, e))?;
                let create: Vec<_> = E::create(&self.table)
                    .into_iter()
                    .map(numbered::<E>)
                    .collect();
                let (_, mut con) = self.connect(Work::Read).await?;
                self.bounded(con.transaction(&create)).await?;
                let statements = Statements::new::<E>(&self.table);
                let (db, writes) = (self.db.clone(), self.writes.clone());
                spawn_sweeper::<E>(db, statements.clone(), writes, self.sweep_every);
                Ok(statements)
            })
            .await
    }

    /// Gives each of `keys` an index over its value, once per process.
    async fn index(&self, keys: &[String]) {
        for key in keys {
            if self.indexed.get(key).is_some() {
                continue;
            }
            let result = match E::index(&self.table, key) {
                Ok(statement) => self.execute(&statement, &[]).await.map(drop),
                Err(e) => Err(refused::<E>(e)),
            };
            self.indexed.set(E::NAME, key, result);
        }
    }

    /// Runs one statement on a pooled connection; the rows it changed.
    async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> Result<u64, StoreError> {
        let (_turn, mut con) = self.connect(Work::Write).await?;
        self.bounded(con.execute(sql, binds)).await
    }

    /// A pooled connection, after this write's turn where writes take turns, within
    /// the store's time limit. Past it nothing was sent: the store is unavailable.
    async fn connect(
        &self,
        work: Work,
    ) -> Result<(Option<Turn<'_>>, Box<dyn Connection>), StoreError> {
        let connect = async {
            let turn = match work {
                Work::Write => self.writes.turn().await,
                Work::Read => None,
            };
            Ok((turn, self.db.acquire().await?))
        };
        match rocket::tokio::time::timeout(self.timeout, connect).await {
            Ok(connected) => connected.map_err(failed::<E>),
            Err(_) => Err(StoreError::new(
                E::NAME,
                format!("no connection within {:?}", self.timeout),
            )),
        }
    }

    /// Runs a statement sent on a connection within the store's time limit. Past it,
    /// the statement may still be applied when the database resumes: the error says
    /// so.
    async fn bounded<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, StoreError> {
        match rocket::tokio::time::timeout(self.timeout, statement).await {
            Ok(done) => done.map_err(failed::<E>),
            Err(_) => Err(StoreError::of_kind(
                E::NAME,
                StoreErrorKind::TimedOut,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }
}

/// What a connection is taken for: a write waits for its turn where writes take turns.
#[derive(Debug, Clone, Copy)]
enum Work {
    Read,
    Write,
}

/// A write's turn, held until the write is done.
type Turn<'a> = rocket::tokio::sync::MutexGuard<'a, ()>;

/// The statements that do not change with a request, written once for a table.
#[derive(Debug, Clone)]
struct Statements {
    /// The name of the sweep's lock, and the statements that take and release it.
    lock: (String, Option<(String, String)>),
    load: String,
    insert: String,
    delete: String,
    delete_if_empty: String,
    rename: String,
    sweep: String,
}

impl Statements {
    fn new<E: Engine>(t: &str) -> Statements {
        let (now, expires) = (E::NOW, E::EXPIRES);
        let sql = |text: String| numbered::<E>(text);
        Statements {
            lock: (
                format!("keepsake sweep {t}"),
                E::SWEEP_LOCK.map(|(take, release)| (sql(take.into()), sql(release.into()))),
            ),
            load: sql(format!(
                "SELECT {} FROM {t} WHERE id = ? AND expires_at > {now}",
                E::DATA
            )),
            insert: sql(format!(
                "INSERT INTO {t} (id, data, expires_at) VALUES (?, {}, {expires})",
                E::OBJECT
            )),
            delete: sql(format!("DELETE FROM {t} WHERE id = ?")),
            delete_if_empty: sql(format!("DELETE FROM {t} WHERE id = ? AND {}", E::EMPTY)),
            rename: sql(format!(
                "UPDATE {t} SET id = ?, expires_at = {expires} WHERE id = ? AND expires_at > {now}"
            )),
            sweep: sql(E::sweep(t)),
        }
    }
}

impl<E: Engine> SqlStore<E> {
    /// The text of the row's record, if the row is there and live.
    async fn load_text(&self, id: &SessionId) -> Result<Option<String>, StoreError> {
        let statements = self.ready().await?;
        let (_, mut con) = self.connect(Work::Read).await?;
        let binds = [Bind::text(id.as_str())];
        let text = self
            .bounded(con.fetch_text(&statements.load, &binds))
            .await?;
        Ok(text.map(E::json_out))
    }
}

#[rocket::async_trait]
impl<E: Engine> SessionStore for SqlStore<E> {
    async fn load(&self, id: &SessionId) -> Result<Option<Fields>, StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_load(layout, id).await;
        }
        let text = self.load_text(id).await?;
        text.map(|json| super::fields_of_object(E::NAME, &json))
            .transpose()
    }

    /// The row's JSON object as the database returns it: the engine has checked it
    /// is JSON, so the record reads it as it is, without splitting it into fields
    /// first. A row holding JSON that is not an object is an unreadable record.
    async fn load_record(&self, id: &SessionId) -> Result<Option<Loaded>, StoreError> {
        if self.flask.is_some() {
            return Ok(self.load(id).await?.map(Loaded::Fields));
        }
        match self.load_text(id).await? {
            Some(text) if text.trim_start().starts_with('{') => Ok(Some(Loaded::Object(text))),
            Some(_) => Err(StoreError::of_kind(
                E::NAME,
                super::StoreErrorKind::Unreadable,
                "the row's `data` is JSON but not an object",
            )),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_save(layout, id, changes, ttl).await;
        }
        let statements = self.ready().await?;
        if !changes.index.is_empty() {
            self.index(&changes.index).await;
        }
        let ttl = millis(ttl);
        let applied = if changes.create {
            let object = set_object(changes);
            let binds = [
                Bind::text(id.as_str()),
                Bind::Text(E::json_in(&object)),
                Bind::Int(ttl),
            ];
            self.execute(&statements.insert, &binds).await?
        } else {
            let mut sql = Sql::default();
            sql.push("UPDATE ").push(&self.table).push(" SET data = ");
            E::changed(&mut sql, changes).map_err(refused::<E>)?;
            sql.push(", expires_at = ")
                .push(E::EXPIRES)
                .bind(Bind::Int(ttl));
            sql.push(" WHERE id = ?").bind(Bind::text(id.as_str()));
            sql.push(" AND expires_at > ").push(E::NOW);
            self.execute(&numbered::<E>(sql.text), &sql.binds).await?
        };
        if applied == 0 {
            return Ok(Saved::Gone);
        }
        if !changes.removed.is_empty() {
            let binds = [Bind::text(id.as_str())];
            self.execute(&statements.delete_if_empty, &binds).await?;
        }
        Ok(Saved::Done)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_delete(layout, id).await;
        }
        let statements = self.ready().await?;
        let binds = [Bind::text(id.as_str())];
        self.execute(&statements.delete, &binds).await.map(drop)
    }

    async fn rename(
        &self,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        if let Some(layout) = &self.flask {
            return self.flask_rename(layout, from, to, ttl).await;
        }
        let statements = self.ready().await?;
        let binds = [
            Bind::text(to.as_str()),
            Bind::Int(millis(ttl)),
            Bind::text(from.as_str()),
        ];
        let moved = self.execute(&statements.rename, &binds).await?;
        Ok(if moved == 1 { Saved::Done } else { Saved::Gone })
    }

    async fn revoke_all(&self, key: &str, value: &str) -> Result<usize, StoreError> {
        self.indexes()?;
        let mut sql = Sql::default();
        sql.push("DELETE FROM ").push(&self.table);
        self.holding(&mut sql, key, value).await?;
        let ended = self.execute(&numbered::<E>(sql.text), &sql.binds).await?;
        Ok(usize::try_from(ended).unwrap_or(usize::MAX))
    }

    async fn find(&self, key: &str, value: &str) -> Result<Vec<(SessionId, Loaded)>, StoreError> {
        self.indexes()?;
        let mut sql = Sql::default();
        sql.push("SELECT id, ")
            .push(E::DATA)
            .push(" FROM ")
            .push(&self.table);
        self.holding(&mut sql, key, value).await?;
        let (_, mut con) = self.connect(Work::Read).await?;
        let rows = self
            .bounded(con.fetch_pairs(&numbered::<E>(sql.text), &sql.binds))
            .await?;
        let found = rows.into_iter().filter_map(|(id, data)| {
            let id = SessionId::from_verified(id.into_bytes())?;
            Some((id, Loaded::Object(E::json_out(data))))
        });
        Ok(found.collect())
    }
}

impl<E: Engine> SqlStore<E> {
    /// Nothing, where sessions are indexed; in Flask-Session's layout, which keeps no
    /// index, an [`Unsupported`](StoreErrorKind::Unsupported) error.
    fn indexes(&self) -> Result<(), StoreError> {
        match self.flask {
            None => Ok(()),
            Some(_) => Err(StoreError::of_kind(
                E::NAME,
                StoreErrorKind::Unsupported,
                "Flask-Session's table keeps no index of sessions",
            )),
        }
    }

    /// Adds to `sql` the condition that picks the live rows whose session key `key`
    /// holds `value` (JSON text), through the index over `key`, made if missing.
    async fn holding<'a>(
        &self,
        sql: &mut Sql<'a>,
        key: &str,
        value: &'a str,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        self.index(&[key.to_owned()]).await;
        sql.push(" WHERE ");
        let narrow = E::narrow(&self.table, key).filter(|_| self.indexed.get(key) == Some(true));
        if let Some(narrow) = narrow {
            sql.push(&narrow)
                .bind(Bind::Text(E::json_in(value)))
                .push(" AND ");
        }
        let key = E::value_of(key).map_err(refused::<E>)?;
        sql.push(&key)
            .push(" = ")
            .push(E::MATCH)
            .bind(Bind::Text(E::json_in(value)));
        sql.push(" AND expires_at > ").push(E::NOW);
        Ok(())
    }
}

/// The queue of writes where the database takes one at a time (SQLite), shared by a
/// store and its sweeper.
#[derive(Debug, Clone, Default)]
struct Writes(Option<Arc<rocket::tokio::sync::Mutex<()>>>);

impl Writes {
    /// Waits for this write's turn, where writes take turns; it lasts as long as what
    /// this returns.
    async fn turn(&self) -> Option<Turn<'_>> {
        match &self.0 {
            Some(queue) => Some(queue.lock().await),
            None => None,
        }
    }
}

/// Deletes expired rows in batches, under the engine's sweep lock if it has one, each
/// batch taking its turn among the writes where they take turns.
async fn sweep<E: Engine>(
    db: &dyn Connections,
    statements: &Statements,
    writes: &Writes,
) -> Result<u64, StoreError> {
    let (name, lock) = &statements.lock;
    let Some((take, release)) = lock else {
        // No lock: each batch takes its turn, then a connection, as a request's write.
        let mut removed = 0;
        loop {
            let turn = writes.turn().await;
            let mut con = db.acquire().await.map_err(failed::<E>)?;
            let done = con
                .execute(&statements.sweep, &[Bind::Int(SWEEP_BATCH)])
                .await
                .map_err(failed::<E>)?;
            drop((con, turn));
            removed += done;
            if done < SWEEP_BATCH as u64 {
                return Ok(removed);
            }
        }
    };
    // A lock lives on one connection: take it, sweep and release on that one.
    let mut con = db.acquire().await.map_err(failed::<E>)?;
    let taken = con
        .fetch_int(take, &[Bind::text(name)])
        .await
        .map_err(failed::<E>)?;
    if taken != Some(1) {
        return Ok(0);
    }
    let mut removed = 0;
    let result = loop {
        match con
            .execute(&statements.sweep, &[Bind::Int(SWEEP_BATCH)])
            .await
        {
            Ok(done) => {
                removed += done;
                if done < SWEEP_BATCH as u64 {
                    break Ok(removed);
                }
            }
            Err(e) => break Err(failed::<E>(e)),
        }
    };
    let _ = con.fetch_int(release, &[Bind::text(name)]).await;
    result
}

/// Runs the sweep every `every` off the request path, for as long as the pool is open
/// (and the runtime runs). A sweep that fails is logged, and tried again next time.
fn spawn_sweeper<E: Engine>(
    db: Arc<dyn Connections>,
    statements: Statements,
    writes: Writes,
    every: Duration,
) {
    if every.is_zero() {
        return;
    }
    rocket::tokio::spawn(async move {
        let mut tick = rocket::tokio::time::interval(every);
        tick.tick().await;
        while !db.is_closed() {
            tick.tick().await;
            if let Err(e) = sweep::<E>(&*db, &statements, &writes).await {
                log::warn!(
                    target: "rocket_keepsake",
                    "sweeping expired sessions failed: {}",
                    crate::error::report(&e)
                );
            }
        }
    });
}

/// A value bound to a statement's placeholder.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum Bind<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// A 64-bit integer.
    Int(i64),
    /// Bytes.
    Bytes(&'a [u8]),
}

impl<'a> Bind<'a> {
    /// Borrowed text.
    fn text(text: &'a str) -> Bind<'a> {
        Bind::Text(Cow::Borrowed(text))
    }
}

/// A statement being written, with the values of its placeholders in order.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Sql<'a> {
    text: String,
    binds: Vec<Bind<'a>>,
}

impl<'a> Sql<'a> {
    /// Appends `text`; the `?` in it are placeholders, bound in order with
    /// [`bind`](Sql::bind).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// The value of the next placeholder written.
    pub fn bind(&mut self, value: Bind<'a>) -> &mut Self {
        self.binds.push(value);
        self
    }
}

/// `sql` with its placeholders numbered (`$1`, `$2`, …) if the engine numbers them.
/// A `?` inside a quoted literal is left alone.
fn numbered<E: Engine>(sql: impl Into<String>) -> String {
    let sql = sql.into();
    if !E::NUMBERED {
        return sql;
    }
    let (mut out, mut n, mut quoted) = (String::with_capacity(sql.len() + 8), 0, false);
    for c in sql.chars() {
        match c {
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A table name that cannot change the meaning of a statement it is written into.
#[derive(Debug, thiserror::Error)]
#[error(
    "table name `{0}` is not a plain identifier; use letters, digits and `_` (at most 48), \
     starting with a letter or `_`"
)]
pub(crate) struct BadTable(String);

/// Checks a table name before it is written into statements.
pub(crate) fn check_table(name: &str) -> Result<(), BadTable> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48;
    if plain {
        Ok(())
    } else {
        Err(BadTable(name.to_owned()))
    }
}

/// A session key that cannot be written into a JSON path.
#[doc(hidden)]
#[derive(Debug, thiserror::Error)]
#[error(
    "session key {0:?} holds `\"`, `\\` or a control character, which SQL JSON paths cannot name"
)]
pub struct BadKey(String);

/// The JSON path of top-level key `key`, as `E` stores it: `$."key"`.
fn path<E: Engine>(key: &str) -> Result<String, BadKey> {
    if key.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(BadKey(key.to_owned()));
    }
    Ok(format!("$.\"{}\"", E::key_in(key)))
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The name of the SQL index (or column) over session key `key` in `table`: the
/// table's name and a hash of the key, so that any key makes a plain identifier.
fn index_name(table: &str, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!("{table}_by_{}", hex::encode(&digest[..8]))
}

/// Writes `data` with `changes` applied through an engine's JSON functions that set
/// (`set(json, path, value, …)`) and remove (`remove(json, path, …)`) paths, `value`
/// turning a bound text (`?`) into a JSON value.
fn set_and_remove<'a, E: Engine>(
    sql: &mut Sql<'a>,
    [set, value, remove]: [&str; 3],
    changes: &'a Changes,
) -> Result<(), BadKey> {
    let (setting, removing) = (!changes.set.is_empty(), !changes.removed.is_empty());
    if removing {
        sql.push(remove).push("(");
    }
    if setting {
        sql.push(set).push("(");
    }
    sql.push("data");
    if setting {
        for (key, json) in &changes.set {
            sql.push(", ?, ").bind(Bind::Text(path::<E>(key)?.into()));
            sql.push(value).bind(Bind::Text(E::json_in(json)));
        }
        sql.push(")");
    }
    if removing {
        for key in &changes.removed {
            sql.push(", ?").bind(Bind::Text(path::<E>(key)?.into()));
        }
        sql.push(")");
    }
    Ok(())
}

/// The keys a save sets, as one JSON object.
fn set_object(changes: &Changes) -> String {
    crate::json::object(changes.set.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A database error as a store error: a connection lost after a statement was sent
/// may have applied it; anything else (no connection, an error answered) did nothing.
fn failed<E: Engine>(error: DbError) -> StoreError {
    let kind = match error.outcome_unknown {
        true => StoreErrorKind::Interrupted,
        false => StoreErrorKind::Unavailable,
    };
    StoreError::of_kind(E::NAME, kind, error.source)
}

/// A session key the engine's SQL cannot name, as a store error.
fn refused<E: Engine>(error: BadKey) -> StoreError {
    StoreError::of_kind(E::NAME, StoreErrorKind::Refused, error)
}

/// Milliseconds of a TTL, at least one.
fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// The `#[session(index)]` keys a store has given an SQL index (or tried to), and
/// how it went: `revoke_all` finds sessions through it.
#[derive(Debug, Default)]
struct IndexedKeys(std::sync::Mutex<std::collections::HashMap<String, bool>>);

impl IndexedKeys {
    /// Whether `key` was indexed, if it was tried.
    fn get(&self, key: &str) -> Option<bool> {
        self.lock().get(key).copied()
    }

    /// Remembers whether indexing `key` worked; a failure is logged once.
    fn set(&self, store: &str, key: &str, result: Result<(), StoreError>) {
        let indexed = match result {
            Ok(()) => true,
            Err(e) => {
                log::warn!(
                    target: "rocket_keepsake",
                    "{store}: no SQL index over session key `{key}` ({}); `revoke_all` by it \
                     scans the table",
                    crate::error::report(&e)
                );
                false
            }
        };
        self.lock().insert(key.to_owned(), indexed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, bool>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for good in ["keepsake_sessions", "_t", "T1"] {
            assert!(check_table(good).is_ok(), "{good}");
        }
        for bad in ["", "1t", "a-b", "a;drop table x", "a b", &"x".repeat(49)] {
            assert!(check_table(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_paths() {
        assert_eq!(path::<Sqlite>("user").unwrap(), r#"$."user""#);
        assert_eq!(path::<Sqlite>("a.b").unwrap(), r#"$."a.b""#);
        assert!(path::<Sqlite>("a\"b").is_err() && path::<Sqlite>("a\\b").is_err());
        assert_eq!(path::<MySql>("\u{E000}").unwrap(), "$.\"\u{E000}E\"");
    }

    fn changes() -> Changes {
        Changes {
            create: false,
            set: vec![("a".into(), "1".into()), ("q\"".into(), "[2]".into())],
            removed: vec!["b".into()],
            index: vec![],
        }
    }

    fn texts(sql: &Sql<'_>) -> Vec<String> {
        let text = |bind: &Bind<'_>| match bind {
            Bind::Text(text) => text.to_string(),
            Bind::Int(int) => int.to_string(),
            Bind::Bytes(bytes) => format!("{bytes:?}"),
        };
        sql.binds.iter().map(text).collect()
    }

    #[test]
    fn set_and_remove_nests_the_functions_with_binds_in_text_order() {
        let (changes, mut sql) = (changes(), Sql::default());
        let functions = ["json_set", "json(?)", "json_remove"];
        // A key with `"` cannot be a JSON path.
        assert!(set_and_remove::<Sqlite>(&mut sql, functions, &changes).is_err());
        let changes = Changes {
            set: changes.set[..1].to_vec(),
            ..changes
        };
        let mut sql = Sql::default();
        set_and_remove::<Sqlite>(&mut sql, functions, &changes).unwrap();
        assert_eq!(sql.text, "json_remove(json_set(data, ?, json(?)), ?)");
        assert_eq!(texts(&sql), [r#"$."a""#, "1", r#"$."b""#]);
        let (mut none, nothing) = (Sql::default(), Changes::default());
        set_and_remove::<Sqlite>(&mut none, functions, &nothing).unwrap();
        assert_eq!(none.text, "data");
    }

    #[test]
    fn the_set_object_holds_the_values_as_given() {
        assert_eq!(set_object(&changes()), r#"{"a":1,"q\"":[2]}"#);
    }

    #[test]
    fn postgres_merges_the_set_keys_and_drops_the_removed_ones() {
        let changes = changes();
        let mut sql = Sql::default();
        Postgres::changed(&mut sql, &changes).unwrap();
        assert_eq!(sql.text, "(data || ?::jsonb) - ?::text");
        assert_eq!(texts(&sql), [r#"{"a":1,"q\"":[2]}"#, "b"]);
    }

    #[test]
    fn numbered_placeholders_skip_quoted_question_marks() {
        let sql = "SELECT ? WHERE data -> 'a?''b?' = ?::jsonb AND x = ?".to_owned();
        assert_eq!(
            numbered::<Postgres>(sql),
            "SELECT $1 WHERE data -> 'a?''b?' = $2::jsonb AND x = $3"
        );
    }
}
