use rocket_keepsake::Session;

struct Auth {
    user: Option<String>,
}

fn handler(auth: Session<'_, Auth>) -> Option<String> {
    auth.user.clone()
}

fn main() {}
