use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(rename = "a", rename = "b")]
    user: Option<String>,
}

fn main() {}
