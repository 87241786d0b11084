//! rocket_keepsake beside its peers, measured in one process by one method:
//! tower-sessions 0.15 (on axum 0.8) and actix-session 0.11 (on actix-web 4).
//!
//! `cargo run --release --manifest-path peers/Cargo.toml` prints a table. Every case
//! is a handler that reads the same six-key record (the benchmarks' fixture) and, for a
//! change, writes one key (`seen`, a counter standing for a timestamp), called in
//! process through its framework's own test dispatch: `rocket::local`, `tower`'s
//! `oneshot` on the axum `Router`, `actix_web::test::call_service`. Each framework's
//! session cost is its case minus its own route without a session, called without the
//! session cookie (actix-session loads the session of every request that carries one,
//! whatever the route), in the same round; rounds interleave every case, and ratios
//! are taken per round, then the median.
//!
//! `PEERS_REQUESTS` (default 20000) requests per case and round, `PEERS_ROUNDS`
//! (default 9) rounds.

use std::time::Instant;

use rocket_keepsake::store::MemoryStore;
use rocket_keepsake::Keepsake;
use serde_json::{Map, Value};

#[path = "../../runtime/benches/fixture/mod.rs"]
mod fixture;

use fixture::Profile;

/// The fixture record's keys with their values, as the peers store them one by one.
fn profile_fields() -> Map<String, Value> {
    match serde_json::to_value(fixture::profile(0)) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("a struct serializes as an object"),
    }
}

/// The six keys a typed read decodes on every framework: `$get` reads the key `$key`.
macro_rules! read_profile {
    ($key:ident => $get:expr) => {{
        Profile {
            user_id: {
                let $key = "user_id";
                $get
            },
            name: {
                let $key = "name";
                $get
            },
            roles: {
                let $key = "roles";
                $get
            },
            theme: {
                let $key = "theme";
                $get
            },
            cart: {
                let $key = "cart";
                $get
            },
            seen: {
                let $key = "seen";
                $get
            },
            notes: String::new(),
        }
    }};
}

mod keepsake_app {
    use super::*;
    use rocket::local::asynchronous::Client;

    /// A client of an app with `fairing`, and the cookie of a seeded session.
    pub async fn app(fairing: Keepsake) -> (Client, String) {
        let client = Client::untracked(fixture::app(fairing))
            .await
            .expect("valid rocket");
        let cookie = {
            let response = client.get("/seed").dispatch().await;
            let cookie = response.cookies().get("session").expect("a session cookie");
            cookie.value().to_owned()
        };
        (client, cookie)
    }

    pub async fn request(client: &Client, path: &str, cookie: &str) {
        let mut request = client.get(path);
        if !cookie.is_empty() {
            request = request.cookie(rocket::http::Cookie::new("session", cookie.to_owned()));
        }
        let response = request.dispatch().await;
        assert_eq!(response.status(), rocket::http::Status::Ok, "{path}");
        let _ = response.into_bytes().await;
    }
}

mod tower_app {
    use super::*;
    use ::tower::ServiceExt;
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use http_body_util::BodyExt;
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

    async fn plain() -> &'static str {
        "plain"
    }

    async fn seed(session: Session) {
        for (key, value) in profile_fields() {
            session.insert(&key, value).await.expect("insert");
        }
    }

    async fn profile(session: &Session) -> Profile {
        let mut fields = Map::new();
        for key in ["user_id", "name", "roles", "theme", "cart", "seen"] {
            let value: Option<Value> = session.get(key).await.expect("get");
            fields.insert(key.to_owned(), value.unwrap_or_default());
        }
        read_profile!(key => serde_json::from_value(fields.get(key).cloned().unwrap_or_default()).expect("typed"))
    }

    async fn read(session: Session) -> String {
        profile(&session).await.name
    }

    async fn change(session: Session) -> String {
        let p = profile(&session).await;
        session.insert("seen", p.seen + 1).await.expect("insert");
        p.name
    }

    pub async fn app() -> (Router, String) {
        let layer = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
        let app = Router::new()
            .route("/plain", get(plain))
            .route("/seed", get(seed))
            .route("/read", get(read))
            .route("/change", get(change))
            .layer(layer);
        let request = Request::get("/seed").body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let set = response.headers()[header::SET_COOKIE]
            .to_str()
            .expect("text");
        let cookie = set.split(';').next().expect("name=value").to_owned();
        (app, cookie)
    }

    pub async fn request(app: &Router, path: &str, cookie: &str) {
        let mut request = Request::get(path);
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request.body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let _ = response.into_body().collect().await;
    }
}

mod actix_app {
    use super::*;
    use actix_session::config::CookieContentSecurity;
    use actix_session::storage::CookieSessionStore;
    use actix_session::{Session, SessionMiddleware};
    use actix_web::cookie::Key;
    use actix_web::dev::{Service, ServiceResponse};
    use actix_web::{test, web, App};

