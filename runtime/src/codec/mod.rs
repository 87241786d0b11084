//! Cookie formats: how a session cookie's value is sealed and opened.
//!
//! A [`Format`] turns a payload (the record's JSON, or a server-side store's session
//! id) into a cookie value and back, with a [`Stamp`] saying when it was issued and
//! when its session began: keepsake's own signed format ([`signed`]) or Flask's
//! ([`flask`]), or keepsake's encrypted one ([`encrypted`], `encrypt = true`). The
//! fairing only calls [`open`] and [`Format::seal`].

pub(crate) mod encrypted;
pub(crate) mod flask;
pub(crate) mod signed;
pub(crate) mod tag;

use std::time::Duration;

pub(crate) use self::encrypted::Encrypted;
pub(crate) use self::flask::{Flask, FlaskSessionIds};
pub(crate) use self::signed::{Purpose, Signed};
pub(crate) use self::tag::Tags;

/// Browsers drop cookies over 4096 bytes, so no longer value is worth decoding.
pub(crate) const MAX_COOKIE_LEN: usize = 4096;

/// When a value was signed, and when its session was created (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) issued: u64,
    pub(crate) created: u64,
}

/// Why a cookie value was refused. None of these is an error for the user: each
/// means "start a fresh session".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejected {
    #[error("cookie is longer than {MAX_COOKIE_LEN} bytes")]
    TooLong,
    #[error("cookie is not URL-safe base64")]
    NotBase64,
    #[error("cookie is too short to hold a signature")]
    Truncated,
    #[error("cookie signature does not verify with any key")]
    BadSignature,
    #[error("cookie format version {0} is unknown")]
    UnknownVersion(u8),
    #[error(
        "cookie payload is not a zlib stream that inflates to at most {} bytes",
        flask::MAX_INFLATED
    )]
    BadCompression,
    #[error("cookie was signed {age}s ago, more than max_age ({max}s)")]
    TooOld { age: u64, max: u64 },
    #[error("session was idle {idle}s, more than idle_timeout ({max}s)")]
    Idle { idle: u64, max: u64 },
    #[error("session was created {age}s ago, more than absolute_timeout ({max}s)")]
    Absolute { age: u64, max: u64 },
    #[error("cookie was signed in the future")]
    FromTheFuture,
}

/// A verified cookie value.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) stamp: Stamp,
    pub(crate) payload: Vec<u8>,
    /// Verified by a fallback key: re-sign with the current key on the next write.
    pub(crate) rotated: bool,
}

/// A cookie format, with the keys it seals and opens with.
#[derive(Clone)]
pub(crate) enum Format {
    /// keepsake's own: HMAC-SHA256 over a versioned, stamped payload.
    Signed(Signed),
    /// Flask's: itsdangerous' HMAC-SHA1 timed serializer over TaggedJSON.
    Flask(Flask),
    /// keepsake's encrypted one: AES-256-GCM over the stamped payload.
    Encrypted(Encrypted),
    /// Flask-Session's id cookie: the id as it is, or signed (`flask_session`).
    FlaskSession(FlaskSessionIds),
}

impl Format {
    /// Seals `payload` with the current key. Only the encrypted format can fail: when
    /// the system has no random nonce to give.
    pub(crate) fn seal(&self, stamp: Stamp, payload: &[u8]) -> Result<String, getrandom::Error> {
        match self {
            Format::Signed(signed) => Ok(signed.seal(stamp, payload)),
            Format::Flask(flask) => Ok(flask.seal(stamp, payload)),
            Format::Encrypted(encrypted) => encrypted.seal(stamp, payload),
            Format::FlaskSession(ids) => Ok(ids.seal(payload)),
        }
    }

    /// Whether the payload is Flask's TaggedJSON rather than plain JSON.
    pub(crate) fn is_flask(&self) -> bool {
        matches!(self, Format::Flask(_))
    }

    /// Verifies `value` at `now`; nothing of its payload is looked at before it
    /// verifies.
    fn verify(&self, value: &str, now: u64) -> Result<Opened, Rejected> {
        match self {
            Format::Signed(signed) => signed.open(value),
            Format::Flask(flask) => flask.open(value),
            Format::Encrypted(encrypted) => encrypted.open(value),
            Format::FlaskSession(ids) => ids.open(value, now),
        }
    }
}

