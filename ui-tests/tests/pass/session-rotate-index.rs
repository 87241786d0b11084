//! `rotate` and `index` on one field, beside the other options.
use rocket_keepsake::{IndexedView, Session, SessionView};

#[derive(Session, Default)]
struct Auth {
    #[session(index, rotate, rename = "uid")]
    user_id: Option<u64>,
    #[session(rotate, default)]
    role: String,
    visits: u32,
}

fn main() {
    assert_eq!(<Auth as IndexedView>::INDEX_KEY, "uid");
    assert_eq!(<Auth as SessionView>::ROTATE, ["uid", "role"]);
}
