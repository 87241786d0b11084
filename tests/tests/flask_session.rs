//! Sessions shared with a real Flask app on Flask-Session 0.8 (`tests/flask_session/
//! app.py`, over HTTP), both on one Redis: Flask writes and Rocket reads, Rocket writes
//! and Flask reads with Python's own values intact, flashes both ways, a clear on either
//! side ends the session for both, signed ids, and records that fail a check.
//!
//! Needs `python3` with `tests/flask_session/requirements.txt` installed (`.ci/run`
//! installs them) and Redis at `REDIS_URL`. Never skips.

mod common;

use std::sync::{Mutex, OnceLock};

use common::backend::{
    memcached_url, mysql_url, postgres_url, redis_url, sql_execute, sqlite_pool, Engine,
};
use common::python::{PythonApp, Reply};
use common::*;
use rocket::figment::value::Value;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keepsake::{flash, Flashes, Keepsake, Session};
use serde_json::json;

/// Flask's `SECRET_KEY`, which signs ids at `/signed`.
const SECRET: &str = "flask-session-secret";

/// The key prefix both apps use, this test process's own.
fn prefix() -> String {
    format!("keepsake-flask-session-test:{}:", std::process::id())
}

/// The running Flask app.
fn flask() -> &'static PythonApp {
    static APP: OnceLock<PythonApp> = OnceLock::new();
    APP.get_or_init(|| {
        let env = [
            ("REDIS_URL", redis_url()),
            ("MEMCACHED_URL", memcached_url()),
            ("POSTGRES_URL", postgres_url()),
            ("MYSQL_URL", mysql_url()),
            ("SQLITE_PATH", sqlite_path()),
            ("TABLE", table()),
            ("PREFIX", prefix()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        PythonApp::start("flask_session/app.py", &env)
    })
}

/// Flask-Session's SQLAlchemy table in both apps, this test process's own (the Flask
/// app drops it when it exits).
fn table() -> String {
    format!("keepsake_flask_session_test_{}", std::process::id())
}

/// The SQLite file both apps share.
fn sqlite_path() -> String {
    std::env::temp_dir()
        .join(format!("keepsake-flask-session-{}.db", std::process::id()))
        .display()
        .to_string()
}

/// The store both apps share in a test.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Redis,
    Memcached,
    Sql(Engine),
}

impl Peer {
    /// Where the Flask app on this store is mounted.
    fn flask(self) -> &'static str {
        match self {
            Peer::Redis => "",
            Peer::Memcached => "/memcached",
            Peer::Sql(Engine::Postgres) => "/postgres",
            Peer::Sql(Engine::MySql) => "/mysql",
            Peer::Sql(Engine::Sqlite) => "/sqlite",
        }
    }

    fn store_url(self) -> String {
        match self {
            Peer::Redis => redis_url(),
            Peer::Memcached => memcached_url(),
            Peer::Sql(Engine::Postgres) => postgres_url(),
            Peer::Sql(Engine::MySql) => mysql_url(),
            Peer::Sql(Engine::Sqlite) => format!("sqlite://{}", sqlite_path()),
        }
    }

    /// Runs `statement` on the SQL peer's database, off the test's runtime.
    fn sql<T: Send + 'static>(
        engine: Engine,
        run: impl FnOnce(Engine, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>
            + Send
            + 'static,
    ) -> T {
        let url = Peer::Sql(engine).store_url();
        std::thread::spawn(move || {
            rocket::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(engine, url))
        })
        .join()
        .unwrap()
    }

    /// The record under `id`, as stored.
    fn record(self, id: &str) -> Option<Vec<u8>> {
        let key = format!("{}{id}", prefix());
        match self {
            Peer::Redis => redis_query(redis::cmd("GET").arg(&key)),
            Peer::Memcached => memcached().get(&key).unwrap(),
            Peer::Sql(engine) => {
                let select = format!("SELECT data FROM {} WHERE session_id = '{key}'", table());
                Peer::sql(engine, move |engine, url| {
                    Box::pin(sql_bytes(engine, url, select))
                })
            }
        }
    }

    /// Stores `bytes` as the record under `id`.
    fn set_record(self, id: &str, bytes: &[u8]) {
        let key = format!("{}{id}", prefix());
        match self {
            Peer::Redis => redis_query(redis::cmd("SET").arg(&key).arg(bytes)),
            Peer::Memcached => memcached().set(&key, bytes, 60).unwrap(),
            Peer::Sql(engine) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let literal = match engine {
                    Engine::Postgres => format!("decode('{hex}', 'hex')"),
                    _ => format!("X'{hex}'"),
                };
                let update = format!(
                    "UPDATE {} SET data = {literal} WHERE session_id = '{key}'",
                    table()
                );
                sql_statement(engine, update);
            }
        }
    }

    fn delete(self, id: &str) {
        let key = format!("{}{id}", prefix());
        match self {
            Peer::Redis => redis_query(redis::cmd("DEL").arg(&key)),
            Peer::Memcached => drop(memcached().delete(&key).unwrap()),
            Peer::Sql(engine) => {
                let delete = format!("DELETE FROM {} WHERE session_id = '{key}'", table());
                sql_statement(engine, delete);
            }
        }
    }
}

