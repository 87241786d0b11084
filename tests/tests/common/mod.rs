//! The test app and helpers shared by the integration suites.
#![allow(dead_code)] // each suite uses its own part of this module

pub mod backend;
pub mod python;

use std::cell::RefCell;
use std::sync::Once;

use rocket::figment::{value::Value, Figment};
use rocket::http::{Cookie, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::request::{FromRequest, Outcome};
use rocket::{get, routes, Build, Request, Rocket};
pub use rocket_keepsake::ManualClock;
use rocket_keepsake::{Keepsake, Session};

/// A fixed `secret_key`, so that two instances verify each other's cookies.
pub const SECRET: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";
pub const OTHER_SECRET: &str = "3uJ/ZptG5X9Z4f2pN4SzsRwX7Qg6eZ9ZqVmYx0Hq6yM=";

#[derive(Session, Default, Debug)]
pub struct Auth {
    pub user: Option<String>,
    #[session(rename = "uid")]
    pub user_id: Option<u64>,
    pub visits: u32,
    pub cart: Vec<String>,
}

#[derive(Session, Default)]
pub struct Prefs {
    pub theme: Option<String>,
}

/// A view only the "legacy" app mounts: its key is unknown to the main app.
#[derive(Session, Default)]
pub struct Legacy {
    pub legacy: Option<String>,
}

/// A view whose field cannot be serialized once it holds a non-string map key.
#[derive(Session, Default)]
pub struct Broken {
    pub pairs: std::collections::HashMap<(u8, u8), u8>,
}

#[get("/none")]
fn none() -> &'static str {
    "none"
}

#[get("/read")]
fn read(auth: Session<'_, Auth>) -> String {
    format!(
        "user={:?} visits={} cart={:?} new={}",
        auth.user,
        auth.visits,
        auth.cart,
        auth.is_new()
    )
}

