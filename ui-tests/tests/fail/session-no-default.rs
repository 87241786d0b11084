use rocket_keepsake::Session;

#[derive(Session)]
struct Auth {
    user: Option<String>,
    #[session(default)]
    visits: u32,
}

fn main() {}
