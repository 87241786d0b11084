//! What a session costs in Flask-Session's layout on Redis (`flask_session = true`),
//! against the raw commands of the same bytes through the same client library, in one
//! run: `cargo bench -p rocket_keepsake --features redis --bench flask_session`.
//!
//! It times, interleaved: a route without a session guard (the cookie sent), a route
//! that reads the session, one that changes one key, and, through a `redis`
//! `ConnectionManager`, the raw commands a Flask-Session app sends for the same record:
//! `GET` of the blob (a read), and `GET` then `SET .. PX` of the same bytes (a change).
//! A change in keepsake is a `GET` and a compare-and-set script, so that concurrent
//! requests changing different keys all survive: the ratio shows what that costs.
//! Ratios: (route − plain route) / raw commands.

use std::time::Instant;

use redis::AsyncCommands;
use rocket::local::asynchronous::Client;
use rocket_keepsake::Keepsake;

#[path = "fixture/mod.rs"]
mod fixture;

use fixture::{get, median};

const PREFIX: &str = "keepsake-bench-flask:";
const SAMPLES: usize = 9;

#[rocket::main]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let iters: u32 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let figment = rocket::Config::figment()
        .merge(("secret_key", vec![7u8; 64]))
        .merge(("log_level", "off"))
        .merge(("keepsake.flask_session", true))
        .merge(("keepsake.store", &url))
        .merge(("keepsake.flask_session_prefix", PREFIX));
    let rocket = rocket::custom(figment).attach(Keepsake::fairing()).mount(
        "/",
        rocket::routes![
            fixture::routes::plain,
            fixture::routes::seed,
            fixture::routes::read,
            fixture::routes::change
        ],
    );
    let client = Client::untracked(rocket).await.expect("valid rocket");
    let response = client.get("/seed").dispatch().await;
    let cookie = response
        .cookies()
        .get("session")
        .expect("a cookie")
        .value()
        .to_owned();
    drop(response);
    let key = format!("{PREFIX}{cookie}");
    let mut raw = redis::aio::ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .expect("Redis answers");
    let blob: Vec<u8> = raw.get(&key).await.unwrap();

    let names = [
        "plain route (cookie sent)",
        "read route",
        "change route",
        "raw GET",
        "raw GET + SET PX",
    ];
    let mut samples = vec![Vec::new(); names.len()];
    let mut ratios = (Vec::new(), Vec::new());
    for round in 0..=SAMPLES {
        let mut this = Vec::new();
        for (case, sample) in samples.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..iters {
                match case {
                    0 => get(&client, "/plain", &cookie).await,
                    1 => get(&client, "/read", &cookie).await,
                    2 => get(&client, "/change", &cookie).await,
                    3 => {
                        let got: Vec<u8> = raw.get(&key).await.unwrap();
                        assert!(!got.is_empty());
                    }
                    _ => {
                        let got: Vec<u8> = raw.get(&key).await.unwrap();
                        assert!(!got.is_empty());
                        let _: () = raw.pset_ex(&key, &blob, 2_678_400_000).await.unwrap();
                    }
                }
            }
            let micros = start.elapsed().as_nanos() as f64 / f64::from(iters) / 1000.0;
            this.push(micros);
            if round > 0 {
                sample.push(micros);
            }
        }
        if round > 0 {
            ratios.0.push((this[1] - this[0]) / this[3]);
            ratios.1.push((this[2] - this[0]) / this[4]);
        }
    }
    let _: () = raw.del(&key).await.unwrap();
    println!(
        "{SAMPLES} rounds × {iters} requests per case, interleaved; medians, µs per request\n"
    );
    println!("| case | µs |");
    println!("|---|---:|");
    for (name, sample) in names.iter().zip(samples) {
        println!("| {name} | {:.1} |", median(sample));
    }
    println!("\n| ratio (median of per-round ratios) | |");
    println!("|---|---:|");
    println!(
        "| read: (read route − plain) / raw GET | {:.2} |",
        median(ratios.0)
    );
    println!(
        "| one-key change: (change route − plain) / raw GET + SET | {:.2} |",
        median(ratios.1)
    );
}
