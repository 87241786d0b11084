//! Configuration text: durations and store URLs (redacted for logs, dispatched by
//! scheme, `file:` paths read) never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocket_keepsake::bench::fuzz;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = fuzz::parse_duration(text);
    let _ = fuzz::open_store_url(text);
});
