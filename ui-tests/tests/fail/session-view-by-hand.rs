use rocket_keepsake::__private::{FieldEncoder, FieldReader, SessionView};

#[derive(Default)]
struct Auth {
    user: Option<String>,
}

impl SessionView for Auth {
    const KEYS: &'static [&'static str] = &["user", "extra"];

    fn load(_: &mut FieldReader<'_>) -> Self {
        Auth::default()
    }

    fn encode(&self, _: &mut FieldEncoder<'_>) {}
}

fn main() {}
