//! Not public API: the internals `benches/keepsake.rs` measures, behind the
//! non-default `bench-internals` feature. Each wrapper calls the very functions the
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
    pub fn encode(&self, record: &SessionRecord) -> String {
        let now = now();
        let stamp = Stamp {
            issued: now,
            created: now,
        };
        // Only the encrypted format can fail, when the system has no randomness.
        self.format
            .seal(stamp, &record.0.to_json())
            .unwrap_or_default()
    }

    /// What a load and a guard do: open the cookie (verify, check its age), split
    /// the record, decode a view.
    pub fn decode<T: SessionView>(&self, value: &str) -> Option<(SessionRecord, T)> {
        let opened = codec::open(&self.format, &self.limits, value, now()).ok()?;
        let record =
            Record::from_json(opened.payload, opened.stamp.created, opened.rotated).ok()?;
        let view = Tracked::<T>::load(&record).into_value();
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
        let mut tracked = Tracked::<T>::load(&self.0);
        if let Some(change) = change {
            change(tracked.get_mut());
        }
        tracked.write_back(&mut self.0);
        self.0.is_modified()
    }
}
