//! A cookie value of arbitrary bytes, in each format: never a panic, and without the
//! key never a value that opens (a forgery).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocket_keepsake::bench::fuzz;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    assert_eq!(fuzz::open_cookie(&value), 0, "a cookie opened without the key");
});
