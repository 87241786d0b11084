use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(rotate, rotate)]
    role: Option<String>,
    #[session(index)]
    #[session(index)]
    user_id: Option<u64>,
}

fn main() {}
