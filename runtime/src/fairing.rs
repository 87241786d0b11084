//! The `Keepsake` fairing: its builder, and its two hooks: reading the configuration
//! at ignite, and handing each response with session state to [`save`](crate::save).

use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Request, Response, Rocket};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::error::report;
use crate::request::{lock, RequestSession};
use crate::save::{respond_with_catcher, save};
use crate::state::Shared;
use crate::store::SessionStore;

/// The session fairing. Attach it once; every `Session`, `Flashes` and `Flash` needs it.
///
/// It reads the [`Config`](crate::Config) from the `keepsake` key of Rocket's
/// configuration when the instance ignites, loads a client's record the first time a
/// request asks for it (a request that never does pays nothing), and saves it when
/// the response goes out: `Set-Cookie` when the record changed (or is permanent and
/// `refresh_each_request` is on), a deleted cookie when it was emptied, and
/// `Vary: Cookie` whenever it was loaded.
///
/// When the changes cannot be saved, the response is replaced by the one Rocket's
/// catchers give for the status (your own `#[catch(503)]`, say), keeping the headers
/// other fairings such as Shield set: `503 Service Unavailable` when the store fails,
/// `500 Internal Server Error` when the record cannot be encoded or is too big.
///
/// ```rust,no_run
/// use rocket_keepsake::Keepsake;
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     rocket::build().attach(Keepsake::fairing())
/// }
/// ```
pub struct Keepsake {
    store: Store,
    /// The table [`with_table`](Keepsake::with_table) names.
    table: Option<String>,
    clock: Arc<dyn Clock>,
    /// How many requests hold session state (made by a guard or a `Flash`). While it
    /// is zero, no response has anything to save, and a route without a session guard
    /// costs nothing more than checking it.
    pub(crate) in_flight: Arc<AtomicUsize>,
}

/// Where the records live, as far as the code says.
enum Store {
    /// Where `keepsake.store` says: the signed cookie when it is unset.
    Configured,
    /// In the store given to [`Keepsake::with_store`].
    Given(Arc<dyn SessionStore>),
    /// In an app's rocket_db_pools database, found in Rocket's state at ignite.
    #[cfg(feature = "rocket_db_pools")]
    Database(DatabaseStore),
}

/// The store in the database of [`Keepsake::with_db`], in the table named, if any.
#[cfg(feature = "rocket_db_pools")]
type DatabaseStore = fn(&Rocket<Build>, Option<&str>) -> Result<Arc<dyn SessionStore>, ConfigError>;

impl fmt::Debug for Keepsake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.store {
            Store::Configured => "configured",
            Store::Given(_) => "given",
            #[cfg(feature = "rocket_db_pools")]
            Store::Database(_) => "the app's database",
        };
        f.debug_struct("Keepsake")
            .field("store", &store)
            .field("table", &self.table)
            .finish()
    }
}

impl Default for Keepsake {
    fn default() -> Keepsake {
        Keepsake::fairing()
    }
}

impl Keepsake {
    /// The fairing with the default store: the whole record in a signed cookie, so
    /// nothing needs to run beside the application.
    pub fn fairing() -> Keepsake {
        Keepsake {
            store: Store::Configured,
            table: None,
            clock: Arc::new(SystemClock),
            in_flight: Arc::default(),
        }
    }

    /// The fairing with records kept server-side in `store`; the cookie then holds
    /// only a signed, random session id. Handlers do not change.
    ///
    /// ```rust
    /// use rocket_keepsake::{store::MemoryStore, Keepsake};
    ///
    /// let rocket = rocket::build().attach(Keepsake::with_store(MemoryStore::new()));
    /// ```
    pub fn with_store(store: impl SessionStore) -> Keepsake {
        Keepsake {
            store: Store::Given(Arc::new(store)),
            ..Keepsake::fairing()
        }
    }

    /// The fairing with records kept in the app's own [rocket_db_pools] database `D`,
    /// through its pool (feature `rocket_db_pools`): a sqlx 0.7 pool of PostgreSQL,
    /// MySQL/MariaDB or SQLite, whichever the app's rocket_db_pools features and `D`
    /// say. Sessions live in the table `keepsake_sessions` (or
    /// [`with_table`](Keepsake::with_table), or the `store_table` key), created on
    /// first use, exactly as in the [`SqlStore`](crate::store::SqlStore) of that engine:
    /// a save changes only the keys a request changed, a deleted session is never
    /// brought back, expired rows are swept, and a database that is down gives 503s.
    ///
    /// Attach `D::init()` first: the pool is taken from Rocket's state when this fairing
    /// ignites, and launch fails, saying so, if it is not there yet. The pool's own
    /// settings apply (`databases.<name>` in Rocket.toml: `max_connections`, …), and,
    /// as in every SQL store, taking a connection and running a statement are each
    /// bounded by 2 seconds.
    ///
    /// This path runs on the sqlx the app already builds with rocket_db_pools 0.2,
    /// sqlx 0.7, with its advisories (RUSTSEC-2024-0363); the stores built from a URL
    /// use sqlx 0.8. Counting the rows a statement changed costs MySQL and SQLite a
    /// second, small query on the same connection, as sqlx 0.7 does not say it for a
    /// database known only by its name.
    ///
    /// ```rust
    /// use rocket_db_pools::{sqlx, Database};
    /// use rocket_keepsake::Keepsake;
    ///
    /// // rocket_db_pools = { version = "0.2", features = ["sqlx_postgres"] }
    /// #[derive(Database)]
    /// #[database("app")]
    /// struct Db(sqlx::PgPool);
    ///
    /// let rocket = rocket::build()
    ///     .attach(Db::init())
    ///     .attach(Keepsake::with_db::<Db>());
    /// ```
    ///
    /// [rocket_db_pools]: https://docs.rs/rocket_db_pools/0.2
    #[cfg(feature = "rocket_db_pools")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rocket_db_pools")))]
    pub fn with_db<D>() -> Keepsake
    where
        D: rocket_db_pools::Database,
        D::Pool: crate::store::SessionPool,
    {
        Keepsake {
            store: Store::Database(database_store::<D>),
            ..Keepsake::fairing()
        }
    }

