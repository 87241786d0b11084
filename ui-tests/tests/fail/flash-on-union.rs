use rocket_keepsake::flash;

#[flash]
union Notice {
    code: u8,
}

fn main() {}
