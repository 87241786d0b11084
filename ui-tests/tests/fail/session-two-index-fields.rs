use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(index)]
    user_id: Option<u64>,
    #[session(index)]
    email: Option<String>,
}

fn main() {}
