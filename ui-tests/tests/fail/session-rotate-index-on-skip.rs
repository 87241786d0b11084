use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(skip, rotate)]
    cache: Option<String>,
    #[session(index, skip)]
    scratch: Option<u64>,
}

fn main() {}
