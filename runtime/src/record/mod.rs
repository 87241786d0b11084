//! The session record: one client's map from key to JSON value, with per-key tracking.

mod entries;

use std::collections::BTreeSet;

use self::entries::Entries;
use crate::store::{Changes, Fields, SessionId};

/// Reserved key holding `true` while the session is permanent (Flask's `_permanent`).
pub(crate) const PERMANENT_KEY: &str = "_permanent";

/// Reserved key holding pending flash messages as `[category, message]` pairs, oldest
/// first (Flask's `_flashes`).
pub(crate) const FLASHES_KEY: &str = "_flashes";

/// The most flash messages kept pending; pushing more drops the oldest.
pub const MAX_FLASHES: usize = 64;

/// One pending flash message: its category string and its text.
pub(crate) type FlashEntry = (String, String);

/// Whether `text` is one JSON value, checked without building it.
fn is_json(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map(drop)
}

/// Why a verified payload is not a record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadPayload {
    #[error("payload is not UTF-8")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error(transparent)]
    NotAnObject(#[from] entries::SplitError),
}

/// One client's session record as one request sees it.
///
/// Values are kept as the JSON text they arrived in: decoding the record only splits
/// it into keys, each view decodes just the keys it names, and keys no view knows are
/// written back byte for byte.
#[derive(Debug)]
pub(crate) struct Record {
    entries: Entries,
    /// Keys this request set or removed: what a server-side store writes back.
    changed: BTreeSet<String>,
    /// Unix seconds at which the session was first created.
    pub(crate) created: u64,
    /// No valid session arrived with the request.
    pub(crate) is_new: bool,
    /// Send the cookie even when nothing changed: it was signed by a fallback key.
    pub(crate) reissue: bool,
    /// `cycle_id()` was called: a new id (server stores) or a re-signed cookie.
    pub(crate) cycle: bool,
    /// The id of the record in a server-side store; `None` until it is first saved.
    pub(crate) id: Option<SessionId>,
    /// `clear()` was called in this request.
    pub(crate) cleared: bool,
    /// Why this request's changes cannot be saved; the response becomes a 500.
    pub(crate) failure: Option<String>,
    /// The decoded `_flashes`, once a request touched them; written back by `flush`.
    flashes: Option<Flashes>,
}

#[derive(Debug)]
struct Flashes {
    entries: Vec<FlashEntry>,
    changed: bool,
}

impl Record {
    /// A new, empty session created at `now`.
    pub(crate) fn new(now: u64) -> Record {
        Record {
            entries: Entries::default(),
            changed: BTreeSet::new(),
            created: now,
            is_new: true,
            reissue: false,
            cycle: false,
            id: None,
            cleared: false,
            failure: None,
            flashes: None,
        }
    }

    /// The record a client sent, from its verified JSON payload.
    pub(crate) fn from_json(
        payload: impl Into<Vec<u8>>,
        created: u64,
    ) -> Result<Record, BadPayload> {
        let text = String::from_utf8(payload.into())?;
        Ok(Record {
            entries: Entries::parse(text)?,
            is_new: false,
            ..Record::new(created)
        })
    }

    /// The record a server-side store holds under `id`. A value that is not JSON is
    /// left out, with a warning.
    pub(crate) fn from_fields(
        id: SessionId,
        fields: Fields,
        created: u64,
    ) -> Result<Record, BadPayload> {
        let entries = fields.into_iter().filter_map(|(key, value)| match is_json(&value) {
            Ok(()) => Some((key, value.into_boxed_str())),
            Err(e) => {
                log::warn!(target: "rocket_keepsake", "ignoring stored session key `{key}`, which is not JSON: {e}");
                None
            }
        });
        Ok(Record {
            entries: Entries::from_owned(entries)?,
            is_new: false,
            id: Some(id),
            ..Record::new(created)
        })
    }

    /// What this request changed, for a server-side store.
    pub(crate) fn changes(&self) -> Changes {
        let mut changes = Changes {
            create: self.id.is_none(),
            ..Changes::default()
        };
        for key in &self.changed {
            match self.entries.get(key) {
                Some(value) => changes.set.push((key.clone(), value.to_owned())),
                None => changes.removed.push(key.clone()),
            }
        }
        changes
    }

