//! What happens at launch: missing fairing, missing secret, invalid configuration.

mod common;

use common::backend::{postgres_url, redis_connection, sql_scalar, Backend, Engine};
use common::*;
use rocket::error::ErrorKind;
use rocket::figment::{value::Value, Figment};
use rocket_keepsake::store::MemoryStore;
use rocket_keepsake::Keepsake;

#[rocket::async_test]
async fn a_session_route_without_the_fairing_aborts_launch() {
    capture_logs();
    take_logs();
    let rocket = rocket::custom(figment(SECRET, &[])).mount("/", routes());
    let error = rocket.ignite().await.expect_err("launch must abort");
    assert!(
        matches!(error.kind(), ErrorKind::SentinelAborts(_)),
        "{:?}",
        error.kind()
    );
    let logs = take_logs();
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains(".attach(Keepsake::fairing())")),
        "{logs:?}"
    );
}

#[rocket::async_test]
async fn the_release_profile_without_a_secret_key_refuses_to_launch() {
    capture_logs();
    take_logs();
    let figment = Figment::from(rocket::Config::release_default()).select("release");
    let rocket = rocket::custom(figment)
        .attach(Keepsake::fairing())
        .mount("/", routes());
    let error = rocket.ignite().await.expect_err("launch must fail");
    assert!(
        matches!(error.kind(), ErrorKind::FailedFairings(_)),
        "{:?}",
        error.kind()
    );
    let logs = take_logs();
    assert!(
        logs.iter().any(|(level, m)| *level == log::Level::Error
            && m.contains("secret_key")
            && m.contains("openssl rand")),
        "{logs:?}"
    );
}

#[rocket::async_test]
async fn the_debug_profile_without_a_secret_key_warns_and_works() {
    capture_logs();
    let figment = rocket::Config::figment().merge(("secret_key", vec![0u8; 64]));
    let client = client(
        rocket::custom(figment)
            .attach(Keepsake::fairing())
            .mount("/", routes()),
    )
    .await;
    let cookie = get(&client, "/login/ada", None).await.value();
    let read = get(&client, "/read", Some(&cookie)).await;
    assert!(
        read.body.starts_with(r#"user=Some("ada")"#),
        "{cookie} {read:?} {:?}",
        take_logs()
    );
}

async fn ignite_error(settings: &[(&str, Value)]) -> (bool, String) {
    capture_logs();
    take_logs();
    let error = app(settings)
        .ignite()
        .await
        .expect_err("invalid config must fail ignite");
    let logs = take_logs()
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .join("\n");
    (matches!(error.kind(), ErrorKind::FailedFairings(_)), logs)
}

#[rocket::async_test]
async fn invalid_configuration_fails_ignite_naming_the_key() {
    let cases: &[(&str, Value, &str)] = &[
        ("max_age", Value::from("forever"), "max_age"),
        ("idle_timeout", Value::from("5x"), "idle_timeout"),
        ("same_site", Value::from("sometimes"), "same_site"),
        ("cookie_nmae", Value::from("typo"), "cookie_nmae"),
        ("cookie_name", Value::from("bad name"), "cookie_name"),
        (
            "fallback_keys",
            Value::from(vec!["c2hvcnQ="]),
            "fallback_keys[0]",
        ),
    ];
    for (key, value, named) in cases {
        let (kind, logs) = ignite_error(&[(key, value.clone())]).await;
        assert!(kind, "{key}: not a fairing failure");
        assert!(logs.contains(named), "{key}: {logs}");
    }
}

#[rocket::async_test]
async fn cookie_prefix_rules_are_checked_at_launch() {
    let (_, logs) = ignite_error(&[
        ("cookie_name", Value::from("__Host-session")),
        ("cookie_path", Value::from("/app")),
    ])
    .await;
    assert!(logs.contains("__Host-"), "{logs}");
    let (_, logs) = ignite_error(&[
        ("cookie_name", Value::from("__Secure-s")),
        ("secure", Value::from(false)),
    ])
    .await;
    assert!(logs.contains("__Secure-"), "{logs}");
    let (_, logs) = ignite_error(&[
        ("same_site", Value::from("none")),
        ("secure", Value::from(false)),
    ])
    .await;
    assert!(logs.contains("same_site"), "{logs}");
}

#[rocket::async_test]
async fn keepsake_keys_can_be_set_flat_as_rocket_env_vars_become() {
    // `ROCKET_KEEPSAKE_COOKIE_NAME=sid` reaches the figment as `keepsake_cookie_name`.
    let figment = figment(SECRET, &[]).merge(("keepsake_cookie_name", "sid"));
    let client = client(
        rocket::custom(figment)
            .attach(Keepsake::fairing())
            .mount("/", routes()),
    )
    .await;
    let reply = get_named(&client, "/login/ada", "sid", None).await;
    assert!(reply.cookie().is_some(), "{reply:?}");
}

#[rocket::async_test]
async fn store_names_where_the_store_has_none_fail_launch() {
    let cases: &[&[(&str, Value)]] = &[
        &[("store", "memory".into()), ("store_prefix", "app1:".into())],
        &[
            ("store", "file:sessions".into()),
            ("store_table", "app1".into()),
        ],
        &[("store_table", "app1".into())],
    ];
    for settings in cases {
        let (kind, logs) = ignite_error(settings).await;
        let key = settings.last().unwrap().0;
        assert!(kind, "{settings:?}: not a fairing failure");
        assert!(
            logs.contains(&format!("`keepsake.{key}`")),
            "{settings:?}: {logs}"
        );
    }
    // A store built in code keeps the names it was built with.
    capture_logs();
    take_logs();
    let given = app_with(
        Keepsake::with_store(MemoryStore::new()),
        &[("store_table", "app1".into())],
    );
    let error = given.ignite().await.expect_err("a name for a built store");
    assert!(matches!(error.kind(), ErrorKind::FailedFairings(_)));
    let logs = take_logs();
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains("`keepsake.store_table`")),
        "{logs:?}"
    );
    // `with_table` sets the key: the same rule.
    let coded = app_with(
        Keepsake::fairing().with_table("app1"),
        &[("store", "memory".into())],
    );
    let error = coded
        .ignite()
        .await
        .expect_err("a table for the memory store");
    assert!(matches!(error.kind(), ErrorKind::FailedFairings(_)));
}

