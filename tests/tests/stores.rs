//! One suite, run against every store: the signed cookie, `MemoryStore`,
//! `RedisStore`, `PostgresStore`, `MySqlStore` and `SqliteStore`; then what only
//! server-side stores promise.
//!
//! Redis tests use `REDIS_URL` (default `redis://127.0.0.1:6379`), each with its own
//! key prefix; SQL tests use `POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), `MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`) and a temporary SQLite file, each with its own
//! table, dropped afterwards. They never skip: without the servers they fail.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use common::backend::*;
use common::*;
use redis::AsyncCommands;
use rocket::figment::value::Value;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::tokio::sync::Notify;
use rocket::{get, routes, State};
use rocket_keepsake::store::{MySqlStore, PostgresStore, RedisStore, SqliteStore};
use rocket_keepsake::{flash, Flashes, Keepsake, Session};

impl Backend {
    async fn client(&self, settings: &[(&str, Value)]) -> Client {
        self.client_with(self.fairing(), settings).await
    }

    /// A client of the test app whose fairing reads the time from `clock`.
    async fn clocked_client(&self, clock: &ManualClock, settings: &[(&str, Value)]) -> Client {
        let fairing = self.fairing().with_clock(clock.clone());
        self.client_with(fairing, settings).await
    }

    async fn client_with(&self, fairing: Keepsake, settings: &[(&str, Value)]) -> Client {
        let mut settings = settings.to_vec();
        settings.extend(self.settings());
        let rocket = app_with(fairing, &settings)
            .mount(
                "/",
                routes![
                    gated_push, slot, slots, flash_push, flash_take, logout, odd_set, odd_drop,
                    odd_get, quoted
                ],
            )
            .manage(Gate::default());
        // The client keeps the keys until it is dropped, even when the backend was a
        // temporary (`backend().client(..)`).
        let rocket = match self {
            Backend::Redis { cleanup, .. } => rocket.manage(cleanup.clone()),
            Backend::Memcached { cleanup, .. } => rocket.manage(cleanup.clone()),
            Backend::File(dir) => rocket.manage(dir.clone()),
            Backend::RedisCluster { cluster, .. } => rocket.manage(cluster.clone()),
            Backend::Sql { cleanup, .. } => rocket.manage(cleanup.clone()),
            _ => rocket,
        };
        client(rocket).await
    }
}

/// Lets a test hold a request between loading its session and saving it.
#[derive(Default)]
pub struct Gate {
    /// Notified once the gated request has loaded its session.
    loaded: Notify,
    /// Lets the gated request go on to change and save it.
    release: Notify,
}

