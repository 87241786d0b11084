use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth(Option<String>);

fn main() {}
