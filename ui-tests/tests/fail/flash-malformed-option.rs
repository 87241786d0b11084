use rocket_keepsake::flash;

#[flash]
enum Notice {
    #[flash(category = danger)]
    Error,
    #[flash(category = "")]
    Empty,
    #[flash(category = "a", category = "b")]
    Twice,
}

fn main() {}
