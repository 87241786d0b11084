//! Flask's cookie format (itsdangerous' `URLSafeTimedSerializer`), so that a Flask app
//! and this one can share a session.
//!
//! A cookie value is `P.T.S`, read from the right (`P` may itself begin with `.`):
//!
//! - `P`: the session's JSON (Flask's TaggedJSON, compact), URL-safe base64 without
//!   padding; when `zlib.compress(json)` is shorter by more than one byte, the zlib
//!   stream instead, marked by a leading `.`.
//! - `T`: the signing time, unix seconds as a big-endian integer with its leading zero
//!   bytes stripped, URL-safe base64 without padding.
//! - `S`: URL-safe base64 of HMAC-SHA1 over `P.T`, keyed with HMAC-SHA1(secret, salt)
//!   (itsdangerous' `hmac` key derivation; Flask's salt is `cookie-session`).
//!
//! The format carries one time, so a [`Stamp`]'s `created` is its `issued`. This
//! module signs and verifies bytes; turning Flask's TaggedJSON into a record is the
//! record's job.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{Opened, Rejected, Stamp};

type HmacSha1 = Hmac<Sha1>;

/// The most bytes a compressed payload may inflate to. A cookie is at most 4096
/// bytes, but zlib inflates a signed stream of that size to megabytes; this bounds the
/// work a cookie can cause (a "zip bomb") well above any real session.
pub(crate) const MAX_INFLATED: usize = 64 * 1024;

/// zlib's default level, as Python's `zlib.compress` uses.
const LEVEL: u8 = 6;

/// Signs and verifies cookies as Flask does.
#[derive(Clone)]
pub(crate) struct Flask {
    /// Derived MAC states: the current key first, then the fallbacks.
    keys: Vec<HmacSha1>,
}

impl Flask {
    /// The format for Flask's `SECRET_KEY` (`current`), its `SECRET_KEY_FALLBACKS`,
    /// and the salt (Flask's `cookie-session`).
    pub(crate) fn new(current: &str, fallbacks: &[String], salt: &str) -> Flask {
        let keys = std::iter::once(current)
            .chain(fallbacks.iter().map(String::as_str))
            .map(|secret| derive(secret.as_bytes(), salt.as_bytes()))
            .collect();
        Flask { keys }
    }

    /// Signs `json` (the session's TaggedJSON) at `stamp.issued`, compressed when that
    /// is shorter.
    pub(crate) fn seal(&self, stamp: Stamp, json: &[u8]) -> String {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(json, LEVEL);
        let mut value = String::with_capacity(json.len() * 4 / 3 + 40);
        if compressed.len() + 1 < json.len() {
            value.push('.');
            URL_SAFE_NO_PAD.encode_string(&compressed, &mut value);
        } else {
            URL_SAFE_NO_PAD.encode_string(json, &mut value);
        }
        value.push('.');
        let time = stamp.issued.to_be_bytes();
        let first = time.iter().position(|b| *b != 0).unwrap_or(time.len());
        URL_SAFE_NO_PAD.encode_string(&time[first..], &mut value);
        let signature = self.keys[0]
            .clone()
            .chain_update(value.as_bytes())
            .finalize()
            .into_bytes();
        value.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut value);
        value
    }

    /// Verifies `value` and returns its JSON, inflated if it was compressed. Nothing
    /// but the signature is looked at before it verifies.
    pub(crate) fn open(&self, value: &str) -> Result<Opened, Rejected> {
        let (signed, signature) = value.rsplit_once('.').ok_or(Rejected::Truncated)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Rejected::NotBase64)?;
        let index = self
            .keys
            .iter()
            .position(|key| {
                key.clone()
                    .chain_update(signed.as_bytes())
                    .verify_slice(&signature)
                    .is_ok()
            })
            .ok_or(Rejected::BadSignature)?;
        let (payload, time) = signed.rsplit_once('.').ok_or(Rejected::Truncated)?;
        let time = URL_SAFE_NO_PAD
            .decode(time)
            .map_err(|_| Rejected::NotBase64)?;
        if time.len() > 8 {
            return Err(Rejected::FromTheFuture);
        }
        let issued = time.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
        let json = match payload.strip_prefix('.') {
            Some(compressed) => {
                let compressed = URL_SAFE_NO_PAD
                    .decode(compressed)
                    .map_err(|_| Rejected::NotBase64)?;
                miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_INFLATED)
                    .map_err(|_| Rejected::BadCompression)?
            }
            None => URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| Rejected::NotBase64)?,
        };
        Ok(Opened {
            stamp: Stamp {
                issued,
                created: issued,
            },
            payload: json,
            rotated: index > 0,
        })
    }
}

/// Flask-Session's id cookie (`flask_session = true`): the session id as it is, or,
/// with `SESSION_USE_SIGNER`, `id.S` with `S` the URL-safe base64 of HMAC-SHA1 over the
/// id, keyed as above with the salt `flask-session` (itsdangerous' `Signer`, no
/// timestamp). Only Flask's current `SECRET_KEY` signs and verifies, as Flask-Session
/// does. The cookie carries no time: expiry is the store's.
#[derive(Clone)]
pub(crate) struct FlaskSessionIds {
    signer: Option<HmacSha1>,
}

impl FlaskSessionIds {
    /// Ids signed with `secret` (Flask's `SECRET_KEY`), or unsigned.
    pub(crate) fn new(secret: Option<&str>) -> FlaskSessionIds {
        FlaskSessionIds {
            signer: secret.map(|secret| derive(secret.as_bytes(), b"flask-session")),
        }
    }

