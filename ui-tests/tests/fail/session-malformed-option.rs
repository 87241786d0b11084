use rocket_keepsake::Session;

#[derive(Session, Default)]
struct Auth {
    #[session(rename = uid)]
    user_id: Option<u64>,
    #[session(default = 42)]
    visits: u32,
    #[session(default = "not a path")]
    credits: u32,
}

fn main() {}
