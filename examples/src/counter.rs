//! A visit counter on the signed-cookie store: the smallest useful keepsake app.
//!
//! Run it with `cargo run -p keepsake-examples --bin counter` and open
//! <http://localhost:8000>. Reload to count; `/remember` keeps the count after the
//! browser closes; `/reset` forgets it.

use rocket::response::Redirect;
use rocket::{get, launch, routes, uri};
use rocket_keepsake::{Keepsake, Session};

/// What this app keeps per visitor.
#[derive(Session, Default)]
struct Visits {
    count: u32,
    #[session(rename = "remembered")]
    remember: bool,
}

#[get("/")]
fn index(mut visits: Session<'_, Visits>) -> String {
    visits.count = visits.count.saturating_add(1);
    let lifetime = if visits.remember {
        "kept for 31 days"
    } else {
        "kept until the browser closes"
    };
    format!(
        "You have been here {} time(s); this count is {lifetime}.\n\
         /remember keeps it, /forget ends it with the browser, /reset starts over.\n",
        visits.count
    )
}

#[get("/remember")]
fn remember(mut visits: Session<'_, Visits>) -> Redirect {
    visits.remember = true;
    visits.set_permanent(true);
    Redirect::to(uri!(index))
}

#[get("/forget")]
fn forget(mut visits: Session<'_, Visits>) -> Redirect {
    visits.remember = false;
    visits.set_permanent(false);
    Redirect::to(uri!(index))
}

#[get("/reset")]
fn reset(mut visits: Session<'_, Visits>) -> Redirect {
    visits.clear();
    Redirect::to(uri!(index))
}

#[launch]
fn rocket() -> _ {
    rocket::build()
        .attach(Keepsake::fairing())
        .mount("/", routes![index, remember, forget, reset])
}

#[cfg(test)]
mod tests {
    use rocket::http::Status;
    use rocket::local::asynchronous::Client;

    async fn client() -> Client {
        Client::tracked(super::rocket())
            .await
            .expect("valid rocket")
    }

    async fn page(client: &Client, path: &str) -> String {
        client
            .get(path)
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap_or_default()
    }

    #[rocket::async_test]
    async fn counts_visits_across_requests() {
        let client = client().await;
        for n in 1..=3 {
            let body = page(&client, "/").await;
            assert!(
                body.starts_with(&format!("You have been here {n} time(s)")),
                "{body}"
            );
        }
    }

    #[rocket::async_test]
    async fn remember_makes_the_cookie_permanent_and_reset_forgets() {
        let client = client().await;
        client.get("/").dispatch().await;
        let remembered = client.get("/remember").dispatch().await;
        assert_eq!(remembered.status(), Status::SeeOther);
        let cookie = remembered.cookies().get("session").expect("session cookie");
        assert!(cookie.max_age().is_some());
        let body = page(&client, "/").await;
        assert!(
            body.contains("2 time(s)") && body.contains("31 days"),
            "{body}"
        );

        let reset = client.get("/reset").dispatch().await;
        assert_eq!(reset.cookies().get("session").map(|c| c.value()), Some(""));
        let body = page(&client, "/").await;
        assert!(
            body.contains("1 time(s)") && body.contains("browser closes"),
            "{body}"
        );
    }
}
