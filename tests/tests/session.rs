//! The core session behaviour over the signed-cookie store, through a real Rocket.

mod common;

use std::time::Duration;

use common::*;
use rocket::figment::value::Value;
use rocket::http::{SameSite, Status};
use rocket_keepsake::Keepsake;

#[rocket::async_test]
async fn write_then_next_request_reads_it() {
    let client = client(app(&[])).await;
    let first = get(&client, "/login/ada", None).await;
    assert_eq!(first.status, Status::Ok);
    let second = get(&client, "/read", Some(&first.value())).await;
    assert_eq!(
        second.body,
        r#"user=Some("ada") visits=0 cart=[] new=false"#
    );
}

#[rocket::async_test]
async fn new_session_read_only_sends_no_cookie() {
    let client = client(app(&[])).await;
    let reply = get(&client, "/read", None).await;
    assert_eq!(reply.body, "user=None visits=0 cart=[] new=true");
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
}

#[rocket::async_test]
async fn unchanged_session_sends_no_cookie() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let reply = get(&client, "/read", Some(&cookie)).await;
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
}

#[rocket::async_test]
async fn assigning_a_field_its_own_value_is_no_change() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let reply = get(&client, "/same", Some(&cookie)).await;
    assert_eq!(reply.body, "same");
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
}

#[rocket::async_test]
async fn nested_push_is_a_change() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let pushed = get(&client, "/push/apple", Some(&cookie)).await;
    let read = get(&client, "/read", Some(&pushed.value())).await;
    assert!(
        read.body.ends_with(r#"cart=["apple"] new=false"#),
        "{}",
        read.body
    );
}

