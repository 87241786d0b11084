//! The session record: one client's map from key to JSON value, with per-key tracking.

mod entries;
mod scan;
mod tagged;

use std::collections::{BTreeMap, BTreeSet};

use self::entries::Entries;
pub(crate) use self::scan::KeyPlaces;
use crate::error::SaveError;
use crate::store::{Changes, Loaded, SessionId};

/// Reserved key holding `true` while the session is permanent (Flask's `_permanent`).
pub(crate) const PERMANENT_KEY: &str = "_permanent";

/// Reserved key holding the session's own lifetime in seconds, set by
/// `Session::set_lifetime` (keepsake's; Flask ignores it and keeps it).
pub(crate) const LIFETIME_KEY: &str = "_lifetime";

/// Reserved key holding pending flash messages as `[category, message]` pairs, oldest
/// first (Flask's `_flashes`).
pub(crate) const FLASHES_KEY: &str = "_flashes";

/// Reserved key holding the unix second a store-indexed session began (keepsake's,
/// for [`SessionAdmin::sessions`](crate::SessionAdmin::sessions)).
pub(crate) const CREATED_KEY: &str = "_created";

/// Reserved key holding the unix second of the last request that wrote a
/// store-indexed session (keepsake's, for
/// [`SessionAdmin::sessions`](crate::SessionAdmin::sessions)).
pub(crate) const SEEN_KEY: &str = "_seen";

/// The most flash messages kept pending; pushing more drops the oldest.
pub const MAX_FLASHES: usize = 64;

/// One pending flash message: its category string and its text.
pub(crate) type FlashEntry = (String, String);

