use rocket_keepsake::Session;

#[derive(Session)]
enum Auth {
    User(String),
}

fn main() {}
