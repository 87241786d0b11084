//! Typed flash messages through a real Rocket.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use rocket::error::ErrorKind;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, routes};
use rocket_keepsake::{flash, flash_msg, Flash, Flashes, Keepsake, MAX_FLASHES};

#[flash]
pub enum Notice {
    Success,
    Warning,
    #[flash(category = "danger")]
    Error,
    Info,
}

/// A second category type sharing the record: its messages are unknown to `Notice`.
#[flash]
#[derive(Debug)]
pub enum Audit {
    Audit,
}

fn category(name: &str) -> Notice {
    name.parse().expect("a Notice category")
}

#[get("/push/<category>/<message>")]
fn push(category: &str, message: &str, mut flashes: Flashes<'_, Notice>) -> &'static str {
    flashes.push(self::category(category), message);
    "pushed"
}

#[get("/audit/<message>")]
fn audit(message: &str, mut flashes: Flashes<'_, Audit>) -> &'static str {
    flashes.push(Audit::Audit, message);
    "audited"
}

#[get("/take_audit")]
fn take_audit(mut flashes: Flashes<'_, Audit>) -> String {
    format!("{:?}", flashes.take_all())
}

fn show(messages: Vec<(Notice, String)>) -> String {
    let shown: Vec<String> = messages.iter().map(|(c, m)| format!("{c}:{m}")).collect();
    shown.join(",")
}

#[get("/take_all")]
fn take_all(mut flashes: Flashes<'_, Notice>) -> String {
    show(flashes.take_all())
}

#[get("/take/<categories>")]
fn take(categories: &str, mut flashes: Flashes<'_, Notice>) -> String {
    let wanted: Vec<Notice> = categories.split(',').map(category).collect();
    show(flashes.take(&wanted))
}

#[get("/empty")]
fn empty(flashes: Flashes<'_, Notice>) -> String {
    format!("empty={}", flashes.is_empty())
}

#[get("/json")]
fn json(flashes: Flashes<'_, Notice>) -> String {
    serde_json::to_string(&flashes).unwrap()
}

#[get("/formatted/<name>")]
fn formatted(name: &str, mut flashes: Flashes<'_, Notice>) -> &'static str {
    flash_msg!(
        flashes,
        Notice::Success,
        "Welcome back, {}! You have {} new {}.",
        name,
        3,
        "messages"
    );
    "ok"
}

#[get("/same_request")]
fn same_request(mut flashes: Flashes<'_, Notice>) -> String {
    flashes.push(Notice::Info, "early");
    let taken = show(flashes.take_all());
    flashes.push(Notice::Info, "late");
    taken
}

#[get("/many/<n>")]
fn many(n: usize, mut flashes: Flashes<'_, Notice>) -> &'static str {
    for i in 0..n {
        flashes.push(Notice::Info, i.to_string());
    }
    "many"
}

#[get("/save")]
fn save() -> Flash<Redirect, Notice> {
    Flash::new(Redirect::to("/take_all"), Notice::Success, "Saved").and(Notice::Info, "Undo?")
}

#[get("/push_then_respond")]
fn push_then_respond(mut flashes: Flashes<'_, Notice>) -> Flash<&'static str, Notice> {
    flashes.push(Notice::Warning, "first");
    Flash::new("done", Notice::Success, "second")
}

fn flash_routes() -> Vec<rocket::Route> {
    routes![
        push,
        audit,
        take_audit,
        take_all,
        take,
        empty,
        json,
        formatted,
        same_request,
        many,
        save,
        push_then_respond
    ]
}

async fn flash_client() -> rocket::local::asynchronous::Client {
    client(
        rocket::custom(figment(SECRET, &[]))
            .attach(Keepsake::fairing())
            .mount("/", flash_routes()),
    )
    .await
}

/// Follows a flow of GETs, carrying the session cookie like a browser; returns the
/// bodies and the cookie held at the end.
async fn browse(
    client: &rocket::local::asynchronous::Client,
    paths: &[&str],
) -> (Vec<String>, Option<String>) {
    let mut cookie: Option<String> = None;
    let mut bodies = Vec::new();
    for path in paths {
        let reply = get(client, path, cookie.as_deref()).await;
        assert_ne!(reply.status, Status::InternalServerError, "{path}");
        if let Some(set) = reply.cookie() {
            cookie = Some(set.value().to_owned()).filter(|v| !v.is_empty());
        }
        bodies.push(reply.body);
    }
    (bodies, cookie)
}

async fn flow(client: &rocket::local::asynchronous::Client, paths: &[&str]) -> Vec<String> {
    browse(client, paths).await.0
}

async fn flow_cookie(client: &rocket::local::asynchronous::Client, paths: &[&str]) -> String {
    browse(client, paths).await.1.expect("a session cookie")
}

#[rocket::async_test]
async fn messages_are_taken_in_the_order_flashed_and_read_once() {
    let client = flash_client().await;
    let bodies = flow(
        &client,
        &[
            "/push/success/one",
            "/push/danger/two",
            "/push/info/three",
            "/take_all",
            "/take_all",
        ],
    )
    .await;
    assert_eq!(bodies[3], "success:one,danger:two,info:three");
    assert_eq!(bodies[4], "");
}

#[rocket::async_test]
async fn a_filtered_take_leaves_the_other_categories_pending() {
    let client = flash_client().await;
    let bodies = flow(
        &client,
        &[
            "/push/success/a",
            "/push/warning/b",
            "/push/info/c",
            "/push/warning/d",
            "/take/warning",
            "/take_all",
        ],
    )
    .await;
    assert_eq!(bodies[4], "warning:b,warning:d");
    assert_eq!(bodies[5], "success:a,info:c");
}

#[rocket::async_test]
async fn messages_of_unknown_categories_stay_untouched() {
    let client = flash_client().await;
    let bodies = flow(
        &client,
        &[
            "/audit/logged-in",
            "/push/success/hi",
            "/empty",
            "/take_all",
            "/empty",
            "/take_audit",
            "/take_audit",
        ],
    )
    .await;
    assert_eq!(bodies[2], "empty=false");
    assert_eq!(bodies[3], "success:hi");
    assert_eq!(bodies[4], "empty=true");
    assert_eq!(bodies[5], r#"[(Audit, "logged-in")]"#);
    assert_eq!(bodies[6], "[]");
}

#[rocket::async_test]
async fn flashes_serialize_for_templates_and_serializing_consumes() {
    let client = flash_client().await;
    let bodies = flow(
        &client,
        &["/push/danger/bad", "/push/success/good", "/json", "/json"],
    )
    .await;
    let value: serde_json::Value = serde_json::from_str(&bodies[2]).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"category": "danger", "message": "bad"},
            {"category": "success", "message": "good"}
        ])
    );
    assert_eq!(bodies[3], "[]");
}

#[rocket::async_test]
async fn flash_msg_formats_its_arguments() {
    let client = flash_client().await;
    let bodies = flow(&client, &["/formatted/ada", "/take_all"]).await;
    assert_eq!(
        bodies[1],
        "success:Welcome back, ada! You have 3 new messages."
    );
}

#[rocket::async_test]
async fn pushed_then_taken_in_one_request_is_gone_and_pushed_after_survives() {
    let client = flash_client().await;
    let bodies = flow(&client, &["/same_request", "/take_all", "/take_all"]).await;
    assert_eq!(bodies, ["info:early", "info:late", ""]);
}

#[rocket::async_test]
async fn a_flash_before_a_redirect_is_there_after_it_then_gone() {
    let client = flash_client().await;
    let reply = get(&client, "/save", None).await;
    assert_eq!(reply.status, Status::SeeOther);
    let cookie = reply.value();
    let after = get(&client, "/take_all", Some(&cookie)).await;
    assert_eq!(after.body, "success:Saved,info:Undo?");
    let cookie = after
        .cookie()
        .expect("taking changes the record")
        .value()
        .to_owned();
    assert_eq!(get(&client, "/take_all", Some(&cookie)).await.body, "");
}

#[rocket::async_test]
async fn responder_messages_follow_the_handlers_own() {
    let client = flash_client().await;
    let bodies = flow(&client, &["/push_then_respond", "/take_all"]).await;
    assert_eq!(bodies, ["done", "warning:first,success:second"]);
}

#[rocket::async_test]
async fn flashes_are_stored_in_flasks_format() {
    let client = flash_client().await;
    let cookie = flow_cookie(&client, &["/push/success/Saved", "/push/danger/Oops"]).await;
    let bytes = URL_SAFE_NO_PAD.decode(cookie).unwrap();
    // version, issued and created stamps (17 bytes), JSON, then a 32-byte tag
    let json: serde_json::Value = serde_json::from_slice(&bytes[17..bytes.len() - 32]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"_flashes": [["success", "Saved"], ["danger", "Oops"]]})
    );
}

