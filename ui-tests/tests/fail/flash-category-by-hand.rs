use rocket_keepsake::FlashCategory;

#[derive(Clone, Copy)]
enum Notice {
    Info,
}

impl FlashCategory for Notice {
    const ALL: &'static [Self] = &[Notice::Info];

    fn as_str(&self) -> &'static str {
        "info"
    }

    fn from_category(category: &str) -> Option<Self> {
        (category == "info").then_some(Notice::Info)
    }
}

fn main() {}