#[get("/gated_push/<item>")]
async fn gated_push(item: &str, gate: &State<Gate>, mut auth: Session<'_, Auth>) -> &'static str {
    gate.loaded.notify_one();
    gate.release.notified().await;
    auth.cart.push(item.to_owned());
    "pushed late"
}

/// Eight keys, for concurrent requests that each change one.
#[derive(Session, Default, Debug)]
pub struct Slots {
    s0: Option<u32>,
    s1: Option<u32>,
    s2: Option<u32>,
    s3: Option<u32>,
    s4: Option<u32>,
    s5: Option<u32>,
    s6: Option<u32>,
    s7: Option<u32>,
}

#[get("/slot/<i>")]
async fn slot(i: usize, mut slots: Session<'_, Slots>) -> &'static str {
    // Let the other requests load the same record before this one saves.
    rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    let s = &mut *slots;
    let field = [
        &mut s.s0, &mut s.s1, &mut s.s2, &mut s.s3, &mut s.s4, &mut s.s5, &mut s.s6, &mut s.s7,
    ];
    if let Some(field) = field.into_iter().nth(i) {
        *field = Some(i as u32);
    }
    "set"
}

#[get("/slots")]
fn slots(slots: Session<'_, Slots>) -> String {
    format!("{:?}", *slots)
}

#[flash]
enum Notice {
    Success,
}

#[get("/flash/<message>")]
fn flash_push(message: &str, mut notices: Flashes<'_, Notice>) -> &'static str {
    notices.push(Notice::Success, message);
    "flashed"
}

/// Logout as the example app does it: clear, then a flash for the next page.
#[get("/logout")]
fn logout(mut auth: Session<'_, Auth>, mut notices: Flashes<'_, Notice>) -> &'static str {
    auth.clear();
    notices.push(Notice::Success, "bye");
    "logged out"
}

#[get("/flash")]
fn flash_take(mut notices: Flashes<'_, Notice>) -> String {
    format!(
        "{:?}",
        notices
            .take_all()
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
    )
}

/// Strings PostgreSQL's `jsonb` refuses (U+0000, lone surrogate escapes), and the
/// character its store escapes them with (U+E000), in a value and in a key.
#[derive(Session, Default)]
struct Odd {
    raw: Option<Box<serde_json::value::RawValue>>,
    #[session(rename = "k\u{E000}ey")]
    marked_key: Option<String>,
}

/// The JSON text `/odd/set` stores, compact.
const ODD: &str = "[\"\\ud800\",\"a\\u0000b\",\"\u{E000}0\",\"\\udc00x\\ud800\"]";

#[get("/odd/set")]
fn odd_set(mut odd: Session<'_, Odd>) -> &'static str {
    odd.raw = Some(serde_json::value::RawValue::from_string(ODD.to_owned()).unwrap());
    odd.marked_key = Some("\u{0}\u{E000}".to_owned());
    "set"
}

#[get("/odd/drop")]
fn odd_drop(mut odd: Session<'_, Odd>) -> &'static str {
    odd.marked_key = None;
    "dropped"
}

#[get("/odd")]
fn odd_get(odd: Session<'_, Odd>) -> String {
    // jsonb writes `, ` between items: compare the items.
    let raw = odd.raw.as_ref().map(|raw| raw.get().replace(", ", ","));
    format!("{raw:?} {:?}", odd.marked_key)
}

/// The behaviours every store shares, as one module of tests per store.
macro_rules! suite {
    ($module:ident, $store:ident) => {
        mod $module {
            use super::*;

            fn backend() -> Backend {
                Backend::$store()
            }

            #[rocket::async_test]
            async fn write_then_read() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let read = get(&client, "/read", Some(&cookie)).await;
                assert_eq!(read.body, r#"user=Some("ada") visits=0 cart=[] new=false"#);
                assert!(read.set_cookies.is_empty(), "unchanged: no cookie");
                assert!(read.varies_on_cookie());
            }

            #[rocket::async_test]
            async fn any_string_a_client_can_send_round_trips() {
                let backend = backend();
                let client = backend.client(&[]).await;
                // U+0000 in a value, written by an insert, then by an update.
                let cookie = get(&client, "/login/ab%00cd", None).await.value();
                let read = get(&client, "/read", Some(&cookie)).await;
                assert!(
                    read.body.starts_with(r#"user=Some("ab\0cd")"#),
                    "{}",
                    read.body
                );
                let cookie = get(&client, "/login/%EE%80%80%00", Some(&cookie))
                    .await
                    .value();
                let read = get(&client, "/read", Some(&cookie)).await;
                assert!(
                    read.body.starts_with(r#"user=Some("\u{e000}\0")"#),
                    "{}",
                    read.body
                );
                // Lone surrogates in JSON text, and a key holding U+E000, set and removed.
                let set = get(&client, "/odd/set", Some(&cookie)).await;
                if backend.is_flask_session() {
                    // msgpack strings are UTF-8, which a lone surrogate is not: refused,
                    // and nothing of the request written.
                    assert_eq!(set.status, Status::InternalServerError);
                    let odd = get(&client, "/odd", Some(&cookie)).await.body;
                    assert_eq!(odd, "None None");
                    return;
                }
                assert_eq!(set.status, Status::Ok);
                let cookie = set.cookie().map_or(cookie, |c| c.value().to_owned());
                let odd = get(&client, "/odd", Some(&cookie)).await.body;
                assert_eq!(odd, format!("Some({ODD:?}) Some(\"\\0\\u{{e000}}\")"));
                let dropped = get(&client, "/odd/drop", Some(&cookie)).await;
                let cookie = dropped.cookie().map_or(cookie, |c| c.value().to_owned());
                let odd = get(&client, "/odd", Some(&cookie)).await.body;
                assert_eq!(odd, format!("Some({ODD:?}) None"));
            }

            #[rocket::async_test]
            async fn a_large_value_round_trips_where_the_store_holds_it() {
                let backend = backend();
                let client = backend.client(&[]).await;
                // The cookie holds 4 KB (a 500 past it, tested elsewhere); Memcached
                // 1 MiB per item, the least of the server stores.
                let n = if backend.is_server_side() {
                    900 * 1024
                } else {
                    2048
                };
                if let Backend::Sql {
                    engine: Engine::MySql,
                    flask: true,
                    ..
                } = backend
                {
                    // Flask-Session's MySQL table holds 64 KiB a record (a `BLOB`): past
                    // it, refused as a 500, with nothing written.
                    let refused = get(&client, "/big/70000", None).await;
                    assert_eq!(refused.status, Status::InternalServerError);
                    assert_eq!(backend.records().await, Some(0));
                    let fits = get(&client, "/big/60000", None).await;
                    assert_eq!(fits.status, Status::Ok);
                    let read = read_session(&client, &fits.value()).await;
                    assert!(read.starts_with(&format!("user=Some(\"{}\")", "x".repeat(60000))));
                    return;
                }
                let big = get(&client, &format!("/big/{n}"), None).await;
                assert_eq!(big.status, Status::Ok);
                let read = read_session(&client, &big.value()).await;
                assert!(read.starts_with(&format!("user=Some(\"{}\")", "x".repeat(n))));
            }

            #[rocket::async_test]
            async fn nested_change_and_shared_views() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let pushed = get(&client, "/push/apple", Some(&cookie))
                    .await
                    .cookie()
                    .map(|c| c.value().to_owned());
                let cookie = pushed.unwrap_or(cookie);
                let themed = get(&client, "/theme/dark", Some(&cookie)).await;
                let cookie = themed
                    .cookie()
                    .map(|c| c.value().to_owned())
                    .unwrap_or(cookie);
                let read = read_session(&client, &cookie).await;
                assert!(
                    read.contains(r#"cart=["apple"]"#) && read.contains("ada"),
                    "{read}"
                );
                assert_eq!(
                    get(&client, "/prefs", Some(&cookie)).await.body,
                    r#"theme=Some("dark")"#
                );
            }

            #[rocket::async_test]
            async fn clear_deletes_cookie_and_record() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let cleared = get(&client, "/clear", Some(&cookie)).await;
                assert_eq!(cleared.cookie().map(|c| c.value()), Some(""));
                if backend.is_server_side() {
                    // Only a server-side store can revoke a copy of the old cookie.
                    assert!(read_session(&client, &cookie).await.ends_with("new=true"));
                    assert_eq!(backend.records().await, Some(0));
                }
            }

            #[rocket::async_test]
            async fn clear_retires_the_session_and_what_follows_starts_a_new_one() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let after = get(&client, "/logout", Some(&cookie)).await.value();
                assert_ne!(cookie_payload(&after), cookie_payload(&cookie));
                let read = read_session(&client, &after).await;
                assert!(read.starts_with("user=None"), "{read}");
                if backend.is_server_side() {
                    assert_eq!(backend.records().await, Some(1), "only the new session");
                    let old = read_session(&client, &cookie).await;
                    assert!(old.ends_with("new=true"), "the old id loads nothing: {old}");
                }
                assert_eq!(
                    get(&client, "/flash", Some(&after)).await.body,
                    r#"["bye"]"#
                );
            }

            #[rocket::async_test]
            async fn permanent_sessions_refresh() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/permanent/true", None).await.value();
                let read = get(&client, "/read", Some(&cookie)).await;
                assert!(
                    read.cookie().is_some_and(|c| c.max_age().is_some()),
                    "{read:?}"
                );
                assert!(get(&client, "/read", Some(&read.value()))
                    .await
                    .body
                    .ends_with("new=false"));
            }

            #[rocket::async_test]
            async fn tampered_cookie_is_a_fresh_session() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let mut bytes = cookie.into_bytes();
                bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
                let read = get(&client, "/read", Some(&String::from_utf8(bytes).unwrap())).await;
                assert_eq!(
                    (read.status, read.body.ends_with("new=true")),
                    (Status::Ok, true)
                );
            }

            #[rocket::async_test]
            async fn cycle_id_keeps_the_data() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let cycled = get(&client, "/cycle", Some(&cookie)).await.value();
                assert!(read_session(&client, &cycled)
                    .await
                    .starts_with(r#"user=Some("ada")"#));
            }

            #[rocket::async_test]
            async fn flashes_are_read_once() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/flash/saved", None).await.value();
                let taken = get(&client, "/flash", Some(&cookie)).await;
                assert_eq!(taken.body, r#"["saved"]"#);
                let after = taken
                    .cookie()
                    .map(|c| c.value().to_owned())
                    .filter(|v| !v.is_empty());
                assert_eq!(get(&client, "/flash", after.as_deref()).await.body, "[]");
            }

            #[rocket::async_test]
            async fn idle_sessions_expire() {
                let clock = ManualClock::new();
                let backend = backend();
                let client = backend
                    .clocked_client(&clock, &[("idle_timeout", Value::from(600u64))])
                    .await;
                let cookie = get(&client, "/login/ada", None).await.value();
                if let Backend::Redis {
                    url,
                    prefix,
                    flask: true,
                    ..
                } = &backend
                {
                    // Flask-Session's cookie carries no time: the store expires it.
                    let mut con = redis_connection(url).await;
                    let ttl: i64 = con.pttl(format!("{prefix}{cookie}")).await.unwrap();
                    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
                    return;
                }
                if backend.is_flask_session() {
                    // Memcached tells no time to live: let a one-second one pass.
                    let client = backend.client(&[("idle_timeout", Value::from(1u64))]).await;
                    let cookie = get(&client, "/login/ada", None).await.value();
                    assert!(read_session(&client, &cookie).await.ends_with("new=false"));
                    rocket::tokio::time::sleep(Duration::from_millis(2500)).await;
                    assert!(read_session(&client, &cookie).await.ends_with("new=true"));
                    return;
                }
                clock.advance(Duration::from_secs(601));
                assert!(read_session(&client, &cookie).await.ends_with("new=true"));
            }

            #[rocket::async_test]
            async fn routes_without_a_guard_touch_nothing() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let reply = get(&client, "/none", None).await;
                assert!(reply.set_cookies.is_empty() && reply.vary.is_empty());
                let read = get(&client, "/read", None).await;
                assert!(read.set_cookies.is_empty(), "a read creates no session");
                if backend.is_server_side() {
                    assert_eq!(backend.records().await, Some(0), "nor any record");
                }
            }
        }
    };
}

suite!(on_cookie, cookie);
suite!(on_memory, memory);
suite!(on_file, file);
suite!(on_memcached, memcached);
suite!(on_memcached_flask_session, memcached_flask_session);
suite!(on_redis_cluster, redis_cluster);
suite!(on_redis_cluster_flask_session, redis_cluster_flask_session);
suite!(on_redis, redis);
suite!(on_redis_flask_session, redis_flask_session);
suite!(on_postgres, postgres);
suite!(on_mysql, mysql);
suite!(on_sqlite, sqlite);
suite!(on_postgres_flask_session, postgres_flask_session);
suite!(on_mysql_flask_session, mysql_flask_session);
suite!(on_sqlite_flask_session, sqlite_flask_session);

/// What only server-side stores promise, for each of them.
macro_rules! server_side {
    ($module:ident, $store:ident) => {
        mod $module {
            use super::*;

            fn backend() -> Backend {
                Backend::$store()
            }

            #[rocket::async_test]
            async fn the_cookie_holds_only_the_id() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let payload = cookie_payload(&cookie);
                // 192 random bits (Flask-Session's: 256) in base64.
                assert_eq!(payload.len(), backend.id_len());
                assert!(!String::from_utf8_lossy(&payload).contains("ada"));
                assert_eq!(backend.records().await, Some(1));
            }

            #[rocket::async_test]
            async fn keys_unknown_to_every_view_survive() {
                let backend = backend();
                let legacy = client(
                    rocket::custom(figment(SECRET, &backend.settings()))
                        .attach(backend.fairing())
                        .mount("/", legacy_routes()),
                )
                .await;
                let main = backend.client(&[]).await;
                let cookie = get(&legacy, "/legacy/keep-me", None).await.value();
                let after = get(&main, "/login/ada", Some(&cookie)).await;
                let cookie = after
                    .cookie()
                    .map(|c| c.value().to_owned())
                    .unwrap_or(cookie);
                assert_eq!(
                    get(&legacy, "/legacy", Some(&cookie)).await.body,
                    r#"legacy=Some("keep-me")"#
                );
            }

            #[rocket::async_test]
            async fn an_unknown_id_gets_a_fresh_session_with_a_new_id() {
                let backend = backend();
                // A validly signed cookie for an id this store never issued.
                let elsewhere = Backend::memory().client(&[]).await;
                let foreign = get(&elsewhere, "/login/mallory", None).await.value();
                let client = backend.client(&[]).await;
                let read = get(&client, "/read", Some(&foreign)).await;
                assert!(read.body.ends_with("new=true"), "{}", read.body);
                let written = get(&client, "/push/x", Some(&foreign)).await.value();
                assert_ne!(
                    cookie_payload(&written),
                    cookie_payload(&foreign),
                    "the client's id is not adopted"
                );
            }

            #[rocket::async_test]
            async fn cycle_id_invalidates_the_old_id() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let old = get(&client, "/login/ada", None).await.value();
                let new = get(&client, "/cycle", Some(&old)).await.value();
                assert_ne!(cookie_payload(&old), cookie_payload(&new));
                assert!(read_session(&client, &old).await.ends_with("new=true"));
                assert!(read_session(&client, &new)
                    .await
                    .starts_with(r#"user=Some("ada")"#));
                assert_eq!(backend.records().await, Some(1));
            }

            #[rocket::async_test]
            async fn a_write_after_a_concurrent_clear_does_not_resurrect() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                let gate = client.rocket().state::<Gate>().unwrap();
                take_logs();
                let (late, ()) =
                    rocket::tokio::join!(get(&client, "/gated_push/x", Some(&cookie)), async {
                        gate.loaded.notified().await;
                        let cleared = get(&client, "/clear", Some(&cookie)).await;
                        assert_eq!(cleared.cookie().map(|c| c.value()), Some(""));
                        gate.release.notify_one();
                    });
                assert_eq!(late.body, "pushed late");
                assert!(late.set_cookies.is_empty(), "{:?}", late.set_cookies);
                assert_eq!(
                    backend.records().await,
                    Some(0),
                    "the cleared session stays deleted"
                );
                assert!(take_logs()
                    .iter()
                    .any(|(_, m)| m.contains("concurrent request")));
            }

            #[rocket::async_test]
            async fn a_write_after_a_concurrent_cycle_does_not_resurrect_the_old_id() {
                let backend = backend();
                let client = backend.client(&[]).await;
                let old = get(&client, "/login/ada", None).await.value();
                let gate = client.rocket().state::<Gate>().unwrap();
                let (late, new) =
                    rocket::tokio::join!(get(&client, "/gated_push/x", Some(&old)), async {
                        gate.loaded.notified().await;
                        let new = get(&client, "/cycle", Some(&old)).await.value();
                        gate.release.notify_one();
                        new
                    });
                assert!(late.set_cookies.is_empty());
                assert!(read_session(&client, &old).await.ends_with("new=true"));
                assert!(read_session(&client, &new)
                    .await
                    .starts_with(r#"user=Some("ada")"#));
                assert_eq!(backend.records().await, Some(1));
            }

            #[rocket::async_test]
            async fn concurrent_writes_to_different_keys_all_survive() {
                let client = backend().client(&[]).await;
                let cookie = get(&client, "/slot/0", None).await.value();
                let requests = (1..8).map(|i| {
                    let (client, cookie) = (&client, &cookie);
                    async move {
                        get(client, &format!("/slot/{i}"), Some(cookie))
                            .await
                            .status
                    }
                });
                let statuses = futures_join_all(requests).await;
                assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
                let all = get(&client, "/slots", Some(&cookie)).await.body;
                for i in 0..8 {
                    assert!(
                        all.contains(&format!("s{i}: Some({i})")),
                        "s{i} lost: {all}"
                    );
                }
            }
        }
    };
}

mod server_side {
    use super::*;
    server_side!(on_memory, memory);
    server_side!(on_file, file);
    server_side!(on_memcached, memcached);
    server_side!(on_memcached_flask_session, memcached_flask_session);
    server_side!(on_redis_cluster, redis_cluster);
    server_side!(on_redis_cluster_flask_session, redis_cluster_flask_session);
    server_side!(on_redis, redis);
    server_side!(on_redis_flask_session, redis_flask_session);
    server_side!(on_postgres, postgres);
    server_side!(on_mysql, mysql);
    server_side!(on_sqlite, sqlite);
    server_side!(on_postgres_flask_session, postgres_flask_session);
    server_side!(on_mysql_flask_session, mysql_flask_session);
    server_side!(on_sqlite_flask_session, sqlite_flask_session);
}

/// Runs the futures concurrently on this task; returns their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (handle, output) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = handle {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *handle = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

#[rocket::async_test]
async fn redis_ttl_is_set_and_refreshed() {
    let backend = Backend::redis();
    let Backend::Redis { url, prefix, .. } = &backend else {
        unreachable!()
    };
    let client = backend.client(&[("max_age", Value::from(100u64))]).await;
    let cookie = get(&client, "/permanent/true", None).await.value();
    let mut con = redis_connection(url).await;
    let key: String = con
        .keys::<_, Vec<String>>(format!("{prefix}*"))
        .await
        .unwrap()
        .remove(0);
    let first: i64 = con.pttl(&key).await.unwrap();
    assert!((98_000..=100_000).contains(&first), "{first}");
    // Age the record by 60 s without waiting for them.
    let _: bool = con.pexpire(&key, 40_000).await.unwrap();
    // A permanent session with refresh_each_request: reading refreshes the TTL.
    get(&client, "/read", Some(&cookie)).await;
    let refreshed: i64 = con.pttl(&key).await.unwrap();
    assert!((98_000..=100_000).contains(&refreshed), "{refreshed}");
}

/// A private server (`redis-server`, `memcached`) on a free port, so that a test can
/// stop and restart it; stopped when dropped.
/// The arguments of a private `redis-server` on `port`: loopback only, nothing on disk.
fn redis_args(port: u16) -> Vec<String> {
    let port = port.to_string();
    [
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(String::from)
    .to_vec()
}

struct PrivateServer {
    program: &'static str,
    args: fn(u16) -> Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl PrivateServer {
    fn redis() -> PrivateServer {
        PrivateServer::start_with("redis-server", redis_args)
    }

    fn memcached() -> PrivateServer {
        PrivateServer::start_with("memcached", |port| {
            ["-u", "root", "-l", "127.0.0.1", "-p", &port.to_string()]
                .map(String::from)
                .to_vec()
        })
    }

    fn start_with(program: &'static str, args: fn(u16) -> Vec<String>) -> PrivateServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = PrivateServer {
            program,
            args,
            port,
            child: None,
        };
        server.restart();
        server
    }

    fn restart(&mut self) {
        let child = Command::new(self.program)
            .args((self.args)(self.port))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} is installed (.ci/run installs it): {e}", self.program));
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not start on port {}", self.program, self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Sentinel deployment of its own, on free loopback ports: a master, a replica and
/// three sentinels (quorum 2, a master down after 500 ms, a failed election tried
/// again after 2 s), all stopped when dropped.
struct PrivateSentinel {
    master: u16,
    replica: u16,
    sentinels: [u16; 3],
    children: Vec<Child>,
    dir: TempDir,
}

impl PrivateSentinel {
    const SERVICE: &'static str = "keepsake";

    /// Starts a deployment; a server whose free port was taken meanwhile (by another
    /// test's connection) makes it start again on other ports.
    fn start() -> PrivateSentinel {
        for _ in 0..5 {
            if let Some(deployment) = PrivateSentinel::try_start() {
                return deployment;
            }
        }
        panic!("the private Sentinel deployment did not start in five tries");
    }

    fn try_start() -> Option<PrivateSentinel> {
        let port = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let mut deployment = PrivateSentinel {
            master: port(),
            replica: port(),
            sentinels: [port(), port(), port()],
            children: Vec::new(),
            dir: TempDir::new(),
        };
        std::fs::create_dir_all(&deployment.dir.0).unwrap();
        let (master, replica) = (deployment.master, deployment.replica);
        deployment.spawn(master, redis_args(master))?;
        let mut replica_args = redis_args(replica);
        replica_args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
        deployment.spawn(replica, replica_args)?;
        for sentinel in deployment.sentinels {
            let config = deployment.dir.0.join(format!("sentinel-{sentinel}.conf"));
            let service = Self::SERVICE;
            std::fs::write(
                &config,
                format!(
                    "port {sentinel}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel-{sentinel}.log\n\
                     sentinel monitor {service} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {service} 500\n\
                     sentinel failover-timeout {service} 1000\n",
                    dir = deployment.dir.0.display()
                ),
            )
            .unwrap();
            deployment.spawn(
                sentinel,
                vec![config.display().to_string(), "--sentinel".into()],
            )?;
        }
        // Ready: the replica in sync, and each sentinel knowing the replica (without
        // which a failover finds "no good slave"; a sentinel learns of it from the
        // master's INFO, every 10 s) and the two other sentinels (a failover's vote).
        deployment.wait_until(|d| d.cli(master, &["INFO", "replication"]).contains("slave0:"));
        deployment.wait_until(|d| {
            d.sentinels.iter().all(|&s| {
                let info = d.cli(s, &["SENTINEL", "MASTER", Self::SERVICE]);
                let field = |name: &str| info.lines().skip_while(|l| *l != name).nth(1);
                field("num-other-sentinels") == Some("2") && field("num-slaves") == Some("1")
            })
        });
        Some(deployment)
    }

    /// Starts `redis-server` with `args` and waits until it answers on `port`; `None`
    /// if it exited first (its port was taken).
    fn spawn(&mut self, port: u16, args: Vec<String>) -> Option<()> {
        let child = Command::new("redis-server")
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        self.children.push(child);
        for _ in 0..250 {
            if self.cli(port, &["PING"]).trim() == "PONG" {
                return Some(());
            }
            let exited = self
                .children
                .last_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed (tests/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_until(&self, ready: impl Fn(&PrivateSentinel) -> bool) {
        for _ in 0..600 {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let views: Vec<String> = self
            .sentinels
            .iter()
            .map(|&s| {
                self.cli(s, &["SENTINEL", "MASTER", Self::SERVICE])
                    .replace('\n', " ")
            })
            .collect();
        panic!("the private Sentinel deployment did not get ready: {views:#?}");
    }

    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+sentinel://{}/{}", hosts.join(","), Self::SERVICE)
    }

    /// Kills the master (the first server started), as a crash would.
    fn kill_master(&mut self) {
        let master = &mut self.children[0];
        master.kill().unwrap();
        master.wait().unwrap();
    }
}

impl Drop for PrivateSentinel {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Redis behind Sentinel, its master killed under requests: 503s while there is no
/// master, never a 500; the replica promoted, service resumes without a restart, and a
/// session written (and replicated) before the failover is still there.
#[rocket::async_test]
async fn a_sentinel_failover_gives_503s_then_the_new_master_serves_the_sessions() {
    let mut redis = PrivateSentinel::start();
    let client = client(app(&[("store", Value::from(redis.url()))])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    // Replicated before the master falls: asynchronous replication may lose the last
    // writes of a master that crashes, which is not what this test is about.
    redis.wait_until(|r| r.cli(r.replica, &["DBSIZE"]).trim() != "0");
    redis.kill_master();
    let killed = std::time::Instant::now();
    let (mut first_503, mut first_200) = (None, None);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut back = None;
    // An election can split the sentinels' votes and be held again: a few seconds,
    // sometimes more on a busy machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        let reply = get(&client, "/read", Some(&cookie)).await;
        *statuses.entry(reply.status.code).or_default() += 1;
        if reply.status == Status::ServiceUnavailable {
            first_503.get_or_insert(killed.elapsed());
        }
        if reply.status == Status::Ok {
            first_200 = Some(killed.elapsed());
            back = Some(reply.body);
            break;
        }
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        statuses.keys().all(|s| [200, 503].contains(s)),
        "only 200 and 503: {statuses:?}"
    );
    let back = back.unwrap_or_else(|| {
        let log = redis
            .dir
            .0
            .join(format!("sentinel-{}.log", redis.sentinels[0]));
        let log = std::fs::read_to_string(log).unwrap_or_default();
        panic!("no master within 90 s: {statuses:?}; a sentinel's log:\n{log}")
    });
    eprintln!(
        "failover timeline from the master's kill: first 503 at {first_503:?}, first 200 \
         at {first_200:?}; requests by status: {statuses:?}"
    );
    assert!(back.starts_with(r#"user=Some("ada")"#), "{back}");
    // The promoted replica is the master the sentinels name, and takes writes.
    let named = redis.cli(
        redis.sentinels[0],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "keepsake"],
    );
    assert!(named.contains(&redis.replica.to_string()), "{named}");
    let bob = get(&client, "/login/bob", None).await;
    assert_eq!(bob.status, Status::Ok);
    assert!(read_session(&client, &bob.value())
        .await
        .starts_with(r#"user=Some("bob")"#));
}

/// Memcached on two servers, one of which goes down: only the sessions on it get
/// 503s, the others carry on; once it is back its sessions start afresh (Memcached
/// keeps nothing), with no 500 at any point.
#[rocket::async_test]
async fn a_memcached_server_down_gives_503s_only_for_its_sessions() {
    let mut private = PrivateServer::memcached();
    let prefix = format!("keepsake-test:{}:down:", std::process::id());
    let url = format!("{},127.0.0.1:{}", memcached_url(), private.port);
    let store = rocket_keepsake::store::MemcachedStore::new(&url)
        .unwrap()
        .with_prefix(prefix.clone());
    let _cleanup = MemcachedCleanup::new(&prefix);
    let client = client(app_with(Keepsake::with_store(store), &[])).await;
    let mut cookies = Vec::new();
    for i in 0..12 {
        cookies.push(get(&client, &format!("/login/user{i}"), None).await.value());
    }
    let on_shared = memcached_records(&prefix).len();
    assert!(
        on_shared > 0 && on_shared < 12,
        "spread over both: {on_shared} of 12 on one"
    );
    private.stop();
    let mut unavailable = 0;
    for (i, cookie) in cookies.iter().enumerate() {
        let reply = get(&client, "/read", Some(cookie)).await;
        match reply.status {
            Status::Ok => assert!(reply.body.contains(&format!("user{i}")), "{}", reply.body),
            Status::ServiceUnavailable => unavailable += 1,
            other => panic!("{other}: {}", reply.body),
        }
    }
    assert_eq!(
        unavailable,
        12 - on_shared,
        "exactly the private server's sessions"
    );
    private.restart();
    let mut fresh = 0;
    for cookie in &cookies {
        let reply = get(&client, "/read", Some(cookie)).await;
        assert_eq!(reply.status, Status::Ok);
        fresh += usize::from(reply.body.ends_with("new=true"));
    }
    assert_eq!(
        fresh,
        12 - on_shared,
        "its sessions were lost with it, and start afresh"
    );
}

#[rocket::catch(503)]
fn unavailable() -> &'static str {
    "the app's own 503 page"
}

/// A free loopback port with nothing listening on it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[rocket::async_test]
async fn a_store_at_a_closed_port_gives_503s_with_a_clear_log() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let fairing = Keepsake::with_store(RedisStore::new(&url).unwrap());
    let rocket = app_with(fairing, &[])
        .mount("/", routes![flash_push])
        .register("/", rocket::catchers![unavailable]);
    let client = client(rocket).await;
    // A session cookie from a working store with the same secret makes the guard load.
    let cookie = get(&Backend::memory().client(&[]).await, "/login/ada", None)
        .await
        .value();
    take_logs();
    // A failed load, a failed save, and a failed load for a flash: each goes through
    // the app's catcher, and Shield's headers are there.
    for (path, cookie) in [
        ("/read", Some(cookie.as_str())),
        ("/login/ada", None),
        ("/flash/hello", Some(cookie.as_str())),
    ] {
        let reply = get(&client, path, cookie).await;
        assert_eq!(reply.status, Status::ServiceUnavailable, "{path}");
        assert_eq!(reply.body, "the app's own 503 page", "{path}");
        assert_eq!(
            reply.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(reply.set_cookies.is_empty(), "{path}");
    }
    let logs = take_logs();
    let failures: Vec<&String> = logs
        .iter()
        .filter(|(level, _)| *level == log::Level::Error)
        .map(|(_, m)| m)
        .collect();
    assert!(
        failures
            .iter()
            .any(|m| m.contains("session store `redis` failed")),
        "{logs:?}"
    );
    for message in failures {
        let cause = "Connection refused";
        assert!(
            message.matches(cause).count() <= 1,
            "the cause once: {message}"
        );
    }
    // A route without a session guard is not affected.
    assert_eq!(get(&client, "/none", None).await.status, Status::Ok);
}

#[rocket::async_test]
async fn a_failed_save_without_a_catcher_gets_rockets_default_page_with_shield_headers() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let client = client(app_with(
        Keepsake::with_store(RedisStore::new(&url).unwrap()),
        &[],
    ))
    .await;
    let reply = get(&client, "/login/ada", None).await;
    assert_eq!(reply.status, Status::ServiceUnavailable);
    assert!(reply.body.contains("503"), "{}", reply.body);
    assert_eq!(reply.header("X-Frame-Options"), Some("SAMEORIGIN"));
}

#[rocket::async_test]
async fn redis_going_down_gives_503s_and_service_resumes_when_it_is_back() {
    let mut redis = PrivateServer::redis();
    let fairing = Keepsake::with_store(RedisStore::new(&redis.url()).unwrap());
    let client = client(app_with(fairing, &[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    assert!(read_session(&client, &cookie)
        .await
        .starts_with(r#"user=Some("ada")"#));

    redis.stop();
    take_logs();
    for path in ["/read", "/push/x"] {
        let reply = get(&client, path, Some(&cookie)).await;
        assert_eq!(reply.status, Status::ServiceUnavailable, "{path}");
        assert!(
            reply.set_cookies.is_empty(),
            "{path}: never a silent logout"
        );
    }
    assert!(take_logs()
        .iter()
        .any(|(_, m)| m.contains("session store `redis` failed")));

    // Back (empty, as a restarted Redis that keeps nothing on disk would be): the old
    // session is gone, and new ones work again through the same store.
    redis.restart();
    let mut recovered = None;
    for _ in 0..50 {
        let reply = get(&client, "/login/grace", None).await;
        if reply.status == Status::Ok {
            recovered = Some(reply.value());
            break;
        }
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = recovered.expect("service resumes once Redis is back");
    assert!(read_session(&client, &cookie)
        .await
        .starts_with(r#"user=Some("grace")"#));
}

#[rocket::async_test]
async fn redis_dropping_the_connection_is_survived() {
    let backend = Backend::redis();
    let Backend::Redis { url, .. } = &backend else {
        unreachable!()
    };
    let client = backend.client(&[]).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    // Kill every client connection but this one, as a failover or a proxy would.
    let mut admin = redis_connection(url).await;
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .unwrap();
    let mut answered = None;
    for _ in 0..20 {
        let reply = get(&client, "/read", Some(&cookie)).await;
        if reply.status == Status::Ok {
            answered = Some(reply.body);
            break;
        }
        assert_eq!(
            reply.status,
            Status::ServiceUnavailable,
            "a failure is a 503, never a panic"
        );
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        answered.as_deref(),
        Some(r#"user=Some("ada") visits=0 cart=[] new=false"#)
    );
}

/// The Redis key a session cookie of `backend` points to.
fn redis_key(prefix: &str, cookie: &str) -> String {
    format!(
        "{prefix}{}",
        String::from_utf8(cookie_payload(cookie)).unwrap()
    )
}

#[rocket::async_test]
async fn an_unreadable_stored_record_is_a_fresh_session_and_is_deleted() {
    let backend = Backend::redis();
    let Backend::Redis { url, prefix, .. } = &backend else {
        unreachable!()
    };
    let client = backend.client(&[]).await;
    let mut con = redis_connection(url).await;
    // A key of the wrong type, and a hash with a value that is not UTF-8.
    let wrong_type = get(&client, "/login/ada", None).await.value();
    let key = redis_key(prefix, &wrong_type);
    let _: () = con.del(&key).await.unwrap();
    let _: () = con.set(&key, "x").await.unwrap();
    let not_utf8 = get(&client, "/login/grace", None).await.value();
    let key2 = redis_key(prefix, &not_utf8);
    let _: () = con.hset(&key2, "user", &b"\"\xff\xfe\""[..]).await.unwrap();
    for (cookie, key) in [(&wrong_type, &key), (&not_utf8, &key2)] {
        take_logs();
        let read = get(&client, "/read", Some(cookie)).await;
        assert_eq!(read.status, Status::Ok, "{key}");
        assert!(read.body.ends_with("new=true"), "{}", read.body);
        assert!(take_logs()
            .iter()
            .any(|(level, m)| *level == log::Level::Warn && m.contains("cannot be read")));
        let exists: bool = con.exists(key).await.unwrap();
        assert!(!exists, "the unreadable record is deleted");
    }
}

/// A stored value that is not JSON (written by another program, say) is read as the
/// field's default, like a cookie's value that does not decode; the other keys are
/// read, and a change saves only its own key, leaving that value and unknown keys be.
#[rocket::async_test]
async fn a_stored_value_that_is_not_json_reads_as_the_default_and_is_left_alone() {
    let backend = Backend::redis();
    let Backend::Redis { url, prefix, .. } = &backend else {
        unreachable!()
    };
    let client = backend.client(&[]).await;
    let mut con = redis_connection(url).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let key = redis_key(prefix, &cookie);
    let _: () = con.hset(&key, "user", "not json {").await.unwrap();
    let _: () = con.hset(&key, "visits", "3").await.unwrap();
    let _: () = con
        .hset(&key, "other_app", r#"{"a":[1,"}"]}"#)
        .await
        .unwrap();
    let read = get(&client, "/read", Some(&cookie)).await;
    assert_eq!(read.status, Status::Ok);
    assert_eq!(read.body, "user=None visits=3 cart=[] new=false");
    assert_eq!(
        get(&client, "/push/pear", Some(&cookie)).await.status,
        Status::Ok
    );
    let read = get(&client, "/read", Some(&cookie)).await;
    assert_eq!(read.body, r#"user=None visits=3 cart=["pear"] new=false"#);
    let stored: std::collections::HashMap<String, String> = con.hgetall(&key).await.unwrap();
    assert_eq!(stored["user"], "not json {");
    assert_eq!(stored["other_app"], r#"{"a":[1,"}"]}"#);
    assert_eq!(stored["cart"], r#"["pear"]"#);
}

#[rocket::async_test]
async fn a_frozen_redis_gives_503s_that_say_the_write_may_have_been_applied() {
    let redis = PrivateServer::redis();
    let fairing = Keepsake::with_store(RedisStore::new(&redis.url()).unwrap());
    let rocket = app_with(fairing, &[])
        .mount("/", routes![gated_push])
        .manage(Gate::default());
    let client = client(rocket).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let pid = redis.child.as_ref().unwrap().id().to_string();
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success(), "kill {sig}");
    };
    let gate = client.rocket().state::<Gate>().unwrap();
    take_logs();
    // Stopped, not only signalled: a busy machine may let it answer once more.
    let stopped = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('T'))
    };
    // The request loads while Redis answers, and saves after it froze.
    let (saved, ()) = rocket::tokio::join!(get(&client, "/gated_push/x", Some(&cookie)), async {
        gate.loaded.notified().await;
        signal("-STOP");
        for _ in 0..1000 {
            if stopped() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        gate.release.notify_one();
    });
    let loaded = get(&client, "/read", Some(&cookie)).await;
    signal("-CONT");
    assert_eq!(saved.status, Status::ServiceUnavailable);
    assert!(saved.set_cookies.is_empty());
    assert_eq!(loaded.status, Status::ServiceUnavailable);
    let logs = take_logs();
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains("may not have been saved")
                && m.contains("session store `redis` timed out")),
        "{logs:?}"
    );
    // Once it resumes, the session works again.
    let mut read = String::new();
    for _ in 0..50 {
        let reply = get(&client, "/read", Some(&cookie)).await;
        if reply.status == Status::Ok {
            read = reply.body;
            break;
        }
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(read.starts_with(r#"user=Some("ada")"#), "{read}");
}

/// A fairing over the backend's SQL store, and the store itself to sweep.
/// A client of an app on `backend`'s SQL store (which never sweeps by itself), and
/// the store, to sweep by hand.
async fn sql_client(backend: &Backend) -> (Client, Arc<dyn Sweep>) {
    let (fairing, store) = sql_store(backend);
    let client = client(app_with(fairing, &[]).manage(backend.clone())).await;
    (client, store)
}

/// Runs `UPDATE <table> SET <assignment>` on the row of the session `cookie` names.
async fn update_row(backend: &Backend, cookie: &str, assignment: &str) {
    let Backend::Sql {
        engine, url, table, ..
    } = backend
    else {
        unreachable!("a SQL backend")
    };
    let id = String::from_utf8(cookie_payload(cookie)).unwrap();
    let statement = format!("UPDATE {table} SET {assignment} WHERE id = '{id}'");
    sql_execute(*engine, url, &statement).await;
}

fn sql_store(backend: &Backend) -> (Keepsake, Arc<dyn Sweep>) {
    let Backend::Sql {
        engine, url, table, ..
    } = backend
    else {
        unreachable!("a SQL backend")
    };
    let no_sweep = Duration::ZERO;
    match engine {
        Engine::Postgres => {
            let store = Arc::new(
                PostgresStore::new(url)
                    .unwrap()
                    .with_table(table.clone())
                    .with_sweep_interval(no_sweep),
            );
            (Keepsake::with_store(store.clone()), store)
        }
        Engine::MySql => {
            let store = Arc::new(
                MySqlStore::new(url)
                    .unwrap()
                    .with_table(table.clone())
                    .with_sweep_interval(no_sweep),
            );
            (Keepsake::with_store(store.clone()), store)
        }
        Engine::Sqlite => {
            let store = Arc::new(
                SqliteStore::new(url)
                    .unwrap()
                    .with_table(table.clone())
                    .with_sweep_interval(no_sweep),
            );
            (Keepsake::with_store(store.clone()), store)
        }
    }
}

/// The stores' `sweep`, for one test over all three.
#[rocket::async_trait]
trait Sweep: Send + Sync {
    async fn sweep_now(&self) -> u64;
}

#[rocket::async_trait]
impl Sweep for PostgresStore {
    async fn sweep_now(&self) -> u64 {
        self.sweep().await.unwrap()
    }
}

#[rocket::async_trait]
impl Sweep for MySqlStore {
    async fn sweep_now(&self) -> u64 {
        self.sweep().await.unwrap()
    }
}

#[rocket::async_trait]
impl Sweep for SqliteStore {
    async fn sweep_now(&self) -> u64 {
        self.sweep().await.unwrap()
    }
}

/// What only the SQL stores promise, for each of them.
macro_rules! sql_only {
    ($module:ident, $store:ident) => {
        mod $module {
            use super::*;

            #[rocket::async_test]
            async fn the_sweep_removes_expired_rows_and_only_those() {
                let backend = Backend::$store();
                let (client, store) = sql_client(&backend).await;
                let expired = get(&client, "/login/ada", None).await.value();
                let live = get(&client, "/login/grace", None).await.value();
                let past = match &backend {
                    Backend::Sql {
                        engine: Engine::Postgres,
                        ..
                    } => "now() - interval '1 hour'",
                    Backend::Sql {
                        engine: Engine::MySql,
                        ..
                    } => "NOW(6) - INTERVAL 1 HOUR",
                    _ => "0",
                };
                update_row(&backend, &expired, &format!("expires_at = {past}")).await;
                assert!(
                    read_session(&client, &expired).await.ends_with("new=true"),
                    "an expired row is never loaded"
                );
                assert_eq!(backend.records().await, Some(2), "not yet swept");
                assert_eq!(store.sweep_now().await, 1);
                assert_eq!(backend.records().await, Some(1));
                assert!(read_session(&client, &live)
                    .await
                    .starts_with(r#"user=Some("grace")"#));
            }

            #[rocket::async_test]
            async fn a_row_whose_data_is_json_but_not_an_object_is_a_fresh_session_and_is_deleted()
            {
                let backend = Backend::$store();
                let (client, _) = sql_client(&backend).await;
                let cookie = get(&client, "/login/ada", None).await.value();
                update_row(&backend, &cookie, "data = '[1, 2]'").await;
                assert!(
                    read_session(&client, &cookie).await.ends_with("new=true"),
                    "an array is not a session record"
                );
                assert_eq!(
                    backend.records().await,
                    Some(0),
                    "the unreadable row is deleted"
                );
            }

            #[rocket::async_test]
            async fn a_database_at_a_closed_port_gives_503s() {
                let port = closed_port();
                let Backend::Sql { engine, .. } = Backend::$store() else {
                    unreachable!()
                };
                let (fairing, name) = match engine {
                    Engine::Postgres => (
                        Keepsake::with_store(
                            PostgresStore::new(&format!(
                                "postgres://postgres@127.0.0.1:{port}/test"
                            ))
                            .unwrap(),
                        ),
                        "postgres",
                    ),
                    Engine::MySql => (
                        Keepsake::with_store(
                            MySqlStore::new(&format!("mysql://root@127.0.0.1:{port}/test"))
                                .unwrap(),
                        ),
                        "mysql",
                    ),
                    Engine::Sqlite => (
                        Keepsake::with_store(
                            SqliteStore::new("sqlite:///nonexistent-dir/for/keepsake.db").unwrap(),
                        ),
                        "sqlite",
                    ),
                };
                let client = client(app_with(fairing, &[])).await;
                take_logs();
                let reply = get(&client, "/login/ada", None).await;
                assert_eq!(reply.status, Status::ServiceUnavailable);
                assert!(reply.set_cookies.is_empty());
                let logs = take_logs();
                assert!(
                    logs.iter()
                        .any(|(_, m)| m.contains(&format!("session store `{name}` failed"))),
                    "{logs:?}"
                );
                assert_eq!(get(&client, "/none", None).await.status, Status::Ok);
            }
        }
    };
}

mod sql_only {
    use super::*;
    sql_only!(on_postgres, postgres);
    sql_only!(on_mysql, mysql);
    sql_only!(on_sqlite, sqlite);
}

#[rocket::async_test]
async fn a_sqlite_session_survives_a_restart() {
    let backend = Backend::sqlite();
    let first = backend.client(&[]).await;
    let cookie = get(&first, "/login/ada", None).await.value();
    drop(first);
    let restarted = backend.client(&[]).await;
    assert!(read_session(&restarted, &cookie)
        .await
        .starts_with(r#"user=Some("ada")"#));
}

#[rocket::async_test]
async fn the_store_url_picks_each_store() {
    let sqlite = Backend::sqlite();
    let Backend::Sql {
        url: sqlite_url, ..
    } = &sqlite
    else {
        unreachable!()
    };
    let files = TempDir::new();
    for url in [
        "memory".to_owned(),
        format!("file://{}", files.0.display()),
        redis_url(),
        postgres_url(),
        mysql_url(),
        sqlite_url.clone(),
    ] {
        take_logs();
        let client = client(app(&[("store", Value::from(url.as_str()))])).await;
        let logs = take_logs();
        assert!(
            logs.iter()
                .any(|(_, m)| m.contains("sessions are kept in the store")),
            "{url}: {logs:?}"
        );
        let cookie = get(&client, "/login/ada", None).await.value();
        assert_eq!(
            cookie_payload(&cookie).len(),
            32,
            "{url}: the cookie holds an id"
        );
        assert!(
            read_session(&client, &cookie)
                .await
                .starts_with(r#"user=Some("ada")"#),
            "{url}"
        );
        // Remove the record this test made in the store's default table or prefix.
        assert_eq!(
            get(&client, "/clear", Some(&cookie))
                .await
                .cookie()
                .map(|c| c.value()),
            Some("")
        );
        assert!(
            read_session(&client, &cookie).await.ends_with("new=true"),
            "{url}"
        );
    }
    // The URL gives no table name: drop the default tables the stores created.
    for (engine, url) in [
        (Engine::Postgres, postgres_url()),
        (Engine::MySql, mysql_url()),
    ] {
        sql_execute(engine, &url, "DROP TABLE IF EXISTS keepsake_sessions").await;
    }
}

/// A PostgreSQL store whose round trips are bounded by `limit`, a client with a
/// session on it, and another connection of the database holding that session's row
/// locked, as a slow transaction would.
struct LockedRow {
    // Kept for its cleanup: the table goes when the test ends.
    _backend: Backend,
    client: Client,
    cookie: String,
    table: String,
    pool: sqlx::PgPool,
    holder: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl LockedRow {
    async fn new(limit: Duration) -> LockedRow {
        let backend = Backend::postgres();
        let Backend::Sql { url, table, .. } = &backend else {
            unreachable!("a SQL backend")
        };
        let (url, table) = (url.clone(), table.clone());
        let store = PostgresStore::new(&url)
            .unwrap()
            .with_table(table.as_str())
            .with_timeout(limit);
        let client = backend.client_with(Keepsake::with_store(store), &[]).await;
        let cookie = get(&client, "/login/ada", None).await.value();
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let mut holder = pool.begin().await.unwrap();
        let lock = format!("SELECT 1 FROM {table} FOR UPDATE");
        sqlx::query(&lock).execute(&mut *holder).await.unwrap();
        take_logs();
        LockedRow {
            _backend: backend,
            client,
            cookie,
            table,
            pool,
            holder,
        }
    }

    /// Whether some log line says the session may not have been saved, and `why`.
    fn logged_may_not_have_been_saved(why: &str) -> bool {
        take_logs()
            .iter()
            .any(|(_, m)| m.contains("may not have been saved") && m.contains(why))
    }
}

#[rocket::async_test]
async fn a_row_locked_past_the_time_limit_gives_a_503_that_says_the_write_may_apply() {
    let LockedRow {
        client,
        cookie,
        pool,
        holder,
        _backend,
        ..
    } = LockedRow::new(Duration::from_millis(300)).await;
    // Released by itself later, so that a store without a limit would answer 200.
    let release = rocket::tokio::spawn(async move {
        rocket::tokio::time::sleep(Duration::from_secs(10)).await;
        holder.rollback().await.unwrap();
    });
    let reply = get(&client, "/login/bob", Some(&cookie)).await;
    assert_eq!(reply.status, Status::ServiceUnavailable);
    assert!(LockedRow::logged_may_not_have_been_saved("timed out"));
    release.abort();
    // The row is free again (the holder's transaction ended with its connection).
    drop(pool);
    let read = read_session(&client, &cookie).await;
    assert!(read.starts_with("user=Some("), "{read}");
}

#[rocket::async_test]
async fn a_statement_whose_connection_the_server_ends_may_have_applied() {
    let LockedRow {
        client,
        cookie,
        table,
        pool,
        holder,
        _backend,
    } = LockedRow::new(Duration::from_secs(30)).await;
    // While the store's UPDATE waits for the row, the server ends its connection (as
    // an administrator, or a shutdown, would): it cannot say whether it committed.
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE query LIKE 'UPDATE {table} %' AND wait_event_type = 'Lock'"
    );
    let killer = rocket::tokio::spawn(async move {
        for _ in 0..200 {
            rocket::tokio::time::sleep(Duration::from_millis(25)).await;
            let killed: i64 = sqlx::query_scalar(&kill).fetch_one(&pool).await.unwrap();
            if killed > 0 {
                break;
            }
        }
        holder.rollback().await.unwrap();
    });
    let reply = get(&client, "/login/bob", Some(&cookie)).await;
    killer.await.unwrap();
    assert_eq!(reply.status, Status::ServiceUnavailable);
    assert!(LockedRow::logged_may_not_have_been_saved(
        "lost the connection"
    ));
}

/// A key an SQL JSON path cannot name (MySQL's, SQLite's).
#[derive(Session, Default)]
struct Quoted {
    #[session(rename = "a\"b")]
    value: u32,
}

#[get("/quoted")]
fn quoted(mut quoted: Session<'_, Quoted>) -> String {
    quoted.value += 1;
    quoted.value.to_string()
}

#[rocket::async_test]
async fn a_key_the_store_cannot_hold_is_a_500_that_says_so_not_an_outage() {
    let backend = Backend::sqlite();
    let client = backend.client_with(backend.fairing(), &[]).await;
    let first = get(&client, "/quoted", None).await;
    assert_eq!(first.status, Status::Ok, "a new row holds any key");
    take_logs();
    let second = get(&client, "/quoted", Some(&first.value())).await;
    assert_eq!(second.status, Status::InternalServerError);
    let logs = take_logs();
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains("session not saved") && m.contains("cannot hold")),
        "{logs:?}"
    );
}

#[rocket::async_test]
async fn a_record_past_memcacheds_item_size_is_a_500_that_says_so() {
    let backend = Backend::memcached();
    let client = backend.client(&[]).await;
    take_logs();
    let big = get(&client, &format!("/big/{}", 2 * 1024 * 1024), None).await;
    assert_eq!(big.status, Status::InternalServerError);
    let logs = take_logs();
    assert!(
        logs.iter().any(|(_, m)| m.contains("cannot hold")),
        "{logs:?}"
    );
}

#[rocket::async_test]
async fn migrate_cookie_sessions_moves_signed_cookie_sessions_into_the_store() {
    for encrypt in [false, true] {
        let settings = [("encrypt", Value::from(encrypt))];
        // Sessions made while the app kept them in the cookie.
        let cookie_app = Backend::cookie().client(&settings).await;
        let ada = get(&cookie_app, "/login/ada", None).await.value();
        let bob = get(&cookie_app, "/login/bob", None).await.value();
        for backend in [Backend::memory(), Backend::redis(), Backend::postgres()] {
            // The app switched to a store, with migration on.
            let migrating = [
                ("encrypt", Value::from(encrypt)),
                ("migrate_cookie_sessions", Value::from(true)),
            ];
            let client = backend.client(&migrating).await;
            let moved = get(&client, "/read", Some(&ada)).await;
            assert_eq!(
                moved.body, r#"user=Some("ada") visits=0 cart=[] new=false"#,
                "encrypt={encrypt}"
            );
            let id = moved.value();
            assert_ne!(id, ada, "the id cookie replaces the record cookie");
            assert_eq!(backend.records().await, Some(1));
            let read = read_session(&client, &id).await;
            assert!(read.starts_with(r#"user=Some("ada")"#), "{read}");
            // A tampered cookie is a fresh session, as always.
            let mut tampered = bob.clone();
            tampered.replace_range(10..11, if &bob[10..11] == "A" { "B" } else { "A" });
            let fresh = get(&client, "/read", Some(&tampered)).await;
            assert!(fresh.body.ends_with("new=true"), "{}", fresh.body);
            // Without migration, the switch starts everyone afresh.
            let plain = Backend::memory().client(&settings).await;
            let fresh = get(&plain, "/read", Some(&bob)).await;
            assert!(fresh.body.ends_with("new=true"), "{}", fresh.body);
        }
    }
}

#[rocket::async_test]
async fn the_memory_store_url_sets_its_cap() {
    let client = Backend::cookie()
        .client(&[("store", "memory?max_sessions=3".into())])
        .await;
    let mut cookies = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        cookies.push(get(&client, &format!("/login/{name}"), None).await.value());
    }
    // Past the cap, the soonest-expiring sessions (the oldest here) made room.
    assert!(read_session(&client, &cookies[0])
        .await
        .ends_with("new=true"));
    assert!(read_session(&client, &cookies[4])
        .await
        .starts_with(r#"user=Some("e")"#));
}

#[rocket::async_test]
async fn a_bad_store_url_fails_launch_naming_the_key() {
    capture_logs();
    for (url, says) in [
        ("mongodb://127.0.0.1/x", "names no store"),
        ("postgres://[::1", "not a valid URL"),
        ("file://elsewhere/sessions", "not a valid URL"),
    ] {
        take_logs();
        let error = app(&[("store", Value::from(url))])
            .ignite()
            .await
            .expect_err("launch must fail");
        assert!(
            matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
            "{url}"
        );
        let logs = take_logs();
        assert!(
            logs.iter()
                .any(|(_, m)| m.contains("keepsake.store") && m.contains(says)),
            "{url}: {logs:?}"
        );
    }
}

/// Two `FileStore`s on one directory (as two processes would have): concurrent writes
/// to different keys of one session, half through each, all survive.
#[rocket::async_test]
async fn two_file_stores_on_one_directory_merge_each_others_writes() {
    let dir = Arc::new(TempDir::new());
    let (one, two) = (Backend::File(dir.clone()), Backend::File(dir));
    let (first, second) = (one.client(&[]).await, two.client(&[]).await);
    let cookie = get(&first, "/slot/0", None).await.value();
    let requests = (1..8).map(|i| {
        let (client, cookie) = (if i % 2 == 0 { &first } else { &second }, &cookie);
        async move {
            get(client, &format!("/slot/{i}"), Some(cookie))
                .await
                .status
        }
    });
    let statuses = futures_join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    let all = get(&second, "/slots", Some(&cookie)).await.body;
    for i in 0..8 {
        assert!(
            all.contains(&format!("s{i}: Some({i})")),
            "s{i} lost: {all}"
        );
    }
    assert_eq!(one.records().await, Some(1));
}

/// A Redis Cluster with one master down: only the sessions in its slots get 503s,
/// the others carry on; once it is back, service resumes without restarting the app
/// (its sessions start afresh: the test's nodes keep nothing on disk).
#[rocket::async_test]
async fn a_cluster_master_down_gives_503s_only_for_its_sessions() {
    let cluster = Arc::new(PrivateCluster::start());
    let prefix = "keepsake-test:down:".to_owned();
    let backend = Backend::RedisCluster {
        cluster: cluster.clone(),
        prefix: prefix.clone(),
        flask: false,
    };
    let client = backend.client(&[]).await;
    let mut sessions = Vec::new();
    for i in 0..12 {
        let cookie = get(&client, &format!("/login/user{i}"), None).await.value();
        let key = format!(
            "{prefix}{}",
            String::from_utf8(cookie_payload(&cookie)).unwrap()
        );
        let (port, _) = cluster
            .keys(&prefix)
            .into_iter()
            .find(|(_, k)| *k == key)
            .expect("the session is stored");
        sessions.push((i, cookie, port));
    }
    let down = cluster.ports[0];
    let on_down = sessions.iter().filter(|(_, _, port)| *port == down).count();
    assert!(
        on_down > 0 && on_down < 12,
        "{on_down} of 12 on the node to stop"
    );
    cluster.stop_node(0);
    for (i, cookie, port) in &sessions {
        let reply = get(&client, "/read", Some(cookie)).await;
        if *port == down {
            assert_eq!(
                reply.status,
                Status::ServiceUnavailable,
                "user{i}: {}",
                reply.body
            );
        } else {
            assert_eq!(reply.status, Status::Ok, "user{i} is on a live node");
            assert!(reply.body.contains(&format!("user{i}")), "{}", reply.body);
        }
    }
    let stopped = std::time::Instant::now();
    cluster.start_node(0);
    cluster.wait_until_ok();
    for (i, cookie, port) in &sessions {
        let reply = get(&client, "/read", Some(cookie)).await;
        assert_eq!(reply.status, Status::Ok, "user{i} after the restart");
        if *port != down {
            assert!(reply.body.contains(&format!("user{i}")), "{}", reply.body);
        }
    }
    println!(
        "cluster: served again {:?} after the restart began",
        stopped.elapsed()
    );
}

/// Every anonymous request that flashes (a failed login, a page that says "please
/// log in") makes a server-side record: it lives `flash_only_ttl`, not `max_age`,
/// until the session holds something else.
#[rocket::async_test]
async fn a_record_holding_only_flashes_lives_briefly() {
    let backend = Backend::redis();
    let Backend::Redis { url, prefix, .. } = &backend else {
        unreachable!()
    };
    let client = backend
        .client(&[("flash_only_ttl", Value::from("90s"))])
        .await;
    let cookie = get(&client, "/flash/hello", None).await.value();
    let key = format!(
        "{prefix}{}",
        String::from_utf8(cookie_payload(&cookie)).unwrap()
    );
    let mut con = redis_connection(url).await;
    let ttl: i64 = con.pttl(&key).await.unwrap();
    assert!((1..=90_000).contains(&ttl), "{ttl} ms");
    // Logging in makes it a session like any other.
    let cookie = get(&client, "/login/ada", Some(&cookie)).await.value();
    let key = format!(
        "{prefix}{}",
        String::from_utf8(cookie_payload(&cookie)).unwrap()
    );
    let ttl: i64 = con.pttl(&key).await.unwrap();
    assert!(ttl > 90_000, "{ttl} ms");
}

/// Flask-Session's SQL table has no expiry of its own: an expired row reads as absent
/// and is deleted when asked for, as Flask-Session does.
#[rocket::async_test]
async fn an_expired_flask_session_row_is_absent_and_deleted_when_read() {
    for engine in [Engine::Postgres, Engine::MySql, Engine::Sqlite] {
        let backend = Backend::sql_flask_session(engine);
        let client = backend.client(&[]).await;
        let cookie = get(&client, "/login/ada", None).await.value();
        assert_eq!(backend.records().await, Some(1), "{engine:?}");
        assert!(backend.expire_all().await);
        let read = read_session(&client, &cookie).await;
        assert!(read.ends_with("new=true"), "{engine:?}: {read}");
        assert_eq!(backend.records().await, Some(0), "{engine:?}: deleted");
    }
}
