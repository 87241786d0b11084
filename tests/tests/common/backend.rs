//! Where a test's sessions live: every store, each test in its own table, prefix or
//! map, removed afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use redis::AsyncCommands;
use rocket::figment::value::Value;
use rocket_keepsake::store::{
    FileStore, MemcachedStore, MemoryStore, MySqlStore, PostgresStore, RedisStore, SqliteStore,
};
use rocket_keepsake::Keepsake;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Where a test's sessions live, and a way to look inside.
#[derive(Clone)]
pub enum Backend {
    Cookie,
    Memory(Arc<MemoryStore>),
    /// Memcached at `MEMCACHED_URL`, under a prefix no other test uses; its items
    /// expire by themselves, and are deleted when the last clone goes.
    Memcached {
        prefix: String,
        cleanup: Arc<MemcachedCleanup>,
        /// In Flask-Session's layout (`flask_session = true`): configured, not given.
        flask: bool,
    },
    /// A private three-master Redis Cluster, shared by the tests that run at the same
    /// time and stopped when the last of them is done.
    RedisCluster {
        cluster: Arc<PrivateCluster>,
        prefix: String,
        /// In Flask-Session's layout (`flask_session = true`): configured, not given.
        flask: bool,
    },
    /// A `FileStore` in a directory of its own, removed when the last clone goes.
    File(Arc<TempDir>),
    Sql {
        engine: Engine,
        url: String,
        table: String,
        /// Drops the test's table when the last clone and client are dropped.
        cleanup: Arc<SqlCleanup>,
        /// In Flask-Session's table (`flask_session = true`): configured, not given.
        flask: bool,
    },
    Redis {
        url: String,
        prefix: String,
        /// Deletes the test's keys when the last clone of the backend, and the last
        /// client made from it, are dropped.
        cleanup: Arc<RedisCleanup>,
        /// In Flask-Session's layout (`flask_session = true`): configured, not given.
        flask: bool,
    },
}

/// A SQL database engine.
#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Postgres,
    MySql,
    Sqlite,
}

pub fn postgres_url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A pool on a test's SQLite file, created if the store has not made it yet.
pub async fn sqlite_pool(url: &str) -> sqlx::SqlitePool {
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
        .unwrap()
        .create_if_missing(true);
    sqlx::SqlitePool::connect_with(options)
        .await
        .expect("the SQLite file opens")
}

