//! The record splitter against serde_json on arbitrary text: where serde_json reads a
//! JSON object, the split has the same keys and values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocket_keepsake::bench::fuzz;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(difference) = fuzz::split_agrees_with_serde(text) {
            panic!("{difference} in {text:?}");
        }
    }
});
