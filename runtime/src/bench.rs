//! Not public API: the internals `benches/keepsake.rs` measures and the fuzz targets
//! under `fuzz/` exercise, behind the non-default `bench-internals` feature. Each wrapper calls the very functions the
//! fairing calls, with limits from a real [`Config`].

use crate::codec::{self, Encrypted, Format, Limits, Purpose, Signed, Stamp};
use crate::config::{Config, Secret};
use crate::record::Record;
use crate::view::{SessionView, Tracked};

/// The signed-cookie format and the limits of the default configuration.
pub struct CookieCodec {
    format: Format,
    limits: Limits,
}

/// A session record.
pub struct SessionRecord(Record);

/// Now, in unix seconds, as the fairing stamps it.
fn now() -> u64 {
    crate::clock::unix_seconds(std::time::SystemTime::now())
}

impl CookieCodec {
    /// The record format keyed from `secret` (at least 32 bytes), with the limits
    /// of `Config::default()`.
    pub fn new(secret: &[u8]) -> CookieCodec {
        let format = Format::Signed(Signed::new(Purpose::Record, &Secret(secret.to_vec()), &[]));
        CookieCodec::with_format(format)
    }

    /// The encrypted record format (`encrypt = true`) keyed from `secret`.
    pub fn encrypted(secret: &[u8]) -> CookieCodec {
        let format = Format::Encrypted(Encrypted::new(
            Purpose::Record,
            &Secret(secret.to_vec()),
            &[],
        ));
        CookieCodec::with_format(format)
    }

    fn with_format(format: Format) -> CookieCodec {
        let config = Config::default();
        CookieCodec {
            format,
            limits: Limits {
                max_age: config.max_age,
                idle: config.idle_timeout,
                absolute: config.absolute_timeout,
            },
        }
    }

    /// What a save does: the record as JSON, stamped and sealed into a cookie value.
    pub fn encode(&self, record: &mut SessionRecord) -> String {
        let now = now();
        let stamp = Stamp {
            issued: now,
            created: now,
        };
        // Only the encrypted format can fail, when the system has no randomness.
        self.format
            .seal(stamp, &record.0.encode_json())
            .unwrap_or_default()
    }

    /// What a load and a guard do: open the cookie (verify, check its age), decode a
    /// view straight from the record's text.
    pub fn decode<T: SessionView>(&self, value: &str) -> Option<(SessionRecord, T)> {
        let opened = codec::open(&self.format, &self.limits, value, now()).ok()?;
        let mut record =
            Record::from_cookie_json(opened.payload, opened.stamp.created, opened.rotated).ok()?;
        let view = Tracked::<T>::load(&mut record).into_value();
        Some((SessionRecord(record), view))
    }
}

impl SessionRecord {
    /// A record from a JSON object.
    pub fn from_json(json: &[u8]) -> Option<SessionRecord> {
        Record::from_json(json, 0, false).ok().map(SessionRecord)
    }

    /// Loads view `T`, lets `change` borrow it mutably if given, and writes it back:
    /// the tracking a `Session<T>` guard does. Whether the record changed.
    pub fn track<T: SessionView>(&mut self, change: Option<fn(&mut T)>) -> bool {
        let mut tracked = Tracked::<T>::load(&mut self.0);
        if let Some(change) = change {
            change(tracked.get_mut());
        }
        tracked.write_back(&mut self.0);
        self.0.is_modified()
    }
}

/// Entry points for the fuzz targets: each runs the code the fairing runs on
/// untrusted input.
pub mod fuzz {
    use std::time::Duration;

    use crate::codec::{self, Encrypted, Flask, Format, Limits, Purpose, Signed};
    use crate::config::{Config, Secret};
    use crate::record::Record;

    fn formats() -> [Format; 3] {
        let secret = Secret(vec![7; 32]);
        [
            Format::Signed(Signed::new(Purpose::Record, &secret, &[])),
            Format::Encrypted(Encrypted::new(Purpose::Record, &secret, &[])),
            Format::Flask(Flask::new("a flask secret", &[], "cookie-session")),
        ]
    }

    /// Opens `value` as a cookie in each format (signed, encrypted, Flask's) and, when
    /// it opens, as a record; how many formats accepted it. Without the key, arbitrary
    /// input must never open.
    pub fn open_cookie(value: &str) -> usize {
        let config = Config::default();
        let limits = Limits {
            max_age: config.max_age,
            idle: None,
            absolute: None,
        };
        let now = crate::clock::unix_seconds(std::time::SystemTime::now());
        let mut opened = 0;
        for format in formats() {
            if let Ok(cookie) = codec::open(&format, &limits, value, now) {
                opened += 1;
                let _ = if format.is_flask() {
                    Record::from_flask_json(&cookie.payload, 0, false).map(drop)
                } else {
                    Record::from_json(cookie.payload, 0, false).map(drop)
                };
            }
        }
        opened
    }

    /// Splits `text` as the record does and compares with serde_json: where serde_json
    /// reads a JSON object (without repeated keys), the split has the same keys, each
    /// with the same value. `Err` says how they differ.
    pub fn split_agrees_with_serde(text: &str) -> Result<(), String> {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) else {
            let _ = Record::from_json(text.as_bytes(), 0, false);
            return Ok(());
        };
        let mut record = Record::from_json(text.as_bytes(), 0, false)
            .map_err(|e| format!("serde_json reads an object, the split fails: {e}"))?;
        let keys = record.keys();
        if keys.len() != map.len() {
            // A repeated key: serde_json keeps the last, which a signed record never has.
            return Ok(());
        }
        let reparse =
            |v: &serde_json::Value| serde_json::from_str::<serde_json::Value>(&v.to_string()).ok();
        // A cookie's record, indexed only at its first lookup, answers the same: for
        // keys absent too (answered before any index), and its object is the same.
        let mut lazy = Record::from_cookie_json(text.as_bytes().to_vec(), 0, false)
            .map_err(|e| format!("serde_json reads an object, the cookie record fails: {e}"))?;
        for key in ["_lifetime", "_permanent", "x"]
            .into_iter()
            .chain(map.keys().map(String::as_str))
        {
            if lazy.get(key) != record.get(key) {
                return Err(format!("key {key:?}: the unsplit record answers otherwise"));
            }
        }
        if lazy.encode_json() != record.encode_json() {
            return Err("the unsplit record writes another object".into());
        }
        for (key, expected) in &map {
            let split = record
                .get(key)
                .ok_or_else(|| format!("key {key:?} missing from the split"))?;
            let split: serde_json::Value = serde_json::from_str(split)
                .map_err(|e| format!("key {key:?}: split value is not JSON: {e}"))?;
            if reparse(&split) != reparse(expected) {
                return Err(format!("key {key:?}: {split} != {expected}"));
            }
        }
        Ok(())
    }

    /// Reads `payload` as Flask's TaggedJSON session, and writes it back; the JSON
    /// written, when it reads.
    pub fn flask_round_trip(payload: &[u8]) -> Option<Vec<u8>> {
        let mut record = Record::from_flask_json(payload, 0, false).ok()?;
        Some(record.encode_flask_json())
    }

    /// A configuration duration (`"90s"`, `"7d"`, seconds).
    pub fn parse_duration(text: &str) -> Option<Duration> {
        crate::config::parse_duration(text)
    }

    /// Whether `url` names a store (none is contacted: stores connect on first use).
    pub fn open_store_url(url: &str) -> bool {
        crate::store::url::open(url, Default::default()).is_ok()
    }
}
