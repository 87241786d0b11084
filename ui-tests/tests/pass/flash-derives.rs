#![deny(missing_docs)]
//! `#[flash]` adds only the derives the enum lacks, and works with std's names shadowed.

use rocket_keepsake::flash;

#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod rocket {}
#[allow(dead_code, non_camel_case_types)]
struct Result;
#[allow(dead_code, non_camel_case_types)]
struct Ok;

/// Categories with some derives of their own.
#[flash]
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Fine.
    Success,
    /// Not fine.
    #[flash(category = "danger")]
    Error,
}

fn main() {
    fn copy_eq_hash<T: Copy + Eq + std::hash::Hash>() {}
    copy_eq_hash::<Notice>();
    assert_eq!(Notice::ALL.len(), 2);
    assert_eq!(Notice::Error.as_str(), "danger");
}
