use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth<T> {
    user: Option<T>,
}

fn main() {}
