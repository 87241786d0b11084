//! Runs one kind of request in a loop, for `valgrind --tool=callgrind`:
//! `profile_request change` (a one-key change) or `profile_request private`.
use rocket::http::{Cookie, CookieJar};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keepsake::{Keepsake, Session};

#[path = "fixture/mod.rs"]
mod fixture;

use fixture::Profile;

#[get("/seed")]
fn seed(mut p: Session<'_, Profile>) {
    *p = fixture::profile(0);
}

#[get("/change")]
fn change(mut p: Session<'_, Profile>) -> String {
    p.seen += 1;
    p.name.clone()
}

#[get("/read")]
fn read(p: Session<'_, Profile>) -> String {
    p.name.clone()
}

#[get("/private")]
fn private(jar: &CookieJar<'_>) -> String {
    let mut p: Profile = jar
        .get_private("p")
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .unwrap_or_default();
    p.seen += 1;
    jar.add_private(Cookie::new("p", serde_json::to_string(&p).unwrap()));
    p.name
}

#[rocket::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "change".into());
    let figment = rocket::Config::figment()
        .merge(("secret_key", [7u8; 64].to_vec()))
        .merge(("log_level", "off"));
    let rocket = rocket::custom(figment)
        .attach(Keepsake::fairing())
        .mount("/", routes![seed, change, read, private]);
    let client = Client::untracked(rocket).await.unwrap();
    let cookie = client
        .get("/seed")
        .dispatch()
        .await
        .cookies()
        .get("session")
        .unwrap()
        .value()
        .to_owned();
    let private_cookie = client
        .get("/private")
        .dispatch()
        .await
        .cookies()
        .get("p")
        .unwrap()
        .value()
        .to_owned();
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    for _ in 0..n {
        let request = match mode.as_str() {
            "private" => client
                .get("/private")
                .cookie(Cookie::new("p", private_cookie.clone())),
            "read" => client
                .get("/read")
                .cookie(Cookie::new("session", cookie.clone())),
            _ => client
                .get("/change")
                .cookie(Cookie::new("session", cookie.clone())),
        };
        std::hint::black_box(request.dispatch().await.into_string().await);
    }
}