#[rocket::async_test]
async fn two_views_share_one_record_and_keep_each_others_keys() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let themed = get(&client, "/theme/dark", Some(&cookie)).await;
    assert_eq!(themed.body, r#"user=Some("ada")"#);
    let cookie = themed.value();
    assert_eq!(
        get(&client, "/prefs", Some(&cookie)).await.body,
        r#"theme=Some("dark")"#
    );
    let pushed = get(&client, "/push/pear", Some(&cookie)).await.value();
    assert_eq!(
        get(&client, "/prefs", Some(&pushed)).await.body,
        r#"theme=Some("dark")"#
    );
    assert!(read_session(&client, &pushed)
        .await
        .starts_with(r#"user=Some("ada")"#));
}

#[rocket::async_test]
async fn keys_unknown_to_every_view_are_preserved() {
    let legacy_app = rocket::custom(figment(SECRET, &[]))
        .attach(Keepsake::fairing())
        .mount("/", legacy_routes());
    let legacy = client(legacy_app).await;
    let main = client(app(&[])).await;
    let cookie = get(&legacy, "/legacy/keep-me", None).await.value();
    // The main app knows nothing of `legacy`, and rewrites the record.
    let rewritten = get(&main, "/login/ada", Some(&cookie)).await.value();
    assert_eq!(
        get(&legacy, "/legacy", Some(&rewritten)).await.body,
        r#"legacy=Some("keep-me")"#
    );
    assert!(read_session(&main, &rewritten)
        .await
        .starts_with(r#"user=Some("ada")"#));
}

#[rocket::async_test]
async fn clear_deletes_the_cookie() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let cleared = get(&client, "/clear", Some(&cookie)).await;
    let removal = cleared.cookie().expect("a removal cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.max_age(), Some(rocket::time::Duration::ZERO));
    assert_eq!(removal.path(), Some("/"));
    // A change made before `clear()` does not survive it.
    let after = get(&client, "/read", Some(removal.value())).await;
    assert!(after.body.starts_with("user=None"), "{}", after.body);
}

#[rocket::async_test]
async fn clear_is_not_undone_by_another_view_borrowed_but_unchanged() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let cookie = get(&client, "/theme/dark", Some(&cookie)).await.value();
    let cleared = get(&client, "/clear_both", Some(&cookie)).await;
    assert_eq!(cleared.cookie().map(|c| c.value()), Some(""), "{cleared:?}");
}

#[rocket::async_test]
async fn clear_without_a_cookie_sends_nothing() {
    let client = client(app(&[])).await;
    let cleared = get(&client, "/clear", None).await;
    assert!(cleared.set_cookies.is_empty(), "{:?}", cleared.set_cookies);
}

#[rocket::async_test]
async fn vary_cookie_only_when_the_session_was_accessed() {
    let client = client(app(&[])).await;
    assert!(get(&client, "/read", None).await.varies_on_cookie());
    assert!(!get(&client, "/none", None).await.varies_on_cookie());
}

#[rocket::async_test]
async fn default_cookie_attributes_are_safe() {
    let client = client(app(&[])).await;
    let reply = get(&client, "/login/ada", None).await;
    let cookie = reply.cookie().unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
}

#[rocket::async_test]
async fn configured_cookie_attributes_are_used() {
    let settings = [
        ("cookie_name", Value::from("sid")),
        ("cookie_path", Value::from("/app")),
        ("cookie_domain", Value::from("example.com")),
        ("same_site", Value::from("strict")),
        ("http_only", Value::from(false)),
        ("partitioned", Value::from(true)),
    ];
    let client = client(app(&settings)).await;
    let reply = get_named(&client, "/login/ada", "sid", None).await;
    let cookie = reply.cookie().expect("a cookie named sid");
    assert_eq!(cookie.path(), Some("/app"));
    assert_eq!(cookie.domain(), Some("example.com"));
    assert_eq!(cookie.same_site(), Some(SameSite::Strict));
    assert_eq!(cookie.http_only(), None);
    assert_eq!(cookie.partitioned(), Some(true));
    let read = get_named(&client, "/read", "sid", Some(cookie.value())).await;
    assert!(read.body.starts_with(r#"user=Some("ada")"#));
}

#[rocket::async_test]
async fn permanent_cookies_expire_and_browser_session_cookies_do_not() {
    let client = client(app(&[("max_age", Value::from("2h"))])).await;
    let browser = get(&client, "/login/ada", None).await;
    let cookie = browser.cookie().unwrap();
    assert_eq!((cookie.max_age(), cookie.expires()), (None, None));

    let permanent = get(&client, "/permanent/true", Some(&browser.value())).await;
    assert_eq!(permanent.body, "permanent=true");
    let cookie = permanent.cookie().unwrap();
    assert_eq!(cookie.max_age(), Some(rocket::time::Duration::hours(2)));
    let expires = cookie.expires_datetime().expect("Expires");
    let from_now = expires - rocket::time::OffsetDateTime::now_utc();
    assert!(
        (from_now - rocket::time::Duration::hours(2)).abs() < rocket::time::Duration::minutes(1)
    );

    let back = get(&client, "/permanent/false", Some(&permanent.value())).await;
    assert_eq!(back.body, "permanent=false");
    assert_eq!(back.cookie().unwrap().max_age(), None);
}

#[rocket::async_test]
async fn refresh_each_request_resends_a_permanent_cookie_on_read() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/permanent/true", None).await.value();
    let read = get(&client, "/read", Some(&cookie)).await;
    assert!(
        read.cookie().is_some_and(|c| c.max_age().is_some()),
        "{read:?}"
    );
    // a browser-session cookie is not refreshed
    let browser = get(&client, "/login/ada", None).await.value();
    assert!(get(&client, "/read", Some(&browser))
        .await
        .set_cookies
        .is_empty());
}

#[rocket::async_test]
async fn refresh_each_request_off_leaves_a_permanent_cookie_alone() {
    let client = client(app(&[("refresh_each_request", Value::from(false))])).await;
    let cookie = get(&client, "/permanent/true", None).await.value();
    let read = get(&client, "/read", Some(&cookie)).await;
    assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);
}

#[rocket::async_test]
async fn tampered_cookie_gives_a_fresh_session() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let mut bytes = cookie.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    take_logs();
    let reply = get(&client, "/read", Some(&tampered)).await;
    assert_eq!(reply.status, Status::Ok);
    assert_eq!(reply.body, "user=None visits=0 cart=[] new=true");
    let logs = take_logs();
    assert!(
        logs.iter()
            .any(|(level, msg)| *level == log::Level::Debug && msg.contains("signature")),
        "{logs:?}"
    );
}

#[rocket::async_test]
async fn malformed_cookies_give_a_fresh_session() {
    let client = client(app(&[])).await;
    let long = "A".repeat(5000);
    for bad in [
        "",
        "x",
        "!!!",
        "%FF%FE",
        "eyJ1c2VyIjoiYWRhIn0",
        long.as_str(),
    ] {
        let reply = get(&client, "/read", Some(bad)).await;
        assert_eq!(reply.status, Status::Ok, "{bad:?}");
        assert!(reply.body.ends_with("new=true"), "{bad:?}: {}", reply.body);
    }
}

#[rocket::async_test]
async fn cookie_signed_with_another_key_gives_a_fresh_session() {
    let other = client(
        rocket::custom(figment(OTHER_SECRET, &[]))
            .attach(Keepsake::fairing())
            .mount("/", routes()),
    )
    .await;
    let cookie = get(&other, "/login/mallory", None).await.value();
    let client = client(app(&[])).await;
    assert!(read_session(&client, &cookie).await.ends_with("new=true"));
}

#[rocket::async_test]
async fn rotation_through_fallback_keys() {
    let old = client(
        rocket::custom(figment(OTHER_SECRET, &[]))
            .attach(Keepsake::fairing())
            .mount("/", routes()),
    )
    .await;
    let old_cookie = get(&old, "/login/ada", None).await.value();

    let rotated = client(app(&[("fallback_keys", Value::from(vec![OTHER_SECRET]))])).await;
    let read = get(&rotated, "/read", Some(&old_cookie)).await;
    assert!(
        read.body.starts_with(r#"user=Some("ada")"#),
        "{}",
        read.body
    );
    // re-signed with the current key although nothing changed
    let resigned = read.value();
    assert_ne!(resigned, old_cookie);

    // the current key alone reads the re-signed cookie, and the old key does not
    let current_only = client(app(&[])).await;
    let read = get(&current_only, "/read", Some(&resigned)).await;
    assert!(read.body.starts_with(r#"user=Some("ada")"#));
    assert!(read.set_cookies.is_empty());
    assert!(read_session(&old, &resigned).await.ends_with("new=true"));
}

#[rocket::async_test]
async fn cookie_older_than_max_age_is_refused() {
    let clock = ManualClock::new();
    let client = client(clocked_app(&clock, &[("max_age", Value::from(60u64))])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    clock.advance(Duration::from_secs(60));
    assert!(read_session(&client, &cookie).await.ends_with("new=false"));
    clock.advance(Duration::from_secs(1));
    assert!(read_session(&client, &cookie).await.ends_with("new=true"));
}

#[rocket::async_test]
async fn idle_timeout_expires_an_unused_session_and_renews_a_used_one() {
    let clock = ManualClock::new();
    let client = client(clocked_app(&clock, &[("idle_timeout", Value::from("30m"))])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    clock.advance(Duration::from_secs(20 * 60));
    let read = get(&client, "/read", Some(&cookie)).await;
    assert!(read.body.ends_with("new=false"));
    assert!(
        read.cookie().is_some(),
        "an accessed session is renewed while idle_timeout is set"
    );
    let renewed = read.value();
    clock.advance(Duration::from_secs(20 * 60));
    assert!(
        read_session(&client, &cookie).await.ends_with("new=true"),
        "40 idle minutes"
    );
    assert!(
        read_session(&client, &renewed).await.ends_with("new=false"),
        "20 idle minutes"
    );
}

#[rocket::async_test]
async fn absolute_timeout_expires_even_an_active_session() {
    let clock = ManualClock::new();
    let client = client(clocked_app(
        &clock,
        &[("absolute_timeout", Value::from("2h"))],
    ))
    .await;
    let cookie = get(&client, "/login/ada", None).await.value();
    clock.advance(Duration::from_secs(3600));
    // still valid, and re-signed now by a change
    let pushed = get(&client, "/push/x", Some(&cookie)).await.value();
    clock.advance(Duration::from_secs(3600));
    assert!(read_session(&client, &pushed).await.ends_with("new=false"));
    clock.advance(Duration::from_secs(1));
    assert!(read_session(&client, &pushed).await.ends_with("new=true"));
}

#[rocket::async_test]
async fn oversize_cookie_is_a_500_and_the_old_cookie_stays_valid() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    take_logs();
    let too_big = get(&client, "/big/4000", Some(&cookie)).await;
    assert_eq!(too_big.status, Status::InternalServerError);
    assert!(too_big.set_cookies.is_empty(), "{:?}", too_big.set_cookies);
    let logs = take_logs();
    assert!(
        logs.iter().any(|(level, msg)| *level == log::Level::Error
            && msg.contains("`user`")
            && msg.contains("with_store")),
        "{logs:?}"
    );
    let read = get(&client, "/read", Some(&cookie)).await;
    assert_eq!(read.body, r#"user=Some("ada") visits=0 cart=[] new=false"#);
    // just under the limit is fine
    assert_eq!(
        get(&client, "/big/2500", Some(&cookie)).await.status,
        Status::Ok
    );
}

#[rocket::async_test]
async fn a_value_that_cannot_be_serialized_is_a_500_not_a_lost_write() {
    let client = client(app(&[])).await;
    take_logs();
    let reply = get(&client, "/broken", None).await;
    assert_eq!(reply.status, Status::InternalServerError);
    assert!(reply.set_cookies.is_empty());
    let logs = take_logs();
    assert!(
        logs.iter().any(|(_, msg)| msg.contains("`pairs`")),
        "{logs:?}"
    );
}

#[rocket::async_test]
async fn a_route_without_a_session_guard_decodes_nothing_and_sends_nothing() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    take_logs();
    for sent in [Some(cookie.as_str()), Some("garbage"), None] {
        let reply = get(&client, "/none", sent).await;
        assert_eq!(reply.body, "none");
        assert!(
            reply.set_cookies.is_empty() && reply.vary.is_empty(),
            "{reply:?}"
        );
    }
    // a garbage cookie that was decoded would have logged why it was refused
    assert_eq!(take_logs(), vec![]);
}

#[rocket::async_test]
async fn the_record_is_loaded_once_per_request_across_forwards() {
    let client = client(app(&[])).await;
    take_logs();
    let reply = get(&client, "/forward", Some("garbage")).await;
    assert_eq!(reply.body, "second user=None");
    let refusals = take_logs()
        .into_iter()
        .filter(|(_, m)| m.contains("fresh session"))
        .count();
    assert_eq!(refusals, 1);
}

#[rocket::async_test]
async fn session_is_held_across_await_and_used_inside_another_guard() {
    let client = client(app(&[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    assert_eq!(get(&client, "/me", Some(&cookie)).await.body, "ada");
    assert_eq!(get(&client, "/me", None).await.status, Status::Unauthorized);
    let slow = get(&client, "/slow", Some(&cookie)).await;
    assert!(get(&client, "/read", Some(&slow.value()))
        .await
        .body
        .contains("visits=1"));
}

#[rocket::async_test]
async fn cycle_id_reissues_the_session() {
    let clock = ManualClock::new();
    let client = client(clocked_app(&clock, &[])).await;
    let cookie = get(&client, "/login/ada", None).await.value();
    clock.advance(Duration::from_secs(1));
    let cycled = get(&client, "/cycle", Some(&cookie)).await;
    let new_cookie = cycled.value();
    assert_ne!(new_cookie, cookie);
    assert!(read_session(&client, &new_cookie)
        .await
        .starts_with(r#"user=Some("ada")"#));
}

fn send_sync<T: Send + Sync>() {}

#[test]
fn session_guard_is_send() {
    fn send<T: Send>() {}
    send::<rocket_keepsake::Session<'static, Auth>>();
    send_sync::<Keepsake>();
}

#[rocket::async_test]
async fn a_secure_cookie_sent_over_plain_http_to_a_lan_host_warns_once() {
    let client = client(app(&[])).await;
    let send = |host: &'static str| {
        let client = &client;
        async move {
            client
                .get("/login/ada")
                .header(rocket::http::Header::new("Host", host))
                .dispatch()
                .await
                .status()
        }
    };
    let warnings = || {
        take_logs()
            .into_iter()
            .filter(|(level, m)| *level == log::Level::Warn && m.contains("browsers will drop"))
            .count()
    };
    take_logs();
    assert_eq!(send("localhost:8000").await, Status::Ok);
    assert_eq!(send("127.0.0.1:8000").await, Status::Ok);
    assert_eq!(
        warnings(),
        0,
        "loopback hosts keep Secure cookies over http"
    );
    assert_eq!(send("192.168.1.20:8000").await, Status::Ok);
    assert_eq!(send("192.168.1.20:8000").await, Status::Ok);
    assert_eq!(warnings(), 1, "one warning per launch");

    let insecure = client_for(app(&[("secure", Value::from(false))])).await;
    take_logs();
    insecure
        .get("/login/ada")
        .header(rocket::http::Header::new("Host", "192.168.1.20"))
        .dispatch()
        .await;
    assert_eq!(warnings(), 0, "secure = false: nothing to warn about");
}

async fn client_for(rocket: rocket::Rocket<rocket::Build>) -> rocket::local::asynchronous::Client {
    client(rocket).await
}
