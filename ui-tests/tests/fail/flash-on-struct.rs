use rocket_keepsake::flash;

#[flash]
struct Notice {
    category: String,
}

fn main() {}