#[get("/login/<name>")]
fn login(name: &str, mut auth: Session<'_, Auth>) -> &'static str {
    auth.user = Some(name.to_owned());
    auth.user_id = Some(7);
    "ok"
}

#[get("/same")]
#[allow(clippy::self_assignment)] // the point: writing a field's own value is no change
fn same(mut auth: Session<'_, Auth>) -> &'static str {
    auth.user = auth.user.clone();
    auth.visits = auth.visits;
    auth.cart = auth.cart.clone();
    "same"
}

#[get("/push/<item>")]
fn push(item: &str, mut auth: Session<'_, Auth>) -> &'static str {
    auth.cart.push(item.to_owned());
    "pushed"
}

#[get("/theme/<theme>")]
fn theme(theme: &str, auth: Session<'_, Auth>, mut prefs: Session<'_, Prefs>) -> String {
    prefs.theme = Some(theme.to_owned());
    format!("user={:?}", auth.user)
}

#[get("/prefs")]
fn prefs(prefs: Session<'_, Prefs>) -> String {
    format!("theme={:?}", prefs.theme)
}

#[get("/clear")]
fn clear(mut auth: Session<'_, Auth>) -> &'static str {
    auth.user = Some("ignored".into());
    auth.clear();
    "cleared"
}

/// Logout with a second view that was borrowed mutably but left unchanged.
#[get("/clear_both")]
fn clear_both(mut auth: Session<'_, Auth>, mut prefs: Session<'_, Prefs>) -> &'static str {
    let theme = prefs.theme.take();
    prefs.theme = theme;
    auth.clear();
    "cleared"
}

#[get("/permanent/<on>")]
fn permanent(on: bool, mut auth: Session<'_, Auth>) -> String {
    auth.set_permanent(on);
    format!("permanent={}", auth.is_permanent())
}

#[get("/cycle")]
fn cycle(mut auth: Session<'_, Auth>) -> &'static str {
    auth.cycle_id();
    "cycled"
}

#[get("/big/<n>")]
fn big(n: usize, mut auth: Session<'_, Auth>) -> &'static str {
    auth.user = Some("x".repeat(n));
    "big"
}

#[get("/broken")]
fn broken(mut view: Session<'_, Broken>) -> &'static str {
    view.pairs.insert((1, 2), 3);
    "broken"
}

#[get("/legacy/<value>")]
fn set_legacy(value: &str, mut legacy: Session<'_, Legacy>) -> &'static str {
    legacy.legacy = Some(value.to_owned());
    "legacy"
}

#[get("/legacy")]
fn get_legacy(legacy: Session<'_, Legacy>) -> String {
    format!("legacy={:?}", legacy.legacy)
}

#[get("/slow")]
async fn slow(mut auth: Session<'_, Auth>) -> &'static str {
    rocket::tokio::task::yield_now().await;
    auth.visits += 1;
    rocket::tokio::task::yield_now().await;
    "slow"
}

/// A user's own guard built on the session guard.
pub struct LoggedIn(pub String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LoggedIn {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.guard::<Session<'_, Auth>>().await {
            Outcome::Success(auth) => match &auth.user {
                Some(user) => Outcome::Success(LoggedIn(user.clone())),
                None => Outcome::Forward(Status::Unauthorized),
            },
            _ => Outcome::Error((Status::ServiceUnavailable, ())),
        }
    }
}

#[get("/me")]
fn me(user: LoggedIn) -> String {
    user.0
}

/// Forwards every request: makes the next route run after a session was loaded.
pub struct Forward;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Forward {
    type Error = ();

    async fn from_request(_: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Forward(Status::NotFound)
    }
}

#[get("/forward", rank = 1)]
fn forward_first(_auth: Session<'_, Auth>, _f: Forward) -> &'static str {
    "first"
}

#[get("/forward", rank = 2)]
fn forward_second(auth: Session<'_, Auth>) -> String {
    format!("second user={:?}", auth.user)
}

/// The test app's routes.
pub fn routes() -> Vec<rocket::Route> {
    routes![
        none,
        clear_both,
        read,
        login,
        same,
        push,
        theme,
        prefs,
        clear,
        permanent,
        cycle,
        big,
        broken,
        slow,
        me,
        forward_first,
        forward_second
    ]
}

/// A figment with the fixed secret and `keepsake` settings.
pub fn figment(secret: &str, keepsake: &[(&str, Value)]) -> Figment {
    capture_logs();
    let mut figment = rocket::Config::figment()
        .merge(("secret_key", secret))
        .merge(("log_level", "debug"));
    for (key, value) in keepsake {
        figment = figment.merge((format!("keepsake.{key}"), value.clone()));
    }
    figment
}

/// The test app with the fairing, configured by `keepsake`.
pub fn app(keepsake: &[(&str, Value)]) -> Rocket<Build> {
    app_with(Keepsake::fairing(), keepsake)
}

/// The test app on the signed cookie, with time read from `clock`.
pub fn clocked_app(clock: &ManualClock, keepsake: &[(&str, Value)]) -> Rocket<Build> {
    app_with(Keepsake::fairing().with_clock(clock.clone()), keepsake)
}

/// The test app with the given fairing (and so store), configured by `keepsake`.
pub fn app_with(fairing: Keepsake, keepsake: &[(&str, Value)]) -> Rocket<Build> {
    rocket::custom(figment(SECRET, keepsake))
        .attach(fairing)
        .mount("/", routes())
}

/// A client that keeps no cookies of its own: each test says which cookie it sends.
pub async fn client(rocket: Rocket<Build>) -> Client {
    capture_logs();
    Client::untracked(rocket).await.expect("valid rocket")
}

/// The id (or record) bytes a session cookie carries, without the stamps and tag.
pub fn cookie_payload(value: &str) -> Vec<u8> {
    use base64::Engine;
    if value.len() == 43 {
        // Flask-Session's cookie: the id itself (keepsake's are at least 68 characters).
        return value.as_bytes().to_vec();
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .expect("a session cookie is URL-safe base64");
    bytes[17..bytes.len() - 32].to_vec()
}

/// The record a signed session cookie carries, as JSON text.
pub fn cookie_json(value: &str) -> String {
    String::from_utf8(cookie_payload(value)).expect("the record is UTF-8")
}

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Reply {
    pub status: Status,
    pub body: String,
    /// Every `Set-Cookie` for the session cookie.
    pub set_cookies: Vec<Cookie<'static>>,
    pub vary: Vec<String>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The one session cookie set, if any; more than one is a bug.
    pub fn cookie(&self) -> Option<&Cookie<'static>> {
        assert!(
            self.set_cookies.len() <= 1,
            "more than one session Set-Cookie: {:?}",
            self.set_cookies
        );
        self.set_cookies.first()
    }

    /// The value of the one session cookie set; panics when none was.
    pub fn value(&self) -> String {
        self.cookie().expect("a session cookie").value().to_owned()
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn varies_on_cookie(&self) -> bool {
        self.vary.iter().any(|v| v.eq_ignore_ascii_case("cookie"))
    }
}

/// GETs `path`, sending `cookie` as the session cookie (named `name`).
pub async fn get_named(client: &Client, path: &str, name: &str, cookie: Option<&str>) -> Reply {
    let mut request = client.get(path.to_owned());
    if let Some(value) = cookie {
        // The local client fills the jar from `.cookie()`, never from a `Cookie` header.
        request = request.cookie(Cookie::new(name.to_owned(), value.to_owned()));
    }
    reply(request.dispatch().await, name).await
}

/// What `/read` shows of the session `cookie` holds (it ends `new=true` for a
/// fresh session).
pub async fn read_session(client: &Client, cookie: &str) -> String {
    get(client, "/read", Some(cookie)).await.body
}

/// GETs `path`, sending `cookie` as the `session` cookie.
pub async fn get(client: &Client, path: &str, cookie: Option<&str>) -> Reply {
    get_named(client, path, "session", cookie).await
}

async fn reply(response: LocalResponse<'_>, name: &str) -> Reply {
    let status = response.status();
    let set_cookies = response
        .headers()
        .get("Set-Cookie")
        .filter_map(|h| Cookie::parse(h.to_owned()).ok())
        .filter(|c| c.name() == name)
        .collect();
    let vary = response.headers().get("Vary").map(str::to_owned).collect();
    let headers = response
        .headers()
        .iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    let body = response.into_string().await.unwrap_or_default();
    Reply {
        status,
        body,
        set_cookies,
        vary,
        headers,
    }
}

thread_local! {
    static LOGS: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
}

/// Records rocket_keepsake's log records per thread (`async_test` polls the test's
/// future, requests included, on the test's own thread).
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("rocket_keepsake") {
            LOGS.with(|logs| {
                logs.borrow_mut()
                    .push((record.level(), record.args().to_string()))
            });
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger. Call it before building any `Rocket`: the first
/// logger installed wins, and Rocket's stays out of the way when it is not first.
pub fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        assert!(
            log::set_logger(&Capture).is_ok(),
            "a Rocket was built before capture_logs()"
        );
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The records logged on this thread since the last call.
pub fn take_logs() -> Vec<(log::Level, String)> {
    LOGS.with(|logs| std::mem::take(&mut *logs.borrow_mut()))
}

/// Routes of a second app that knows the `legacy` key the main app does not.
pub fn legacy_routes() -> Vec<rocket::Route> {
    routes![set_legacy, get_legacy]
}
