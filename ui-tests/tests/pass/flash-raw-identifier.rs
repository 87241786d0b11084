use rocket_keepsake::flash;

#[flash]
enum Kind {
    r#Type,
    Plain,
}

fn main() {
    assert_eq!(Kind::r#Type.as_str(), "type");
    assert_eq!("type".parse::<Kind>(), Ok(Kind::r#Type));
    assert_eq!(Kind::Plain.to_string(), "plain");
}
