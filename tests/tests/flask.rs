//! One session shared with a real Flask app (`tests/flask/app.py`, over HTTP): Flask
//! writes and Rocket reads, Rocket writes and Flask reads, flashes both ways, and
//! every Flask cookie that fails a check is a fresh session.
//!
//! Needs `python3` with Flask installed (`.ci/run` installs it with pip). Never skips.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::python::{PythonApp, Reply};
use common::*;
use rocket::figment::value::Value;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keepsake::store::MemoryStore;
use rocket_keepsake::{flash, Flashes, Keepsake, Session};
use serde_json::json;

/// The Flask app's `SECRET_KEY`, and the one it rotated away from (`/old/...`).
const FLASK_SECRET: &str = "flask-secret";
const FLASK_OLD_SECRET: &str = "flask-old-secret";

/// The running Flask app.
fn flask_app() -> &'static PythonApp {
    static APP: OnceLock<PythonApp> = OnceLock::new();
    APP.get_or_init(|| PythonApp::start("flask/app.py", &[]))
}

/// GETs `path` from the Flask app over HTTP, sending `cookie` as `session`.
fn flask_get(path: &str, cookie: Option<&str>) -> Reply {
    flask_app().get(path, cookie)
}

/// What Flask's `/read` shows of the session: each key's Python type and value.
fn flask_session(cookie: &str) -> serde_json::Value {
    serde_json::from_str(&flask_get("/read", Some(cookie)).body).expect("JSON from /read")
}

#[flash]
enum Notice {
    Success,
    #[flash(category = "danger")]
    Error,
}