    /// The record as a JSON object.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        self.entries.to_json()
    }

    /// The JSON text of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key)
    }

    /// The JSON text of `key`'s value, and whether it is the text it was loaded with.
    pub(crate) fn get_loaded(&self, key: &str) -> Option<(&str, bool)> {
        self.entries.get_loaded(key)
    }

    /// The JSON text of `key`'s value when the record was loaded, whatever was set since.
    pub(crate) fn loaded(&self, key: &str) -> Option<&str> {
        self.entries.loaded(key)
    }

    /// Sets `key` to `value`, which must be valid JSON text; a value equal to the
    /// current one is no change.
    pub(crate) fn set(&mut self, key: &str, value: Box<str>) {
        if self.entries.get(key) != Some(&*value) {
            self.entries.insert(key, value);
            self.changed.insert(key.to_owned());
        }
    }

    /// Removes `key`; removing an absent key is no change.
    pub(crate) fn remove(&mut self, key: &str) {
        if self.entries.remove(key) {
            self.changed.insert(key.to_owned());
        }
    }

    /// Empties the record.
    pub(crate) fn clear(&mut self) {
        // Removed key by key, like any removal: the loaded text stays, so that other
        // views still compare with what they loaded and do not write it back.
        let keys: Vec<String> = self.entries.iter().map(|(key, _)| key.to_owned()).collect();
        for key in keys {
            self.remove(&key);
        }
        self.flashes = None;
        self.cleared = true;
    }

    /// The pending flash messages, decoded on first use.
    pub(crate) fn flashes(&mut self) -> &[FlashEntry] {
        &self.decoded_flashes().entries
    }

    /// The pending flash messages, to change: call [`Record::flush`] before saving.
    pub(crate) fn flashes_mut(&mut self) -> &mut Vec<FlashEntry> {
        let flashes = self.decoded_flashes();
        flashes.changed = true;
        &mut flashes.entries
    }

    fn decoded_flashes(&mut self) -> &mut Flashes {
        let entries = &self.entries;
        self.flashes.get_or_insert_with(|| {
            let raw = entries.get(FLASHES_KEY);
            let decoded = raw.map(serde_json::from_str).transpose();
            let entries = decoded.unwrap_or_else(|e| {
                log::warn!(target: "rocket_keepsake", "dropping unreadable `{FLASHES_KEY}`: {e}");
                None
            });
            Flashes {
                entries: entries.unwrap_or_default(),
                changed: false,
            }
        })
    }

    /// Appends a flash message, dropping the oldest beyond [`MAX_FLASHES`].
    pub(crate) fn push_flash(&mut self, category: &str, message: String) {
        let flashes = self.flashes_mut();
        flashes.push((category.to_owned(), message));
        if flashes.len() > MAX_FLASHES {
            let (category, _) = flashes.remove(0);
            log::warn!(
                target: "rocket_keepsake",
                "more than {MAX_FLASHES} flash messages pending; dropped the oldest (category `{category}`)"
            );
        }
    }

    /// Writes the flash messages back into the record, if this request changed them.
    pub(crate) fn flush(&mut self) {
        let Some(flashes) = self.flashes.as_mut().filter(|f| f.changed) else {
            return;
        };
        flashes.changed = false;
        if flashes.entries.is_empty() {
            self.remove(FLASHES_KEY);
        } else {
            match serde_json::to_string(&flashes.entries) {
                Ok(json) => self.set(FLASHES_KEY, json.into_boxed_str()),
                Err(e) => self.failure = Some(format!("flash messages cannot be saved: {e}")),
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any key was set or removed by this request.
    pub(crate) fn is_modified(&self) -> bool {
        !self.changed.is_empty()
    }

    pub(crate) fn is_permanent(&self) -> bool {
        self.get(PERMANENT_KEY) == Some("true")
    }

    pub(crate) fn set_permanent(&mut self, permanent: bool) {
        if permanent {
            self.set(PERMANENT_KEY, "true".into());
        } else {
            self.remove(PERMANENT_KEY);
        }
    }

    /// The `n` largest keys with their encoded sizes, largest first.
    pub(crate) fn largest_keys(&self, n: usize) -> Vec<(&str, usize)> {
        let mut sizes: Vec<_> = self
            .entries
            .iter()
            .map(|(k, v)| (k, k.len() + v.len()))
            .collect();
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        sizes.truncate(n);
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<str> {
        text.into()
    }

    #[test]
    fn unknown_keys_round_trip_verbatim() {
        let json = br#"{"_flashes":[["info","hi"]],"x":{"deep":[1,2.5,"\u00e9"]}}"#;
        let record = Record::from_json(json, 5).unwrap();
        assert_eq!(record.to_json(), json.to_vec());
        assert!(!record.is_new && !record.is_modified());
    }

    #[test]
    fn same_value_is_no_change() {
        let mut record = Record::from_json(br#"{"a":1}"#, 0).unwrap();
        record.set("a", raw("1"));
        record.remove("missing");
        assert!(!record.is_modified());
        record.set("a", raw("2"));
        assert!(record.is_modified());
    }

    #[test]
    fn permanent_flag_and_clear() {
        let mut record = Record::new(0);
        assert!(!record.is_permanent());
        record.set_permanent(true);
        assert!(record.is_permanent() && record.is_modified());
        record.clear();
        assert!(record.is_empty() && record.cleared && !record.is_permanent());
    }

    #[test]
    fn flashes_decode_once_and_flush_only_when_changed() {
        let mut record = Record::from_json(br#"{"_flashes":[["info","hi"]]}"#, 0).unwrap();
        assert_eq!(record.flashes().len(), 1);
        record.flush();
        assert!(!record.is_modified());
        record.push_flash("success", "saved".into());
        record.flush();
        assert_eq!(
            record.get(FLASHES_KEY).unwrap(),
            r#"[["info","hi"],["success","saved"]]"#
        );
        record.flashes_mut().clear();
        record.flush();
        assert!(record.is_empty());
    }

    #[test]
    fn flashes_are_bounded_dropping_the_oldest() {
        let mut record = Record::new(0);
        for i in 0..MAX_FLASHES + 3 {
            record.push_flash("info", i.to_string());
        }
        let flashes = record.flashes_mut();
        assert_eq!(flashes.len(), MAX_FLASHES);
        assert_eq!(flashes[0].1, "3");
    }

    #[test]
    fn largest_keys_first() {
        let record = Record::from_json(br#"{"a":"xxxxxxxx","bb":1,"c":"xxxx"}"#, 0).unwrap();
        assert_eq!(record.largest_keys(2), vec![("a", 11), ("c", 7)]);
    }

    #[test]
    fn non_object_payloads_are_errors() {
        for bad in [&b"[]"[..], b"null", b"{", b"\xff", b"{\"a\":}"] {
            assert!(Record::from_json(bad, 0).is_err());
        }
    }
}