    pub(crate) fn seal(&self, id: &[u8]) -> String {
        let id = String::from_utf8_lossy(id);
        match &self.signer {
            None => id.into_owned(),
            Some(key) => {
                let signature = key
                    .clone()
                    .chain_update(id.as_bytes())
                    .finalize()
                    .into_bytes();
                format!("{id}.{}", URL_SAFE_NO_PAD.encode(signature))
            }
        }
    }

    /// The id in `value`, at `now`: the cookie carries no time of its own.
    pub(crate) fn open(&self, value: &str, now: u64) -> Result<Opened, Rejected> {
        let id = match &self.signer {
            None => value,
            Some(key) => {
                let (id, signature) = value.rsplit_once('.').ok_or(Rejected::Truncated)?;
                let signature = URL_SAFE_NO_PAD
                    .decode(signature)
                    .map_err(|_| Rejected::NotBase64)?;
                key.clone()
                    .chain_update(id.as_bytes())
                    .verify_slice(&signature)
                    .map_err(|_| Rejected::BadSignature)?;
                id
            }
        };
        Ok(Opened {
            stamp: Stamp {
                issued: now,
                created: now,
            },
            payload: id.as_bytes().to_vec(),
            rotated: false,
        })
    }
}

/// itsdangerous' `hmac` key derivation: HMAC-SHA1(key = secret, message = salt).
fn derive(secret: &[u8], salt: &[u8]) -> HmacSha1 {
    let derived = HmacSha1::new_from_slice(secret)
        .expect("HMAC accepts keys of any length")
        .chain_update(salt)
        .finalize()
        .into_bytes();
    HmacSha1::new_from_slice(&derived).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AT: Stamp = Stamp {
        issued: 1_700_000_000,
        created: 1_700_000_000,
    };

    fn flask() -> Flask {
        Flask::new("secret", &[], "cookie-session")
    }

    #[test]
    fn the_issue_test_vector() {
        let value = flask().seal(AT, br#"{"a":1}"#);
        assert_eq!(value, "eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU");
        let opened = flask().open(&value).unwrap();
        assert_eq!(opened.payload, br#"{"a":1}"#);
        assert_eq!(opened.stamp, AT);
        assert!(!opened.rotated);
    }

    #[test]
    fn flask_session_ids_sign_as_itsdangerous_signer_does() {
        // itsdangerous.Signer("secret", salt="flask-session", key_derivation="hmac")
        //     .sign(b"abc").decode()
        let ids = FlaskSessionIds::new(Some("secret"));
        let value = ids.seal(b"abc");
        assert_eq!(value, "abc.UOOlglGtLOKQM3OFkrI8bWIohNg");
        assert_eq!(ids.open(&value, 5).unwrap().payload, b"abc");
        for bad in [
            "abc",
            "abd.M4hOV7mHmkWW3yJhg9nxSJEWFOU",
            "abc.!",
            "abc.AAAA",
        ] {
            assert!(ids.open(bad, 5).is_err(), "{bad}");
        }
        let unsigned = FlaskSessionIds::new(None);
        assert_eq!(unsigned.seal(b"abc"), "abc");
        assert_eq!(unsigned.open("abc", 5).unwrap().stamp.issued, 5);
    }

    #[test]
    fn long_payloads_are_compressed_and_read_back() {
        let json = format!(r#"{{"notes":"{}"}}"#, "abc".repeat(300));
        let value = flask().seal(AT, json.as_bytes());
        assert!(value.starts_with('.'), "{value}");
        assert!(value.len() < json.len() / 4);
        assert_eq!(flask().open(&value).unwrap().payload, json.as_bytes());
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let bomb = vec![b' '; MAX_INFLATED + 1];
        let value = flask().seal(AT, &bomb);
        assert!(value.len() < 600, "it compresses to {} bytes", value.len());
        assert_eq!(flask().open(&value).unwrap_err(), Rejected::BadCompression);
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let value = flask().seal(AT, br#"{"user":"ada","n":1}"#);
        for (i, to, tampered) in crate::codec::each_byte_changed(&value, b"Az-.") {
            assert!(flask().open(&tampered).is_err(), "byte {i} -> {to}");
        }
    }

    #[test]
    fn fallback_keys_verify_and_the_current_key_signs() {
        let old = Flask::new("old", &[], "cookie-session");
        let rotated = Flask::new("new", &["old".to_owned()], "cookie-session");
        assert!(rotated.open(&old.seal(AT, b"{}")).unwrap().rotated);
        let resealed = rotated.seal(AT, b"{}");
        assert!(!rotated.open(&resealed).unwrap().rotated);
        assert_eq!(old.open(&resealed).unwrap_err(), Rejected::BadSignature);
        let other_salt = Flask::new("new", &[], "another-salt");
        assert_eq!(
            other_salt.open(&resealed).unwrap_err(),
            Rejected::BadSignature
        );
    }

    #[test]
    fn malformed_values_are_rejected() {
        for bad in ["", "abc", "a.b", "..", "a.b.c", "é.é.é"] {
            assert!(flask().open(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(input in ".{0,600}") {
            let _ = flask().open(&input);
        }

        #[test]
        fn arbitrary_payloads_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let opened = flask().open(&flask().seal(AT, &payload)).unwrap();
            prop_assert_eq!(opened.payload, payload);
        }
    }
}