/// Runs `query` against the engine's database, outside any Rocket.
pub async fn sql_scalar(engine: Engine, url: &str, query: &str) -> i64 {
    match engine {
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(url)
                .await
                .expect("PostgreSQL answers");
            let n: i64 = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        Engine::MySql => {
            let pool = sqlx::MySqlPool::connect(url)
                .await
                .expect("MariaDB answers");
            let n: i64 = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        Engine::Sqlite => {
            let pool = sqlite_pool(url).await;
            let n: i64 = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

/// Runs `statement` against the engine's database, outside any Rocket.
pub async fn sql_execute(engine: Engine, url: &str, statement: &str) {
    match engine {
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(url)
                .await
                .expect("PostgreSQL answers");
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Engine::MySql => {
            let pool = sqlx::MySqlPool::connect(url)
                .await
                .expect("MariaDB answers");
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Engine::Sqlite => {
            let pool = sqlite_pool(url).await;
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Drops a test's table (and removes its SQLite file): tests remove what they create.
pub struct SqlCleanup {
    engine: Engine,
    url: String,
    table: String,
    file: Option<std::path::PathBuf>,
}

impl Drop for SqlCleanup {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
            return;
        }
        let (engine, url, table) = (self.engine, self.url.clone(), self.table.clone());
        // Its own runtime, on its own thread: a Drop cannot await.
        let dropped = std::thread::spawn(move || {
            rocket::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(sql_execute(
                    engine,
                    &url,
                    &format!("DROP TABLE IF EXISTS {table}"),
                ))
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop table {}", self.table);
        }
    }
}

/// Deletes every key under a test's prefix: tests remove the records they create,
/// passing or failing.
pub struct RedisCleanup {
    url: String,
    prefix: String,
}

impl Drop for RedisCleanup {
    fn drop(&mut self) {
        let deleted = redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection())
            .and_then(|mut con| {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}*", self.prefix))
                    .query(&mut con)?;
                if !keys.is_empty() {
                    redis::cmd("DEL").arg(&keys).query::<()>(&mut con)?;
                }
                Ok(())
            });
        if let Err(e) = deleted {
            eprintln!("could not delete the keys under {}: {e}", self.prefix);
        }
    }
}

impl Backend {
    pub fn cookie() -> Backend {
        Backend::Cookie
    }

    pub fn memory() -> Backend {
        Backend::Memory(Arc::new(MemoryStore::new()))
    }

    pub fn memcached() -> Backend {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "keepsake-test:{}:{}:",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let cleanup = Arc::new(MemcachedCleanup(prefix.clone()));
        Backend::Memcached {
            prefix,
            cleanup,
            flask: false,
        }
    }

    /// Memcached in Flask-Session's layout, configured with `flask_session = true`.
    pub fn memcached_flask_session() -> Backend {
        match Backend::memcached() {
            Backend::Memcached {
                prefix, cleanup, ..
            } => Backend::Memcached {
                prefix,
                cleanup,
                flask: true,
            },
            _ => unreachable!(),
        }
    }

    pub fn redis_cluster() -> Backend {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!("keepsake-test:{}:", NEXT.fetch_add(1, Ordering::Relaxed));
        Backend::RedisCluster {
            cluster: PrivateCluster::shared(),
            prefix,
            flask: false,
        }
    }

    /// The private Redis Cluster in Flask-Session's layout (`flask_session = true`).
    pub fn redis_cluster_flask_session() -> Backend {
        match Backend::redis_cluster() {
            Backend::RedisCluster {
                cluster, prefix, ..
            } => Backend::RedisCluster {
                cluster,
                prefix,
                flask: true,
            },
            _ => unreachable!(),
        }
    }

    pub fn file() -> Backend {
        Backend::File(Arc::new(TempDir::new()))
    }

    /// An SQL store in Flask-Session's table, configured with `flask_session = true`.
    pub fn sql_flask_session(engine: Engine) -> Backend {
        match Backend::sql(engine) {
            Backend::Sql {
                engine,
                url,
                table,
                cleanup,
                ..
            } => Backend::Sql {
                engine,
                url,
                table,
                cleanup,
                flask: true,
            },
            _ => unreachable!(),
        }
    }

    pub fn postgres_flask_session() -> Backend {
        Backend::sql_flask_session(Engine::Postgres)
    }

    pub fn mysql_flask_session() -> Backend {
        Backend::sql_flask_session(Engine::MySql)
    }

    pub fn sqlite_flask_session() -> Backend {
        Backend::sql_flask_session(Engine::Sqlite)
    }

    pub fn postgres() -> Backend {
        Backend::sql(Engine::Postgres)
    }

    pub fn mysql() -> Backend {
        Backend::sql(Engine::MySql)
    }

    pub fn sqlite() -> Backend {
        Backend::sql(Engine::Sqlite)
    }

    /// A SQL store, in a table (or SQLite file) no other test uses.
    pub fn sql(engine: Engine) -> Backend {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let table = format!("keepsake_test_{}_{n}", std::process::id());
        let (url, file) = match engine {
            Engine::Postgres => (postgres_url(), None),
            Engine::MySql => (mysql_url(), None),
            Engine::Sqlite => {
                let file = std::env::temp_dir().join(format!("{table}.db"));
                (format!("sqlite://{}", file.display()), Some(file))
            }
        };
        let cleanup = SqlCleanup {
            engine,
            url: url.clone(),
            table: table.clone(),
            file,
        };
        Backend::Sql {
            engine,
            url,
            table,
            cleanup: Arc::new(cleanup),
            flask: false,
        }
    }

    /// Redis in Flask-Session's layout, configured with `flask_session = true`, under
    /// a prefix no other test uses.
    pub fn redis_flask_session() -> Backend {
        match Backend::redis() {
            Backend::Redis {
                url,
                prefix,
                cleanup,
                ..
            } => Backend::Redis {
                url,
                prefix,
                cleanup,
                flask: true,
            },
            _ => unreachable!(),
        }
    }

    /// The configuration the backend needs besides the fairing.
    pub fn settings(&self) -> Vec<(&'static str, Value)> {
        match self {
            Backend::Redis {
                url,
                prefix,
                flask: true,
                ..
            } => vec![
                ("flask_session", Value::from(true)),
                ("store", Value::from(url.clone())),
                ("flask_session_prefix", Value::from(prefix.clone())),
            ],
            Backend::Memcached {
                prefix,
                flask: true,
                ..
            } => vec![
                ("flask_session", Value::from(true)),
                ("store", Value::from(memcached_url())),
                ("flask_session_prefix", Value::from(prefix.clone())),
            ],
            Backend::RedisCluster {
                cluster,
                prefix,
                flask: true,
            } => vec![
                ("flask_session", Value::from(true)),
                ("store", Value::from(cluster.url())),
                ("flask_session_prefix", Value::from(prefix.clone())),
            ],
            Backend::Sql {
                url,
                table,
                flask: true,
                ..
            } => vec![
                ("flask_session", Value::from(true)),
                ("store", Value::from(url.clone())),
                ("flask_session_table", Value::from(table.clone())),
            ],
            _ => Vec::new(),
        }
    }

    /// Whether records are in Flask-Session's layout (`flask_session = true`).
    pub fn is_flask_session(&self) -> bool {
        matches!(
            self,
            Backend::Redis { flask: true, .. }
                | Backend::RedisCluster { flask: true, .. }
                | Backend::Memcached { flask: true, .. }
                | Backend::Sql { flask: true, .. }
        )
    }

    /// How long a record's id is in the store's keys.
    pub fn id_len(&self) -> usize {
        match self {
            Backend::Redis { flask: true, .. }
            | Backend::RedisCluster { flask: true, .. }
            | Backend::Memcached { flask: true, .. }
            | Backend::Sql { flask: true, .. } => 43,
            _ => 32,
        }
    }

    /// Redis, under a prefix no other test uses.
    pub fn redis() -> Backend {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "keepsake-test:{}:{}:",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let url = redis_url();
        let cleanup = RedisCleanup {
            url: url.clone(),
            prefix: prefix.clone(),
        };
        Backend::Redis {
            url,
            prefix,
            cleanup: Arc::new(cleanup),
            flask: false,
        }
    }

    pub fn fairing(&self) -> Keepsake {
        match self {
            Backend::Cookie => Keepsake::fairing(),
            Backend::Memory(store) => Keepsake::with_store(store.clone()),
            Backend::File(dir) => Keepsake::with_store(FileStore::new(&dir.0)),
            Backend::RedisCluster { flask: true, .. } => Keepsake::fairing(),
            Backend::RedisCluster {
                cluster, prefix, ..
            } => Keepsake::with_store(cluster.store().with_prefix(prefix.clone())),
            Backend::Memcached { flask: true, .. } | Backend::Sql { flask: true, .. } => {
                Keepsake::fairing()
            }
            Backend::Memcached { prefix, .. } => Keepsake::with_store(
                MemcachedStore::new(&memcached_url())
                    .expect("a valid MEMCACHED_URL")
                    .with_prefix(prefix.clone()),
            ),
            Backend::Sql {
                engine, url, table, ..
            } => match engine {
                Engine::Postgres => {
                    Keepsake::with_store(PostgresStore::new(url).unwrap().with_table(table.clone()))
                }
                Engine::MySql => {
                    Keepsake::with_store(MySqlStore::new(url).unwrap().with_table(table.clone()))
                }
                Engine::Sqlite => {
                    Keepsake::with_store(SqliteStore::new(url).unwrap().with_table(table.clone()))
                }
            },
            Backend::Redis { flask: true, .. } => Keepsake::fairing(),
            Backend::Redis { url, prefix, .. } => Keepsake::with_store(
                RedisStore::new(url)
                    .expect("a valid REDIS_URL")
                    .with_prefix(prefix.clone()),
            ),
        }
    }

    pub fn is_server_side(&self) -> bool {
        !matches!(self, Backend::Cookie)
    }

    /// Ends every record of the store now, as its own expiry would (`false` for the
    /// cookie store and `MemoryStore`, whose clocks cannot be moved).
    pub async fn expire_all(&self) -> bool {
        match self {
            Backend::Cookie | Backend::Memory(_) | Backend::Memcached { .. } => false,
            Backend::RedisCluster {
                cluster, prefix, ..
            } => {
                for (port, key) in cluster.keys(prefix) {
                    cluster.cli(port, &["PEXPIRE", &key, "1"]);
                }
                rocket::tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                true
            }
            Backend::File(dir) => {
                for path in dir.session_files() {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
                    record["expires"] = 0.into();
                    std::fs::write(&path, record.to_string()).unwrap();
                }
                true
            }
            Backend::Sql {
                engine,
                url,
                table,
                flask,
                ..
            } => {
                let past = match engine {
                    _ if *flask => "'2000-01-01 00:00:00'",
                    Engine::Postgres => "now() - interval '1 second'",
                    Engine::MySql => "NOW(6) - INTERVAL 1 SECOND",
                    Engine::Sqlite => "0",
                };
                let column = if *flask { "expiry" } else { "expires_at" };
                sql_execute(
                    *engine,
                    url,
                    &format!("UPDATE {table} SET {column} = {past}"),
                )
                .await;
                true
            }
            Backend::Redis { url, prefix, .. } => {
                let mut con = redis_connection(url).await;
                let keys: Vec<String> = con.keys(format!("{prefix}*")).await.unwrap();
                let id_len = self.id_len();
                for key in keys
                    .iter()
                    .filter(|key| key[prefix.len()..].len() == id_len)
                {
                    let _: bool = con.pexpire(key, 1).await.unwrap();
                }
                rocket::tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                true
            }
        }
    }

    /// How many keys the store holds beside its records (Redis' index sets).
    pub async fn redis_index_keys(&self) -> Option<Vec<String>> {
        let Backend::Redis { url, prefix, .. } = self else {
            return None;
        };
        let mut con = redis_connection(url).await;
        let keys: Vec<String> = con.keys(format!("{prefix}index:*")).await.unwrap();
        Some(keys)
    }

    /// How many sessions Redis' index set for `key` = `value` (JSON) holds.
    pub async fn redis_index_members(&self, key: &str, value: &str) -> Option<usize> {
        let Backend::Redis { url, prefix, .. } = self else {
            return None;
        };
        let set = format!("{prefix}index:{}:{key}:{value}", key.len());
        let mut con = redis_connection(url).await;
        Some(con.scard(set).await.unwrap())
    }

    /// How many records the store holds (`None` for the cookie store).
    pub async fn records(&self) -> Option<usize> {
        match self {
            Backend::Cookie => None,
            Backend::Memory(store) => Some(store.len()),
            Backend::File(dir) => Some(dir.session_files().len()),
            Backend::RedisCluster {
                cluster, prefix, ..
            } => Some(cluster.keys(prefix).len()),
            Backend::Memcached { prefix, .. } => Some(memcached_records(prefix).len()),
            Backend::Sql {
                engine, url, table, ..
            } => {
                let exists = match engine {
                    Engine::Postgres => format!("SELECT COUNT(*) FROM pg_tables WHERE tablename = '{table}'"),
                    Engine::MySql => format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{table}'"),
                    Engine::Sqlite => format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"),
                };
                if sql_scalar(*engine, url, &exists).await == 0 {
                    return Some(0);
                }
                let rows = sql_scalar(*engine, url, &format!("SELECT COUNT(*) FROM {table}")).await;
                Some(usize::try_from(rows).unwrap())
            }
            Backend::Redis { url, prefix, .. } => {
                let mut con = redis_connection(url).await;
                let keys: Vec<String> = con.keys(format!("{prefix}*")).await.unwrap();
                // Session records, not the index sets beside them.
                let records = keys
                    .iter()
                    .filter(|key| {
                        key[prefix.len()..].len() == self.id_len()
                            && !key[prefix.len()..].contains(':')
                    })
                    .count();
                Some(records)
            }
        }
    }
}

pub async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers at REDIS_URL")
}

/// A directory of a test's own under the system's temporary directory, removed
/// (with whatever the test left in it) when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("keepsake-test-{}-{n}", std::process::id()));
        TempDir(dir)
    }

    /// The session files the store wrote, `<id>.json`.
    pub fn session_files(&self) -> Vec<std::path::PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect()
    }
}

impl Default for TempDir {
    fn default() -> TempDir {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn memcached_url() -> String {
    std::env::var("MEMCACHED_URL").unwrap_or_else(|_| "memcache://127.0.0.1:11211".into())
}

/// Every item key of the Memcached at `MEMCACHED_URL`, from `lru_crawler metadump`.
/// Memcached runs one crawl at a time and answers `BUSY` (and no `END`) to another:
/// tests running at once take turns, and a silent server fails the test rather than
/// hanging it.
fn memcached_keys() -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let address = memcached_url().trim_start_matches("memcache://").to_owned();
    for _ in 0..200 {
        let mut stream = std::net::TcpStream::connect(&address).expect("Memcached answers");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(b"lru_crawler metadump all\r\n").unwrap();
        let mut keys = Vec::new();
        let mut busy = false;
        for line in BufReader::new(stream).lines() {
            let line = line.expect("Memcached finishes its metadump");
            if line.starts_with("BUSY") {
                busy = true;
                break;
            }
            if line == "END" || line.starts_with("ERROR") {
                break;
            }
            if let Some(key) = line
                .strip_prefix("key=")
                .and_then(|rest| rest.split(' ').next())
            {
                // Keys are URL-encoded; ours use only `:` and URL-safe base64.
                keys.push(key.replace("%3A", ":").replace("%3a", ":"));
            }
        }
        if !busy {
            return keys;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("Memcached's crawler stayed busy for 10 s");
}

/// The keys under `prefix` that hold a record (not a tombstone of a removed one).
pub fn memcached_records(prefix: &str) -> Vec<String> {
    let client = memcache::Client::connect(memcached_url()).expect("Memcached answers");
    memcached_keys()
        .into_iter()
        .filter(|key| key.starts_with(prefix))
        .filter(|key| {
            // Tombstones, keepsake's and Flask-Session's: an empty object or map.
            let value: Option<Vec<u8>> = client.get(key).unwrap();
            value.is_some_and(|v| v != b"{}" && v != [0x80])
        })
        .collect()
}

/// Deletes every item under a test's prefix.
pub struct MemcachedCleanup(String);

impl MemcachedCleanup {
    pub fn new(prefix: &str) -> MemcachedCleanup {
        MemcachedCleanup(prefix.to_owned())
    }
}

impl Drop for MemcachedCleanup {
    fn drop(&mut self) {
        let Ok(client) = memcache::Client::connect(memcached_url()) else {
            return;
        };
        for key in memcached_keys()
            .into_iter()
            .filter(|k| k.starts_with(&self.0))
        {
            let _ = client.delete(&key);
        }
    }
}

/// A private Redis Cluster of three masters on free loopback ports, in a temporary
/// directory; stopped (and the directory removed) when dropped.
pub struct PrivateCluster {
    pub ports: Vec<u16>,
    dir: TempDir,
    children: std::sync::Mutex<Vec<Option<std::process::Child>>>,
}

impl PrivateCluster {
    /// The cluster the tests running now share, started if none is running.
    pub fn shared() -> Arc<PrivateCluster> {
        static SHARED: std::sync::Mutex<std::sync::Weak<PrivateCluster>> =
            std::sync::Mutex::new(std::sync::Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(PrivateCluster::start());
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    pub fn start() -> PrivateCluster {
        let ports: Vec<u16> = (0..3)
            .map(|_| {
                // Cluster nodes also listen on port + 10000: keep both free.
                loop {
                    let port = std::net::TcpListener::bind("127.0.0.1:0")
                        .unwrap()
                        .local_addr()
                        .unwrap()
                        .port();
                    if port < 55000
                        && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
                    {
                        break port;
                    }
                }
            })
            .collect();
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        let cluster = PrivateCluster {
            ports: ports.clone(),
            dir,
            children: std::sync::Mutex::new(ports.iter().map(|_| None).collect()),
        };
        for i in 0..ports.len() {
            cluster.start_node(i);
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut create = std::process::Command::new("redis-cli");
        create.arg("--cluster").arg("create").args(&nodes);
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = create.output().expect("redis-cli is installed");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_until_ok();
        cluster
    }

    /// Starts node `i` (again), with the cluster configuration it wrote before.
    pub fn start_node(&self, i: usize) {
        let port = self.ports[i];
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.children.lock().unwrap()[i] = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {port}");
    }

    /// Kills node `i`.
    pub fn stop_node(&self, i: usize) {
        if let Some(mut child) = self.children.lock().unwrap()[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every running node says the cluster is ok.
    pub fn wait_until_ok(&self) {
        for _ in 0..300 {
            let running: Vec<u16> = {
                let children = self.children.lock().unwrap();
                self.ports
                    .iter()
                    .zip(children.iter())
                    .filter(|(_, c)| c.is_some())
                    .map(|(p, _)| *p)
                    .collect()
            };
            if running.iter().all(|port| {
                self.cli(*port, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            }) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the cluster did not become ok");
    }

    /// What `redis-cli -p port args..` prints.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The keys under `prefix`, with the port of the node that holds each.
    pub fn keys(&self, prefix: &str) -> Vec<(u16, String)> {
        let running: Vec<u16> = {
            let children = self.children.lock().unwrap();
            self.ports
                .iter()
                .zip(children.iter())
                .filter(|(_, c)| c.is_some())
                .map(|(p, _)| *p)
                .collect()
        };
        running
            .into_iter()
            .flat_map(|port| {
                self.cli(port, &["--raw", "KEYS", &format!("{prefix}*")])
                    .lines()
                    .filter(|line| !line.is_empty())
                    .map(|key| (port, key.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A store for this cluster.
    /// The cluster as a `store` URL: `redis+cluster://` and its nodes.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    pub fn store(&self) -> RedisStore {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
        RedisStore::cluster(&nodes).expect("valid node URLs")
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for i in 0..self.ports.len() {
            self.stop_node(i);
        }
    }
}
