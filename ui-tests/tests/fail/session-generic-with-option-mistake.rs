use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth<T> {
    #[session(ttl = "1h")]
    user: Option<T>,
}

fn main() {}
