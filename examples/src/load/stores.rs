//! The stores the load runs on, what each holds, and the private servers that the
//! fault runs kill: each is started on a free loopback port and stopped after.

use std::fmt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A store the app can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cookie,
    Memory,
    File,
    Redis,
    Memcached,
    Postgres,
    MySql,
    Sqlite,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Cookie,
        Kind::Memory,
        Kind::File,
        Kind::Redis,
        Kind::Memcached,
        Kind::Postgres,
        Kind::MySql,
        Kind::Sqlite,
    ];

    pub fn is_server_side(self) -> bool {
        self != Kind::Cookie
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Cookie => "cookie",
            Kind::Memory => "memory",
            Kind::File => "file",
            Kind::Redis => "redis",
            Kind::Memcached => "memcached",
            Kind::Postgres => "postgres",
            Kind::MySql => "mysql",
            Kind::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("`{s}` is not a store; use one of {:?}", Kind::ALL))
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Where one run keeps its sessions: the machine's server (or a private one) under a
/// name of its own (table, key prefix, directory), removed by [`Target::clean`].
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub url: String,
    pub name: String,
    dir: Option<PathBuf>,
}

impl Target {
    /// `kind` on the machine's server (the URLs CI exports), under a fresh name.
    pub fn machine(kind: Kind, tag: &str) -> Target {
        let url = match kind {
            Kind::Redis => env_or("REDIS_URL", "redis://127.0.0.1:6379"),
            Kind::Memcached => env_or("MEMCACHED_URL", "memcache://127.0.0.1:11211"),
            Kind::Postgres => env_or("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
            Kind::MySql => env_or("MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
            _ => String::new(),
        };
        Target::on(kind, url, tag)
    }

    /// `kind` at `url`, under a fresh name.
    pub fn on(kind: Kind, url: String, tag: &str) -> Target {
        let unique = format!("{tag}_{}_{}", std::process::id(), nanos());
        let dir = matches!(kind, Kind::File | Kind::Sqlite)
            .then(|| std::env::temp_dir().join(format!("keepsake-load-{unique}")));
        let (url, name) = match kind {
            Kind::Redis | Kind::Memcached => (url, format!("keepsake-load-{unique}:")),
            Kind::Postgres | Kind::MySql => (url, format!("keepsake_load_{unique}")),
            Kind::Sqlite => {
                let dir = dir.as_ref().expect("a directory");
                let url = format!("sqlite://{}/sessions.db", dir.display());
                (url, "keepsake_load".to_owned())
            }
            Kind::File => (
                url,
                dir.as_ref().expect("a directory").display().to_string(),
            ),
            Kind::Cookie | Kind::Memory => (url, String::new()),
        };
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).expect("a temporary directory");
        }
        Target {
            kind,
            url,
            name,
            dir,
        }
    }

