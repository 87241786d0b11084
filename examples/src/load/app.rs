//! The app under load: a counter, a session-less route, per-key writes and anonymous
//! flashes, on the store the driver names. It runs in its own process (`load serve`),
//! so that its memory can be read and its store killed under it.

use std::sync::Arc;
use std::time::Duration;

use rocket::{get, routes, Build, Rocket, State};
use rocket_keepsake::store::{FileStore, MemcachedStore, MemoryStore, MySqlStore};
use rocket_keepsake::store::{PostgresStore, RedisStore, SqliteStore};
use rocket_keepsake::{flash, Flashes, Keepsake, Session};

use crate::stores::Kind;

/// One counter per client: each request adds one, so a lost write shows as a gap.
#[derive(Session, Default)]
struct Counter {
    count: u64,
}

/// Twenty keys, each set by its own request: concurrent requests of one session that
/// change different keys must all survive (the stores merge per key).
#[derive(Session, Default)]
struct Keys {
    k00: bool,
    k01: bool,
    k02: bool,
    k03: bool,
    k04: bool,
    k05: bool,
    k06: bool,
    k07: bool,
    k08: bool,
    k09: bool,
    k10: bool,
    k11: bool,
    k12: bool,
    k13: bool,
    k14: bool,
    k15: bool,
    k16: bool,
    k17: bool,
    k18: bool,
    k19: bool,
}

impl Keys {
    /// The flag of key `i`, if there is one.
    fn flag(&mut self, i: usize) -> Option<&mut bool> {
        Some(match i {
            0 => &mut self.k00,
            1 => &mut self.k01,
            2 => &mut self.k02,
            3 => &mut self.k03,
            4 => &mut self.k04,
            5 => &mut self.k05,
            6 => &mut self.k06,
            7 => &mut self.k07,
            8 => &mut self.k08,
            9 => &mut self.k09,
            10 => &mut self.k10,
            11 => &mut self.k11,
            12 => &mut self.k12,
            13 => &mut self.k13,
            14 => &mut self.k14,
            15 => &mut self.k15,
            16 => &mut self.k16,
            17 => &mut self.k17,
            18 => &mut self.k18,
            19 => &mut self.k19,
            _ => return None,
        })
    }
}

#[flash]
enum Notice {
    Info,
}

#[get("/count")]
fn count(mut counter: Session<'_, Counter>) -> String {
    counter.count += 1;
    counter.count.to_string()
}

/// The same response as `/count`, with no session: the floor.
#[get("/plain")]
fn plain() -> String {
    "0".to_owned()
}

#[get("/key/<i>")]
fn set_key(i: usize, mut keys: Session<'_, Keys>) -> Option<&'static str> {
    *keys.flag(i)? = true;
    Some("set")
}

/// How many of the twenty keys are set.
#[get("/keys")]
fn keys(mut keys: Session<'_, Keys>) -> String {
    let set = (0..20)
        .filter(|&i| keys.flag(i).is_some_and(|f| *f))
        .count();
    set.to_string()
}

/// What an anonymous visitor's failed login does: one pending flash.
#[get("/flash")]
fn flash(mut notices: Flashes<'_, Notice>) -> &'static str {
    notices.push(Notice::Info, "Please log in.");
    "flashed"
}

/// The `MemoryStore` the app runs on, if it runs on one.
struct Memory(Option<Arc<MemoryStore>>);

/// How many records the `MemoryStore` holds, expired ones not yet swept included.
#[get("/records")]
fn records(memory: &State<Memory>) -> Option<String> {
    memory.0.as_ref().map(|store| store.len().to_string())
}

#[get("/reset")]
fn reset(mut counter: Session<'_, Counter>) -> &'static str {
    counter.clear();
    "reset"
}

/// The app on the store that `LOAD_STORE`, `LOAD_URL`, `LOAD_NAME` (a table, key
/// prefix or directory) and `LOAD_SWEEP` (seconds) name; the rest of the session
/// configuration comes from `ROCKET_KEEPSAKE_*` as usual.
pub fn rocket() -> Result<Rocket<Build>, String> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let kind: Kind = var("LOAD_STORE").parse()?;
    let (url, name) = (var("LOAD_URL"), var("LOAD_NAME"));
    let sweep = Duration::from_secs(var("LOAD_SWEEP").parse().unwrap_or(300));
    let memory = Arc::new(MemoryStore::new());
    let fairing = match kind {
        Kind::Cookie => Keepsake::fairing(),
        Kind::Memory => Keepsake::with_store(memory.clone()),
        Kind::File => Keepsake::with_store(FileStore::new(name).with_sweep_interval(sweep)),
        Kind::Redis => Keepsake::with_store(
            RedisStore::new(&url)
                .map_err(|e| e.to_string())?
                .with_prefix(name),
        ),
        Kind::Memcached => Keepsake::with_store(
            MemcachedStore::new(&url)
                .map_err(|e| e.to_string())?
                .with_prefix(name),
        ),
        Kind::Postgres => Keepsake::with_store(
            PostgresStore::new(&url)
                .map_err(|e| e.to_string())?
                .with_table(name)
                .with_sweep_interval(sweep),
        ),
        Kind::MySql => Keepsake::with_store(
            MySqlStore::new(&url)
                .map_err(|e| e.to_string())?
                .with_table(name)
                .with_sweep_interval(sweep),
        ),
        Kind::Sqlite => Keepsake::with_store(
            SqliteStore::new(&url)
                .map_err(|e| e.to_string())?
                .with_table(name)
                .with_sweep_interval(sweep),
        ),
    };
    Ok(rocket::build()
        .attach(fairing)
        .manage(Memory((kind == Kind::Memory).then_some(memory)))
        .mount(
            "/",
            routes![count, plain, set_key, keys, flash, reset, records],
        ))
}
