#![deny(missing_docs, unused_qualifications)]
//! The derive works with std's names shadowed and no `rocket` or `serde` in scope.

use rocket_keepsake::Session;

#[allow(dead_code)]
mod rocket {}
#[allow(dead_code)]
mod serde {}
#[allow(dead_code)]
mod core {}

#[allow(dead_code, non_camel_case_types)]
struct Option;
#[allow(dead_code, non_camel_case_types)]
struct Result;
#[allow(dead_code, non_camel_case_types)]
struct Some;
#[allow(dead_code, non_camel_case_types)]
struct None;
#[allow(dead_code, non_camel_case_types)]
struct Default;

/// A view.
#[derive(Session)]
pub struct Auth {
    /// The user.
    #[session(default)]
    pub user: ::std::option::Option<String>,
}

fn main() {}