/// What `cmd` answers on the Redis at `REDIS_URL`.
fn redis_query<T: redis::FromRedisValue>(cmd: &redis::Cmd) -> T {
    let mut con = redis::Client::open(redis_url())
        .and_then(|client| client.get_connection())
        .expect("Redis answers at REDIS_URL");
    cmd.query(&mut con).unwrap()
}

/// A client of the Memcached at `MEMCACHED_URL`.
fn memcached() -> memcache::Client {
    memcache::Client::connect(memcached_url()).expect("Memcached answers at MEMCACHED_URL")
}

/// Runs `statement` on the SQL peer's database.
fn sql_statement(engine: Engine, statement: String) {
    Peer::sql(engine, move |engine, url| {
        Box::pin(async move { sql_execute(engine, &url, &statement).await })
    });
}

/// The bytes `select` finds, if any.
async fn sql_bytes(engine: Engine, url: String, select: String) -> Option<Vec<u8>> {
    match engine {
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let found = sqlx::query_scalar(&select)
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            found
        }
        Engine::MySql => {
            let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
            let found = sqlx::query_scalar(&select)
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            found
        }
        Engine::Sqlite => {
            let pool = sqlite_pool(&url).await;
            let found = sqlx::query_scalar(&select)
                .fetch_optional(&pool)
                .await
                .unwrap();
            pool.close().await;
            found
        }
    }
}

/// The sessions a test made, whose records it deletes when it ends.
struct Made {
    peer: Peer,
    ids: Mutex<Vec<String>>,
}

impl Made {
    fn on(peer: Peer) -> Made {
        Made {
            peer,
            ids: Mutex::default(),
        }
    }

    /// Notes the session a cookie names; returns the cookie.
    fn note(&self, cookie: &str) -> String {
        let id = cookie.split('.').next().unwrap_or(cookie);
        self.ids.lock().unwrap().push(id.to_owned());
        cookie.to_owned()
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap().iter() {
            self.peer.delete(id);
        }
    }
}

#[derive(Session, Default)]
struct Login {
    user: Option<String>,
    uid: Option<u64>,
}

#[flash]
enum Notice {
    Success,
    Message,
}

#[get("/read")]
fn read(login: Session<'_, Login>) -> String {
    format!(
        "user={:?} uid={:?} new={}",
        login.user,
        login.uid,
        login.is_new()
    )
}