#[rocket::async_test]
async fn the_pending_list_is_bounded_dropping_the_oldest_with_a_warning() {
    let client = flash_client().await;
    take_logs();
    let cookie = flow_cookie(&client, &["/many/70"]).await;
    let logs = take_logs();
    let drops = logs
        .iter()
        .filter(|(level, m)| *level == log::Level::Warn && m.contains("dropped the oldest"));
    assert_eq!(drops.count(), 6, "{logs:?}");
    let taken = get(&client, "/take_all", Some(&cookie)).await.body;
    let taken: Vec<&str> = taken.split(',').collect();
    assert_eq!(taken.len(), MAX_FLASHES);
    assert_eq!(taken[0], "info:6");
    assert_eq!(taken[MAX_FLASHES - 1], "info:69");
}

#[rocket::async_test]
async fn taking_nothing_sends_no_cookie() {
    let client = flash_client().await;
    let cookie = flow_cookie(&client, &["/audit/x"]).await;
    let reply = get(&client, "/take_all", Some(&cookie)).await;
    assert_eq!(reply.body, "");
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
}

#[rocket::async_test]
async fn flash_routes_without_the_fairing_abort_launch() {
    for routes in [routes![take_all], routes![save]] {
        let rocket = rocket::custom(figment(SECRET, &[])).mount("/", routes);
        let error = rocket.ignite().await.expect_err("launch must abort");
        assert!(
            matches!(error.kind(), ErrorKind::SentinelAborts(_)),
            "{:?}",
            error.kind()
        );
    }
}