    async fn plain() -> &'static str {
        "plain"
    }

    async fn seed(session: Session) -> &'static str {
        for (key, value) in profile_fields() {
            session.insert(key, value).expect("insert");
        }
        "seeded"
    }

    fn profile(session: &Session) -> Profile {
        read_profile!(key => session.get(key).expect("typed").unwrap_or_default())
    }

    async fn read(session: Session) -> String {
        profile(&session).name
    }

    async fn change(session: Session) -> String {
        let p = profile(&session);
        session.insert("seen", p.seen + 1).expect("insert");
        p.name
    }

    /// The app with actix-session's signed cookie (as keepsake's cookie is signed),
    /// and the cookie of a seeded session.
    pub async fn app() -> (
        impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
        String,
    ) {
        let sessions =
            SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&[7; 64]))
                .cookie_secure(false)
                .cookie_content_security(CookieContentSecurity::Signed)
                .build();
        let app = test::init_service(
            App::new()
                .wrap(sessions)
                .route("/plain", web::get().to(plain))
                .route("/seed", web::get().to(seed))
                .route("/read", web::get().to(read))
                .route("/change", web::get().to(change)),
        )
        .await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/seed").to_request()).await;
        let cookie = response
            .response()
            .cookies()
            .find(|c| c.name() == "id")
            .expect("a session cookie");
        let cookie = format!("id={}", cookie.value());
        (app, cookie)
    }

    pub async fn request(
        app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
        path: &str,
        cookie: &str,
    ) {
        let mut request = test::TestRequest::get().uri(path);
        if !cookie.is_empty() {
            request = request.insert_header(("cookie", cookie));
        }
        let request = request.to_request();
        let response = test::call_service(app, request).await;
        assert!(response.status().is_success(), "{path}");
        let _ = test::read_body(response).await;
    }
}

/// Times `n` requests; µs per request.
macro_rules! time {
    ($n:expr, $request:expr) => {{
        let start = Instant::now();
        for _ in 0..$n {
            $request.await;
        }
        start.elapsed().as_secs_f64() * 1e6 / $n as f64
    }};
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One round's µs per request of every case, by name.
type Round = Vec<(&'static str, f64)>;

fn main() {
    let (n, rounds) = (env("PEERS_REQUESTS", 20_000), env("PEERS_ROUNDS", 9));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let actix = actix_rt::System::new();
    let (cookie_app, cookie) = tokio.block_on(keepsake_app::app(Keepsake::fairing()));
    let (memory_app, memory) =
        tokio.block_on(keepsake_app::app(Keepsake::with_store(MemoryStore::new())));
    let (tower_app, tower_cookie) = tokio.block_on(tower_app::app());
    let (actix_app, actix_cookie) = actix.block_on(actix_app::app());

    let mut all: Vec<Round> = Vec::new();
    for round in 0..=rounds {
        let mut times: Round = Vec::new();
        tokio.block_on(async {
            let k = |path| keepsake_app::request(&cookie_app, path, &cookie);
            let plain = || keepsake_app::request(&cookie_app, "/plain", "");
            times.push(("keepsake plain", time!(n, plain())));
            times.push(("keepsake cookie read", time!(n, k("/read"))));
            times.push(("keepsake cookie change", time!(n, k("/change"))));
            let m = |path| keepsake_app::request(&memory_app, path, &memory);
            times.push(("keepsake memory read", time!(n, m("/read"))));
            times.push(("keepsake memory change", time!(n, m("/change"))));
            let t = |path| tower_app::request(&tower_app, path, &tower_cookie);
            times.push((
                "tower plain",
                time!(n, tower_app::request(&tower_app, "/plain", "")),
            ));
            times.push(("tower memory read", time!(n, t("/read"))));
            times.push(("tower memory change", time!(n, t("/change"))));
        });
        actix.block_on(async {
            let a = |path| actix_app::request(&actix_app, path, &actix_cookie);
            times.push((
                "actix plain",
                time!(n, actix_app::request(&actix_app, "/plain", "")),
            ));
            times.push(("actix cookie read", time!(n, a("/read"))));
            times.push(("actix cookie change", time!(n, a("/change"))));
        });
        // The first round warms caches and allocators up: not counted.
        if round > 0 {
            all.push(times);
        }
    }
    report(&all, n);
}

fn at(round: &Round, name: &str) -> f64 {
    round
        .iter()
        .find(|(case, _)| *case == name)
        .map(|(_, t)| *t)
        .expect("a case of the round")
}

/// The session's cost in one round: the case minus its framework's plain route.
fn cost(round: &Round, name: &str) -> f64 {
    let plain = format!("{} plain", name.split(' ').next().unwrap_or_default());
    at(round, name) - at(round, &plain)
}

fn report(rounds: &[Round], n: usize) {
    println!(
        "{} rounds × {n} requests per case; medians over the rounds, µs per request\n",
        rounds.len()
    );
    println!("| case | per request | session cost (minus its plain route) |");
    println!("|---|---:|---:|");
    for (name, _) in &rounds[0] {
        let total = median(rounds.iter().map(|r| at(r, name)).collect());
        let cost = if name.ends_with("plain") {
            "".to_owned()
        } else {
            format!(
                "{:.2}",
                median(rounds.iter().map(|r| cost(r, name)).collect())
            )
        };
        println!("| {name} | {total:.2} | {cost} |");
    }
    println!("\n| ratio of session costs (median of per-round ratios) | keepsake / peer |");
    println!("|---|---:|");
    for (ours, theirs) in [
        ("keepsake memory read", "tower memory read"),
        ("keepsake memory change", "tower memory change"),
        ("keepsake cookie read", "actix cookie read"),
        ("keepsake cookie change", "actix cookie change"),
    ] {
        let ratio = median(
            rounds
                .iter()
                .map(|r| cost(r, ours) / cost(r, theirs))
                .collect(),
        );
        println!("| {ours} / {theirs} | {ratio:.2} |");
    }
}
