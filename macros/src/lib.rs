//! Procedural macros for [rocket_keepsake](https://docs.rs/rocket_keepsake). Use them
//! through that crate, which re-exports them; the generated code refers to it.

mod ctxt;
mod flash;
mod session;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Makes a struct a typed view over the session record: `Session<'_, Self>` becomes
/// a request guard that reads and writes its fields, each one key of the record.
///
/// ```rust
/// use rocket::get;
/// use rocket_keepsake::Session;
///
/// fn ten() -> u32 {
///     10
/// }
///
/// #[derive(Session, Default)]
/// struct Auth {
///     // A login: a change re-issues the session id. Indexed, for "log out everywhere".
///     #[session(rotate, index)]
///     user_id: Option<u64>,
///     #[session(rename = "name")]
///     user: Option<String>,
///     #[session(default = "ten")]
///     credits: u32,
///     #[session(skip)]
///     scratch: String,
/// }
///
/// #[get("/")]
/// fn index(mut auth: Session<'_, Auth>) -> String {
///     auth.credits -= 1; // tracked: saved with the response
///     format!("{:?} has {} credits", auth.user, auth.credits)
/// }
/// ```
///
/// # Attributes
///
/// | option | meaning |
/// |---|---|
/// | `#[session(rename = "key")]` | the field's key in the record (default: its name) |
/// | `#[session(default)]` | an absent key gives `Default::default()` of the field's type |
/// | `#[session(default = "path::to::fn")]` | an absent key gives `path::to::fn()` |
/// | `#[session(skip)]` | never stored; takes its default on every load |
/// | `#[session(rotate)]` | a change of the field re-issues the session id in the same response (a login, a role change) |
/// | `#[session(index)]` | a server-side store indexes the session by the field's value, for `SessionAdmin::revoke_all`; at most one per view |
///
/// A field without a `default` option takes, when its key is absent or does not
/// decode, its value in the struct's own `Default`, which it then needs.
///
/// # Generated items
///
/// An impl of `rocket_keepsake::SessionView` (and `IndexedView` with an `index`
/// field), which makes `Session<'_, Self>` a request guard.
///
/// # Errors
///
/// A compile error for: an enum, union, tuple or unit struct; generic or lifetime
/// parameters; an unknown or repeated option; a malformed option value; `skip` with
/// `rename`; an empty key; a key starting with `_` (reserved); two fields with one
/// key; a field type that is not `Serialize + Deserialize` (spanned at the type).
#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    session::derive(&input).into()
}

/// Makes an enum of unit variants a type of flash categories: `Flashes<'_, Self>`
/// becomes a request guard, and `Flash<R, Self>` a responder. A variant's category
/// string is its name in lower case, or the one `#[flash(category = "...")]` gives.
///
/// ```rust
/// use rocket::get;
/// use rocket_keepsake::{flash, Flashes};
///
/// #[flash]
/// enum Notice {
///     Success,
///     Warning,
///     #[flash(category = "danger")]
///     Error,
/// }
///
/// #[get("/")]
/// fn index(mut flashes: Flashes<'_, Notice>) -> String {
///     flashes.push(Notice::Error, "Disk full.");
///     assert_eq!(Notice::Error.as_str(), "danger");
///     assert_eq!("warning".parse(), Ok(Notice::Warning));
///     format!("{:?}", flashes.take(&[Notice::Error]))
/// }
/// ```
///
/// # Attributes
///
/// ```text
/// #[flash(category = "name")]   on a variant: its category string (default: its name in lower case)
/// ```
///
/// # Generated items
///
/// An impl of `rocket_keepsake::FlashCategory` (which makes `Flashes<'_, Self>` a
/// request guard), inherent `ALL` and `as_str()`, `Display`, `FromStr` (parsing
/// category strings), and whichever of `Clone`, `Copy`, `Debug`, `PartialEq`, `Eq`
/// and `Hash` the enum does not derive already.
///
/// # Errors
///
/// A compile error for: a struct, union, function or any other item; an empty enum;
/// a variant with fields; generic parameters; arguments to `#[flash]` itself; an
/// unknown, repeated or malformed variant option; an empty category; two variants
/// with one category. The enum is still emitted, so uses of it do not fail too.
#[proc_macro_attribute]
pub fn flash(args: TokenStream, item: TokenStream) -> TokenStream {
    flash::attribute(args.into(), item.into()).into()
}
