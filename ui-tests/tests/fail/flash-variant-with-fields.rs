use rocket_keepsake::flash;

#[flash]
enum Notice {
    Success,
    Error(String),
    Warning { code: u8 },
}

fn main() {
    // the enum is still emitted: this line is no further error
    let _ = Notice::Success;
}
