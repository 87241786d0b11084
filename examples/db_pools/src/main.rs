//! Sessions kept in the app's own rocket_db_pools database, through its pool: the app
//! enables only `rocket_keepsake/rocket_db_pools`, and the engine is whichever
//! rocket_db_pools feature it builds with.
//!
//! `cargo run --manifest-path examples/db_pools/Cargo.toml --features sqlite` and open
//! <http://localhost:8000>; `--features postgres` or `--features mysql` with
//! `ROCKET_DATABASES='{app={url="postgres://postgres@127.0.0.1/test"}}'` (or
//! `mysql://root@127.0.0.1/test`; those two are the defaults).

use rocket::figment::Figment;
use rocket::{get, routes, Build, Rocket};
use rocket_db_pools::{sqlx, Connection, Database};
use rocket_keepsake::{Keepsake, Session, SessionAdmin};

#[cfg(feature = "postgres")]
type Pool = sqlx::PgPool;
#[cfg(feature = "mysql")]
type Pool = sqlx::MySqlPool;
#[cfg(feature = "sqlite")]
type Pool = sqlx::SqlitePool;

/// The URL used when `databases.app.url` is not configured.
#[cfg(feature = "postgres")]
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1/test";
#[cfg(feature = "mysql")]
const DEFAULT_URL: &str = "mysql://root@127.0.0.1/test";
#[cfg(feature = "sqlite")]
const DEFAULT_URL: &str = "sqlite://keepsake-example.db";

/// The app's database: its own tables, and the sessions' table beside them.
#[derive(Database)]
#[database("app")]
struct Db(Pool);

/// What the app keeps per visitor.
#[derive(Session, Default)]
struct Visits {
    count: u32,
}

#[get("/")]
fn index(mut visits: Session<'_, Visits>) -> String {
    visits.count = visits.count.saturating_add(1);
    format!("You have been here {} time(s).\n", visits.count)
}

/// Who is signed in: the session is indexed by it, for "log out everywhere".
#[derive(Session, Default)]
struct Account {
    #[session(index, rotate)]
    user: Option<String>,
}

#[get("/login/<user>")]
fn login(user: &str, mut account: Session<'_, Account>) -> String {
    account.user = Some(user.to_owned());
    format!("Signed in as {user}.\n")
}

/// Ends every session of the signed-in user, on every instance of the app.
#[get("/logout-everywhere")]
async fn logout_everywhere(account: Session<'_, Account>, admin: SessionAdmin<'_>) -> String {
    let Some(user) = account.user.clone() else {
        return "Not signed in.\n".into();
    };
    match admin.revoke_all::<Account, String>(&user).await {
        Ok(ended) => format!("Ended {ended} session(s) of {user}.\n"),
        Err(e) => format!("Could not end the sessions: {e}\n"),
    }
}

/// The app's own query, on the pool the sessions share.
#[get("/sessions")]
async fn sessions(mut db: Connection<Db>) -> Option<String> {
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM keepsake_sessions")
        .fetch_one(&mut **db)
        .await
        .ok()?;
    Some(format!("{live} session(s) in the database.\n"))
}

/// The app on `figment`'s configuration, its database at [`DEFAULT_URL`] unless
/// configured.
fn app(figment: Figment) -> Rocket<Build> {
    let figment = figment.join(("databases.app.url", DEFAULT_URL));
    rocket::custom(figment)
        .attach(Db::init())
        .attach(Keepsake::with_db::<Db>())
        .mount("/", routes![index, login, logout_everywhere, sessions])
}

#[rocket::launch]
fn rocket() -> _ {
    app(rocket::Config::figment())
}

#[cfg(test)]
mod tests;
