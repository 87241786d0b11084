//! Two instances of the app over one database: a session written by one is read by
//! the other, "log out everywhere" counts and ends the sessions of both, and the
//! fairing attached before the database fails launch saying so. Run on each engine:
//! `cargo test --manifest-path examples/db_pools/Cargo.toml --features <engine>`.

use rocket::figment::Figment;
use rocket::http::{Cookie, Status};
use rocket::local::asynchronous::Client;

use super::*;

const SECRET: &str =
    "GGXFiAe2QjFbAc8bgC5NPXT35kdwSoIEHrQsOta34xIWhsxxZp1me3ChLaA5cnNMY2nIul6ffMtdwSl91v5Maw==";

/// A table of this test's own, removed when dropped.
struct Table(String);

impl Table {
    fn new(test: &str) -> Table {
        Table(format!("keepsake_db_pools_{test}_{}", std::process::id()))
    }

    fn figment(&self) -> Figment {
        let figment = rocket::Config::figment()
            .merge(("secret_key", SECRET))
            .merge(("keepsake.store_table", &self.0));
        // SQLite: a database file of the test's own, removed when dropped.
        #[cfg(feature = "sqlite")]
        let figment = figment.merge(("databases.app.url", format!("sqlite://{}", self.file())));
        figment
    }

    #[cfg(feature = "sqlite")]
    fn file(&self) -> String {
        let dir = std::env::temp_dir();
        format!("{}/{}.db", dir.display(), self.0)
    }

    async fn rows(&self, client: &Client) -> i64 {
        let db = Db::fetch(client.rocket()).expect("the database is attached");
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", self.0))
            .fetch_one(&**db)
            .await
            .expect("the table is there")
    }
}

/// The table goes when the test ends, passing or failing: with its file on SQLite,
/// by `DROP TABLE` on a connection of its own elsewhere (a `Drop` cannot await, so on
/// a thread with its own runtime).
impl Drop for Table {
    fn drop(&mut self) {
        #[cfg(feature = "sqlite")]
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.file()));
        }
        #[cfg(not(feature = "sqlite"))]
        {
            let url: String = self
                .figment()
                .join(("databases.app.url", DEFAULT_URL))
                .extract_inner("databases.app.url")
                .expect("a database URL");
            let statement = format!("DROP TABLE IF EXISTS {}", self.0);
            let dropped = std::thread::spawn(move || {
                let runtime = rocket::tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let pool = Pool::connect(&url).await?;
                    sqlx::query(&statement).execute(&pool).await.map(drop)
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop the test table {}", self.0);
            }
        }
    }
}

async fn body(
    client: &Client,
    path: &str,
    cookie: Option<&Cookie<'static>>,
) -> (String, Option<Cookie<'static>>) {
    let mut request = client.get(path);
    if let Some(cookie) = cookie {
        request = request.cookie(cookie.clone());
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::Ok, "{path}");
    let cookie = response
        .cookies()
        .get("session")
        .map(|c| c.clone().into_owned());
    (response.into_string().await.unwrap_or_default(), cookie)
}

#[rocket::async_test]
async fn a_session_written_by_one_instance_is_read_by_another() {
    let table = Table::new("shared");
    let one = Client::untracked(app(table.figment()))
        .await
        .expect("valid app");
    let two = Client::untracked(app(table.figment()))
        .await
        .expect("valid app");

    let (first, cookie) = body(&one, "/", None).await;
    assert_eq!(first, "You have been here 1 time(s).\n");
    let cookie = cookie.expect("a new session sets its cookie");
    assert_eq!(table.rows(&one).await, 1, "one row, in the app's database");

    let (second, _) = body(&two, "/", Some(&cookie)).await;
    assert_eq!(
        second, "You have been here 2 time(s).\n",
        "the other instance read it"
    );
    let (third, _) = body(&one, "/", Some(&cookie)).await;
    assert_eq!(
        third, "You have been here 3 time(s).\n",
        "and its change came back"
    );
}

#[rocket::async_test]
async fn logging_out_everywhere_ends_the_sessions_of_every_instance() {
    let table = Table::new("revoke");
    let one = Client::untracked(app(table.figment()))
        .await
        .expect("valid app");
    let two = Client::untracked(app(table.figment()))
        .await
        .expect("valid app");

    let (_, ada_one) = body(&one, "/login/ada", None).await;
    let (_, ada_two) = body(&two, "/login/ada", None).await;
    let (_, bob) = body(&two, "/login/bob", None).await;
    let (ada_one, ada_two, bob) = (ada_one.unwrap(), ada_two.unwrap(), bob.unwrap());
    // A second change of a session updates its row: counted as changed, so kept.
    let (visit, _) = body(&one, "/", Some(&ada_one)).await;
    assert_eq!(visit, "You have been here 1 time(s).\n");
    let (visit, _) = body(&two, "/", Some(&ada_one)).await;
    assert_eq!(visit, "You have been here 2 time(s).\n");
    let (visit, _) = body(&one, "/", Some(&ada_one)).await;
    assert_eq!(
        visit, "You have been here 3 time(s).\n",
        "the update was saved"
    );

    let (ended, _) = body(&two, "/logout-everywhere", Some(&ada_one)).await;
    assert_eq!(ended, "Ended 2 session(s) of ada.\n");
    for (client, cookie) in [(&one, &ada_one), (&two, &ada_two)] {
        let (visit, _) = body(client, "/", Some(cookie)).await;
        assert_eq!(visit, "You have been here 1 time(s).\n", "a fresh session");
    }
    let (ended, _) = body(&one, "/logout-everywhere", Some(&bob)).await;
    assert_eq!(
        ended, "Ended 1 session(s) of bob.\n",
        "bob's session was kept"
    );
}

#[rocket::async_test]
async fn the_fairing_attached_before_the_database_fails_launch() {
    let table = Table::new("order");
    let rocket = rocket::custom(table.figment().join(("databases.app.url", DEFAULT_URL)))
        .attach(Keepsake::with_db::<Db>())
        .attach(Db::init());
    let error = rocket
        .ignite()
        .await
        .expect_err("the database is not there yet");
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(failed) if failed.iter().any(|f| f.name == "Keepsake sessions")),
        "{error:?}"
    );
}
