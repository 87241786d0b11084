use rocket_keepsake::Flashes;

#[derive(Clone, Copy)]
enum Notice {
    Success,
}

fn handler(_notices: Flashes<'_, Notice>) {}

fn main() {}
