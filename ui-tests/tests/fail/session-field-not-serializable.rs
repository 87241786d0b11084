use rocket_keepsake::Session;

#[derive(Default)]
struct Opaque;

#[derive(Session, Default)]
struct Auth {
    user: Option<String>,
    handle: Opaque,
}

fn main() {}
