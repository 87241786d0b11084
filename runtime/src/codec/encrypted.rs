//! keepsake's encrypted cookie format (`encrypt = true`): sealed, unreadable.
//!
//! A cookie value is URL-safe base64 (no padding) of
//!
//! ```text
//! version (1 byte, 2) | nonce (12 bytes) | AES-256-GCM(issued u64 BE | created u64 BE | payload) | tag (16 bytes)
//! ```
//!
//! with the version byte as associated data, a fresh random 96-bit nonce per value,
//! and a key derived (HKDF-SHA256) from Rocket's `secret_key` for one [`Purpose`] and
//! for encryption only: a signed value (version 1, another key) never opens here, and
//! an encrypted one never verifies as signed. Nothing is decrypted before the tag
//! verifies against the current key or one of the fallback keys.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::Sha256;

use super::signed::{read_u64, Purpose};
use super::{Opened, Rejected, Stamp, MAX_COOKIE_LEN};
use crate::config::Secret;

const VERSION: u8 = 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const STAMP_LEN: usize = 8 + 8;

/// Encrypts and decrypts cookie values for one purpose.
#[derive(Clone)]
pub(crate) struct Encrypted {
    /// The current key first, then the fallbacks.
    keys: Vec<Aes256Gcm>,
}

impl Encrypted {
    pub(crate) fn new(purpose: Purpose, current: &Secret, fallbacks: &[Secret]) -> Encrypted {
        let keys = std::iter::once(current)
            .chain(fallbacks)
            .map(|secret| derive(purpose, secret))
            .collect();
        Encrypted { keys }
    }

    /// Encrypts `payload` with the current key under a fresh random nonce.
    pub(crate) fn seal(&self, stamp: Stamp, payload: &[u8]) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce)?;
        let mut plain = Vec::with_capacity(STAMP_LEN + payload.len());
        plain.extend_from_slice(&stamp.issued.to_be_bytes());
        plain.extend_from_slice(&stamp.created.to_be_bytes());
        plain.extend_from_slice(payload);
        let sealed = self.keys[0]
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &[VERSION],
                },
            )
            // Only inputs past GCM's 64 GiB limit fail, far beyond a cookie.
            .unwrap_or_default();
        let mut buf = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        buf.push(VERSION);
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(&buf))
    }

    /// Decrypts `value` and returns its payload, if its tag verifies.
    pub(crate) fn open(&self, value: &str) -> Result<Opened, Rejected> {
        if value.len() > MAX_COOKIE_LEN {
            return Err(Rejected::TooLong);
        }
        let buf = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| Rejected::NotBase64)?;
        if buf.len() < 1 + NONCE_LEN + STAMP_LEN + TAG_LEN {
            return Err(Rejected::Truncated);
        }
        // The version is authenticated too (it is the associated data); a value of
        // another version cannot verify, so say so without trying every key.
        if buf[0] != VERSION {
            return Err(Rejected::UnknownVersion(buf[0]));
        }
        let (nonce, sealed) = buf[1..].split_at(NONCE_LEN);
        let payload = || Payload {
            msg: sealed,
            aad: &[VERSION],
        };
        let (index, mut plain) = self
            .keys
            .iter()
            .enumerate()
            .find_map(|(i, key)| Some((i, key.decrypt(Nonce::from_slice(nonce), payload()).ok()?)))
            .ok_or(Rejected::BadSignature)?;
        let stamp = Stamp {
            issued: read_u64(&plain[..8]),
            created: read_u64(&plain[8..16]),
        };
        plain.drain(..STAMP_LEN);
        Ok(Opened {
            stamp,
            payload: plain,
            rotated: index > 0,
        })
    }
}

fn derive(purpose: Purpose, secret: &Secret) -> Aes256Gcm {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(b"rocket_keepsake"), &secret.0)
        .expand(purpose.aead_label(), &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&key.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Signed;
    use proptest::prelude::*;

    fn secret(byte: u8) -> Secret {
        Secret(vec![byte; 32])
    }

    fn codec() -> Encrypted {
        Encrypted::new(Purpose::Record, &secret(1), &[])
    }

    const STAMP: Stamp = Stamp {
        issued: 1_700_000_100,
        created: 1_700_000_000,
    };

    #[test]
    fn round_trip_hides_the_payload_and_never_repeats() {
        let payload = br#"{"card":"4111111111111111"}"#;
        let first = codec().seal(STAMP, payload).unwrap();
        let second = codec().seal(STAMP, payload).unwrap();
        assert_ne!(first, second, "a fresh nonce per value");
        let bytes = URL_SAFE_NO_PAD.decode(&first).unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"4111"), "no plaintext");
        let opened = codec().open(&first).unwrap();
        assert_eq!((opened.stamp, &opened.payload[..]), (STAMP, &payload[..]));
        assert!(!opened.rotated);
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let value = codec().seal(STAMP, br#"{"user":"ada"}"#).unwrap();
        for (i, to, tampered) in crate::codec::each_byte_changed(&value, b"ABz-0") {
            assert!(codec().open(&tampered).is_err(), "byte {i} -> {to}");
        }
    }

    #[test]
    fn signed_and_encrypted_values_never_open_as_each_other() {
        let signed = Signed::new(Purpose::Record, &secret(1), &[]);
        let encrypted = codec().seal(STAMP, b"{}").unwrap();
        assert!(signed.open(&encrypted).is_err());
        let readable = signed.seal(STAMP, b"{}");
        assert!(codec().open(&readable).is_err());
        let id = Encrypted::new(Purpose::SessionId, &secret(1), &[]);
        assert_eq!(id.open(&encrypted).unwrap_err(), Rejected::BadSignature);
    }

    #[test]
    fn fallback_keys_decrypt_and_are_flagged() {
        let old = Encrypted::new(Purpose::Record, &secret(9), &[]);
        let value = old.seal(STAMP, b"{}").unwrap();
        let rotated = Encrypted::new(Purpose::Record, &secret(1), &[secret(9)]);
        assert!(rotated.open(&value).unwrap().rotated);
        assert_eq!(codec().open(&value).unwrap_err(), Rejected::BadSignature);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(input in ".{0,600}") {
            let _ = codec().open(&input);
        }

        #[test]
        fn arbitrary_bytes_never_open(mut bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Some(first) = bytes.first_mut() {
                *first = VERSION;
            }
            prop_assert!(codec().open(&URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        }
    }
}