    /// The environment that points `load serve` at this target.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("LOAD_STORE", self.kind.to_string()),
            ("LOAD_URL", self.url.clone()),
            ("LOAD_NAME", self.name.clone()),
        ]
    }

    /// How many session records the store holds now (`None`: it cannot say).
    pub async fn records(&self) -> Result<Option<u64>, String> {
        Ok(Some(match self.kind {
            Kind::Cookie | Kind::Memory | Kind::Memcached => return Ok(None),
            Kind::File => std::fs::read_dir(self.dir.as_ref().expect("a directory"))
                .map_err(|e| e.to_string())?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count() as u64,
            Kind::Redis => self.redis_keys(&mut self.redis().await?).await?.len() as u64,
            Kind::Postgres | Kind::MySql | Kind::Sqlite => {
                let count = format!("SELECT COUNT(*) FROM {}", self.name);
                self.sql(&count).await?.unwrap_or(0) as u64
            }
        }))
    }

    /// Runs `statement` on this target's SQL database, on a connection of its own;
    /// the first column of its first row, if it returns one.
    async fn sql(&self, statement: &str) -> Result<Option<i64>, String> {
        let connect = |e: sqlx::Error| format!("connecting to {}: {e}", self.url);
        match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .map_err(connect)?;
                sqlx::query_scalar(statement).fetch_optional(&mut c).await
            }
            Kind::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&self.url)
                    .await
                    .map_err(connect)?;
                sqlx::query_scalar(statement).fetch_optional(&mut c).await
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .map_err(connect)?;
                sqlx::query_scalar(statement).fetch_optional(&mut c).await
            }
            other => return Err(format!("{other} is not an SQL store")),
        }
        .map_err(|e| format!("{statement}: {e}"))
    }

    /// The keys under this target's prefix.
    async fn redis_keys(
        &self,
        redis: &mut redis::aio::MultiplexedConnection,
    ) -> Result<Vec<String>, String> {
        redis::cmd("KEYS")
            .arg(format!("{}*", self.name))
            .query_async(redis)
            .await
            .map_err(|e| e.to_string())
    }

    /// The memory Redis itself reports using (`INFO memory`, `used_memory`).
    pub async fn redis_used_memory(&self) -> Result<u64, String> {
        let mut redis = self.redis().await?;
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut redis)
            .await
            .map_err(|e| e.to_string())?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| "INFO memory has no used_memory".to_owned())
    }

    async fn redis(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())?;
        client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())
    }

    /// Removes everything this target's runs stored: keys, table, directory.
    pub async fn clean(&self) -> Result<(), String> {
        match self.kind {
            Kind::Redis => {
                let mut redis = self.redis().await?;
                let keys = self.redis_keys(&mut redis).await?;
                if !keys.is_empty() {
                    let () = redis::cmd("DEL")
                        .arg(keys)
                        .query_async(&mut redis)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Kind::Postgres | Kind::MySql => {
                self.sql(&format!("DROP TABLE IF EXISTS {}", self.name))
                    .await?;
            }
            // Memcached cannot list keys: the load's own records are removed by
            // `/reset` and its flood's expire within `flash_only_ttl`. SQLite's and
            // the file store's go with their directory.
            Kind::Cookie | Kind::Memory | Kind::Memcached | Kind::File | Kind::Sqlite => {}
        }
        if let Some(dir) = &self.dir {
            std::fs::remove_dir_all(dir).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, within: Duration) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "nothing listens on 127.0.0.1:{port} after {within:?}"
    ))
}

/// A store server the fault run owns and kills: never the machine's.
pub trait Private {
    /// The URL the app connects to.
    fn url(&self) -> String;
    /// Kills the server abruptly, as a crash does.
    fn kill(&mut self) -> Result<(), String>;
    /// Starts it again on the same port and data, waiting until it answers.
    fn start(&mut self) -> Result<(), String>;
}

/// A private `redis-server` that keeps every acknowledged write on disk
/// (`appendfsync always`), so that a kill loses nothing it confirmed.
pub struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Result<PrivateRedis, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("keepsake-load-redis-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
        };
        redis.start()?;
        Ok(redis)
    }
}

impl Private for PrivateRedis {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|e| e.to_string())?;
            child.wait().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10))
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private PostgreSQL cluster (`initdb` in a temporary directory, run by the
/// `postgres` user when started as root), stopped with `pg_ctl -m immediate`: a crash.
pub struct PrivatePostgres {
    port: u16,
    dir: PathBuf,
    as_postgres: bool,
}

impl PrivatePostgres {
    pub fn start() -> Result<PrivatePostgres, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("keepsake-load-pg-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut pg = PrivatePostgres {
            port,
            dir,
            as_postgres,
        };
        if as_postgres {
            pg.run("chown", &["postgres", &pg.data()], false)?;
        }
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust"],
            true,
        )?;
        pg.start()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.display().to_string()
    }

    fn run(&self, program: &str, args: &[&str], as_owner: bool) -> Result<(), String> {
        let mut command = if as_owner && self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {args:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data();
        let mut all = vec!["-D", &data, "-w"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all, true)
    }
}

impl Private for PrivatePostgres {
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn kill(&mut self) -> Result<(), String> {
        self.pg_ctl(&["-m", "immediate", "stop"])
    }

    fn start(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data()
        );
        let log = format!("{}/server.log", self.data());
        self.pg_ctl(&["-o", &options, "-l", &log, "start"])?;
        wait_for_port(self.port, Duration::from_secs(20))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
