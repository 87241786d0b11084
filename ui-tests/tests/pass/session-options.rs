use rocket_keepsake::{Session, SessionView};

fn start() -> u32 {
    10
}

#[derive(Session, Default)]
struct Auth {
    user: Option<String>,
    #[session(rename = "uid")]
    user_id: Option<u64>,
    #[session(default)]
    visits: u32,
    #[session(default = "start")]
    credits: u32,
    #[session(skip)]
    scratch: Vec<u8>,
    r#type: String,
}

fn main() {
    assert_eq!(Auth::KEYS, ["user", "uid", "visits", "credits", "type"]);
    let _ = Auth::default().scratch;
}
