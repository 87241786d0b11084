//! Not public API: the internals `benches/keepsake.rs` measures, behind thin wrappers.

use crate::codec::{Codec, Limits, Purpose, Stamp};
use crate::config::Secret;
use crate::record::Record;
use crate::view::{SessionView, Tracked};

/// The signed-cookie codec with the default limits.
pub struct CookieCodec {
    codec: Codec,
    limits: Limits,
}

/// A session record.
pub struct SessionRecord(Record);

/// Now, in unix seconds, as the codec stamps it.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CookieCodec {
    /// A codec keyed from `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> CookieCodec {
        let limits = Limits {
            max_age: std::time::Duration::from_secs(86400),
            idle: None,
            absolute: None,
        };
        CookieCodec {
            codec: Codec::new(Purpose::Record, &Secret(secret.to_vec()), &[]),
            limits,
        }
    }

    /// What a save does: the record as JSON, stamped and signed into a cookie value.
    pub fn encode(&self, record: &SessionRecord) -> String {
        let now = now();
        self.codec.seal(
            Stamp {
                issued: now,
                created: now,
            },
            &record.0.to_json(),
        )
    }

    /// What a load and a guard do: verify, check the age, split the record, decode a view.
    pub fn decode<T: SessionView>(&self, value: &str) -> Option<(SessionRecord, T)> {
        let opened = self.codec.open(value).ok()?;
        self.limits.check(opened.stamp, now()).ok()?;
        let record = Record::from_json(opened.payload, opened.stamp.created).ok()?;
        let view = Tracked::<T>::load(&record).into_value();
        Some((SessionRecord(record), view))
    }
}

impl SessionRecord {
    /// A record from a JSON object.
    pub fn from_json(json: &[u8]) -> Option<SessionRecord> {
        Record::from_json(json, 0).ok().map(SessionRecord)
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
