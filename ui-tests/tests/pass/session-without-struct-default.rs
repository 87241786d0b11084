use rocket_keepsake::{Session, SessionView};

mod defaults {
    pub fn theme() -> String {
        "light".into()
    }
}

// Every field has its own default, so the struct needs no `Default`.
#[derive(Session)]
struct Prefs {
    #[session(default = "defaults::theme")]
    theme: String,
    #[session(default)]
    font_size: u8,
    #[session(skip, default)]
    dirty: bool,
}

fn main() {
    assert_eq!(Prefs::KEYS, ["theme", "font_size"]);
}
