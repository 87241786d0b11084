//! What a session costs, against the floor and the alternatives, in one run.
//!
//! `cargo bench -p rocket_keepsake --features bench-internals,redis` prints a table of medians (with
//! the 10th to 90th percentile spread) and the ratios of BENCHMARKS.md. Every case runs
//! in this one process, interleaved, so that the ratios hold on a noisy machine.

use std::hint::black_box;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rocket::http::{Cookie, CookieJar};
use rocket::local::asynchronous::Client;
use rocket::{get, routes, Build, Rocket};
use rocket_keepsake::bench::{CookieCodec, SessionRecord};
use rocket_keepsake::{Flashes, Keepsake, Session};
use sha2::Sha256;

mod chart;
mod fixture;

use fixture::flashes::{flash_push, flash_take, rocket_flash, rocket_take, Notice};
use fixture::routes::{change, plain, read};
use fixture::{profile, Profile};

const SECRET: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";

/// Ten fields, for the tracking cases.
#[derive(Session, Default)]
struct Ten {
    a: u64,
    b: String,
    c: Vec<String>,
    d: Option<String>,
    e: bool,
    f: u32,
    g: String,
    h: Vec<u64>,
    i: Option<u64>,
    j: String,
}

// ---- routes ----------------------------------------------------------------