/// Why a verified payload is not a record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadPayload {
    #[error("payload is not UTF-8")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error(transparent)]
    NotAnObject(#[from] scan::SplitError),
    #[error("payload is not Flask's TaggedJSON object")]
    NotTaggedJson(#[from] serde_json::Error),
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
    created: u64,
    lifecycle: Lifecycle,
    /// Why this request's changes cannot be saved; the response becomes a 500.
    failure: Option<SaveError>,
    /// The decoded `_flashes`, once a request touched them; written back by `flush`.
    flashes: Option<Flashes>,
    /// For a record read from Flask's format: each key's value as Flask wrote it, sent
    /// back verbatim while the key is unchanged.
    flask_originals: BTreeMap<String, Box<str>>,
    /// Keys of `#[session(index)]` fields of the views this request used.
    index: Vec<&'static str>,
}

/// Where a record came from, and what this request did to the session it belongs to.
/// It moves only forward: `New`/`Loaded` → `Renewed` (`cycle_id()`) → `Purged` (`clear()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// No valid session arrived: nothing is stored for it yet.
    New,
    /// Loaded from the client's cookie (`id: None`) or from a store under `id`.
    Loaded {
        id: Option<SessionId>,
        /// Verified by a fallback key: re-sign with the current key.
        rotated: bool,
    },
    /// `cycle_id()`: re-issue the session, moved from `from` to a new id (server
    /// stores) or re-signed (the cookie store, `from: None`).
    Renewed { from: Option<SessionId> },
    /// `clear()`: the session that arrived is over, and `retired` (its id in a
    /// store) must load nothing any more. Whatever the request writes after the
    /// clear starts a new session, under a new id.
    Purged { retired: Option<SessionId> },
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
            lifecycle: Lifecycle::New,
            failure: None,
            flashes: None,
            flask_originals: BTreeMap::new(),
            index: Vec::new(),
        }
    }

    /// Notes that `key` is a view's index key: a store indexes the session by its value.
    pub(crate) fn index_by(&mut self, key: &'static str) {
        if !self.index.contains(&key) {
            self.index.push(key);
        }
    }

    fn index_keys(&self) -> Vec<String> {
        self.index.iter().map(|&key| key.to_owned()).collect()
    }

    /// The record a client sent in Flask's format, from its verified TaggedJSON.
    pub(crate) fn from_flask_json(
        payload: &[u8],
        created: u64,
        rotated: bool,
    ) -> Result<Record, BadPayload> {
        let untagged = tagged::untag_object(payload)?;
        Ok(Record {
            flask_originals: untagged.originals,
            ..Record::from_json(untagged.plain, created, rotated)?
        })
    }

    /// The record as Flask's TaggedJSON: unchanged keys as Flask wrote them, changed
    /// ones tagged as Flask would (flashes as tuples).
    pub(crate) fn encode_flask_json(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // A key is a string: it always serializes.
            let _ = serde_json::to_writer(&mut out, key);
            out.push(b':');
            let original = self
                .flask_originals
                .get(key)
                .filter(|_| !self.changed.contains(key));
            match original {
                Some(text) => out.extend_from_slice(text.as_bytes()),
                None => {
                    // Values of a Flask record are serde_json's own output (untagged
                    // at load, or a view's encoding), so they always parse.
                    let plain: serde_json::Value =
                        serde_json::from_str(value).unwrap_or(serde_json::Value::Null);
                    let tagged = if key == FLASHES_KEY {
                        tagged::tag_flashes(plain)
                    } else {
                        tagged::tag(plain)
                    };
                    let _ = serde_json::to_writer(&mut out, &tagged);
                }
            }
        }
        out.push(b'}');
        out
    }

    /// The record a client sent, from its verified JSON payload; `rotated` if it was
    /// verified by a fallback key.
    pub(crate) fn from_json(
        payload: impl Into<Vec<u8>>,
        created: u64,
        rotated: bool,
    ) -> Result<Record, BadPayload> {
        let text = String::from_utf8(payload.into())?;
        Ok(Record {
            entries: Entries::parse(text)?,
            lifecycle: Lifecycle::Loaded { id: None, rotated },
            ..Record::new(created)
        })
    }

    /// The record in a verified cookie payload, as [`Record::from_json`] but split into
    /// keys only when a lookup needs it: a request that only reads decodes its views
    /// straight from the text. A payload that is not a JSON object (which only a
    /// holder of the signing key can make) then reads as an empty record.
    pub(crate) fn from_cookie_json(
        payload: Vec<u8>,
        created: u64,
        rotated: bool,
    ) -> Result<Record, BadPayload> {
        let text = String::from_utf8(payload)?;
        Ok(Record {
            entries: Entries::unsplit(text),
            lifecycle: Lifecycle::Loaded { id: None, rotated },
            ..Record::new(created)
        })
    }

    /// The record as one JSON object's text, while nothing was set or removed since
    /// it was loaded: a view can decode straight from it.
    pub(crate) fn pristine_json(&self) -> Option<&str> {
        self.entries.pristine()
    }

    /// Whether the record was indexed into keys, and how: `Some(true)` by a scan.
    #[cfg(test)]
    pub(crate) fn indexed(&self) -> Option<bool> {
        self.entries.indexed()
    }

    /// Notes that serde_json read all of [`Record::pristine_json`] as a JSON object,
    /// and where its keys are in it, if it knows.
    pub(crate) fn checked(&mut self, keys: Option<KeyPlaces>) {
        self.entries.checked(keys);
    }

    /// The record a server-side store holds under `id`, as it handed it over.
    pub(crate) fn from_store(id: SessionId, loaded: Loaded, created: u64, rotated: bool) -> Record {
        let entries = match loaded {
            Loaded::Fields(fields) => Entries::from_fields(fields),
            Loaded::Object(text) => Entries::unsplit(text),
        };
        Record {
            entries,
            lifecycle: Lifecycle::Loaded {
                id: Some(id),
                rotated,
            },
            ..Record::new(created)
        }
    }

    pub(crate) fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// Unix seconds at which the session began.
    pub(crate) fn created(&self) -> u64 {
        self.created
    }

    /// Whether this request holds a session that did not arrive with it: none valid
    /// arrived, or `clear()` ended the one that did.
    pub(crate) fn is_new(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::New | Lifecycle::Purged { .. })
    }

    /// Re-issues the session (`cycle_id()`). A new or cleared session gets a new id
    /// anyway.
    pub(crate) fn renew(&mut self) {
        if let Lifecycle::Loaded { id, .. } = &mut self.lifecycle {
            self.lifecycle = Lifecycle::Renewed { from: id.take() };
        }
    }

    /// The reason this request's changes cannot be saved, if any.
    pub(crate) fn take_failure(&mut self) -> Option<SaveError> {
        self.failure.take()
    }

    /// Remembers the first reason this request's changes cannot be saved.
    pub(crate) fn fail(&mut self, failure: SaveError) {
        self.failure.get_or_insert(failure);
    }

    /// Every key with its value, for a write that starts the record afresh.
    pub(crate) fn all_changes(&mut self) -> Changes {
        Changes {
            create: true,
            set: self
                .entries
                .iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            removed: Vec::new(),
            index: self.index_keys(),
        }
    }

    /// What this request changed, for a server-side store.
    pub(crate) fn changes(&mut self) -> Changes {
        let create = matches!(self.lifecycle, Lifecycle::New | Lifecycle::Purged { .. });
        let mut changes = Changes {
            create,
            index: self.index_keys(),
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
    pub(crate) fn encode_json(&mut self) -> Vec<u8> {
        self.entries.encode_json()
    }

    /// The record's keys.
    #[cfg(feature = "bench-internals")]
    pub(crate) fn keys(&mut self) -> Vec<String> {
        self.entries.iter().map(|(key, _)| key.to_owned()).collect()
    }

    /// The JSON text of `key`'s value.
    pub(crate) fn get(&mut self, key: &str) -> Option<&str> {
        self.entries.get(key)
    }

    /// The JSON text of `key`'s value, and whether it is the text it was loaded with.
    pub(crate) fn get_loaded(&mut self, key: &str) -> Option<(&str, bool)> {
        self.entries.get_loaded(key)
    }

    /// The JSON text of `key`'s value when the record was loaded, whatever was set since.
    pub(crate) fn loaded(&mut self, key: &str) -> Option<&str> {
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

    /// Empties the record and ends its session: what is written after this starts a
    /// new one.
    pub(crate) fn clear(&mut self) {
        // Removed key by key, like any removal: the loaded text stays, so that other
        // views still compare with what they loaded and do not write it back.
        let keys: Vec<String> = self.entries.iter().map(|(key, _)| key.to_owned()).collect();
        for key in keys {
            self.remove(&key);
        }
        self.flashes = None;
        let retired = match std::mem::replace(&mut self.lifecycle, Lifecycle::New) {
            Lifecycle::New => None,
            Lifecycle::Loaded { id, .. } => id,
            Lifecycle::Renewed { from } => from,
            Lifecycle::Purged { retired } => retired,
        };
        self.lifecycle = Lifecycle::Purged { retired };
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
        let entries = &mut self.entries;
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
                Err(e) => self.fail(SaveError::Flashes(e)),
            }
        }
    }

    /// Drops the oldest pending flash message and writes the rest back; `false` when
    /// none is pending.
    pub(crate) fn drop_oldest_flash(&mut self) -> bool {
        let flashes = self.flashes_mut();
        if flashes.is_empty() {
            return false;
        }
        flashes.remove(0);
        self.flush();
        true
    }

    pub(crate) fn is_empty(&mut self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the record holds pending flash messages and nothing else.
    pub(crate) fn holds_only_flashes(&mut self) -> bool {
        let mut keys = self.entries.iter().map(|(key, _)| key);
        keys.next() == Some(FLASHES_KEY) && keys.next().is_none()
    }

    /// For a session a store indexes (an `#[session(index)]` field holds a value) or
    /// has indexed: notes this request as its last visit, at `now`, and when it
    /// began (`created`) if not yet noted. Called only for a write the request makes
    /// anyway, so tracking the visit costs no store call of its own.
    pub(crate) fn note_visit(&mut self, now: u64, created: u64) {
        let indexed = (0..self.index.len()).any(|i| {
            let key = self.index[i];
            self.entries.get(key).is_some_and(|value| value != "null")
        });
        if !indexed && self.entries.get(SEEN_KEY).is_none() {
            return;
        }
        self.set(SEEN_KEY, now.to_string().into());
        if self.entries.get(CREATED_KEY).is_none() {
            self.set(CREATED_KEY, created.to_string().into());
        }
    }

    /// Whether any key was set or removed by this request.
    pub(crate) fn is_modified(&self) -> bool {
        !self.changed.is_empty()
    }

    pub(crate) fn is_permanent(&mut self) -> bool {
        self.get(PERMANENT_KEY) == Some("true")
    }

    pub(crate) fn set_permanent(&mut self, permanent: bool) {
        if permanent {
            self.set(PERMANENT_KEY, "true".into());
        } else {
            self.remove(PERMANENT_KEY);
            self.remove(LIFETIME_KEY);
        }
    }

    /// The session's own lifetime (`set_lifetime`), if it has one.
    pub(crate) fn lifetime(&mut self) -> Option<std::time::Duration> {
        let seconds = self.get(LIFETIME_KEY)?.parse::<u64>().ok()?;
        Some(std::time::Duration::from_secs(seconds))
    }

    /// Makes the session permanent with its own lifetime (whole seconds, at least one).
    pub(crate) fn set_lifetime(&mut self, lifetime: std::time::Duration) {
        self.set_permanent(true);
        let seconds = lifetime.as_secs().max(1);
        self.set(LIFETIME_KEY, seconds.to_string().into_boxed_str());
    }

    /// The `n` largest keys with their encoded sizes, largest first.
    pub(crate) fn largest_keys(&mut self, n: usize) -> Vec<(&str, usize)> {
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
        let mut record = Record::from_json(json, 5, false).unwrap();
        assert_eq!(record.encode_json(), json.to_vec());
        assert!(!record.is_new() && !record.is_modified());
    }

    #[test]
    fn same_value_is_no_change() {
        let mut record = Record::from_json(br#"{"a":1}"#, 0, false).unwrap();
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
        assert!(record.is_empty() && record.is_new() && !record.is_permanent());
    }

    #[test]
    fn flashes_decode_once_and_flush_only_when_changed() {
        let mut record = Record::from_json(br#"{"_flashes":[["info","hi"]]}"#, 0, false).unwrap();
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
        let mut record =
            Record::from_json(br#"{"a":"xxxxxxxx","bb":1,"c":"xxxx"}"#, 0, false).unwrap();
        assert_eq!(record.largest_keys(2), vec![("a", 11), ("c", 7)]);
    }

    #[test]
    fn non_object_payloads_are_errors() {
        for bad in [&b"[]"[..], b"null", b"{", b"\xff", b"{\"a\":}"] {
            assert!(Record::from_json(bad, 0, false).is_err());
        }
    }

    fn id() -> SessionId {
        SessionId::generate().unwrap()
    }

    #[test]
    fn the_lifecycle_moves_forward_only() {
        let id = id();
        let stored =
            || Record::from_store(id.clone(), Loaded::Fields(Default::default()), 0, false);
        let mut record = stored();
        assert!(!record.is_new());
        record.renew();
        assert_eq!(
            record.lifecycle(),
            &Lifecycle::Renewed {
                from: Some(id.clone())
            }
        );
        record.clear();
        assert_eq!(
            record.lifecycle(),
            &Lifecycle::Purged {
                retired: Some(id.clone())
            }
        );
        assert!(record.is_new(), "a cleared session is a new one");
        record.renew();
        assert!(matches!(record.lifecycle(), Lifecycle::Purged { .. }));
        let mut fresh = Record::new(0);
        fresh.renew();
        assert_eq!(
            fresh.lifecycle(),
            &Lifecycle::New,
            "a new session needs no renewal"
        );
        let mut loaded = stored();
        loaded.set("a", raw("1"));
        assert!(!loaded.changes().create, "an update never recreates");
        loaded.clear();
        loaded.set("a", raw("2"));
        assert_eq!(
            loaded.all_changes(),
            Changes {
                create: true,
                set: vec![("a".into(), "2".into())],
                removed: vec![],
                index: vec![],
            }
        );
    }

    #[test]
    fn dropping_the_oldest_flash_writes_the_rest_back() {
        let mut record = Record::new(0);
        record.push_flash("info", "one".into());
        record.push_flash("info", "two".into());
        assert!(record.drop_oldest_flash());
        assert_eq!(record.get(FLASHES_KEY), Some(r#"[["info","two"]]"#));
        assert!(record.drop_oldest_flash());
        assert!(!record.drop_oldest_flash());
        assert!(record.is_empty());
    }
}
