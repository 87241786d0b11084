//! Session tags: the handle [`SessionAdmin::sessions`](crate::SessionAdmin::sessions)
//! gives for each session, and [`SessionAdmin::revoke`](crate::SessionAdmin::revoke)
//! takes back.
//!
//! A tag is URL-safe base64 (no padding) of
//!
//! ```text
//! nonce (12 bytes) | AES-256-GCM(session id) | tag (16 bytes)
//! ```
//!
//! under a key derived (HKDF-SHA256) from Rocket's `secret_key` for tags alone. The
//! nonce is the first 12 bytes of HMAC-SHA256 of the id under a second derived key
//! (a synthetic nonce): one session always gets the same tag, two sessions never
//! share a nonce, and the tag shows nothing of the id. Only the server can open a tag,
//! so knowing one lets no one load the session; and only a tag the server made opens.
//! Tags are made and opened with the current key alone: after a key rotation, a list
//! of sessions is fetched again.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;
use crate::store::SessionId;

const NONCE_LEN: usize = 12;
const AAD: &[u8] = b"rocket_keepsake session tag v1";

/// Makes and opens session tags.
pub(crate) struct Tags {
    cipher: Aes256Gcm,
    nonces: Hmac<Sha256>,
}

impl Tags {
    pub(crate) fn new(secret: &Secret) -> Tags {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(b"rocket_keepsake"), &secret.0);
        let mut key = [0u8; 32];
        let mut nonce_key = [0u8; 32];
        hkdf.expand(b"rocket_keepsake session tag aes-256-gcm v1", &mut key)
            .and_then(|()| hkdf.expand(b"rocket_keepsake session tag nonce v1", &mut nonce_key))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Tags {
            cipher: Aes256Gcm::new(&key.into()),
            nonces: <Hmac<Sha256> as Mac>::new_from_slice(&nonce_key)
                .expect("HMAC takes a key of any length"),
        }
    }

    /// The tag of the session under `id`: the same each time.
    pub(crate) fn tag(&self, id: &SessionId) -> String {
        let mut mac = self.nonces.clone();
        mac.update(id.as_str().as_bytes());
        let nonce = mac.finalize().into_bytes();
        let nonce = &nonce[..NONCE_LEN];
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: id.as_str().as_bytes(),
                    aad: AAD,
                },
            )
            // Only inputs past GCM's 64 GiB limit fail, far beyond an id.
            .unwrap_or_default();
        let mut buf = Vec::with_capacity(NONCE_LEN + sealed.len());
        buf.extend_from_slice(nonce);
        buf.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// The session id in `tag`, if the server made it with the current key.
    pub(crate) fn open(&self, tag: &str) -> Option<SessionId> {
        if tag.len() > 128 {
            return None;
        }
        let buf = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let (nonce, sealed) = buf.split_at_checked(NONCE_LEN)?;
        let id = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .ok()?;
        SessionId::from_verified(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(byte: u8) -> Tags {
        Tags::new(&Secret(vec![byte; 32]))
    }

    #[test]
    fn a_tag_is_stable_hides_the_id_and_opens_only_with_its_key() {
        let (id, other) = (
            SessionId::generate().unwrap(),
            SessionId::generate().unwrap(),
        );
        let tags = tags(1);
        let tag = tags.tag(&id);
        assert_eq!(tag, tags.tag(&id), "one session, one tag");
        assert_ne!(tag, tags.tag(&other));
        assert!(!tag.contains(id.as_str()));
        assert_eq!(tags.open(&tag), Some(id.clone()));
        assert_eq!(
            self::tags(2).open(&tag),
            None,
            "another secret opens nothing"
        );
    }

    #[test]
    fn a_changed_or_malformed_tag_opens_nothing() {
        let tags = tags(1);
        let tag = tags.tag(&SessionId::generate().unwrap());
        let mut bytes = URL_SAFE_NO_PAD.decode(&tag).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert_eq!(tags.open(&URL_SAFE_NO_PAD.encode(&bytes)), None, "byte {i}");
            bytes[i] ^= 1;
        }
        for bad in ["", "x", "!!!!", &tag[..20], &"A".repeat(4000)] {
            assert_eq!(tags.open(bad), None, "{bad:.20}");
        }
    }
}