#[test]
fn categories_have_strings_display_fromstr_and_a_list() {
    assert_eq!(Notice::Success.as_str(), "success");
    assert_eq!(Notice::Error.as_str(), "danger");
    assert_eq!(Notice::Error.to_string(), "danger");
    assert_eq!("danger".parse::<Notice>(), Ok(Notice::Error));
    assert_eq!(
        "Error".parse::<Notice>().unwrap_err().to_string(),
        "unknown flash category `Error`"
    );
    assert_eq!(
        Notice::ALL,
        [
            Notice::Success,
            Notice::Warning,
            Notice::Error,
            Notice::Info
        ]
    );
    let set: std::collections::HashSet<Notice> = Notice::ALL.iter().copied().collect();
    assert_eq!(set.len(), 4);
    // `Audit` listed `Debug` itself; `#[flash]` added only the rest
    assert_eq!(format!("{:?}", Audit::Audit.clone()), "Audit");
}

#[rocket::async_test]
async fn flashes_that_would_overflow_the_cookie_drop_the_oldest_instead_of_failing() {
    let client = flash_client().await;
    let long = "m".repeat(1200);
    let first = format!("/push/info/first{long}");
    let second = format!("/push/info/second{long}");
    let third = format!("/push/info/third{long}");
    let cookie = flow_cookie(&client, &[first.as_str(), second.as_str()]).await;
    take_logs();
    let reply = get(&client, &third, Some(&cookie)).await;
    assert_eq!(
        reply.status,
        Status::Ok,
        "a flash never makes the response a 500"
    );
    assert!(take_logs()
        .iter()
        .any(|(level, m)| *level == log::Level::Warn && m.contains("oldest were dropped")));
    let taken = get(&client, "/take_all", Some(&reply.value())).await.body;
    assert!(!taken.contains("first"), "the oldest went");
    assert!(
        taken.contains("second") && taken.contains("third"),
        "{taken}"
    );
}
