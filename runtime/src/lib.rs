//! Typed, change-tracked sessions and typed flash messages for [Rocket](https://rocket.rs) 0.5.
//!
//! Flask's `session`, done the Rust way: a `#[derive(Session)]` struct is a typed
//! view over the session record, a [`Session<'_, T>`](struct@Session) guard reads and
//! writes it, and every change, nested ones included, is tracked without a manual flag.
//! One fairing, [`Keepsake`], signs (HMAC-SHA256), expires and persists the record: in
//! the cookie by default, or in a server-side store picked by configuration. Flash
//! messages are typed too: `#[flash]` on an enum, the [`Flashes`] guard and the
//! [`Flash`] responder.
//!
//! # Getting started
//!
//! Add the crate (it is not on crates.io yet: by path, from a checkout beside your
//! app), with Rocket:
//!
//! ```toml
//! [dependencies]
//! rocket = "0.5"
//! rocket_keepsake = { path = "../rocket_keepsake/runtime" }
//! ```
//!
//! Sessions are signed with Rocket's own `secret_key` (`openssl rand -base64 32`, in
//! `Rocket.toml` or `ROCKET_SECRET_KEY`); the debug profile makes up one if it is
//! missing, the release profile refuses to launch. A login, a page only signed-in
//! users see, and a logout:
//!
//! ```rust
//! use rocket::form::{Form, FromForm};
//! use rocket::http::Status;
//! use rocket::request::{FromRequest, Outcome, Request};
//! use rocket::response::Redirect;
//! use rocket::{get, launch, post, routes, uri};
//! use rocket_keepsake::{flash, Flash, Flashes, Keepsake, Session};
//!
//! /// What the app keeps per visitor: a typed view over keys of the session record.
//! #[derive(Session, Default)]
//! struct Auth {
//!     // A new id is issued whenever it changes: no session fixation at login.
//!     #[session(rotate)]
//!     user: Option<String>,
//!     visits: u32,
//! }
//!
//! /// The categories of this app's flash messages.
//! #[flash]
//! enum Notice {
//!     Success,
//!     Danger,
//! }
//!
//! #[derive(FromForm)]
//! struct Login {
//!     name: String,
//!     password: String,
//! }
//!
//! #[post("/login", data = "<form>")]
//! fn login(form: Form<Login>, mut auth: Session<'_, Auth>) -> Flash<Redirect, Notice> {
//!     if form.password != "hunter2" {
//!         // Shown once, on the next page that reads flashes.
//!         return Flash::new(Redirect::to(uri!(login_page)), Notice::Danger, "Wrong password.");
//!     }
//!     auth.user = Some(form.name.clone()); // tracked: saved with the response
//!     auth.set_permanent(true); // "remember me": a cookie that outlives the browser
//!     Flash::new(Redirect::to(uri!(dashboard)), Notice::Success, "Welcome back.")
//! }
//!
//! /// A signed-in user: the app's own guard, built on the session guard.
//! struct User(String);
//!
//! #[rocket::async_trait]
//! impl<'r> FromRequest<'r> for User {
//!     type Error = ();
//!
//!     async fn from_request(req: &'r Request<'_>) -> Outcome<User, ()> {
//!         match req.guard::<Session<'_, Auth>>().await {
//!             Outcome::Success(auth) => match &auth.user {
//!                 Some(name) => Outcome::Success(User(name.clone())),
//!                 // Not signed in: let the next route (rank 2) answer.
//!                 None => Outcome::Forward(Status::Unauthorized),
//!             },
//!             // The session store is down: a 503, through your catcher.
//!             _ => Outcome::Error((Status::ServiceUnavailable, ())),
//!         }
//!     }
//! }
//!
//! #[get("/dashboard")]
//! fn dashboard(user: User, mut auth: Session<'_, Auth>, mut notices: Flashes<'_, Notice>) -> String {
//!     auth.visits += 1;
//!     let shown: Vec<String> = notices.take_all().into_iter().map(|(_, m)| m).collect();
//!     format!("{shown:?} Hello {}, visit {}", user.0, auth.visits)
//! }
//!
//! /// "Login required": anyone not signed in lands here, and on the login page.
//! #[get("/dashboard", rank = 2)]
//! fn dashboard_signed_out() -> Flash<Redirect, Notice> {
//!     Flash::new(Redirect::to(uri!(login_page)), Notice::Danger, "Please log in.")
//! }
//!
//! #[get("/login")]
//! fn login_page(mut notices: Flashes<'_, Notice>) -> String {
//!     format!("{:?} <form method=post>…</form>", notices.take_all())
//! }
//!
//! #[post("/logout")]
//! fn logout(mut auth: Session<'_, Auth>) -> Redirect {
//!     auth.clear(); // the cookie is deleted (and the server-side record, with a store)
//!     Redirect::to(uri!(login_page))
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     rocket::build().attach(Keepsake::fairing()).mount(
//!         "/",
//!         routes![login, dashboard, dashboard_signed_out, login_page, logout],
//!     )
//! }
//! ```
//!
//! A view reads only its own keys; several views can share one record, and keys no
//! view knows (another app's, Flask's) are kept byte for byte. [`Session`](struct@Session) also has
//! [`cycle_id`](Session::cycle_id), [`set_lifetime`](Session::set_lifetime) (a
//! session with its own lifetime) and [`is_new`](Session::is_new).
//!
//! # Flash messages in templates
//!
//! [`Flashes`] serializes as a list of `{"category": …, "message": …}` (taking them),
//! so a template gets them in one context value, here with
//! [rocket_dyn_templates](https://docs.rs/rocket_dyn_templates):
//!
//! ```rust,no_run
//! # use rocket::get;
//! # use rocket_keepsake::{flash, Flashes};
//! # #[flash] enum Notice { Success }
//! use rocket_dyn_templates::{context, Template};
//!
//! #[get("/")]
//! fn index(flashes: Flashes<'_, Notice>) -> Template {
//!     Template::render("index", context! { flashes })
//! }
//! ```
//!
//! Tera (`index.html.tera`) and MiniJinja (`index.html.j2`) write it the same way:
//!
//! ```text
//! {% for flash in flashes %}
//!   <div class="flash {{ flash.category }}">{{ flash.message }}</div>
//! {% endfor %}
//! ```
//!
//! Handlebars (`index.html.hbs`):
//!
//! ```text
//! {{#each flashes}}
//!   <div class="flash {{this.category}}">{{this.message}}</div>
//! {{/each}}
//! ```
//!
//! [`Flashes::take`] takes only some categories (the others stay for a later page),
//! and [`flash_msg!`] pushes a formatted message.
//!
//! # Where sessions live
//!
//! By default the whole record is in the cookie, signed (or encrypted, with
//! `encrypt = true`), so nothing runs beside the app. The `store` key moves it to a
//! server-side store, with no change to a handler; the cookie then holds only a signed
//! random id:
//!
//! ```toml
//! [default.keepsake]
//! store = "redis://127.0.0.1:6379"   # or "memory", "file:sessions", "postgres://..",
//!                                    # "mysql://..", "sqlite://sessions.db",
//!                                    # "memcache://..", "redis+cluster://.."
//! ```
//!
//! | store | cargo feature |
//! |---|---|
//! | [`MemoryStore`](store::MemoryStore), [`FileStore`](store::FileStore) | none |
//! | `RedisStore` (and Redis Cluster) | `redis` |
//! | `PostgresStore`, `MySqlStore`, `SqliteStore` (sqlx 0.8) | `postgres`, `mysql`, `sqlite` |
//! | `MemcachedStore` | `memcached` |
//! | the app's own rocket_db_pools database, `Keepsake::with_db` | `rocket_db_pools` |
//!
//! With a store, a save writes only the keys the request changed, a deleted session is
//! never brought back by a request that loaded it earlier, an outage is a 503 (through
//! your catchers), [`SessionAdmin::revoke_all`] logs a user out everywhere, and
//! [`SessionAdmin::sessions`] lists a user's sessions ("your devices"). The
//! [`store`] module has the details; [`Config`] lists every key (`max_age`,
//! `idle_timeout`, cookie attributes, `flask_secret_key` to share Flask's own cookie,
//! `flask_session` to share Flask-Session's records (Redis, Memcached, SQL),
//! `store_table`, `store_prefix`, …).
//!
//! # Testing
//!
//! With the `testing` feature (in `[dev-dependencies]`), a `rocket::local` client can
//! seed a session and read back the one it holds, typed: see `testing::ClientExt`
//! and `testing::RequestExt`. A `ManualClock`, given to
//! [`Keepsake::with_clock`], moves time forward for expiry tests.
//!
//! # Field options
//!
//! | option | meaning |
//! |---|---|
//! | `#[session(rename = "k")]` | the field's key in the record is `k` |
//! | `#[session(default)]` | an absent key gives `Default::default()` of the field's type |
//! | `#[session(default = "path::to::fn")]` | an absent key gives `path::to::fn()` |
//! | `#[session(skip)]` | the field is never stored |
//! | `#[session(rotate)]` | a change of the field (a login, a role change) re-issues the session id in the same response, as [`cycle_id()`](Session::cycle_id) would |
//! | `#[session(index)]` | a server-side store indexes the session by the field's value, so that [`SessionAdmin::revoke_all`] can end every session of one user and [`SessionAdmin::sessions`] list them; at most one per view; the cookie store ignores it |
//!
//! Without a `default` option, an absent or undecodable key gives the field's value in
//! the struct's own `Default`. Keys starting with `_` are reserved for the library.
//!
//! # Bad input
//!
//! A tampered, expired, malformed or foreign cookie is not an error: the request gets
//! a fresh, empty session, and the reason is logged at debug level. A record that
//! would make a cookie over 4096 bytes is not sent: the response is a 500, the log
//! names the largest keys, and the client's previous cookie stays valid. Without a
//! `secret_key`, the release profile refuses to launch.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The derive names this crate as `::rocket_keepsake`, in its own unit tests too.
#[cfg(test)]
extern crate self as rocket_keepsake;

mod admin;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench;
mod clock;
mod codec;
mod config;
mod cookie;
mod error;
mod fairing;
mod flash;
mod guard;
mod json;
mod plan;
mod record;
mod request;
mod save;
mod state;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod view;

pub use admin::{SessionAdmin, SessionInfo};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use config::{BadKey, Config, ConfigError, Rule};
pub use error::SessionError;
pub use fairing::Keepsake;
pub use flash::{Flash, FlashCategory, Flashes, UnknownCategory};
pub use guard::Session;
pub use record::MAX_FLASHES;
pub use view::{IndexedView, SessionView};

// Documented where they are defined, in the macros crate (whose doctests run them
// against this crate): a doc comment here would run into theirs.
pub use rocket_keepsake_macros::flash;
pub use rocket_keepsake_macros::Session;

/// Not public API. Referenced by macro-generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::flash::{FlashCategory, SealedCategory, UnknownCategory};
    pub use crate::view::{
        decode_text, next_field, skip_value, struct_default, DefaultFor, FieldEncoder, FieldReader,
        Sealed, SessionView, Slots, StoredAs, StoredField, TextRead,
    };
    pub use serde;
    pub use std::format;
}

/// The README's examples, compiled (and run) as doctests, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