#[get("/flash/<message>")]
fn push_flash(message: &str, mut notices: Flashes<'_, Notice>) -> &'static str {
    notices.push(Notice::Success, message);
    "flashed"
}

#[get("/flashes")]
fn take_flashes(mut notices: Flashes<'_, Notice>) -> String {
    let taken: Vec<(String, String)> = notices
        .take_all()
        .into_iter()
        .map(|(c, m)| (c.as_str().to_owned(), m))
        .collect();
    serde_json::to_string(&taken).unwrap()
}

/// The values Flask tagged, as a view reads them.
#[derive(Session, Default, Debug)]
struct Tagged {
    pair: (u32, String),
    raw: Vec<u8>,
    html: String,
    id: String,
    when: String,
    escaped: serde_json::Value,
}

#[get("/tagged")]
fn tagged(view: Session<'_, Tagged>) -> String {
    format!("{:?}", *view)
}

#[derive(Session, Default)]
struct Notes {
    notes: String,
}

#[get("/notes")]
fn notes(view: Session<'_, Notes>) -> String {
    view.notes.clone()
}

#[get("/notes/<n>")]
fn write_notes(n: usize, mut view: Session<'_, Notes>) -> &'static str {
    view.notes = "xyz".repeat(n);
    "noted"
}

#[get("/is_permanent")]
fn is_permanent(auth: Session<'_, Auth>) -> String {
    format!("permanent={}", auth.is_permanent())
}

fn flask_settings(extra: &[(&str, Value)]) -> Vec<(&'static str, Value)> {
    let mut settings = vec![("flask_secret_key", Value::from(FLASK_SECRET))];
    settings.extend(extra.iter().map(|(k, v)| {
        let key: &'static str = Box::leak(k.to_string().into_boxed_str());
        (key, v.clone())
    }));
    settings
}

/// The Rocket test app reading and writing Flask's format, configured by `extra`.
async fn rocket_app(fairing: Keepsake, extra: &[(&str, Value)]) -> Client {
    let rocket = app_with(fairing, &flask_settings(extra)).mount(
        "/",
        routes![
            push_flash,
            take_flashes,
            tagged,
            notes,
            write_notes,
            is_permanent
        ],
    );
    client(rocket).await
}

async fn rocket_client() -> Client {
    rocket_app(Keepsake::fairing(), &[]).await
}

/// A Flask cookie with Flask's session after `path`.
fn flask_cookie(path: &str, cookie: Option<&str>) -> String {
    flask_get(path, cookie)
        .cookie
        .expect("Flask set the session cookie")
}

#[rocket::async_test]
async fn flask_writes_and_rocket_reads() {
    let cookie = flask_cookie("/login/ada", None);
    let rocket = rocket_client().await;
    let read = get(&rocket, "/read", Some(&cookie)).await;
    assert_eq!(read.body, r#"user=Some("ada") visits=0 cart=[] new=false"#);
    assert!(read.set_cookies.is_empty(), "nothing changed: nothing sent");
}

#[rocket::async_test]
async fn rocket_writes_and_flask_reads_keeping_keys_no_view_knows() {
    let cookie = flask_cookie("/legacy/keep-me", None);
    let rocket = rocket_client().await;
    let written = get(&rocket, "/login/grace", Some(&cookie)).await.value();
    let session = flask_session(&written);
    assert_eq!(session["keys"]["user"], json!(["str", "grace"]));
    assert_eq!(session["keys"]["uid"], json!(["int", 7]));
    assert_eq!(session["keys"]["legacy"], json!(["str", "keep-me"]));
}

#[rocket::async_test]
async fn a_new_rocket_session_is_readable_by_flask() {
    let rocket = rocket_client().await;
    let cookie = get(&rocket, "/login/ada", None).await.value();
    assert_eq!(
        flask_session(&cookie)["keys"]["user"],
        json!(["str", "ada"])
    );
}

#[rocket::async_test]
async fn flasks_flash_is_taken_once_by_rocket() {
    let cookie = flask_cookie("/flash/danger/nope", None);
    let cookie = flask_cookie("/flash/success/yes", Some(&cookie));
    let rocket = rocket_client().await;
    let taken = get(&rocket, "/flashes", Some(&cookie)).await;
    assert_eq!(taken.body, r#"[["danger","nope"],["success","yes"]]"#);
    assert_eq!(
        taken.cookie().map(|c| c.value()),
        Some(""),
        "emptied: deleted"
    );
    assert_eq!(get(&rocket, "/flashes", None).await.body, "[]");
}

#[rocket::async_test]
async fn rockets_flashes_reach_get_flashed_messages() {
    let rocket = rocket_client().await;
    let cookie = get(&rocket, "/flash/saved", None).await.value();
    let cookie = get(&rocket, "/login/ada", Some(&cookie)).await.value();
    let flashes = flask_get("/flashes", Some(&cookie));
    assert_eq!(flashes.body.trim(), r#"[["success","saved"]]"#);
    // Taken on the Flask side, and the rest of the session kept.
    let after = flashes.cookie.expect("Flask rewrote the session");
    assert_eq!(flask_get("/flashes", Some(&after)).body.trim(), "[]");
    assert_eq!(flask_session(&after)["keys"]["user"], json!(["str", "ada"]));
}

#[rocket::async_test]
async fn values_flask_tagged_are_read_as_plain_values() {
    let cookie = flask_cookie("/typed", None);
    let rocket = rocket_client().await;
    let read = get(&rocket, "/tagged", Some(&cookie)).await.body;
    assert_eq!(
        read,
        "Tagged { pair: (1, \"a\"), raw: [0, 1, 255], html: \"<b>x</b>\", \
         id: \"12345678123456781234567812345678\", when: \"Tue, 14 Nov 2023 22:13:20 GMT\", \
         escaped: Object {\" t\": Array [Number(1)]} }"
    );
}

#[rocket::async_test]
async fn tagged_values_stay_tagged_after_rocket_writes_another_key() {
    let cookie = flask_cookie("/typed", None);
    let rocket = rocket_client().await;
    let written = get(&rocket, "/login/ada", Some(&cookie)).await.value();
    let keys = &flask_session(&written)["keys"];
    assert_eq!(keys["pair"], json!(["tuple", [["int", 1], ["str", "a"]]]));
    assert_eq!(keys["raw"], json!(["bytes", [0, 1, 255]]));
    assert_eq!(keys["html"], json!(["Markup", "<b>x</b>"]));
    assert_eq!(keys["id"][0], "UUID");
    assert_eq!(keys["when"][0], "datetime");
    assert_eq!(
        keys["escaped"],
        json!(["dict", {" t": ["list", [["int", 1]]]}])
    );
    assert_eq!(keys["user"], json!(["str", "ada"]));
}

#[rocket::async_test]
async fn the_permanent_flag_is_shared_both_ways() {
    let rocket = rocket_client().await;
    let flask_permanent = flask_cookie("/permanent/true", Some(&flask_cookie("/login/ada", None)));
    let read = get(&rocket, "/is_permanent", Some(&flask_permanent)).await;
    assert_eq!(read.body, "permanent=true");
    let rocket_permanent = get(&rocket, "/permanent/true", None).await;
    assert!(rocket_permanent.cookie().unwrap().max_age().is_some());
    assert_eq!(
        flask_session(&rocket_permanent.value())["permanent"],
        json!(true)
    );
    let browser_only = get(&rocket, "/permanent/false", Some(&flask_permanent)).await;
    assert_eq!(
        flask_session(&browser_only.value())["permanent"],
        json!(false)
    );
}

#[rocket::async_test]
async fn compressed_cookies_are_read_and_large_records_are_written_compressed() {
    let cookie = flask_cookie("/big/300", None);
    assert!(cookie.starts_with('.'), "Flask compressed it: {cookie}");
    let rocket = rocket_client().await;
    assert_eq!(
        get(&rocket, "/notes", Some(&cookie)).await.body,
        "abc".repeat(300)
    );
    let written = get(&rocket, "/notes/500", None).await.value();
    assert!(
        written.starts_with('.'),
        "compressed when shorter: {written}"
    );
    assert!(written.len() < 300);
    assert_eq!(
        flask_session(&written)["keys"]["notes"],
        json!(["str", "xyz".repeat(500)])
    );
    let small = get(&rocket, "/login/ada", None).await.value();
    assert!(!small.starts_with('.'), "not when longer: {small}");
}

#[rocket::async_test]
async fn bad_flask_cookies_are_fresh_sessions() {
    let rocket = rocket_client().await;
    let good = flask_cookie("/login/ada", None);
    let mut tampered = good.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let foreign = flask_cookie("/old/login/ada", None);
    let bomb = flask_cookie("/big/30000", None);
    assert!(
        bomb.len() < 1000,
        "90 KB compresses to {} bytes",
        bomb.len()
    );
    let cases = [
        ("tampered", String::from_utf8(tampered).unwrap()),
        ("another key", foreign),
        ("a zip bomb", bomb),
        ("not a Flask cookie", "eyJhIjoxfQ".to_owned()),
    ];
    for (what, cookie) in cases {
        let read = get(&rocket, "/read", Some(&cookie)).await;
        assert_eq!(read.status, Status::Ok, "{what}");
        assert!(read.body.ends_with("new=true"), "{what}: {}", read.body);
    }
    // Older than max_age, by the fairing's clock.
    let clock = ManualClock::new();
    let rocket = rocket_app(Keepsake::fairing().with_clock(clock.clone()), &[]).await;
    assert!(read_session(&rocket, &good).await.ends_with("new=false"));
    clock.advance(Duration::from_secs(32 * 24 * 3600));
    assert!(
        read_session(&rocket, &good).await.ends_with("new=true"),
        "expired"
    );
}

#[rocket::async_test]
async fn fallback_keys_verify_and_writes_use_the_current_key() {
    let old = flask_cookie("/old/login/ada", None);
    let fallbacks = Value::from(vec![FLASK_OLD_SECRET]);
    let rocket = rocket_app(Keepsake::fairing(), &[("flask_fallback_keys", fallbacks)]).await;
    let read = get(&rocket, "/read", Some(&old)).await;
    assert!(
        read.body.starts_with(r#"user=Some("ada")"#),
        "{}",
        read.body
    );
    let resigned = read.value();
    assert_eq!(
        flask_session(&resigned)["keys"]["user"],
        json!(["str", "ada"]),
        "the Flask app, on the current key, reads the re-signed cookie"
    );
}

#[rocket::async_test]
async fn the_flask_format_with_a_store_or_an_absolute_timeout_fails_launch() {
    capture_logs();
    let rocket = app_with(
        Keepsake::with_store(MemoryStore::new()),
        &flask_settings(&[]),
    );
    take_logs();
    let error = rocket.ignite().await.expect_err("launch must fail");
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
    assert!(take_logs()
        .iter()
        .any(|(_, m)| m.contains("Flask-Session's server-side records")));
    let rocket = app_with(
        Keepsake::fairing(),
        &flask_settings(&[("absolute_timeout", Value::from("1h"))]),
    );
    let error = rocket.ignite().await.expect_err("launch must fail");
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
    assert!(take_logs()
        .iter()
        .any(|(_, m)| m.contains("absolute_timeout")));
}