#[get("/seed/<size>")]
fn seed_route(size: usize, mut session: Session<'_, Profile>) -> &'static str {
    *session = profile(size);
    "seeded"
}

#[get("/flash/<n>")]
fn flash_push_n(n: usize, mut notices: Flashes<'_, Notice>) -> &'static str {
    for _ in 0..n {
        notices.push(Notice::Info, "Saved your changes.");
    }
    "ok"
}

/// (e): the JSON in a private cookie, the way a Rocket user would without us.
#[get("/private/read")]
fn private_read(jar: &CookieJar<'_>) -> String {
    let cookie = jar.get_private("profile");
    let profile: Profile = cookie
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .unwrap_or_default();
    profile.name
}

/// The representative profile in a private cookie, for (e) to read and change.
#[get("/private/seed")]
fn private_seed(jar: &CookieJar<'_>) -> &'static str {
    jar.add_private(Cookie::new(
        "profile",
        serde_json::to_string(&profile(0)).unwrap(),
    ));
    "seeded"
}

#[get("/private/change")]
fn private_change(jar: &CookieJar<'_>) -> String {
    let cookie = jar.get_private("profile");
    let mut profile: Profile = cookie
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .unwrap_or_default();
    profile.seen += 1;
    jar.add_private(Cookie::new(
        "profile",
        serde_json::to_string(&profile).unwrap(),
    ));
    profile.name
}

/// A hand-rolled signed-cookie read: verify and deserialize, nothing else.
#[get("/signed/read")]
fn signed_read(jar: &CookieJar<'_>, mac: &rocket::State<Hmac<Sha256>>) -> String {
    let payload = verified(jar, "signed", mac.inner());
    let profile = payload.and_then(|p| serde_json::from_slice::<Profile>(&p).ok());
    profile.unwrap_or_default().name
}

/// The hand-rolled signed cookie's payload, verified, or `None`.
fn verified(jar: &CookieJar<'_>, name: &str, mac: &Hmac<Sha256>) -> Option<Vec<u8>> {
    let mut bytes = URL_SAFE_NO_PAD.decode(jar.get(name)?.value()).ok()?;
    let at = bytes.len().checked_sub(32)?;
    mac.clone()
        .chain_update(&bytes[..at])
        .verify_slice(&bytes[at..])
        .ok()?;
    bytes.truncate(at);
    Some(bytes)
}

/// `payload` signed by hand, as a cookie value.
fn sign(payload: &[u8], mac: &Hmac<Sha256>) -> String {
    let mut bytes = payload.to_vec();
    bytes.extend_from_slice(&mac.clone().chain_update(payload).finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A hand-rolled signed-cookie change: verify, deserialize, change, serialize, sign.
#[get("/signed/change")]
fn signed_change(jar: &CookieJar<'_>, mac: &rocket::State<Hmac<Sha256>>) -> String {
    let payload = verified(jar, "signed", mac.inner());
    let mut profile: Profile = payload
        .and_then(|p| serde_json::from_slice(&p).ok())
        .unwrap_or_default();
    profile.seen += 1;
    let json = serde_json::to_vec(&profile).unwrap();
    jar.add(Cookie::new("signed", sign(&json, mac.inner())));
    profile.name
}

/// What the raw Redis anchors use: the same client library, a connection, and the
/// script a one-key change needs at the least.
#[cfg(feature = "redis")]
struct RawRedis {
    connection: redis::aio::ConnectionManager,
    change: redis::Script,
}

/// What both raw Redis anchors do first: verify a hand-signed id cookie, `HGETALL`
/// the hash. The key and its fields, or `None` for a cookie that does not verify.
#[cfg(feature = "redis")]
async fn raw_fields(
    jar: &CookieJar<'_>,
    mac: &Hmac<Sha256>,
    connection: &mut redis::aio::ConnectionManager,
) -> Option<(Vec<u8>, std::collections::HashMap<String, String>)> {
    let id = verified(jar, "rawid", mac)?;
    let key = [b"keepsake-bench:".as_slice(), &id].concat();
    let fields = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(connection)
        .await
        .unwrap_or_default();
    Some((key, fields))
}

/// The profile's name in a stored hash (its value is JSON text).
#[cfg(feature = "redis")]
fn stored_name(fields: &std::collections::HashMap<String, String>) -> String {
    fields
        .get("name")
        .and_then(|name| serde_json::from_str(name).ok())
        .unwrap_or_default()
}

/// The raw Redis read anchor: verify a hand-signed id cookie, `HGETALL` the hash.
#[cfg(feature = "redis")]
#[get("/raw/redis/read")]
async fn raw_redis_read(
    jar: &CookieJar<'_>,
    mac: &rocket::State<Hmac<Sha256>>,
    raw: &rocket::State<RawRedis>,
) -> String {
    let mut connection = raw.connection.clone();
    match raw_fields(jar, mac.inner(), &mut connection).await {
        Some((_, fields)) => stored_name(&fields),
        None => String::new(),
    }
}

/// The raw Redis change anchor: the read, then one script call setting one field
/// and the TTL.
#[cfg(feature = "redis")]
#[get("/raw/redis/change")]
async fn raw_redis_change(
    jar: &CookieJar<'_>,
    mac: &rocket::State<Hmac<Sha256>>,
    raw: &rocket::State<RawRedis>,
) -> String {
    let mut connection = raw.connection.clone();
    let Some((key, fields)) = raw_fields(jar, mac.inner(), &mut connection).await else {
        return String::new();
    };
    let seen: u64 = fields.get("seen").and_then(|s| s.parse().ok()).unwrap_or(0);
    let _: Option<i64> = raw
        .change
        .key(key)
        .arg("seen")
        .arg(seen + 1)
        .arg(2_678_400_000u64)
        .invoke_async(&mut connection)
        .await
        .ok();
    stored_name(&fields)
}

fn figment() -> rocket::figment::Figment {
    rocket::Config::figment()
        .merge(("secret_key", SECRET))
        .merge(("log_level", "off"))
}

/// The benchmark app; without the fairing it has only the route without a session guard.
fn app(keepsake: Option<Keepsake>) -> Rocket<Build> {
    app_in(figment(), keepsake)
}

/// The benchmark app, configured by `figment`.
fn app_in(figment: rocket::figment::Figment, keepsake: Option<Keepsake>) -> Rocket<Build> {
    let Some(keepsake) = keepsake else {
        return bare();
    };
    rocket::custom(figment)
        .attach(keepsake)
        .manage(hand_mac())
        .mount(
            "/",
            routes![
                plain,
                seed_route,
                read,
                change,
                flash_push,
                flash_push_n,
                flash_take,
                private_read,
                private_seed,
                private_change,
                signed_read,
                signed_change,
                rocket_flash,
                rocket_take
            ],
        )
}

/// Only the route without a session guard, so that (a) and (a0) route alike.
fn bare() -> Rocket<Build> {
    rocket::custom(figment()).mount("/bare", routes![plain])
}

// ---- measurement -------------------------------------------------------------

/// A measured case: nanoseconds per iteration, one value per sample.
struct Case {
    name: String,
    samples: Vec<f64>,
}

impl Case {
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }

    fn median(&self) -> f64 {
        self.quantile(0.5)
    }
}

const SAMPLES: usize = 31;

/// Times `run` (which does `iters` iterations of case `i`) `SAMPLES` times per case.
fn group(names: &[&str], iters: u32, run: impl FnMut(usize, u32)) -> Vec<Case> {
    rounds(names, iters, SAMPLES, run)
}

/// Times each case `samples` times, `iters` iterations a sample, in rounds: every
/// round runs each case once, starting one case later than the round before, so that
/// a noisy moment falls on different cases, and sample `r` of every case comes from
/// the same round (ratios are taken per round, then summarized).
fn rounds(
    names: &[&str],
    iters: u32,
    samples: usize,
    mut run: impl FnMut(usize, u32),
) -> Vec<Case> {
    let mut cases: Vec<Case> = names
        .iter()
        .map(|n| Case {
            name: n.to_string(),
            samples: vec![],
        })
        .collect();
    for (i, _) in names.iter().enumerate() {
        run(i, iters / 4 + 1); // warm up
    }
    let n = cases.len();
    for round in 0..samples {
        let mut times = vec![0.0; n];
        for k in 0..n {
            let i = (k + round) % n;
            let start = Instant::now();
            run(i, iters);
            times[i] = start.elapsed().as_nanos() as f64 / iters as f64;
        }
        for (case, t) in cases.iter_mut().zip(times) {
            case.samples.push(t);
        }
    }
    cases
}

/// Requests per sample and samples (rounds) of the request groups: `BENCH_REQUESTS`
/// (default 10,000) and `BENCH_ROUNDS` (default 9).
fn request_plan() -> (u32, usize) {
    let var = |name: &str, default| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (var("BENCH_REQUESTS", 10_000) as u32, var("BENCH_ROUNDS", 9))
}

fn print(cases: &[Case]) {
    for case in cases {
        let (median, low, high) = (case.median(), case.quantile(0.1), case.quantile(0.9));
        println!(
            "| {:<58} | {:>10} | {:>10} – {:<10} |",
            case.name,
            fmt(median),
            fmt(low),
            fmt(high)
        );
    }
}

fn fmt(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// A target ratio, taken per round (sample `r` of each case comes from the same
/// round), then summarized: the median, and the 10th and 90th percentiles, of the
/// per-round ratios.
struct Ratio {
    what: &'static str,
    value: f64,
    p10: f64,
    p90: f64,
    target: f64,
}

impl Ratio {
    /// `f` computes the ratio from one round's per-case times, by case index.
    fn of(
        what: &'static str,
        cases: &[Case],
        target: f64,
        f: impl Fn(&dyn Fn(usize) -> f64) -> f64,
    ) -> Ratio {
        let rounds = cases.iter().map(|c| c.samples.len()).min().unwrap_or(0);
        let per_round = Case {
            name: what.to_owned(),
            samples: (0..rounds).map(|r| f(&|i| cases[i].samples[r])).collect(),
        };
        Ratio {
            what,
            value: per_round.median(),
            p10: per_round.quantile(0.1),
            p90: per_round.quantile(0.9),
            target,
        }
    }
}

// ---- the cases ---------------------------------------------------------------

fn codec_cases() -> (Vec<Case>, Vec<Ratio>) {
    let codec = CookieCodec::new(&[7u8; 64]);
    let mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
    let mut all = Vec::new();
    let mut ratios = Vec::new();
    for (label, size) in [("250 B", 0), ("2 KB", 2048)] {
        let value = profile(size);
        let json = serde_json::to_vec(&value).unwrap();
        let mut record = SessionRecord::from_json(&json).unwrap();
        let cookie = codec.encode(&mut record);
        let mut floor_cookie = json.clone();
        floor_cookie.extend_from_slice(&mac.clone().chain_update(&json).finalize().into_bytes());
        let floor_cookie = URL_SAFE_NO_PAD.encode(&floor_cookie);
        let names = [
            format!("codec {label} ({} B JSON): encode+sign", json.len()),
            format!("codec {label}: floor encode (serde_json+base64+HMAC)"),
            format!("codec {label}: verify+decode"),
            format!("codec {label}: floor decode (base64+HMAC+serde_json)"),
        ];
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let cases = group(&refs, 2000, |i, iters| {
            for _ in 0..iters {
                match i {
                    0 => {
                        black_box(codec.encode(black_box(&mut record)));
                    }
                    1 => {
                        let bytes = serde_json::to_vec(black_box(&value)).unwrap();
                        let tag = mac.clone().chain_update(&bytes).finalize().into_bytes();
                        let mut out = bytes;
                        out.extend_from_slice(&tag);
                        black_box(URL_SAFE_NO_PAD.encode(&out));
                    }
                    2 => {
                        black_box(codec.decode::<Profile>(black_box(&cookie)).unwrap());
                    }
                    _ => {
                        let bytes = URL_SAFE_NO_PAD.decode(black_box(&floor_cookie)).unwrap();
                        let (payload, tag) = bytes.split_at(bytes.len() - 32);
                        mac.clone().chain_update(payload).verify_slice(tag).unwrap();
                        black_box(serde_json::from_slice::<Profile>(payload).unwrap());
                    }
                }
            }
        });
        let (encode, decode) = if size == 0 {
            (
                "codec 250 B: encode+sign / floor",
                "codec 250 B: verify+decode / floor",
            )
        } else {
            (
                "codec 2 KB: encode+sign / floor",
                "codec 2 KB: verify+decode / floor",
            )
        };
        ratios.push(Ratio::of(encode, &cases, 1.25, |at| at(0) / at(1)));
        ratios.push(Ratio::of(decode, &cases, 1.25, |at| at(2) / at(3)));
        all.extend(cases);
    }
    // The encrypted format on the 250 B profile, against the signed one.
    let encrypted = CookieCodec::encrypted(&[7u8; 64]);
    let json = serde_json::to_vec(&profile(0)).unwrap();
    let mut record = SessionRecord::from_json(&json).unwrap();
    let (signed_cookie, sealed_cookie) = (codec.encode(&mut record), encrypted.encode(&mut record));
    let names = [
        "codec 250 B: encode+sign",
        "codec 250 B: encode+encrypt (AES-256-GCM)",
        "codec 250 B: verify+decode",
        "codec 250 B: decrypt+decode",
    ];
    let cases = group(&names, 2000, |i, iters| {
        for _ in 0..iters {
            match i {
                0 => drop(black_box(codec.encode(black_box(&mut record)))),
                1 => drop(black_box(encrypted.encode(black_box(&mut record)))),
                2 => drop(black_box(
                    codec.decode::<Profile>(black_box(&signed_cookie)),
                )),
                _ => drop(black_box(
                    encrypted.decode::<Profile>(black_box(&sealed_cookie)),
                )),
            }
        }
    });
    ratios.push(Ratio::of(
        "codec 250 B: encrypt / sign",
        &cases,
        2.0,
        |at| at(1) / at(0),
    ));
    ratios.push(Ratio::of(
        "codec 250 B: decrypt / verify",
        &cases,
        2.0,
        |at| at(3) / at(2),
    ));
    all.extend(cases);
    (all, ratios)
}

fn tracking_cases() -> Vec<Case> {
    let ten = r#"{"a":1,"b":"two","c":["x","y"],"d":"four","e":true,"f":6,"g":"seven","h":[8,8],"i":9,"j":"ten"}"#;
    let names = [
        "tracking 10-field view: load, read only, write back",
        "tracking 10-field view: load, borrow mutably, no change",
        "tracking 10-field view: load, change one field",
    ];
    let mut record = SessionRecord::from_json(ten.as_bytes()).unwrap();
    group(&names, 2000, |i, iters| {
        for n in 0..iters {
            let changed = match i {
                0 => record.track::<Ten>(None),
                // The case measured: a mutable borrow that changes nothing.
                1 => record.track::<Ten>(Some(|t| t.f = std::hint::black_box(t.f))),
                _ => record.track::<Ten>(Some(|t| t.f += 1)),
            };
            // The record changes with the first one-field change, and stays changed.
            assert!(changed || i < 2, "case {i}, iteration {n}");
        }
    })
}

/// One GET with an optional cookie, through the local client.
async fn request(client: &Client, path: &str, cookie: Option<&(String, String)>) -> Option<String> {
    let mut req = client.get(path.to_owned());
    if let Some((name, value)) = cookie {
        req = req.cookie(Cookie::new(name.clone(), value.clone()));
    }
    let response = req.dispatch().await;
    let set = response
        .cookies()
        .iter()
        .next()
        .map(|c| c.value().to_owned());
    black_box(response.into_string().await);
    set
}

fn block_on<F: std::future::Future>(runtime: &rocket::tokio::runtime::Runtime, f: F) -> F::Output {
    runtime.block_on(f)
}

fn main() {
    let runtime = rocket::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| case | median | p10 – p90 |");
    println!("|---|---:|---|");
    let (codec, mut ratios) = codec_cases();
    print(&codec);
    let tracking = tracking_cases();
    print(&tracking);

    // Requests: every case that a target compares in one group, so that each ratio
    // is taken between cases of the same round.
    let (per_sample, samples) = request_plan();
    println!(
        "\nRequests through `rocket::local` (untracked client, current-thread runtime): \
         {samples} rounds × {per_sample} requests per case.\n"
    );
    println!("| case | median | p10 – p90 |");
    println!("|---|---:|---|");
    let (with, bare_with, without, memory, encrypted, redis) = block_on(&runtime, async {
        let with = Client::untracked(app(Some(Keepsake::fairing())))
            .await
            .unwrap();
        let bare_with = Client::untracked(bare().attach(Keepsake::fairing()))
            .await
            .unwrap();
        let without = Client::untracked(app(None)).await.unwrap();
        let memory = Client::untracked(app(Some(Keepsake::with_store(
            rocket_keepsake::store::MemoryStore::new(),
        ))))
        .await
        .unwrap();
        let figment = figment().merge(("keepsake.encrypt", true));
        let encrypted = Client::untracked(app_in(figment, Some(Keepsake::fairing())))
            .await
            .unwrap();
        let redis = redis_client().await;
        (with, bare_with, without, memory, encrypted, redis)
    });

    // Cookies to send: sessions holding the representative profile, and the same
    // profile in a private cookie and in a hand-rolled signed cookie.
    let cookie = seed(&runtime, &with, 0);
    let private = seed_private(&runtime, &with);
    let signed = seed_signed();
    let memory_cookie = seed(&runtime, &memory, 0);
    let encrypted_cookie = seed(&runtime, &encrypted, 0);

    // Every read case and anchor reads the same representative profile.
    for (client, path, cookie) in [
        (&with, "/read", &cookie),
        (&with, "/signed/read", &signed),
        (&with, "/private/read", &private),
        (&encrypted, "/read", &encrypted_cookie),
        (&memory, "/read", &memory_cookie),
    ] {
        assert_reads_profile(&runtime, client, path, cookie);
    }

    let names = [
        "(a0) no session guard, app without the fairing, cookie sent",
        "(a) no session guard, session cookie sent (fairing attached)",
        "(a') no session guard, session cookie sent, in the (b)-(f) app",
        "(b) read the session",
        "(b') hand-rolled signed-cookie read (verify+deserialize)",
        "(c) change one key",
        "(c') hand-rolled signed-cookie change (verify+deserialize+sign)",
        "(e) private cookie: read",
        "(e) private cookie: change one key",
        "(g) read the session, encrypted cookie",
        "(g) change one key, encrypted cookie",
        "(d) flash then take (2 requests)",
        "(f) Rocket's Flash then FlashMessage (2 requests)",
        "(a') no session guard, MemoryStore app, id cookie sent",
        "(b) read the session, MemoryStore",
        "(c) change one key, MemoryStore",
    ];
    let requests = rounds(&names, per_sample, samples, |i, iters| {
        block_on(&runtime, async {
            for _ in 0..iters {
                match i {
                    0 => drop(request(&without, "/bare/plain", Some(&cookie)).await),
                    1 => drop(request(&bare_with, "/bare/plain", Some(&cookie)).await),
                    2 => drop(request(&with, "/plain", Some(&cookie)).await),
                    3 => drop(request(&with, "/read", Some(&cookie)).await),
                    4 => drop(request(&with, "/signed/read", Some(&signed)).await),
                    5 => drop(request(&with, "/change", Some(&cookie)).await),
                    6 => drop(request(&with, "/signed/change", Some(&signed)).await),
                    7 => drop(request(&with, "/private/read", Some(&private)).await),
                    8 => drop(request(&with, "/private/change", Some(&private)).await),
                    9 => drop(request(&encrypted, "/read", Some(&encrypted_cookie)).await),
                    10 => drop(request(&encrypted, "/change", Some(&encrypted_cookie)).await),
                    11 => {
                        let set = request(&with, "/flash", None).await.unwrap();
                        drop(request(&with, "/take", Some(&("session".into(), set))).await);
                    }
                    12 => {
                        let set = request(&with, "/rocket/flash", None).await.unwrap();
                        drop(request(&with, "/rocket/take", Some(&("_flash".into(), set))).await);
                    }
                    13 => drop(request(&memory, "/plain", Some(&memory_cookie)).await),
                    14 => drop(request(&memory, "/read", Some(&memory_cookie)).await),
                    _ => drop(request(&memory, "/change", Some(&memory_cookie)).await),
                }
            }
        })
    });
    print(&requests);
    // Overheads are over (a'), the same guard-less route in the same app (for
    // MemoryStore, in its own app).
    let over = |at: &dyn Fn(usize) -> f64, case: usize, floor: usize| at(case) - at(floor);
    ratios.push(Ratio::of(
        "(a) no guard, with fairing / without (a0)",
        &requests,
        1.03,
        |at| at(1) / at(0),
    ));
    ratios.push(Ratio::of(
        "(b) read overhead / hand-rolled signed read overhead (b')",
        &requests,
        1.25,
        |at| over(at, 3, 2) / over(at, 4, 2),
    ));
    ratios.push(Ratio::of(
        "(c) one-key change overhead / hand-rolled signed change overhead (c')",
        &requests,
        1.25,
        |at| over(at, 5, 2) / over(at, 6, 2),
    ));
    ratios.push(Ratio::of(
        "(c) one-key change overhead / private-cookie change overhead (e)",
        &requests,
        0.75,
        |at| over(at, 5, 2) / over(at, 8, 2),
    ));
    ratios.push(Ratio::of(
        "(g) encrypted read overhead / private-cookie read overhead (e)",
        &requests,
        1.0,
        |at| over(at, 9, 2) / over(at, 7, 2),
    ));
    ratios.push(Ratio::of(
        "(g) encrypted change overhead / private-cookie change overhead (e)",
        &requests,
        1.0,
        |at| over(at, 10, 2) / over(at, 8, 2),
    ));
    ratios.push(Ratio::of(
        "(d) flash then take overhead / Rocket's flash overhead (f)",
        &requests,
        1.3,
        // Two requests each: two guard-less requests are their floor.
        |at| (at(11) - 2.0 * at(2)) / (at(12) - 2.0 * at(2)),
    ));
    ratios.push(Ratio::of(
        "MemoryStore read overhead / signed-cookie read overhead",
        &requests,
        1.0,
        |at| over(at, 14, 13) / over(at, 3, 2),
    ));
    ratios.push(Ratio::of(
        "MemoryStore change overhead / signed-cookie change overhead",
        &requests,
        1.0,
        |at| over(at, 15, 13) / over(at, 5, 2),
    ));

    // Redis: ours against the raw commands the same client library sends, in a group
    // of its own (a round trip costs far more than the rest).
    let redis_cookies = redis.as_ref().map(|client| {
        let cookie = seed(&runtime, client, 0);
        let raw_id = raw_id_cookie();
        assert_reads_profile(&runtime, client, "/read", &cookie);
        assert_reads_profile(&runtime, client, "/raw/redis/read", &raw_id);
        (cookie, raw_id)
    });
    if let (Some(client), Some((cookie, raw_id))) = (&redis, &redis_cookies) {
        let names = [
            "(a') no session guard, RedisStore app, id cookie sent",
            "(b) read the session, RedisStore",
            "raw: verify a signed id + HGETALL",
            "(c) change one key, RedisStore",
            "raw: verify a signed id + HGETALL + a one-field script",
        ];
        let stores = rounds(&names, per_sample / 10, samples, |i, iters| {
            block_on(&runtime, async {
                for _ in 0..iters {
                    match i {
                        0 => drop(request(client, "/plain", Some(cookie)).await),
                        1 => drop(request(client, "/read", Some(cookie)).await),
                        2 => drop(request(client, "/raw/redis/read", Some(raw_id)).await),
                        3 => drop(request(client, "/change", Some(cookie)).await),
                        _ => drop(request(client, "/raw/redis/change", Some(raw_id)).await),
                    }
                }
            })
        });
        print(&stores);
        ratios.push(Ratio::of(
            "RedisStore read overhead / raw HGETALL + id check",
            &stores,
            1.15,
            |at| over(at, 1, 0) / over(at, 2, 0),
        ));
        ratios.push(Ratio::of(
            "RedisStore change overhead / raw HGETALL + script",
            &stores,
            1.2,
            |at| over(at, 3, 0) / over(at, 4, 0),
        ));
    }

    // Growth: record size and pending flashes. A 3 KB record does not fit a cookie
    // (base64 makes it over 4096 bytes), so the signed-cookie sizes stop at 2.9 KB and
    // the sizes up to 3 KB are also measured on MemoryStore.
    let sizes = [(250, 250), (1024, 1024), (2900, 3072)];
    let sized: Vec<(String, &Client, (String, String))> = sizes
        .iter()
        .map(|&(size, _)| {
            (
                format!("{size} B record, cookie"),
                &with,
                seed(&runtime, &with, size),
            )
        })
        .chain(sizes.iter().map(|&(_, size)| {
            (
                format!("{size} B record, MemoryStore"),
                &memory,
                seed(&runtime, &memory, size),
            )
        }))
        .collect();
    let flash_counts = [1, 10, 50];
    let flashed: Vec<(usize, (String, String))> = flash_counts
        .iter()
        .map(|&n| {
            let set = block_on(&runtime, request(&with, &format!("/flash/{n}"), None)).unwrap();
            (n, ("session".to_owned(), set))
        })
        .collect();
    let mut growth_names: Vec<String> = Vec::new();
    for (label, _, _) in &sized {
        growth_names.push(format!("(b) read, {label}"));
        growth_names.push(format!("(c) change one key, {label}"));
    }
    for (n, _) in &flashed {
        growth_names.push(format!("(d) push {n} flashes"));
        growth_names.push(format!("(d) take {n} pending flashes"));
    }
    let refs: Vec<&str> = growth_names.iter().map(String::as_str).collect();
    let growth = rounds(&refs, per_sample / 5, samples, |i, iters| {
        block_on(&runtime, async {
            for _ in 0..iters {
                match i {
                    0..=11 => {
                        let path = if i % 2 == 0 { "/read" } else { "/change" };
                        let (_, client, cookie) = &sized[i / 2];
                        drop(request(client, path, Some(cookie)).await);
                    }
                    _ => {
                        let (n, cookie) = &flashed[(i - 12) / 2];
                        if i % 2 == 0 {
                            drop(request(&with, &format!("/flash/{n}"), None).await);
                        } else {
                            drop(request(&with, "/take", Some(cookie)).await);
                        }
                    }
                }
            }
        })
    });
    print(&growth);
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/growth.svg");
    match chart::growth(chart, &sizes, &flash_counts, &growth) {
        Ok(()) => println!("\nChart of the growth cases: {chart}"),
        Err(e) => println!("\nThe chart could not be written: {e}"),
    }

    println!();
    println!("| ratio (per round) | median | p10 – p90 | target | |");
    println!("|---|---:|---|---:|---|");
    for r in &ratios {
        let verdict = if r.value <= r.target { "met" } else { "MISSED" };
        println!(
            "| {} | {:.2} | {:.2} – {:.2} | ≤ {:.2} | {verdict} |",
            r.what, r.value, r.p10, r.p90, r.target
        );
    }

    match &redis {
        Some(client) => redis_round_trips(&runtime, client, &redis_cookies.as_ref().unwrap().0),
        None => {
            println!("\nRedis cases skipped: run with `--features bench-internals,redis` and Redis at REDIS_URL.")
        }
    }
}

/// Panics unless `path` with `cookie` answers the representative profile's name: a
/// case that silently read nothing would be cheap for the wrong reason.
fn assert_reads_profile(
    runtime: &rocket::tokio::runtime::Runtime,
    client: &Client,
    path: &str,
    (name, value): &(String, String),
) {
    let body = block_on(runtime, async {
        let request = client
            .get(path.to_owned())
            .cookie(Cookie::new(name.clone(), value.clone()));
        request.dispatch().await.into_string().await
    });
    assert_eq!(
        body.as_deref(),
        Some(profile(0).name.as_str()),
        "{path} with `{name}`"
    );
}

/// A session cookie whose record is the representative profile grown to `size` bytes.
fn seed(
    runtime: &rocket::tokio::runtime::Runtime,
    client: &Client,
    size: usize,
) -> (String, String) {
    let value = block_on(runtime, request(client, &format!("/seed/{size}"), None))
        .expect("a session cookie");
    ("session".to_owned(), value)
}

fn seed_private(runtime: &rocket::tokio::runtime::Runtime, client: &Client) -> (String, String) {
    block_on(runtime, async {
        let response = client.get("/private/seed").dispatch().await;
        (
            "profile".to_owned(),
            response
                .cookies()
                .get("profile")
                .expect("a private cookie")
                .value()
                .to_owned(),
        )
    })
}

fn seed_signed() -> (String, String) {
    let json = serde_json::to_vec(&profile(0)).unwrap();
    ("signed".to_owned(), sign(&json, &hand_mac()))
}

/// The key of the hand-rolled signed cookies.
fn hand_mac() -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(b"a hand-rolled signing key of 32+ bytes").unwrap()
}

/// A hand-signed cookie holding the id of the one session the Redis app holds: the
/// raw anchors read the same hash as the store.
#[cfg(feature = "redis")]
fn raw_id_cookie() -> (String, String) {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("keepsake-bench:*")
        .query(&mut con)
        .unwrap();
    let [key] = &keys[..] else {
        panic!("the bench expects one session under keepsake-bench:, found {keys:?}");
    };
    let id = key.trim_start_matches("keepsake-bench:");
    ("rawid".to_owned(), sign(id.as_bytes(), &hand_mac()))
}

#[cfg(not(feature = "redis"))]
fn raw_id_cookie() -> (String, String) {
    unreachable!("no Redis app without the `redis` feature")
}

#[cfg(feature = "redis")]
async fn redis_client() -> Option<Client> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = rocket_keepsake::store::RedisStore::new(&url)
        .ok()?
        .with_prefix("keepsake-bench:");
    clear_bench_keys();
    let connection = redis::aio::ConnectionManager::new(redis::Client::open(url).ok()?)
        .await
        .ok()?;
    let change = redis::Script::new(
        "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); \
         redis.call('PEXPIRE', KEYS[1], ARGV[3]); return 1",
    );
    let rocket = app(Some(Keepsake::with_store(store)))
        .manage(RawRedis { connection, change })
        .mount("/", routes![raw_redis_read, raw_redis_change]);
    Client::untracked(rocket).await.ok()
}

#[cfg(not(feature = "redis"))]
async fn redis_client() -> Option<Client> {
    None
}

/// Counts the commands each kind of request sends to Redis (`INFO commandstats`).
fn redis_round_trips(
    runtime: &rocket::tokio::runtime::Runtime,
    client: &Client,
    cookie: &(String, String),
) {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let calls = || -> u64 {
        let mut con = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut con)
            .unwrap();
        info.lines()
            .filter(|l| {
                // What the client sends; the commands a script runs inside Redis
                // are part of the script's one round trip, so they are not counted.
                [
                    "cmdstat_hgetall:",
                    "cmdstat_evalsha:",
                    "cmdstat_eval:",
                    "cmdstat_del:",
                    "cmdstat_script|load:",
                ]
                .iter()
                .any(|sent| l.starts_with(sent))
            })
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    println!();
    println!("| request on RedisStore | commands sent (= round trips) |");
    println!("|---|---:|");
    for (what, path, send) in [
        ("read the session", "/read", true),
        ("unchanged (route without a session guard)", "/plain", true),
        ("change one key", "/change", true),
        ("new session, read only (creates nothing)", "/read", false),
    ] {
        let before = calls();
        block_on(runtime, request(client, path, send.then_some(cookie)));
        println!("| {what} | {} |", calls() - before);
    }
    // The bench removes the records it made.
    clear_bench_keys().expect("Redis answers");
}

/// Removes every key under the bench's prefix (left by an interrupted run, or made
/// by this one).
fn clear_bench_keys() -> Option<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut con = redis::Client::open(url.as_str())
        .ok()?
        .get_connection()
        .ok()?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("keepsake-bench:*")
        .query(&mut con)
        .ok()?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query::<()>(&mut con).ok()?;
    }
    Some(())
}
