use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(rename = "")]
    user: Option<String>,
}

fn main() {}
