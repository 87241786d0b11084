//! Procedural macros for [rocket_keepsake](https://docs.rs/rocket_keepsake). Use them
//! through that crate, which re-exports them; the generated code refers to it.

mod ctxt;
mod flash;
mod session;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Makes a struct a typed view over the session record.
///
/// ```ignore
/// #[derive(Session, Default)]
/// struct Auth {
///     user: Option<String>,
///     #[session(rename = "uid")]
///     user_id: Option<u64>,
///     #[session(default)]
///     visits: u32,
///     #[session(skip)]
///     scratch: String,
/// }
/// ```
///
/// # Attributes
///
/// ```text
/// #[session(rename = "key")]          the field's key in the record (default: its name)
/// #[session(default)]                 an absent key gives Default::default() of the field's type
/// #[session(default = "path::to::fn")] an absent key gives path::to::fn()
/// #[session(skip)]                    never stored; takes its default on every load
/// ```
///
/// A field without a `default` option takes, when its key is absent or does not
/// decode, its value in the struct's own `Default`, which it then needs.
///
/// # Generated items
///
/// An impl of `rocket_keepsake::SessionView`, which makes `Session<'_, Self>` a
/// request guard.
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

/// Makes an enum of unit variants a type of flash categories.
///
/// ```ignore
/// #[flash]
/// enum Notice {
///     Success,
///     Warning,
///     #[flash(category = "danger")]
///     Error,
///     Info,
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
