//! What a session costs on each SQL store, against the raw sqlx query it needs on the
//! same pool, in one run: `cargo bench -p rocket_keepsake --features postgres,mysql,sqlite --bench sql`.
//!
//! For each engine it times, interleaved: a route without a session guard (with the
//! session cookie sent), a route that reads the session, one that changes one key, and
//! the raw statements a read and a change need (`SELECT` of the row, `UPDATE` of one
//! key), each on the store's own pool. The ratios are the session's overhead over the
//! guard-less route, divided by the raw statements' time: the SELECT for a read, the
//! SELECT and the UPDATE for a change (it loads, then saves). Target: at most 1.3.

use std::time::Instant;

use rocket::local::asynchronous::Client;
use rocket_keepsake::store::{MySqlStore, PostgresStore, SqliteStore};
use rocket_keepsake::Keepsake;

#[path = "fixture/mod.rs"]
mod fixture;

use fixture::{get, median};

const TABLE: &str = "keepsake_bench";
const SAMPLES: usize = 15;
const ITERS: u32 = 300;

async fn client(fairing: Keepsake) -> Client {
    Client::untracked(fixture::app(fairing))
        .await
        .expect("valid rocket")
}

/// One engine's raw statements, on the store's pool.
enum Raw {
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

impl Raw {
    async fn select(&self, id: &str) {
        let (pg, my) = (
            format!("SELECT data::text FROM {TABLE} WHERE id = $1 AND expires_at > now()"),
            format!("SELECT CAST(data AS CHAR) FROM {TABLE} WHERE id = ? AND expires_at > NOW(6)"),
        );
        let found: Option<String> = match self {
            Raw::Postgres(pool) => sqlx::query_scalar(&pg).bind(id).fetch_optional(pool).await,
            Raw::MySql(pool) => sqlx::query_scalar(&my).bind(id).fetch_optional(pool).await,
            Raw::Sqlite(pool) => {
                let lite = format!("SELECT data FROM {TABLE} WHERE id = ? AND expires_at > ?");
                sqlx::query_scalar(&lite)
                    .bind(id)
                    .bind(0i64)
                    .fetch_optional(pool)
                    .await
            }
        }
        .unwrap();
        assert!(found.is_some());
    }

    async fn update(&self, id: &str) {
        let done = match self {
            Raw::Postgres(pool) => sqlx::query(&format!(
                "UPDATE {TABLE} SET data = data || $2::jsonb, \
                 expires_at = now() + interval '1 day' WHERE id = $1 AND expires_at > now()"
            ))
            .bind(id)
            .bind(r#"{"seen":1}"#)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
            Raw::MySql(pool) => sqlx::query(&format!(
                "UPDATE {TABLE} SET data = JSON_SET(data, ?, JSON_EXTRACT(?, '$')), \
                 expires_at = NOW(6) + INTERVAL 1 DAY WHERE id = ? AND expires_at > NOW(6)"
            ))
            .bind(r#"$."seen""#)
            .bind("1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
            Raw::Sqlite(pool) => sqlx::query(&format!(
                "UPDATE {TABLE} SET data = json_set(data, ?, json(?)), expires_at = ? \
                 WHERE id = ? AND expires_at > ?"
            ))
            .bind(r#"$."seen""#)
            .bind("1")
            .bind(i64::MAX)
            .bind(id)
            .bind(0i64)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        }
        .unwrap();
        assert_eq!(done, 1);
    }

    async fn drop_table(&self) {
        let statement = format!("DROP TABLE IF EXISTS {TABLE}");
        match self {
            Raw::Postgres(pool) => sqlx::query(&statement).execute(pool).await.map(drop),
            Raw::MySql(pool) => sqlx::query(&statement).execute(pool).await.map(drop),
            Raw::Sqlite(pool) => sqlx::query(&statement).execute(pool).await.map(drop),
        }
        .unwrap();
    }
}

async fn engine(name: &str, fairing: Keepsake, raw: Raw) {
    raw.drop_table().await;
    let client = client(fairing).await;
    let response = client.get("/seed").dispatch().await;
    let cookie = response
        .cookies()
        .get("session")
        .expect("a session cookie")
        .value()
        .to_owned();
    drop(response);
    let id = {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&cookie)
            .unwrap();
        String::from_utf8(bytes[17..bytes.len() - 32].to_vec()).unwrap()
    };
    let mut samples = vec![Vec::new(); 5];
    for round in 0..=SAMPLES {
        for (case, sample) in samples.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..ITERS {
                match case {
                    0 => get(&client, "/plain", &cookie).await,
                    1 => get(&client, "/read", &cookie).await,
                    2 => get(&client, "/change", &cookie).await,
                    3 => raw.select(&id).await,
                    _ => raw.update(&id).await,
                }
            }
            if round > 0 {
                sample.push(start.elapsed().as_nanos() as f64 / f64::from(ITERS) / 1000.0);
            }
        }
    }
    let m: Vec<f64> = samples.into_iter().map(median).collect();
    // A read needs the SELECT; a change needs the SELECT (its load) and the UPDATE.
    let (read_ratio, change_ratio) = ((m[1] - m[0]) / m[3], (m[2] - m[0]) / (m[3] + m[4]));
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {read_ratio:.2} | {change_ratio:.2} |",
        m[0], m[1], m[2], m[3], m[4]
    );
    raw.drop_table().await;
}

#[rocket::main]
async fn main() {
    let pg = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let my =
        std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let lite = std::env::temp_dir().join("keepsake-bench.db");
    println!(
        "medians in µs per request or statement; ratios: (route − plain route) / raw statements (read: SELECT; change: SELECT + UPDATE)"
    );
    println!();
    println!("| store | plain route | read route | change route | raw SELECT | raw UPDATE | read ratio | change ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let pool = sqlx::PgPool::connect(&pg)
        .await
        .expect("PostgreSQL answers");
    let store = PostgresStore::from_pool(pool.clone()).with_table(TABLE);
    engine(
        "PostgresStore",
        Keepsake::with_store(store),
        Raw::Postgres(pool),
    )
    .await;
    let pool = sqlx::MySqlPool::connect(&my)
        .await
        .expect("MariaDB answers");
    let store = MySqlStore::from_pool(pool.clone()).with_table(TABLE);
    engine(
        "MySqlStore (MariaDB)",
        Keepsake::with_store(store),
        Raw::MySql(pool),
    )
    .await;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&lite)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("SQLite opens");
    let store = SqliteStore::from_pool(pool.clone()).with_table(TABLE);
    engine(
        "SqliteStore",
        Keepsake::with_store(store),
        Raw::Sqlite(pool),
    )
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let mut path = lite.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}
