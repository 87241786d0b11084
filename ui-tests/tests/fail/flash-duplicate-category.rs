use rocket_keepsake::flash;

#[flash]
enum Notice {
    Error,
    #[flash(category = "error")]
    Danger,
}

fn main() {}
