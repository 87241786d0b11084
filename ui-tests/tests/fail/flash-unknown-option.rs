use rocket_keepsake::flash;

#[flash]
enum Notice {
    #[flash(css_class = "ok")]
    Success,
}

fn main() {}
