use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(skip, rename = "scratch")]
    scratch: String,
}

fn main() {}
