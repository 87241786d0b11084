//! Views through the derive at runtime: field options, and a view past 64 fields.

mod common;

use common::*;
use rocket::{get, routes};
use rocket_keepsake::Session;

fn seven() -> u32 {
    7
}

/// Every field option, without a struct `Default`.
#[derive(Session)]
struct Options {
    #[session(default)]
    count: u32,
    #[session(default = "seven")]
    lucky: u32,
    #[session(rename = "n", default)]
    name: Option<String>,
    #[session(skip, default)]
    scratch: String,
}

#[get("/options/write")]
fn write_options(mut o: Session<'_, Options>) -> String {
    o.count += 1;
    o.lucky += 1;
    o.name = Some("ada".into());
    o.scratch = "never stored".into();
    "written".into()
}

#[get("/options/read")]
fn read_options(o: Session<'_, Options>) -> String {
    format!("{} {} {:?} {:?}", o.count, o.lucky, o.name, o.scratch)
}

/// A view over 65 keys: one past what fits the per-field bit masks.
#[derive(Session, Default)]
struct Wide {
    f0: u32,
    f1: u32,
    f2: u32,
    f3: u32,
    f4: u32,
    f5: u32,
    f6: u32,
    f7: u32,
    f8: u32,
    f9: u32,
    f10: u32,
    f11: u32,
    f12: u32,
    f13: u32,
    f14: u32,
    f15: u32,
    f16: u32,
    f17: u32,
    f18: u32,
    f19: u32,
    f20: u32,
    f21: u32,
    f22: u32,
    f23: u32,
    f24: u32,
    f25: u32,
    f26: u32,
    f27: u32,
    f28: u32,
    f29: u32,
    f30: u32,
    f31: u32,
    f32: u32,
    f33: u32,
    f34: u32,
    f35: u32,
    f36: u32,
    f37: u32,
    f38: u32,
    f39: u32,
    f40: u32,
    f41: u32,
    f42: u32,
    f43: u32,
    f44: u32,
    f45: u32,
    f46: u32,
    f47: u32,
    f48: u32,
    f49: u32,
    f50: u32,
    f51: u32,
    f52: u32,
    f53: u32,
    f54: u32,
    f55: u32,
    f56: u32,
    f57: u32,
    f58: u32,
    f59: u32,
    f60: u32,
    f61: u32,
    f62: u32,
    f63: u32,
    f64: u32,
}

#[get("/wide/set/<value>")]
fn wide_set(value: u32, mut wide: Session<'_, Wide>) -> &'static str {
    wide.f0 = value;
    wide.f64 = value;
    "set"
}

#[get("/wide/same")]
#[allow(clippy::self_assignment, dead_code)] // the point: the 65th field's own value is no change
fn wide_same(mut wide: Session<'_, Wide>) -> &'static str {
    wide.f64 = wide.f64;
    wide.f63 = wide.f63;
    "same"
}

#[get("/wide/read")]
fn wide_read(wide: Session<'_, Wide>) -> String {
    format!("{} {} {}", wide.f0, wide.f63, wide.f64)
}

async fn views_client() -> rocket::local::asynchronous::Client {
    client(app(&[]).mount(
        "/",
        routes![write_options, read_options, wide_set, wide_same, wide_read],
    ))
    .await
}

#[rocket::async_test]
async fn field_options_work_through_the_derive() {
    let client = views_client().await;
    assert_eq!(
        get(&client, "/options/read", None).await.body,
        r#"0 7 None """#,
        "absent keys take their own defaults"
    );
    let written = get(&client, "/options/write", None).await.value();
    assert_eq!(
        get(&client, "/options/read", Some(&written)).await.body,
        r#"1 8 Some("ada") """#,
        "a skipped field is never stored"
    );
    let record = get(&client, "/options/read", Some(&written)).await;
    assert!(record.set_cookies.is_empty());
    let payload = cookie_json(&written);
    assert_eq!(payload, r#"{"count":1,"lucky":8,"n":"ada"}"#);
}

#[rocket::async_test]
async fn a_view_of_65_fields_tracks_every_field() {
    let client = views_client().await;
    let cookie = get(&client, "/wide/set/5", None).await.value();
    assert_eq!(
        get(&client, "/wide/read", Some(&cookie)).await.body,
        "5 0 5"
    );
    let same = get(&client, "/wide/same", Some(&cookie)).await;
    assert!(
        same.set_cookies.is_empty(),
        "x = x is no change past the 64th field"
    );
    let changed = get(&client, "/wide/set/6", Some(&cookie)).await.value();
    assert_eq!(
        get(&client, "/wide/read", Some(&changed)).await.body,
        "6 0 6"
    );
}
