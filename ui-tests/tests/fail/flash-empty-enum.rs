use rocket_keepsake::flash;

#[flash]
enum Notice {}

fn main() {}
