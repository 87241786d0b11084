//! Flask's TaggedJSON: never a panic; what reads writes back as JSON that reads again
//! to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocket_keepsake::bench::fuzz;

fuzz_target!(|data: &[u8]| {
    if let Some(written) = fuzz::flask_round_trip(data) {
        let again = fuzz::flask_round_trip(&written).expect("what we write, we read");
        assert_eq!(again, written, "a second round trip changed it");
    }
});
