use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    user: Option<String>,
    #[session(rename = "user")]
    name: Option<String>,
}

fn main() {}
