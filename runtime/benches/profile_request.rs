//! Runs one kind of request in a loop, for `valgrind --tool=callgrind`:
//! `profile_request MODE` with MODE one of `read`, `change` (a one-key change),
//! `hand` (a hand-rolled signed-cookie read of the same record), `hand-change` (its
//! hand-rolled change), `plain` (no session guard, session cookie sent), `private` (a private-cookie
//! change), `bare` (`plain` in an app without the fairing), `memory-read`,
//! `memory-change` (the same on `MemoryStore`), `flash` (`Flashes::push`, then
//! `take_all` with the cookie it set: two requests), `rocket-flash` (Rocket's own
//! `Flash` then `FlashMessage`); `N` requests (or pairs)
//! (default 3000). Per-request instructions: the difference of two runs' totals
//! (`N=0` and `N=...`) over `N`.
use rocket::http::{Cookie, CookieJar};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keepsake::Keepsake;

#[path = "fixture/mod.rs"]
mod fixture;

use fixture::flashes::{flash_push, flash_take, rocket_flash, rocket_take};
use fixture::routes::{change, plain, read, seed};
use fixture::Profile;

/// A hand-rolled signed-cookie read of the same record: verify, deserialize.
#[get("/hand")]
fn hand(jar: &CookieJar<'_>) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7u8; 32]).unwrap();
    let profile = jar.get("hand").and_then(|c| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c.value())
            .ok()?;
        let (payload, tag) = bytes.split_at(bytes.len().checked_sub(32)?);
        mac.chain_update(payload).verify_slice(tag).ok()?;
        serde_json::from_slice::<Profile>(payload).ok()
    });
    profile.unwrap_or_default().name
}

/// The hand-rolled change of the same record: verify, deserialize, change, re-sign.
#[get("/hand-change")]
fn hand_change(jar: &CookieJar<'_>) -> String {
    use base64::Engine;
    use hmac::Mac;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7u8; 32]).unwrap();
    let profile = jar.get("hand").and_then(|c| {
        let bytes = engine.decode(c.value()).ok()?;
        let (payload, tag) = bytes.split_at(bytes.len().checked_sub(32)?);
        mac.clone().chain_update(payload).verify_slice(tag).ok()?;
        serde_json::from_slice::<Profile>(payload).ok()
    });
    let mut profile = profile.unwrap_or_default();
    profile.seen += 1;
    let mut bytes = serde_json::to_vec(&profile).unwrap();
    let tag = mac.chain_update(&bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag);
    jar.add(Cookie::new("hand", engine.encode(bytes)));
    profile.name
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
    let keepsake = if mode.starts_with("memory") {
        Keepsake::with_store(rocket_keepsake::store::MemoryStore::new())
    } else {
        Keepsake::fairing()
    };
    let rocket = if mode == "bare" {
        // Session guards without the fairing abort launch: this app has what needs none.
        rocket::custom(figment).mount("/", routes![private, plain, hand, hand_change])
    } else {
        rocket::custom(figment).attach(keepsake).mount(
            "/",
            routes![
                seed,
                change,
                read,
                private,
                plain,
                hand,
                hand_change,
                flash_push,
                flash_take,
                rocket_flash,
                rocket_take
            ],
        )
    };
    let client = Client::untracked(rocket).await.unwrap();
    // A session cookie to send (`bare` sends one too, though nothing reads it).
    // (A response keeps its request, and the request its session state: drop it.)
    let cookie = client
        .get("/seed")
        .dispatch()
        .await
        .cookies()
        .get("session")
        .map_or_else(|| "x".repeat(340), |c| c.value().to_owned());
    let private_cookie = client
        .get("/private")
        .dispatch()
        .await
        .cookies()
        .get("p")
        .unwrap()
        .value()
        .to_owned();
    let hand_cookie = {
        use base64::Engine;
        use hmac::Mac;
        let json = serde_json::to_vec(&fixture::profile(0)).unwrap();
        let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7u8; 32]).unwrap();
        let mut bytes = json.clone();
        bytes.extend_from_slice(&mac.chain_update(&json).finalize().into_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    for _ in 0..n {
        let flash = match mode.as_str() {
            "flash" => Some(("/flash", "/take", "session")),
            "rocket-flash" => Some(("/rocket/flash", "/rocket/take", "_flash")),
            _ => None,
        };
        if let Some((push, take, name)) = flash {
            let set = client.get(push).dispatch().await;
            let value = set.cookies().get(name).unwrap().value().to_owned();
            drop(set);
            let taken = client.get(take).cookie(Cookie::new(name, value));
            std::hint::black_box(taken.dispatch().await.into_string().await);
            continue;
        }
        let request = match mode.as_str() {
            "private" => client
                .get("/private")
                .cookie(Cookie::new("p", private_cookie.clone())),
            "read" | "memory-read" => client
                .get("/read")
                .cookie(Cookie::new("session", cookie.clone())),
            "hand" => client
                .get("/hand")
                .cookie(Cookie::new("hand", hand_cookie.clone())),
            "hand-change" => client
                .get("/hand-change")
                .cookie(Cookie::new("hand", hand_cookie.clone())),
            "plain" | "bare" => client
                .get("/plain")
                .cookie(Cookie::new("session", cookie.clone())),
            _ => client
                .get("/change")
                .cookie(Cookie::new("session", cookie.clone())),
        };
        std::hint::black_box(request.dispatch().await.into_string().await);
    }
}