/// Opens a cookie value: verifies it in `format`, then checks its stamp against
/// `limits` at `now` (unix seconds). The fairing and the benchmark both call this.
pub(crate) fn open(
    format: &Format,
    limits: &Limits,
    value: &str,
    now: u64,
) -> Result<Opened, Rejected> {
    if value.len() > MAX_COOKIE_LEN {
        return Err(Rejected::TooLong);
    }
    let opened = format.verify(value, now)?;
    limits.check(opened.stamp, now)?;
    Ok(opened)
}

/// The age limits a verified stamp must satisfy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_age: Duration,
    pub(crate) idle: Option<Duration>,
    pub(crate) absolute: Option<Duration>,
}

impl Limits {
    /// Checks `stamp` at `now` (unix seconds). Ages are whole seconds; a value is
    /// refused once its age is strictly more than a limit.
    pub(crate) fn check(&self, stamp: Stamp, now: u64) -> Result<(), Rejected> {
        // Allow a little clock skew between servers sharing a key.
        if stamp.issued > now + 60 || stamp.created > stamp.issued {
            return Err(Rejected::FromTheFuture);
        }
        let age = now.saturating_sub(stamp.issued);
        let max = self.max_age.as_secs();
        if age > max {
            return Err(Rejected::TooOld { age, max });
        }
        if let Some(idle) = self.idle {
            if age > idle.as_secs() {
                return Err(Rejected::Idle {
                    idle: age,
                    max: idle.as_secs(),
                });
            }
        }
        if let Some(absolute) = self.absolute {
            let lived = now.saturating_sub(stamp.created);
            if lived > absolute.as_secs() {
                return Err(Rejected::Absolute {
                    age: lived,
                    max: absolute.as_secs(),
                });
            }
        }
        Ok(())
    }
}

/// Every copy of a sealed `value` with one byte replaced by one of `replacements`
/// (a byte is never replaced by itself): the byte's index, the replacement, the copy.
#[cfg(test)]
fn each_byte_changed<'a>(
    value: &'a str,
    replacements: &'a [u8],
) -> impl Iterator<Item = (usize, u8, String)> + 'a {
    (0..value.len()).flat_map(move |i| {
        replacements
            .iter()
            .filter(move |&&r| value.as_bytes()[i] != r)
            .map(move |&r| {
                let mut bytes = value.as_bytes().to_vec();
                bytes[i] = r;
                (
                    i,
                    r,
                    String::from_utf8(bytes).expect("ASCII replaced by ASCII"),
                )
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn limits() {
        let limits = Limits {
            max_age: Duration::from_secs(100),
            idle: Some(Duration::from_secs(50)),
            absolute: Some(Duration::from_secs(120)),
        };
        let stamp = Stamp {
            issued: 1000,
            created: 950,
        };
        assert_eq!(limits.check(stamp, 1000), Ok(()));
        assert_eq!(limits.check(stamp, 1050), Ok(()));
        assert_eq!(
            limits.check(stamp, 1051),
            Err(Rejected::Idle { idle: 51, max: 50 })
        );
        let no_idle = Limits {
            idle: None,
            ..limits
        };
        assert_eq!(no_idle.check(stamp, 1070), Ok(()));
        assert_eq!(
            no_idle.check(stamp, 1071),
            Err(Rejected::Absolute { age: 121, max: 120 })
        );
        let only_max = Limits {
            idle: None,
            absolute: None,
            ..limits
        };
        assert_eq!(
            only_max.check(stamp, 1101),
            Err(Rejected::TooOld { age: 101, max: 100 })
        );
        assert_eq!(only_max.check(stamp, 500), Err(Rejected::FromTheFuture));
    }

    #[test]
    fn open_verifies_then_checks_the_limits() {
        let format = Format::Signed(Signed::new(Purpose::Record, &Secret(vec![1; 32]), &[]));
        let limits = Limits {
            max_age: Duration::from_secs(10),
            idle: None,
            absolute: None,
        };
        let stamp = Stamp {
            issued: 1000,
            created: 1000,
        };
        let value = format.seal(stamp, b"{}").unwrap();
        assert_eq!(open(&format, &limits, &value, 1010).unwrap().payload, b"{}");
        assert_eq!(
            open(&format, &limits, &value, 1011).unwrap_err(),
            Rejected::TooOld { age: 11, max: 10 }
        );
        assert_eq!(
            open(&format, &limits, &"A".repeat(MAX_COOKIE_LEN + 1), 1000).unwrap_err(),
            Rejected::TooLong
        );
    }
}
