//! Typed, change-tracked sessions for [Rocket](https://rocket.rs) 0.5.
//!
//! Flask's `session`, done the Rust way: a `#[derive(Session)]` struct is a typed
//! view over the session record, a [`Session<'_, T>`](struct@Session) guard reads and writes
//! it, and every change, nested ones included, is tracked without a manual flag. One
//! fairing signs (HMAC-SHA256), expires and persists the record in a cookie.
//!
//! ```rust
//! use rocket::{get, launch, routes};
//! use rocket_keepsake::{Keepsake, Session};
//!
//! /// A typed view over keys of the session record. Every field is one key.
//! #[derive(Session, Default)]
//! struct Auth {
//!     user: Option<String>,
//!     #[session(rename = "uid")] // key name in the record
//!     user_id: Option<u64>,
//!     visits: u32,
//!     cart: Vec<String>,
//! }
//!
//! #[get("/login/<name>")]
//! fn login(name: &str, mut auth: Session<'_, Auth>) -> String {
//!     auth.user = Some(name.to_owned()); // plain field writes are tracked
//!     auth.cart.push("apple".into()); // nested mutation is tracked too
//!     auth.cycle_id(); // re-issue after login
//!     auth.set_permanent(true); // "remember me"
//!     format!("hello, {name}")
//! }
//!
//! #[get("/")]
//! fn index(mut auth: Session<'_, Auth>) -> String {
//!     auth.visits += 1;
//!     format!("{:?}, visit {}", auth.user, auth.visits)
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     rocket::build()
//!         .attach(Keepsake::fairing()) // configured under `[default.keepsake]`
//!         .mount("/", routes![login, index])
//! }
//! ```
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
//! | `#[session(index)]` | a server-side store indexes the session by the field's value, so that [`SessionAdmin::revoke_all`] can end every session of one user; at most one per view; the cookie store ignores it |
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

pub use admin::SessionAdmin;
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

/// Derives [`SessionView`] for a struct with named fields, making it usable as
/// [`Session<'_, T>`](struct@Session). See the [crate docs](crate) for the options.
pub use rocket_keepsake_macros::Session;

/// Makes an enum of unit variants a type of flash categories. A variant's category
/// string is its name in lower case (`Success` is `"success"`), or the one given by
/// `#[flash(category = "...")]`. The enum gets `as_str()`, `ALL`, `Display` and
/// `FromStr`, and whichever of `Clone`, `Copy`, `Debug`, `PartialEq`, `Eq` and `Hash`
/// it does not derive already. See [`Flashes`].
pub use rocket_keepsake_macros::flash;

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
