//! What no peer ships together: the test helpers, per-session lifetimes, encrypted
//! cookies, `#[session(rotate)]` and "log out everywhere", through a real Rocket on
//! every store (the signed cookie, `MemoryStore`, Redis and the SQL stores).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::backend::*;
use common::*;
use redis::AsyncCommands;
use rocket::figment::value::Value;
use rocket::http::{Cookie, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes, Build, Rocket};
use rocket_keepsake::testing::asynchronous::{ClientExt, RequestExt};
use rocket_keepsake::{flash, Flashes, Keepsake, Session, SessionAdmin};

/// A login: the user id indexes the session and re-issues it when it changes, and so
/// does the role; visits change neither.
#[derive(Session, Default, Debug, Clone, PartialEq)]
struct Account {
    #[session(index, rotate)]
    user_id: Option<u64>,
    name: Option<String>,
    #[session(rotate)]
    role: Option<String>,
    visits: u32,
}

/// Another view over the same record.
#[derive(Session, Default, Debug, PartialEq)]
struct Theme {
    theme: Option<String>,
}

#[flash]
enum Notice {
    Info,
    Warning,
}

#[get("/login/<id>")]
fn login(id: u64, mut account: Session<'_, Account>) -> &'static str {
    account.user_id = Some(id);
    "in"
}

#[get("/role/<role>")]
fn role(role: &str, mut account: Session<'_, Account>) -> &'static str {
    account.role = Some(role.to_owned());
    "role"
}

#[get("/visit")]
fn visit(mut account: Session<'_, Account>) -> String {
    account.visits += 1;
    account.visits.to_string()
}

#[get("/whoami")]
fn whoami(account: Session<'_, Account>) -> String {
    format!(
        "{:?} {:?} {:?} visits={} new={}",
        account.user_id,
        account.name,
        account.role,
        account.visits,
        account.is_new()
    )
}

#[get("/kiosk/<seconds>")]
fn kiosk(seconds: u64, mut account: Session<'_, Account>) -> &'static str {
    account.user_id = Some(1);
    account.set_lifetime(Duration::from_secs(seconds));
    "kiosk"
}

#[get("/theme/<theme>")]
fn theme(theme: &str, mut view: Session<'_, Theme>) -> &'static str {
    view.theme = Some(theme.to_owned());
    "themed"
}

#[get("/flash/<message>")]
fn flash_push(message: &str, mut notices: Flashes<'_, Notice>) -> &'static str {
    notices.push(Notice::Info, message);
    notices.push(Notice::Warning, "careful");
    "flashed"
}

#[get("/take")]
fn take(mut notices: Flashes<'_, Notice>) -> String {
    format!("{:?}", notices.take_all())
}

#[get("/clear")]
fn clear(mut account: Session<'_, Account>) -> &'static str {
    account.clear();
    "cleared"
}

/// A view indexed by text, as most apps index by an email or a user name.
#[derive(Session, Default)]
struct Contact {
    #[session(index)]
    email: Option<String>,
}

#[get("/email/<email>")]
fn email(email: &str, mut contact: Session<'_, Contact>) -> &'static str {
    contact.email = Some(email.to_owned());
    "noted"
}

#[get("/revoke-email/<email>")]
async fn revoke_email(email: &str, admin: SessionAdmin<'_>) -> String {
    match admin.revoke_all::<Contact, String>(&email.to_owned()).await {
        Ok(ended) => ended.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

#[get("/revoke/<id>")]
async fn revoke(id: u64, admin: SessionAdmin<'_>) -> String {
    match admin.revoke_all::<Account, u64>(&id).await {
        Ok(ended) => ended.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// "Your devices": one line per session of user `id`, its tag, when it began and was
/// last seen (unix seconds), and whether it is the asking request's.
#[get("/devices/<id>")]
async fn devices(id: u64, admin: SessionAdmin<'_>) -> String {
    let seconds = |time: SystemTime| time.duration_since(UNIX_EPOCH).unwrap().as_secs();
    match admin.sessions::<Account, u64>(&id).await {
        Ok(sessions) => sessions
            .iter()
            .map(|s| {
                let (created, seen) = (seconds(s.created), seconds(s.last_seen));
                format!("{} {created} {seen} {}", s.tag, s.current)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("error: {e}"),
    }
}

#[get("/devices/end/<tag>")]
async fn end_device(tag: &str, admin: SessionAdmin<'_>) -> String {
    match admin.revoke(tag).await {
        Ok(ended) => ended.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

fn rocket_for(backend: &Backend, fairing: Keepsake, settings: &[(&str, Value)]) -> Rocket<Build> {
    let rocket = rocket::custom(figment(SECRET, settings))
        .attach(fairing)
        .mount(
            "/",
            routes![login, role, visit, whoami, kiosk, theme, flash_push, take, clear],
        );
    let rocket = if backend.is_server_side() {
        rocket.mount(
            "/",
            routes![revoke, email, revoke_email, devices, end_device],
        )
    } else {
        rocket
    };
    // The client keeps the backend's test records until it is dropped.
    rocket.manage(backend.clone())
}

async fn tracked(backend: &Backend, settings: &[(&str, Value)]) -> Client {
    capture_logs();
    let rocket = rocket_for(backend, backend.fairing(), settings);
    Client::tracked(rocket).await.expect("valid rocket")
}

async fn untracked(backend: &Backend, settings: &[(&str, Value)]) -> Client {
    client(rocket_for(backend, backend.fairing(), settings)).await
}

async fn clocked(backend: &Backend, clock: &ManualClock, settings: &[(&str, Value)]) -> Client {
    let fairing = backend.fairing().with_clock(clock.clone());
    client(rocket_for(backend, fairing, settings)).await
}

/// The body of GET `path` on a tracked client.
async fn body(client: &Client, path: &str) -> String {
    let response = client.get(path.to_owned()).dispatch().await;
    assert_eq!(response.status(), Status::Ok, "GET {path}");
    response.into_string().await.unwrap_or_default()
}

fn ada() -> Account {
    Account {
        user_id: Some(7),
        name: Some("ada".into()),
        role: Some("admin".into()),
        visits: 3,
    }
}

/// The test helpers, lifetimes and rotation, on every store.
macro_rules! every_store {
    ($module:ident, $store:ident) => {
        mod $module {
            use super::*;

            fn backend() -> Backend {
                Backend::$store()
            }

            #[rocket::async_test]
            async fn a_seeded_session_is_seen_by_handlers_and_read_back_typed() {
                let client = tracked(&backend(), &[]).await;
                assert_eq!(client.session::<Account>().await, None, "holds none yet");
                client.set_session(&ada()).await;
                assert_eq!(
                    body(&client, "/whoami").await,
                    r#"Some(7) Some("ada") Some("admin") visits=3 new=false"#
                );
                body(&client, "/visit").await;
                let held = client.session::<Account>().await.expect("a session");
                assert_eq!(held, Account { visits: 4, ..ada() });
                // Seeding another view keeps the keys already held.
                client
                    .set_session(&Theme {
                        theme: Some("dark".into()),
                    })
                    .await;
                assert_eq!(
                    client.session::<Account>().await,
                    Some(Account { visits: 4, ..ada() })
                );
                assert_eq!(
                    client
                        .session::<Theme>()
                        .await
                        .and_then(|t| t.theme)
                        .as_deref(),
                    Some("dark")
                );
            }

            #[rocket::async_test]
            async fn pending_flashes_are_read_without_being_taken() {
                let client = tracked(&backend(), &[]).await;
                assert!(client.flashes::<Notice>().await.is_empty());
                body(&client, "/flash/saved").await;
                let expected = vec![
                    (Notice::Info, "saved".to_owned()),
                    (Notice::Warning, "careful".to_owned()),
                ];
                assert_eq!(client.flashes::<Notice>().await, expected);
                assert_eq!(client.flashes::<Notice>().await, expected, "still pending");
                assert_eq!(
                    body(&client, "/take").await,
                    r#"[(Info, "saved"), (Warning, "careful")]"#
                );
                assert!(
                    client.flashes::<Notice>().await.is_empty(),
                    "taken by the handler"
                );
            }

            #[rocket::async_test]
            async fn with_session_seeds_one_request_of_any_client() {
                let client = untracked(&backend(), &[]).await;
                let seeded = client
                    .get("/whoami")
                    .with_session(&ada())
                    .await
                    .dispatch()
                    .await;
                assert_eq!(
                    seeded.into_string().await.unwrap(),
                    r#"Some(7) Some("ada") Some("admin") visits=3 new=false"#
                );
                let plain = client.get("/whoami").dispatch().await;
                assert!(plain.into_string().await.unwrap().ends_with("new=true"));
            }

            #[rocket::async_test]
            async fn set_lifetime_sets_max_age_and_expires_the_session_server_side() {
                let backend = backend();
                let clock = ManualClock::new();
                let settings = [("max_age", Value::from(1000))];
                let client = clocked(&backend, &clock, &settings).await;
                let kiosk = get(&client, "/kiosk/60", None).await;
                let cookie = kiosk.cookie().expect("a session cookie");
                assert_eq!(cookie.max_age(), Some(rocket::time::Duration::seconds(60)));
                assert!(cookie.expires().is_some(), "permanent: it has an expiry");
                if let Backend::Redis { url, prefix, .. } = &backend {
                    let id = String::from_utf8(cookie_payload(cookie.value())).unwrap();
                    let ttl: i64 = redis_connection(url)
                        .await
                        .pttl(format!("{prefix}{id}"))
                        .await
                        .unwrap();
                    assert!(
                        (1..=60_000).contains(&ttl),
                        "the store's TTL follows it: {ttl} ms"
                    );
                }
                let value = cookie.value().to_owned();
                clock.advance(Duration::from_secs(59));
                assert!(read_whoami(&client, &value).await.starts_with("Some(1)"));
                clock.advance(Duration::from_secs(2));
                assert!(
                    read_whoami(&client, &value).await.ends_with("new=true"),
                    "61 s after it was issued, past its own lifetime"
                );
                // Capped by `max_age`.
                let long = get(&client, "/kiosk/5000", None).await;
                assert_eq!(
                    long.cookie().unwrap().max_age(),
                    Some(rocket::time::Duration::seconds(1000))
                );
            }

            #[rocket::async_test]
            async fn a_rotate_field_change_reissues_the_session_and_other_changes_keep_it() {
                let backend = backend();
                let client = untracked(&backend, &[]).await;
                let first = get(&client, "/login/7", None).await.value();
                let visited = get(&client, "/visit", Some(&first)).await.value();
                let promoted = get(&client, "/role/admin", Some(&visited)).await.value();
                assert!(read_whoami(&client, &promoted)
                    .await
                    .contains(r#"Some("admin") visits=1"#));
                if backend.is_server_side() {
                    assert_eq!(cookie_payload(&visited), cookie_payload(&first), "same id");
                    assert_ne!(cookie_payload(&promoted), cookie_payload(&first), "new id");
                    assert!(
                        read_whoami(&client, &first).await.ends_with("new=true"),
                        "the old id loads nothing"
                    );
                    assert_eq!(backend.records().await, Some(1));
                    // Logging in again as the same user is no change: no new id.
                    let again = get(&client, "/login/7", Some(&promoted)).await;
                    assert!(again.set_cookies.is_empty());
                }
            }
        }
    };
}

every_store!(on_cookie, cookie);
every_store!(on_memory, memory);
every_store!(on_file, file);
every_store!(on_memcached, memcached);
every_store!(on_redis_cluster, redis_cluster);
every_store!(on_redis, redis);
every_store!(on_postgres, postgres);
every_store!(on_mysql, mysql);
every_store!(on_sqlite, sqlite);

/// "Log out everywhere", on the stores that can do it.
macro_rules! server_stores {
    ($module:ident, $store:ident) => {
        mod $module {
            use super::*;

            fn backend() -> Backend {
                Backend::$store()
            }

            #[rocket::async_test]
            async fn revoke_all_ends_exactly_the_sessions_of_one_user() {
                let backend = backend();
                let client = untracked(&backend, &[]).await;
                let phone = get(&client, "/login/7", None).await.value();
                let laptop = get(&client, "/login/7", None).await.value();
                let other = get(&client, "/login/8", None).await.value();
                // A session whose user changed from 7 to 9 is not 7's any more.
                let moved = get(&client, "/login/7", None).await.value();
                let moved = get(&client, "/login/9", Some(&moved)).await.value();
                if let Some(members) = backend.redis_index_members("user_id", "7").await {
                    assert_eq!(members, 2, "the moved session left 7's set");
                }
                assert_eq!(get(&client, "/revoke/7", Some(&other)).await.body, "2");
                for (device, cookie) in [("phone", &phone), ("laptop", &laptop)] {
                    let read = read_whoami(&client, cookie).await;
                    assert!(read.ends_with("new=true"), "{device}: {read}");
                }
                assert!(read_whoami(&client, &other).await.starts_with("Some(8)"));
                assert!(read_whoami(&client, &moved).await.starts_with("Some(9)"));
                assert_eq!(backend.records().await, Some(2));
                assert_eq!(get(&client, "/revoke/7", Some(&other)).await.body, "0");
                // Revoking one's own session: a change after it is not saved.
                assert_eq!(get(&client, "/revoke/8", Some(&other)).await.body, "1");
                assert!(read_whoami(&client, &other).await.ends_with("new=true"));
            }

            #[rocket::async_test]
            async fn revoke_all_finds_sessions_by_a_text_value() {
                let backend = backend();
                let client = untracked(&backend, &[]).await;
                let ada = get(&client, "/email/ada@example.com", None).await.value();
                let ada_too = get(&client, "/email/ada@example.com", None).await.value();
                let quoted = get(&client, "/email/a%22b%C3%A9", None).await.value();
                let ended = get(&client, "/revoke-email/ada@example.com", None)
                    .await
                    .body;
                assert_eq!(ended, "2");
                for cookie in [&ada, &ada_too] {
                    assert!(read_whoami(&client, cookie).await.ends_with("new=true"));
                }
                assert!(read_whoami(&client, &quoted).await.ends_with("new=false"));
                assert_eq!(
                    get(&client, "/revoke-email/a%22b%C3%A9", None).await.body,
                    "1"
                );
                assert!(read_whoami(&client, &quoted).await.ends_with("new=true"));
                assert_eq!(backend.records().await, Some(0));
            }

            #[rocket::async_test]
            async fn the_index_does_not_outlive_cleared_or_expired_sessions() {
                let backend = backend();
                let client = untracked(&backend, &[]).await;
                let cookie = get(&client, "/login/5", None).await.value();
                get(&client, "/clear", Some(&cookie)).await;
                if let Some(keys) = backend.redis_index_keys().await {
                    assert!(keys.is_empty(), "cleared with the record: {keys:?}");
                }
                if let Backend::Memory(store) = &backend {
                    assert_eq!(store.index_len(), 0);
                }
                assert_eq!(get(&client, "/revoke/5", None).await.body, "0");
                let kept = get(&client, "/login/6", None).await.value();
                if backend.expire_all().await {
                    assert_eq!(
                        get(&client, "/revoke/6", None).await.body,
                        "0",
                        "expired: not counted"
                    );
                    assert!(read_whoami(&client, &kept).await.ends_with("new=true"));
                    if let Some(keys) = backend.redis_index_keys().await {
                        assert!(keys.is_empty(), "{keys:?}");
                    }
                }
            }

            #[rocket::async_test]
            async fn a_renamed_session_stays_indexed_under_its_new_id() {
                let backend = backend();
                let client = untracked(&backend, &[]).await;
                let cookie = get(&client, "/login/4", None).await.value();
                let renamed = get(&client, "/role/admin", Some(&cookie)).await.value();
                assert_ne!(cookie_payload(&renamed), cookie_payload(&cookie));
                assert_eq!(get(&client, "/revoke/4", None).await.body, "1");
                assert!(read_whoami(&client, &renamed).await.ends_with("new=true"));
            }
        }
    };
}

/// "Your devices", on the stores that can list a user's sessions.
macro_rules! devices {
    ($module:ident, $store:ident) => {
        mod $module {
            use super::*;

            /// Each session's line of `/devices/<id>`: tag, created, last seen, current.
            fn listed(body: &str) -> Vec<(String, u64, u64, bool)> {
                let parse = |line: &str| {
                    let parts: Vec<&str> = line.split(' ').collect();
                    assert_eq!(parts.len(), 4, "{line}");
                    let (created, seen) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
                    (parts[0].to_owned(), created, seen, parts[3] == "true")
                };
                body.lines().map(parse).collect()
            }

            #[rocket::async_test]
            async fn a_user_sees_each_device_and_ends_one_by_its_tag() {
                let backend = Backend::$store();
                const T: u64 = 1_800_000_000;
                let clock = ManualClock::at(UNIX_EPOCH + Duration::from_secs(T));
                let client = clocked(&backend, &clock, &[]).await;
                let phone = get(&client, "/login/7", None).await.value();
                clock.advance(Duration::from_secs(60));
                let laptop = get(&client, "/login/7", None).await.value();
                let other = get(&client, "/login/8", None).await.value();
                get(&client, "/theme/dark", None).await.value();
                clock.advance(Duration::from_secs(60));
                let visited = get(&client, "/visit", Some(&phone)).await.value();
                assert_eq!(cookie_payload(&visited), cookie_payload(&phone));

                let body = get(&client, "/devices/7", Some(&laptop)).await.body;
                let sessions = listed(&body);
                assert_eq!(sessions.len(), 2, "{body}");
                let (laptop_tag, phone_tag) = (&sessions[0].0, &sessions[1].0);
                assert_eq!(
                    (sessions[0].1, sessions[0].2, sessions[0].3),
                    (T + 60, T + 60, true),
                    "the laptop, asking, first: {body}"
                );
                assert_eq!(
                    (sessions[1].1, sessions[1].2, sessions[1].3),
                    (T, T + 120, false),
                    "the phone: {body}"
                );
                assert_ne!(phone_tag, laptop_tag);
                for (tag, cookie) in [(phone_tag, &phone), (laptop_tag, &laptop)] {
                    let id = String::from_utf8(cookie_payload(cookie)).unwrap();
                    assert!(!tag.contains(&id), "a tag is not the id");
                }
                let from_phone = listed(&get(&client, "/devices/7", Some(&phone)).await.body);
                let tags_and_current = |l: &[(String, u64, u64, bool)]| {
                    l.iter().map(|s| (s.0.clone(), s.3)).collect::<Vec<_>>()
                };
                assert_eq!(
                    tags_and_current(&from_phone),
                    [(phone_tag.clone(), true), (laptop_tag.clone(), false)],
                    "the same tags each time; `current` follows the asking cookie"
                );
                let anonymous = listed(&get(&client, "/devices/7", None).await.body);
                assert_eq!(
                    tags_and_current(&anonymous),
                    [(phone_tag.clone(), false), (laptop_tag.clone(), false)],
                    "asked without a session: most recently seen first"
                );
                let others = listed(&get(&client, "/devices/8", None).await.body);
                assert_eq!(others.len(), 1);
                assert!(!others[0].3, "no cookie: none is current");

                let end = |tag: &str| format!("/devices/end/{tag}");
                assert_eq!(
                    get(&client, &end(phone_tag), Some(&laptop)).await.body,
                    "true"
                );
                assert!(read_whoami(&client, &phone).await.ends_with("new=true"));
                assert!(read_whoami(&client, &laptop).await.starts_with("Some(7)"));
                assert!(read_whoami(&client, &other).await.starts_with("Some(8)"));
                assert_eq!(get(&client, &end(phone_tag), None).await.body, "false");
                assert_eq!(get(&client, &end("not-a-tag"), None).await.body, "false");
                let left = listed(&get(&client, "/devices/7", Some(&laptop)).await.body);
                assert_eq!(left.len(), 1);
                assert_eq!(&left[0].0, laptop_tag);

                // Signing out ends the session: it is listed no more.
                get(&client, "/clear", Some(&laptop)).await;
                assert_eq!(get(&client, "/devices/7", None).await.body, "");
                get(&client, "/clear", Some(&other)).await;
                if let Some(records) = backend.records().await {
                    assert_eq!(records, 1, "only the visitor's session is left");
                }
            }
        }
    };
}

devices!(devices_on_memory, memory);
devices!(devices_on_file, file);
devices!(devices_on_redis, redis);
devices!(devices_on_postgres, postgres);
devices!(devices_on_mysql, mysql);
devices!(devices_on_sqlite, sqlite);

#[rocket::async_test]
async fn your_devices_on_memcached_and_a_redis_cluster_says_it_cannot() {
    for backend in [Backend::memcached(), Backend::redis_cluster()] {
        let client = untracked(&backend, &[]).await;
        get(&client, "/login/3", None).await.value();
        let body = get(&client, "/devices/3", None).await.body;
        assert!(body.starts_with("error: session store"), "{body}");
        assert!(body.ends_with("cannot do this"), "{body}");
    }
}

server_stores!(revoke_on_memory, memory);
server_stores!(revoke_on_file, file);
server_stores!(revoke_on_redis, redis);
server_stores!(revoke_on_postgres, postgres);
server_stores!(revoke_on_mysql, mysql);
server_stores!(revoke_on_sqlite, sqlite);

#[rocket::async_test]
async fn revoke_all_on_memcached_says_it_cannot() {
    let backend = Backend::memcached();
    let client = untracked(&backend, &[]).await;
    let cookie = get(&client, "/login/3", None).await.value();
    let body = get(&client, "/revoke/3", None).await.body;
    assert_eq!(body, "error: session store `memcached` cannot do this");
    assert!(read_whoami(&client, &cookie).await.starts_with("Some(3)"));
}

async fn read_whoami(client: &Client, cookie: &str) -> String {
    get(client, "/whoami", Some(cookie)).await.body
}

/// The bytes a cookie value decodes to.
fn decoded(value: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .unwrap()
}

#[rocket::async_test]
async fn an_encrypted_cookie_hides_the_record_round_trips_and_refuses_tampering() {
    let backend = Backend::cookie();
    let encrypted = [("encrypt", Value::from(true))];
    let client = untracked(&backend, &encrypted).await;
    let seeded = client.get("/visit").with_session(&ada()).await;
    let cookie = reply_cookie(seeded.dispatch().await).await;
    let bytes = decoded(&cookie);
    for plain in [&b"ada"[..], b"admin", b"user_id", b"visits"] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain),
            "the cookie shows {:?}",
            String::from_utf8_lossy(plain)
        );
    }
    assert_eq!(
        read_whoami(&client, &cookie).await,
        r#"Some(7) Some("ada") Some("admin") visits=4 new=false"#
    );
    for i in [0, 5, bytes.len() / 2, bytes.len() - 1] {
        let mut tampered = bytes.clone();
        tampered[i] ^= 1;
        use base64::Engine;
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tampered);
        assert!(
            read_whoami(&client, &value).await.ends_with("new=true"),
            "byte {i}"
        );
    }
    // Signed and encrypted cookies of one secret never open as each other.
    let signed_client = untracked(&backend, &[]).await;
    let signed = get(&signed_client, "/login/7", None).await.value();
    assert!(read_whoami(&signed_client, &signed)
        .await
        .starts_with("Some(7)"));
    assert!(read_whoami(&client, &signed).await.ends_with("new=true"));
    assert!(read_whoami(&signed_client, &cookie)
        .await
        .ends_with("new=true"));
}

#[rocket::async_test]
async fn encryption_works_with_a_store_and_the_helpers() {
    let backend = Backend::memory();
    let client = tracked(&backend, &[("encrypt", Value::from(true))]).await;
    client.set_session(&ada()).await;
    assert_eq!(client.session::<Account>().await, Some(ada()));
    assert!(body(&client, "/whoami").await.starts_with("Some(7)"));
}

#[rocket::async_test]
async fn the_helpers_work_on_flasks_cookie_format() {
    let backend = Backend::cookie();
    let flask = [("flask_secret_key", Value::from("a flask secret key"))];
    let client = tracked(&backend, &flask).await;
    client.set_session(&ada()).await;
    assert_eq!(client.session::<Account>().await, Some(ada()));
    body(&client, "/flash/hi").await;
    assert_eq!(client.flashes::<Notice>().await.len(), 2);
    let value = client.cookies().get("session").unwrap().value().to_owned();
    assert!(
        value.starts_with('.') || value.contains('.'),
        "Flask's format: {value}"
    );
}

async fn reply_cookie(response: rocket::local::asynchronous::LocalResponse<'_>) -> String {
    let cookie = response
        .cookies()
        .get("session")
        .map(|c: &Cookie<'_>| c.value().to_owned());
    cookie.expect("a session cookie")
}

#[rocket::async_test]
async fn encrypt_with_flasks_format_fails_launch() {
    let settings = [
        ("encrypt", Value::from(true)),
        ("flask_secret_key", Value::from("a flask secret key")),
    ];
    let rocket = rocket::custom(figment(SECRET, &settings)).attach(Keepsake::fairing());
    let error = rocket.ignite().await.expect_err("refused");
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
        "{:?}",
        error.kind()
    );
    assert!(take_logs()
        .iter()
        .any(|(_, line)| line.contains("`encrypt = true` cannot be used with `flask_secret_key`")));
}

#[rocket::async_test]
async fn session_admin_with_the_cookie_store_aborts_launch() {
    let rocket = rocket::custom(figment(SECRET, &[]))
        .attach(Keepsake::fairing())
        .mount("/", routes![revoke]);
    let error = rocket.ignite().await.expect_err("refused");
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::SentinelAborts(_)),
        "{:?}",
        error.kind()
    );
    assert!(take_logs()
        .iter()
        .any(|(_, line)| line.contains("cannot revoke a cookie that a client has copied")));
}

/// The blocking helpers drive store calls on the client's own runtime.
#[test]
fn the_blocking_helpers_work_on_redis() {
    use rocket::local::blocking::Client;
    use rocket_keepsake::testing::{ClientExt, RequestExt};

    let backend = Backend::redis();
    let rocket = rocket_for(&backend, backend.fairing(), &[]);
    let client = Client::tracked(rocket).expect("valid rocket");
    client.set_session(&ada());
    assert_eq!(client.session::<Account>(), Some(ada()));
    let response = client.get("/flash/hi").dispatch();
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        client.flashes::<Notice>()[0],
        (Notice::Info, "hi".to_owned())
    );
    let other = Account {
        user_id: Some(8),
        ..Account::default()
    };
    let seeded = client.get("/whoami").with_session(&other).dispatch();
    assert!(seeded.into_string().unwrap().starts_with("Some(8)"));
}
