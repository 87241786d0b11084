use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth<'a> {
    user: Option<&'a str>,
}

fn main() {}
