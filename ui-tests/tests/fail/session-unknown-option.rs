use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(ttl_secs = 60)]
    user: Option<String>,
}

fn main() {}
