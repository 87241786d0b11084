use rocket_keepsake::flash;

#[flash(lowercase)]
enum Notice {
    Success,
}

fn main() {}
