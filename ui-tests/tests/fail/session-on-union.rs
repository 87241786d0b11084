use rocket_keepsake::Session;

#[derive(Session)]
union Auth {
    id: u64,
}

fn main() {}