#[rocket::async_test]
async fn a_store_table_that_is_not_a_plain_name_fails_launch() {
    let url = Value::from(postgres_url());
    let (kind, logs) = ignite_error(&[
        ("store", url),
        ("store_table", "sessions; DROP TABLE users".into()),
    ])
    .await;
    assert!(kind);
    assert!(
        logs.contains("store_table") && logs.contains("not a plain identifier"),
        "{logs}"
    );
}

#[rocket::async_test]
async fn migrating_cookie_sessions_without_a_store_fails_launch() {
    let (kind, logs) = ignite_error(&[("migrate_cookie_sessions", true.into())]).await;
    assert!(kind);
    assert!(logs.contains("`migrate_cookie_sessions`"), "{logs}");
}

#[rocket::async_test]
async fn store_table_and_store_prefix_name_what_a_configured_store_uses() {
    let backend = Backend::postgres();
    let Backend::Sql { url, table, .. } = &backend else {
        unreachable!("a SQL backend")
    };
    let settings = [
        ("store", Value::from(url.as_str())),
        ("store_table", Value::from(table.as_str())),
    ];
    let sessions = client(app(&settings)).await;
    get(&sessions, "/login/ada", None).await.value();
    let count = format!("SELECT COUNT(*) FROM {table}");
    assert_eq!(sql_scalar(Engine::Postgres, url, &count).await, 1);

    let backend = Backend::redis();
    let Backend::Redis { url, prefix, .. } = &backend else {
        unreachable!("a Redis backend")
    };
    let settings = [
        ("store", Value::from(url.as_str())),
        ("store_prefix", Value::from(prefix.as_str())),
    ];
    let sessions = client(app(&settings)).await;
    get(&sessions, "/login/ada", None).await.value();
    let mut redis = redis_connection(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the record lives under the prefix");
}

#[rocket::async_test]
async fn flask_session_fails_launch_where_flask_session_shares_nothing() {
    let on = ("flask_session", Value::from(true));
    let redis = ("store", Value::from("redis://127.0.0.1:6379"));
    let cases: &[(&[(&str, Value)], &str)] = &[
        (std::slice::from_ref(&on), "no `store` is set"),
        (
            &[on.clone(), ("store", "memory".into())],
            "`memory` is not a store",
        ),
        (
            &[on.clone(), ("store", "file:x".into())],
            "`file:x` is not a store",
        ),
        (
            &[
                on.clone(),
                ("store", "sqlite::memory:".into()),
                ("store_table", "t".into()),
            ],
            "`store_table` cannot be used",
        ),
        (
            &[
                on.clone(),
                redis.clone(),
                ("flask_session_signer", true.into()),
            ],
            "set `flask_secret_key`",
        ),
        (
            &[on.clone(), redis.clone(), ("encrypt", true.into())],
            "`encrypt` cannot be used",
        ),
        (
            &[on.clone(), redis.clone(), ("store_prefix", "a:".into())],
            "`store_prefix` cannot be used",
        ),
        (
            &[redis.clone(), ("flask_session_prefix", "x:".into())],
            "`flask_session_prefix` is set, but `flask_session` is not",
        ),
    ];
    for (settings, says) in cases {
        let (kind, logs) = ignite_error(settings).await;
        assert!(kind, "{settings:?}: not a fairing failure");
        assert!(logs.contains(says), "{settings:?}: {logs}");
    }
    // A store given in code: the format cannot be told from it.
    capture_logs();
    take_logs();
    let given = app_with(Keepsake::with_store(MemoryStore::new()), &[on]);
    let error = given
        .ignite()
        .await
        .expect_err("flask_session with a store in code");
    assert!(matches!(error.kind(), ErrorKind::FailedFairings(_)));
    let logs = take_logs();
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains("given a store in code")),
        "{logs:?}"
    );
}
