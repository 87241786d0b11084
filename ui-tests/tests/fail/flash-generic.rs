use rocket_keepsake::flash;

#[flash]
enum Notice<T> {
    Success,
    Other(T),
}

fn main() {}