    /// Keeps sessions in SQL table `name` (letters, digits and `_`): the table of
    /// `with_db` (feature `rocket_db_pools`), or of the SQL store the `store` key names. It
    /// sets the `store_table` key, over the configuration's. Default:
    /// `keepsake_sessions`.
    pub fn with_table(mut self, name: impl Into<String>) -> Keepsake {
        self.table = Some(name.into());
        self
    }

    /// Reads the time from `clock` instead of the system clock: for tests, which can
    /// then advance a `ManualClock` (feature `testing`) past an expiry instead of
    /// sleeping. Default: the system clock.
    ///
    /// ```rust
    /// # #[cfg(feature = "testing")] {
    /// use rocket_keepsake::{Keepsake, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let rocket = rocket::build().attach(Keepsake::fairing().with_clock(clock.clone()));
    /// # }
    /// ```
    pub fn with_clock(mut self, clock: impl Clock) -> Keepsake {
        self.clock = Arc::new(clock);
        self
    }
}

impl Keepsake {
    /// The state the fairing keeps once `rocket` ignites: its configuration, and the
    /// store the code or the configuration names.
    fn shared(&self, rocket: &Rocket<Build>) -> Result<Shared, ConfigError> {
        let mut figment = rocket.figment().clone();
        if let Some(table) = &self.table {
            figment = figment.merge(("keepsake.store_table", table));
        }
        let config = Config::from_figment(&figment)?;
        // Checked here, so that a bad name fails launch rather than the first request.
        #[cfg(any(
            feature = "postgres",
            feature = "mysql",
            feature = "sqlite",
            feature = "rocket_db_pools"
        ))]
        if let Some(table) = &config.store_table {
            crate::store::check_table(table).map_err(|e| ConfigError::StoreTable(e.into()))?;
        }
        // Which names the store takes (a table, a key prefix): one set for another
        // fails launch. A `store` URL that names no store is left to fail as such.
        let taken = match &self.store {
            Store::Configured => match &config.store {
                Some(url) => crate::store::url::names_taken(url),
                None => Some((false, false)),
            },
            Store::Given(_) => Some((false, false)),
            #[cfg(feature = "rocket_db_pools")]
            Store::Database(_) => Some((true, false)),
        };
        if let Some((table, prefix)) = taken {
            let set = [
                ("store_table", config.store_table.is_some() && !table),
                ("store_prefix", config.store_prefix.is_some() && !prefix),
            ];
            if let Some((name, _)) = set.into_iter().find(|(_, unused)| *unused) {
                return Err(ConfigError::NameUnused(name));
            }
        }
        let store = match &self.store {
            Store::Configured => None,
            Store::Given(store) => Some(store.clone()),
            #[cfg(feature = "rocket_db_pools")]
            Store::Database(in_database) => {
                Some(in_database(rocket, config.store_table.as_deref())?)
            }
        };
        Shared::new(&figment, config, store, self.clock.clone())
    }
}

#[rocket::async_trait]
impl Fairing for Keepsake {
    fn info(&self) -> Info {
        Info {
            name: "Keepsake sessions",
            kind: Kind::Ignite | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match self.shared(&rocket) {
            Ok(shared) => {
                let shared = Shared {
                    in_flight: self.in_flight.clone(),
                    ..shared
                };
                let rocket = rocket.manage(shared);
                #[cfg(feature = "testing")]
                let rocket = rocket.mount("/", vec![crate::testing::seed_route()]);
                Ok(rocket)
            }
            Err(e) => {
                log::error!(target: "rocket_keepsake", "{}", report(&e));
                Err(rocket)
            }
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        // A request with session state counts while it lives: none counting means this
        // one has none.
        if !RequestSession::any(&self.in_flight) {
            return;
        }
        let Some(shared) = req.rocket().state::<Shared>() else {
            return;
        };
        let session = RequestSession::of(req, shared);
        let queued = session.take_queued_flashes();
        let record = match session.loaded() {
            Some(record) => record,
            None if queued.is_empty() => return,
            // Only `Flash` responders asked: load the record their messages go to.
            None => match RequestSession::load(req).await {
                Ok(record) => record,
                // Logged where it was found.
                Err(e) => return respond_with_catcher(req, res, e.status()).await,
            },
        };
        if !queued.is_empty() {
            let mut record = lock(record);
            for (category, message) in queued {
                record.push_flash(&category, message);
            }
        }
        save(shared, req, record, res).await;
    }
}

/// The store in `D`'s database, in `table` if named: what [`Keepsake::with_db`] runs
/// at ignite.
#[cfg(feature = "rocket_db_pools")]
fn database_store<D>(
    rocket: &Rocket<Build>,
    table: Option<&str>,
) -> Result<Arc<dyn SessionStore>, ConfigError>
where
    D: rocket_db_pools::Database,
    D::Pool: crate::store::SessionPool,
{
    use crate::store::SessionPool;

    let database = D::fetch(rocket).ok_or(ConfigError::NoDatabase {
        database: std::any::type_name::<D>(),
    })?;
    let pool: &D::Pool = database;
    pool.session_store(table)
        .map_err(ConfigError::UnknownEngine)
}
