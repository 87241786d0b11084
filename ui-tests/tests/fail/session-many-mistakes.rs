use rocket_keepsake::Session;

// Every mistake is reported in one build.
#[derive(Session, Default)]
struct Auth {
    #[session(ttl = 1)]
    user: Option<String>,
    #[session(rename = "")]
    id: u64,
    #[session(rename = "_x")]
    x: u8,
}

fn main() {}
