//! Runs one hot path in a loop, for `valgrind --tool=callgrind`.
use rocket_keepsake::__bench::{CookieCodec, SessionRecord};
use rocket_keepsake::Session;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Session, Default, Serialize, Deserialize)]
struct Profile {
    user_id: u64,
    name: String,
    roles: Vec<String>,
    theme: String,
    cart: BTreeMap<String, u32>,
    seen: u64,
}

fn main() {
    let json = br#"{"cart":{"sku-000184-apple-braeburn":3,"sku-000311-pear-conference":1,"sku-000972-plum-victoria":12},"name":"Ada Lovela","roles":["administrator","release-manager"],"seen":1763900000,"theme":"solarized-dark-high-contrast","user_id":9007199254740993}"#;
    let codec = CookieCodec::new(&[7u8; 64]);
    let cookie = codec.encode(&SessionRecord::from_json(json).unwrap());
    use base64::Engine;
    use hmac::Mac;
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7u8; 32]).unwrap();
    let mut floor = json.to_vec();
    floor.extend_from_slice(&mac.clone().chain_update(json).finalize().into_bytes());
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
            std::hint::black_box(serde_json::from_slice::<Profile>(payload).unwrap());
        } else {
            std::hint::black_box(
                codec
                    .decode::<Profile>(std::hint::black_box(&cookie))
                    .unwrap(),
            );
        }
    }
}
