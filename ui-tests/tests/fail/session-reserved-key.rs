use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(rename = "_flashes")]
    messages: Vec<String>,
    _secret: u32,
}

fn main() {}