#[get("/login/<name>")]
fn login(name: &str, mut login: Session<'_, Login>) -> &'static str {
    login.user = Some(name.to_owned());
    "in"
}

#[get("/flash/<message>")]
fn flash_push(message: &str, mut notices: Flashes<'_, Notice>) -> &'static str {
    notices.push(Notice::Success, message);
    "flashed"
}

#[get("/take")]
fn take(mut notices: Flashes<'_, Notice>) -> String {
    format!("{:?}", notices.take_all())
}

#[get("/clear")]
fn clear(mut login: Session<'_, Login>) -> &'static str {
    login.clear();
    "cleared"
}

/// The Rocket app on the Flask app's store, in Flask-Session's format.
async fn rocket(peer: Peer, signed: bool) -> Client {
    let mut settings = vec![
        ("flask_session", Value::from(true)),
        ("store", Value::from(peer.store_url())),
        ("flask_session_prefix", Value::from(prefix())),
        ("flask_session_table", Value::from(table())),
    ];
    if signed {
        settings.push(("flask_session_signer", Value::from(true)));
        settings.push(("flask_secret_key", Value::from(SECRET)));
    }
    let rocket = rocket::custom(figment(common::SECRET, &settings))
        .attach(Keepsake::fairing())
        .mount("/", routes![read, login, flash_push, take, clear]);
    client(rocket).await
}

/// GETs `path` from the Flask app on `peer`'s store.
fn flask_get(peer: Peer, path: &str, cookie: Option<&str>) -> Reply {
    flask().get(&format!("{}{path}", peer.flask()), cookie)
}

/// What Flask's `/read` shows: each key's Python type and value.
fn flask_read(peer: Peer, cookie: &str) -> serde_json::Value {
    serde_json::from_str(&flask_get(peer, "/read", Some(cookie)).body).expect("JSON from /read")
}

/// What both apps must agree on, on each store Flask-Session shares.
macro_rules! interop {
    ($module:ident, $peer:expr) => {
        mod $module {
            use super::*;

            const PEER: Peer = $peer;

            #[rocket::async_test]
            async fn flask_writes_and_rocket_reads() {
                let made = Made::on(PEER);
                let login = flask_get(PEER, "/login/ada", None);
                let cookie = made.note(&login.cookie.expect("a session cookie"));
                assert_eq!(cookie.len(), 43, "secrets.token_urlsafe(32): {cookie}");
                let client = rocket(PEER, false).await;
                let read = get(&client, "/read", Some(&cookie)).await;
                assert_eq!(read.body, r#"user=Some("ada") uid=Some(7) new=false"#);
            }

            #[rocket::async_test]
            async fn rocket_writes_and_flask_reads_with_pythons_values_intact() {
                let made = Made::on(PEER);
                let cookie = made.note(&flask_get(PEER, "/typed", None).cookie.unwrap());
                let before = flask_read(PEER, &cookie);
                let client = rocket(PEER, false).await;
                let written = get(&client, "/login/grace", Some(&cookie)).await;
                assert!(
                    written.set_cookies.iter().all(|c| c.value() == cookie),
                    "the same id"
                );
                let after = flask_read(PEER, &cookie);
                assert_eq!(after["keys"]["user"], json!(["str", "grace"]));
                for key in ["raw", "when", "ratio", "big", "nested", "_permanent"] {
                    assert_eq!(after["keys"][key], before["keys"][key], "{key}");
                }
                assert_eq!(after["keys"]["raw"], json!(["bytes", [0, 1, 255]]));
                assert_eq!(after["keys"]["big"], json!(["int", u64::MAX]));
                assert_eq!(after["keys"]["when"][0], "datetime");
                assert_eq!(after["permanent"], true);
            }

            #[rocket::async_test]
            async fn a_new_rocket_session_is_a_flask_session_record() {
                let made = Made::on(PEER);
                let client = rocket(PEER, false).await;
                let cookie = made.note(&get(&client, "/login/ada", None).await.value());
                assert_eq!(cookie.len(), 43);
                let blob = PEER.record(&cookie).expect("a record");
                let value = rmpv::decode::read_value(&mut &blob[..]).expect("msgpack");
                let map = value.as_map().expect("one msgpack map");
                assert_eq!(map.len(), 1, "{value}");
                assert_eq!(
                    (map[0].0.as_str(), map[0].1.as_str()),
                    (Some("user"), Some("ada"))
                );
                if let Peer::Redis = PEER {
                    // (Memcached and the SQL table tell no time to live.)
                    let key = format!("{}{cookie}", prefix());
                    let ttl: i64 = redis_query(redis::cmd("PTTL").arg(&key));
                    assert!(ttl > 30 * 24 * 3600 * 1000, "max_age, 31 days: {ttl}");
                }
                assert_eq!(
                    flask_read(PEER, &cookie)["keys"]["user"],
                    json!(["str", "ada"])
                );
            }

            #[rocket::async_test]
            async fn flashes_cross_both_ways_and_are_read_once() {
                let made = Made::on(PEER);
                let client = rocket(PEER, false).await;
                let cookie = made.note(
                    &flask_get(PEER, "/flash/success/saved", None)
                        .cookie
                        .unwrap(),
                );
                assert_eq!(
                    get(&client, "/take", Some(&cookie)).await.body,
                    r#"[(Success, "saved")]"#
                );
                assert_eq!(get(&client, "/take", Some(&cookie)).await.body, "[]");
                let flashed = get(&client, "/flash/hello", Some(&cookie)).await;
                let cookie = flashed.cookie().map_or(cookie, |c| made.note(c.value()));
                assert_eq!(
                    flask_get(PEER, "/flashes", Some(&cookie)).body.trim(),
                    r#"[["success","hello"]]"#
                );
                assert_eq!(flask_get(PEER, "/flashes", Some(&cookie)).body.trim(), "[]");
            }

            #[rocket::async_test]
            async fn a_clear_on_rocket_ends_the_session_for_flask() {
                let made = Made::on(PEER);
                let cookie = made.note(&flask_get(PEER, "/login/ada", None).cookie.unwrap());
                let client = rocket(PEER, false).await;
                let cleared = get(&client, "/clear", Some(&cookie)).await;
                assert!(
                    cleared.set_cookies.iter().any(|c| c.value().is_empty()),
                    "cookie removed"
                );
                assert_eq!(PEER.record(&cookie), None, "the record is deleted");
                assert_eq!(flask_read(PEER, &cookie)["keys"].get("user"), None);
            }

            #[rocket::async_test]
            async fn a_record_flask_session_cannot_decode_is_a_fresh_session_not_a_500() {
                let made = Made::on(PEER);
                let cookie = made.note(&flask_get(PEER, "/login/ada", None).cookie.unwrap());
                PEER.set_record(&cookie, b"\xc1 not msgpack");
                let (status, _) = flask().get_any(&format!("{}/read", PEER.flask()), Some(&cookie));
                assert!(
                    status.contains("500"),
                    "Flask-Session itself fails: {status}"
                );
                let client = rocket(PEER, false).await;
                let read = get(&client, "/read", Some(&cookie)).await;
                assert_eq!(read.status, Status::Ok);
                assert!(read.body.ends_with("new=true"), "{}", read.body);
                assert_eq!(
                    PEER.record(&cookie),
                    None,
                    "the unreadable record is deleted"
                );
            }

            #[rocket::async_test]
            async fn concurrent_rocket_writes_to_different_keys_of_a_flask_session_all_survive() {
                let made = Made::on(PEER);
                let cookie = made.note(&flask_get(PEER, "/login/ada", None).cookie.unwrap());
                let client = rocket(PEER, false).await;
                let requests = (0..16).map(|i| {
                    let (client, cookie) = (&client, cookie.clone());
                    let path = match i % 2 {
                        0 => format!("/login/user{i}"),
                        _ => format!("/flash/note{i}"),
                    };
                    async move { get(client, &path, Some(&cookie)).await.status }
                });
                for status in rocket::futures::future::join_all(requests).await {
                    assert_eq!(status, Status::Ok);
                }
                let read = flask_read(PEER, &cookie);
                assert_eq!(
                    read["keys"]["uid"],
                    json!(["int", 7]),
                    "Flask's own key kept"
                );
                assert!(read["keys"]["user"][1]
                    .as_str()
                    .unwrap()
                    .starts_with("user"));
                // Concurrent writes of one key (`_flashes`): the last wins, as with every store.
                let flashes = read["keys"]["_flashes"][1].as_array().expect("the flashes");
                assert!(!flashes.is_empty(), "{read}");
            }
        }
    };
}

interop!(on_redis, Peer::Redis);
interop!(on_memcached, Peer::Memcached);
interop!(on_postgres, Peer::Sql(Engine::Postgres));
interop!(on_mysql, Peer::Sql(Engine::MySql));
interop!(on_sqlite, Peer::Sql(Engine::Sqlite));

#[rocket::async_test]
async fn signed_ids_verify_both_ways_and_a_tampered_one_is_a_fresh_session() {
    let made = Made::on(Peer::Redis);
    let cookie = made.note(&flask().get("/signed/login/ada", None).cookie.unwrap());
    let (id, signature) = cookie.split_once('.').expect("id.signature");
    assert_eq!((id.len(), signature.len()), (43, 27));
    let client = rocket(Peer::Redis, true).await;
    assert!(get(&client, "/read", Some(&cookie))
        .await
        .body
        .starts_with(r#"user=Some("ada")"#));
    let tampered = format!("{id}.{}", "A".repeat(27));
    assert!(get(&client, "/read", Some(&tampered))
        .await
        .body
        .ends_with("new=true"));
    assert!(
        get(&client, "/read", Some(id))
            .await
            .body
            .ends_with("new=true"),
        "unsigned"
    );
    let mine = made.note(&get(&client, "/login/grace", None).await.value());
    assert!(mine.contains('.'), "signed: {mine}");
    let flask_reads = flask().get("/signed/read", Some(&mine)).body;
    assert!(flask_reads.contains(r#""grace""#), "{flask_reads}");
}
