use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth;

fn main() {}
