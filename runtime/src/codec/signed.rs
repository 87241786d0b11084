//! keepsake's own cookie format: signed, readable.
//!
//! A cookie value is URL-safe base64 (no padding) of
//!
//! ```text
//! version (1 byte) | issued (u64 BE, unix seconds) | created (u64 BE) | payload | tag (32 bytes)
//! ```
//!
//! where `tag` is HMAC-SHA256 over everything before it, keyed with a key derived
//! (HKDF-SHA256) from Rocket's `secret_key` for one [`Purpose`], so a value signed for
//! one purpose never verifies as another. The payload is handed out only after the tag
//! verifies, in constant time, against the current key or one of the fallback keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Opened, Rejected, Stamp, MAX_COOKIE_LEN};
use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The only format version this build writes and reads.
const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + 8;
const TAG_LEN: usize = 32;

/// What a signing key is used for; each purpose gets its own derived key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// The whole session record, in the cookie.
    Record,
    /// A server-side store's session id, in the cookie.
    SessionId,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Record => b"rocket_keepsake session record v1",
            Purpose::SessionId => b"rocket_keepsake session id v1",
        }
    }

    /// The label of the purpose's encryption key, never equal to a signing label.
    pub(super) fn aead_label(self) -> &'static [u8] {
        match self {
            Purpose::Record => b"rocket_keepsake session record aes-256-gcm v1",
            Purpose::SessionId => b"rocket_keepsake session id aes-256-gcm v1",
        }
    }
}

/// Signs and verifies cookie values for one purpose.
#[derive(Clone)]
pub(crate) struct Signed {
    /// Pre-keyed MAC states: the current key first, then the fallbacks.
    keys: Vec<HmacSha256>,
}

impl Signed {
    pub(crate) fn new(purpose: Purpose, current: &Secret, fallbacks: &[Secret]) -> Signed {
        let keys = std::iter::once(current)
            .chain(fallbacks)
            .map(|secret| derive(purpose, secret))
            .collect();
        Signed { keys }
    }

    /// Signs `payload` with the current key.
    pub(crate) fn seal(&self, stamp: Stamp, payload: &[u8]) -> String {
        let mut buf = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
        buf.push(VERSION);
        buf.extend_from_slice(&stamp.issued.to_be_bytes());
        buf.extend_from_slice(&stamp.created.to_be_bytes());
        buf.extend_from_slice(payload);
        let tag = self.keys[0]
            .clone()
            .chain_update(&buf)
            .finalize()
            .into_bytes();
        buf.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(&buf)
    }

    /// Verifies `value` and returns its payload. Nothing of the payload is looked at
    /// before its tag verifies.
    pub(crate) fn open(&self, value: &str) -> Result<Opened, Rejected> {
        if value.len() > MAX_COOKIE_LEN {
            return Err(Rejected::TooLong);
        }
        let mut buf = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| Rejected::NotBase64)?;
        if buf.len() < HEADER_LEN + TAG_LEN {
            return Err(Rejected::Truncated);
        }
        let (signed, tag) = buf.split_at(buf.len() - TAG_LEN);
        let index = self
            .keys
            .iter()
            .position(|key| key.clone().chain_update(signed).verify_slice(tag).is_ok())
            .ok_or(Rejected::BadSignature)?;
        if signed[0] != VERSION {
            return Err(Rejected::UnknownVersion(signed[0]));
        }
        let stamp = Stamp {
            issued: read_u64(&signed[1..9]),
            created: read_u64(&signed[9..17]),
        };
        buf.truncate(buf.len() - TAG_LEN);
        buf.drain(..HEADER_LEN);
        Ok(Opened {
            stamp,
            payload: buf,
            rotated: index > 0,
        })
    }
}

pub(super) fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(bytes);
    u64::from_be_bytes(word)
}

fn derive(purpose: Purpose, secret: &Secret) -> HmacSha256 {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(b"rocket_keepsake"), &secret.0)
        .expand(purpose.label(), &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret(byte: u8) -> Secret {
        Secret(vec![byte; 32])
    }

    fn codec() -> Signed {
        Signed::new(Purpose::Record, &secret(1), &[])
    }

    const STAMP: Stamp = Stamp {
        issued: 1_700_000_100,
        created: 1_700_000_000,
    };

    #[test]
    fn round_trip() {
        let value = codec().seal(STAMP, br#"{"user":"ada"}"#);
        assert!(value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let opened = codec().open(&value).unwrap();
        assert_eq!(opened.stamp, STAMP);
        assert_eq!(opened.payload, br#"{"user":"ada"}"#);
        assert!(!opened.rotated);
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let value = codec().seal(STAMP, br#"{"user":"ada","n":1}"#);
        for (i, to, tampered) in crate::codec::each_byte_changed(&value, b"Az-0") {
            assert!(codec().open(&tampered).is_err(), "byte {i} -> {to}");
        }
    }

    #[test]
    fn wrong_key_and_wrong_purpose_are_rejected() {
        let value = codec().seal(STAMP, b"{}");
        let other = Signed::new(Purpose::Record, &secret(2), &[]);
        assert_eq!(other.open(&value).unwrap_err(), Rejected::BadSignature);
        let id_codec = Signed::new(Purpose::SessionId, &secret(1), &[]);
        assert_eq!(id_codec.open(&value).unwrap_err(), Rejected::BadSignature);
    }

    #[test]
    fn fallback_keys_verify_and_are_flagged() {
        let old = Signed::new(Purpose::Record, &secret(9), &[]);
        let value = old.seal(STAMP, b"{}");
        let rotated = Signed::new(Purpose::Record, &secret(1), &[secret(7), secret(9)]);
        assert!(rotated.open(&value).unwrap().rotated);
        // and the current key signs
        let resealed = rotated.seal(STAMP, b"{}");
        assert!(!rotated.open(&resealed).unwrap().rotated);
        assert!(old.open(&resealed).is_err());
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        let c = codec();
        assert_eq!(c.open("").unwrap_err(), Rejected::Truncated);
        assert_eq!(c.open("AQ").unwrap_err(), Rejected::Truncated);
        assert_eq!(c.open("not base64!").unwrap_err(), Rejected::NotBase64);
        assert_eq!(c.open("é").unwrap_err(), Rejected::NotBase64);
        assert_eq!(
            c.open(&"A".repeat(MAX_COOKIE_LEN + 1)).unwrap_err(),
            Rejected::TooLong
        );
        let value = c.seal(STAMP, b"{}");
        assert!(c.open(&value[..value.len() - 1]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(input in ".{0,600}") {
            let _ = codec().open(&input);
        }

        #[test]
        fn arbitrary_base64_never_verifies(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let value = URL_SAFE_NO_PAD.encode(&bytes);
            prop_assert!(codec().open(&value).is_err());
        }

        #[test]
        fn arbitrary_payloads_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let opened = codec().open(&codec().seal(STAMP, &payload)).unwrap();
            prop_assert_eq!(opened.payload, payload);
        }
    }
}
