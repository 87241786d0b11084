use rocket_keepsake::flash;

#[flash]
fn notice() {}

fn main() {}
