//! Decodes the representative record in a loop, for `valgrind --tool=callgrind` or
//! `perf`: `profile_decode` (ours) or `profile_decode floor`; `N` sets the count.
use base64::Engine;
use hmac::Mac;
use rocket_keepsake::bench::{CookieCodec, SessionRecord};

#[path = "fixture/mod.rs"]
mod fixture;

fn main() {
    let json = serde_json::to_vec(&fixture::profile(0)).unwrap();
    let codec = CookieCodec::new(&[7u8; 64]);
    let cookie = codec.encode(&mut SessionRecord::from_json(&json).unwrap());
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7u8; 32]).unwrap();
    let mut floor = json.clone();
    floor.extend_from_slice(&mac.clone().chain_update(&json).finalize().into_bytes());
    let floor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(floor);
    let run_floor = std::env::args().any(|a| a == "floor");
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    for _ in 0..n {
        if run_floor {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(std::hint::black_box(&floor))
                .unwrap();
            let (payload, tag) = bytes.split_at(bytes.len() - 32);
            mac.clone().chain_update(payload).verify_slice(tag).unwrap();
            std::hint::black_box(serde_json::from_slice::<fixture::Profile>(payload).unwrap());
        } else {
            std::hint::black_box(
                codec
                    .decode::<fixture::Profile>(std::hint::black_box(&cookie))
                    .unwrap(),
            );
        }
    }
}
