//! Flask-Session's record format (`flask_session = true`): the session dict as one
//! msgpack map, as msgspec's encoder writes it (Flask-Session 0.7 and 0.8).
//!
//! The store keeps one blob per session, so a save is a read-modify-write: the blob is
//! read, split into its entries (each key with its value's msgpack bytes), the
//! request's changes applied, and the map written again. An entry the request did not
//! change is copied byte for byte, whatever it holds (bytes, datetimes, float32, ints
//! written wider than needed by another encoder), so values only Python knows survive
//! a Rocket write. The store makes the write conditional on the blob it read (a
//! compare-and-set), and retries on a race: concurrent requests changing different
//! keys all survive.
//!
//! For the typed views, each value is shown as JSON text: msgpack's nil, booleans,
//! integers, floats, strings, arrays and string-keyed maps as themselves; what JSON
//! cannot hold as tagged objects in the manner of Flask's TaggedJSON: binary as
//! `{" b": "<base64>"}`, an extension (a datetime is extension -1) as
//! `{" e": [type, "<base64>"]}`, a float that is not finite as `{" f": "nan"}`
//! (`"inf"`, `"-inf"`), a map with other keys as `{" m": [[key, value], …]}`. A value a
//! view writes back goes through the same table the other way.
//!
//! A blob that is not one msgpack map, is over [`MAX_BLOB`] bytes, or nests deeper than
//! [`MAX_DEPTH`] is unreadable: the fairing starts a fresh session, never a 500.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rmpv::{Integer, Value};
use serde_json::Value as Json;

use super::{Changes, Fields, StoreError, StoreErrorKind};

/// The largest blob read or written: 4 MiB, far above any session, so that a
/// record cannot make a request decode without bound.
pub(crate) const MAX_BLOB: usize = 4 * 1024 * 1024;

/// The deepest nesting of arrays and maps decoded.
pub(crate) const MAX_DEPTH: usize = 64;

/// A save as the Redis and SQL layouts make it: merge into the blob read, then a
/// compare-and-set, tried first against the blob the request's load found.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools"
))]
pub(crate) mod swapped {
    use std::collections::HashMap;
    use std::sync::{Mutex, PoisonError};

    use rocket::futures::future::BoxFuture;

    use crate::store::{Changes, Saved, StoreError};

    /// How many times a save reads again and retries when the record changed
    /// meanwhile, before answering 503 rather than losing a write.
    pub(crate) const TRIES: usize = 16;

    /// Applies `changes` to the blob `read` finds (first to `loaded`, the one the
    /// request's load found, if known) and has `swap` write the result only if the
    /// store still holds the blob it was applied to (`None` on either side: no
    /// record); on a race, reads again, up to [`TRIES`] times. A record that is gone is
    /// not recreated unless `changes.create`.
    pub(crate) async fn save<'a>(
        store: &'static str,
        changes: &Changes,
        loaded: Option<Vec<u8>>,
        mut read: impl FnMut() -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>,
        mut swap: impl FnMut(
            Option<Vec<u8>>,
            Option<Vec<u8>>,
        ) -> BoxFuture<'a, Result<bool, StoreError>>,
    ) -> Result<Saved, StoreError> {
        let mut loaded = loaded.filter(|_| !changes.create).map(Some);
        for _ in 0..TRIES {
            let old = match loaded.take() {
                Some(old) => old,
                None => read().await?,
            };
            if old.is_none() && !changes.create {
                return Ok(Saved::Gone);
            }
            let new = super::apply(store, old.as_deref(), changes)?;
            if swap(old, new).await? {
                return Ok(Saved::Done);
            }
        }
        Err(contended(store))
    }

    /// Whether a save only moves the record's expiry: nothing set, removed or created.
    pub(crate) fn only_expiry(changes: &Changes) -> bool {
        changes.set.is_empty() && changes.removed.is_empty() && !changes.create
    }

    /// The record changed under every try to write it.
    pub(crate) fn contended(store: &'static str) -> StoreError {
        StoreError::new(
            store,
            format!("the session changed under each of {TRIES} attempts to write it"),
        )
    }

    /// The most bytes of loaded blobs kept for the saves that follow their loads.
    const RECENT_BYTES: usize = 4 * 1024 * 1024;

    /// The blob each recent load found, by record key, for the save that follows the
    /// load: its compare-and-set is tried against that blob first, without reading it
    /// again (one round trip instead of two). A stale blob only makes that first try
    /// fail. At most [`RECENT_BYTES`] are kept; past that the cache starts afresh.
    /// (Memcached's layout needs its own `cas` token instead.)
    #[derive(Debug, Default)]
    pub(crate) struct Recent(Mutex<RecentBlobs>);

    #[derive(Debug, Default)]
    struct RecentBlobs {
        blobs: HashMap<String, Vec<u8>>,
        bytes: usize,
    }

    impl Recent {
        /// Keeps `blob`, just loaded from `key`.
        pub(crate) fn remember(&self, key: &str, blob: &[u8]) {
            let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if recent.bytes + blob.len() > RECENT_BYTES {
                *recent = RecentBlobs::default();
            }
            recent.bytes += blob.len();
            if let Some(old) = recent.blobs.insert(key.to_owned(), blob.to_vec()) {
                recent.bytes -= old.len();
            }
        }

        /// The blob last loaded from `key`, if still kept; it is kept no more.
        pub(crate) fn take(&self, key: &str) -> Option<Vec<u8>> {
            let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let blob = recent.blobs.remove(key)?;
            recent.bytes -= blob.len();
            Some(blob)
        }
    }
}

/// One entry of a stored map: its key (`None` for a key that is not a string, kept
/// but never shown to a view), then the msgpack bytes of its key and of its value.
struct Entry<'a> {
    key: Option<String>,
    raw_key: Cow<'a, [u8]>,
    raw: Cow<'a, [u8]>,
}

/// Why a blob is not a Flask-Session record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreadable {
    #[error("the record is {0} bytes, over the {MAX_BLOB} read")]
    TooLarge(usize),
    #[error("the record is not a msgpack map: {0}")]
    NotAMap(String),
    #[error("the record has bytes after its msgpack map")]
    Trailing,
}

impl Unreadable {
    pub(crate) fn into_store_error(self, store: &'static str) -> StoreError {
        StoreError::of_kind(store, StoreErrorKind::Unreadable, self)
    }
}

/// Calls `each` with every entry of the map `blob`: its key and value, decoded (each
/// bounded), and their bytes.
fn each_entry<'a>(
    blob: &'a [u8],
    mut each: impl FnMut((Value, &'a [u8]), (Value, &'a [u8])),
) -> Result<(), Unreadable> {
    if blob.len() > MAX_BLOB {
        return Err(Unreadable::TooLarge(blob.len()));
    }
    let mut rest = blob;
    let len =
        rmp::decode::read_map_len(&mut rest).map_err(|e| Unreadable::NotAMap(e.to_string()))?;
    for _ in 0..len {
        let key = next(&mut rest)?;
        let value = next(&mut rest)?;
        each(key, value);
    }
    if !rest.is_empty() {
        return Err(Unreadable::Trailing);
    }
    Ok(())
}

/// The next value of `rest`, and its bytes.
fn next<'a>(rest: &mut &'a [u8]) -> Result<(Value, &'a [u8]), Unreadable> {
    let before = *rest;
    let value = rmpv::decode::read_value_with_max_depth(rest, MAX_DEPTH)
        .map_err(|e| Unreadable::NotAMap(e.to_string()))?;
    Ok((value, &before[..before.len() - rest.len()]))
}

/// Splits `blob` into its entries, with their bytes.
fn entries(blob: &[u8]) -> Result<Vec<Entry<'_>>, Unreadable> {
    let mut entries = Vec::new();
    each_entry(blob, |(key, raw_key), (_, raw)| {
        let key = match key {
            Value::String(s) => s.into_str(),
            _ => None,
        };
        entries.push(Entry {
            key,
            raw_key: Cow::Borrowed(raw_key),
            raw: Cow::Borrowed(raw),
        });
    })?;
    Ok(entries)
}

/// The record's fields: each string key with its value as JSON text.
pub(crate) fn fields(blob: &[u8]) -> Result<Fields, Unreadable> {
    let mut fields = Fields::new();
    each_entry(blob, |(key, _), (value, _)| {
        if let Value::String(key) = key {
            if let Some(key) = key.into_str() {
                fields.insert(key, to_json(value).to_string());
            }
        }
    })?;
    Ok(fields)
}

/// `blob` (none for a new record) with `changes` applied: the map to store, or `None`
/// when no key is left (the record is deleted). Unchanged entries keep their bytes
/// and their place; new keys follow them. A blob that is not a record is
/// [`Unreadable`](StoreErrorKind::Unreadable); a value msgpack cannot hold (a string
/// with a lone surrogate escape, which is not UTF-8), or a record over [`MAX_BLOB`],
/// is [`Refused`](StoreErrorKind::Refused).
pub(crate) fn apply(
    store: &'static str,
    blob: Option<&[u8]>,
    changes: &Changes,
) -> Result<Option<Vec<u8>>, StoreError> {
    let refused = |e: Box<dyn std::error::Error + Send + Sync>| {
        StoreError::of_kind(store, StoreErrorKind::Refused, e)
    };
    let mut entries = match blob {
        Some(blob) => entries(blob).map_err(|e| e.into_store_error(store))?,
        None => Vec::new(),
    };
    entries.retain(|e| {
        let key = e.key.as_deref();
        !changes
            .removed
            .iter()
            .any(|removed| key == Some(removed.as_str()))
    });
    for (key, json) in &changes.set {
        let value = serde_json::from_str(json).map_err(|e| {
            refused(format!("the value of `{key}` cannot be written as msgpack: {e}").into())
        })?;
        let value = from_json(value);
        let mut raw = Vec::with_capacity(json.len());
        rmpv::encode::write_value(&mut raw, &value).expect("writing to a Vec cannot fail");
        match entries
            .iter_mut()
            .find(|e| e.key.as_deref() == Some(key.as_str()))
        {
            Some(entry) => entry.raw = Cow::Owned(raw),
            None => {
                let mut raw_key = Vec::with_capacity(key.len() + 5);
                rmp::encode::write_str(&mut raw_key, key).expect("writing to a Vec cannot fail");
                entries.push(Entry {
                    key: Some(key.clone()),
                    raw_key: Cow::Owned(raw_key),
                    raw: Cow::Owned(raw),
                });
            }
        }
    }
    if entries.iter().all(|e| e.key.is_none()) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(64 + entries.iter().map(|e| e.raw.len() + 16).sum::<usize>());
    let len = u32::try_from(entries.len())
        .map_err(|_| refused(Unreadable::TooLarge(usize::MAX).into()))?;
    rmp::encode::write_map_len(&mut out, len).expect("writing to a Vec cannot fail");
    for entry in &entries {
        out.extend_from_slice(&entry.raw_key);
        out.extend_from_slice(&entry.raw);
    }
    if out.len() > MAX_BLOB {
        return Err(refused(Unreadable::TooLarge(out.len()).into()));
    }
    Ok(Some(out))
}

/// A msgpack value as JSON, tagged where JSON has no such value.
fn to_json(value: Value) -> Json {
    let tagged =
        |tag: &str, value: Json| Json::Object([(tag.to_owned(), value)].into_iter().collect());
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::from(u),
            (None, Some(i)) => Json::from(i),
            (None, None) => Json::Null,
        },
        Value::F32(f) => float(f64::from(f)),
        Value::F64(f) => float(f),
        Value::String(s) => match s.into_str() {
            Some(s) => Json::String(s),
            None => Json::Null,
        },
        Value::Binary(bytes) => tagged(" b", Json::String(STANDARD.encode(bytes))),
        Value::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Value::Map(pairs) => {
            let all_strings = pairs.iter().all(|(k, _)| k.is_str());
            let a_tag = pairs.len() == 1 && pairs[0].0.as_str().is_some_and(is_tag);
            if all_strings && !a_tag {
                let object = pairs.into_iter().map(|(k, v)| {
                    let key = k.as_str().unwrap_or_default().to_owned();
                    (key, to_json(v))
                });
                Json::Object(object.collect())
            } else {
                let pairs = pairs
                    .into_iter()
                    .map(|(k, v)| Json::Array(vec![to_json(k), to_json(v)]));
                tagged(" m", Json::Array(pairs.collect()))
            }
        }
        Value::Ext(kind, bytes) => tagged(
            " e",
            Json::Array(vec![Json::from(kind), Json::String(STANDARD.encode(bytes))]),
        ),
    }
}

fn float(f: f64) -> Json {
    match serde_json::Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None => {
            let name = if f.is_nan() {
                "nan"
            } else if f > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            Json::Object([(" f".to_owned(), Json::from(name))].into_iter().collect())
        }
    }
}

fn is_tag(key: &str) -> bool {
    matches!(key, " b" | " e" | " f" | " m")
}

/// JSON as a msgpack value, tagged objects back to what they stand for.
fn from_json(json: Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::Integer(Integer::from(u)),
            (None, Some(i)) => Value::Integer(Integer::from(i)),
            (None, None) => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::from(s),
        Json::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        Json::Object(object) => {
            if object.len() == 1 {
                if let Some(value) = untag(&object) {
                    return value;
                }
            }
            let pairs = object
                .into_iter()
                .map(|(k, v)| (Value::from(k), from_json(v)));
            Value::Map(pairs.collect())
        }
    }
}

/// The value a one-key tagged object stands for, if it is one.
fn untag(object: &serde_json::Map<String, Json>) -> Option<Value> {
    let (tag, value) = object.iter().next()?;
    match (tag.as_str(), value) {
        (" b", Json::String(b64)) => STANDARD.decode(b64).ok().map(Value::Binary),
        (" e", Json::Array(parts)) => match parts.as_slice() {
            [Json::Number(kind), Json::String(b64)] => {
                let kind = i8::try_from(kind.as_i64()?).ok()?;
                Some(Value::Ext(kind, STANDARD.decode(b64).ok()?))
            }
            _ => None,
        },
        (" f", Json::String(name)) => match name.as_str() {
            "nan" => Some(Value::F64(f64::NAN)),
            "inf" => Some(Value::F64(f64::INFINITY)),
            "-inf" => Some(Value::F64(f64::NEG_INFINITY)),
            _ => None,
        },
        (" m", Json::Array(pairs)) => {
            let pair = |p: &Json| match p {
                Json::Array(kv) if kv.len() == 2 => {
                    Some((from_json(kv[0].clone()), from_json(kv[1].clone())))
                }
                _ => None,
            };
            pairs
                .iter()
                .map(pair)
                .collect::<Option<Vec<_>>>()
                .map(Value::Map)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(set: &[(&str, &str)], removed: &[&str]) -> Changes {
        Changes {
            set: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            removed: removed.iter().map(|k| k.to_string()).collect(),
            ..Changes::default()
        }
    }

    /// A map as Python's msgspec would write `{"_permanent": True, "when": datetime,
    /// "raw": b"\x00\xff", "ratio": 0.5, "big": 2**64-1, "n": {"a": [1]}}`, with a
    /// float32 and a wide uint too, as another encoder might.
    fn python_blob() -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_map_len(&mut out, 8).unwrap();
        rmp::encode::write_str(&mut out, "_permanent").unwrap();
        rmp::encode::write_bool(&mut out, true).unwrap();
        rmp::encode::write_str(&mut out, "when").unwrap();
        rmp::encode::write_ext_meta(&mut out, 8, -1).unwrap();
        out.extend_from_slice(&[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00]);
        rmp::encode::write_str(&mut out, "raw").unwrap();
        rmp::encode::write_bin(&mut out, &[0, 0xff]).unwrap();
        rmp::encode::write_str(&mut out, "ratio").unwrap();
        rmp::encode::write_f64(&mut out, 0.5).unwrap();
        rmp::encode::write_str(&mut out, "big").unwrap();
        rmp::encode::write_u64(&mut out, u64::MAX).unwrap();
        rmp::encode::write_str(&mut out, "wide").unwrap();
        rmp::encode::write_u64(&mut out, 7).unwrap();
        rmp::encode::write_str(&mut out, "f32").unwrap();
        rmp::encode::write_f32(&mut out, 1.5).unwrap();
        rmp::encode::write_str(&mut out, "n").unwrap();
        rmp::encode::write_map_len(&mut out, 1).unwrap();
        rmp::encode::write_str(&mut out, "a").unwrap();
        rmp::encode::write_array_len(&mut out, 1).unwrap();
        rmp::encode::write_uint(&mut out, 1).unwrap();
        out
    }

    #[test]
    fn values_read_as_json_with_python_only_values_tagged() {
        let fields = fields(&python_blob()).unwrap();
        assert_eq!(fields["_permanent"], "true");
        assert_eq!(fields["raw"], r#"{" b":"AP8="}"#);
        assert_eq!(fields["when"], r#"{" e":[-1,"AAAAAGVT8QA="]}"#);
        assert_eq!(fields["big"], u64::MAX.to_string());
        assert_eq!(fields["wide"], "7");
        assert_eq!(fields["f32"], "1.5");
        assert_eq!(fields["n"], r#"{"a":[1]}"#);
    }

    #[test]
    fn unchanged_entries_are_written_back_byte_for_byte() {
        let blob = python_blob();
        let changed = apply("t", Some(&blob), &changes(&[("user", r#""ada""#)], &[]))
            .unwrap()
            .unwrap();
        // The old map's entries, in order, then the new one; only the header grew.
        assert_eq!(changed[0], 0x89, "a fixmap of 9");
        assert_eq!(&changed[1..blob.len()], &blob[1..]);
        let mut tail = Vec::new();
        rmp::encode::write_str(&mut tail, "user").unwrap();
        rmp::encode::write_str(&mut tail, "ada").unwrap();
        assert_eq!(&changed[blob.len()..], &tail[..]);
        // A changed value takes its old place; a removed one goes.
        let again = apply(
            "t",
            Some(&changed),
            &changes(&[("ratio", "2")], &["user", "raw"]),
        )
        .unwrap()
        .unwrap();
        let fields = fields(&again).unwrap();
        assert_eq!(fields["ratio"], "2");
        assert!(!fields.contains_key("raw") && !fields.contains_key("user"));
        assert_eq!(fields["when"], r#"{" e":[-1,"AAAAAGVT8QA="]}"#);
    }

    #[test]
    fn tagged_json_written_by_a_view_becomes_the_python_value_again() {
        let set = [
            ("raw", r#"{" b":"AP8="}"#),
            ("x", r#"{" f":"nan"}"#),
            ("m", r#"{" m":[[1,"one"]]}"#),
        ];
        let blob = apply("t", None, &changes(&set, &[])).unwrap().unwrap();
        let value = rmpv::decode::read_value(&mut &blob[..]).unwrap();
        let map = value.as_map().unwrap();
        assert_eq!(map[0].1, Value::Binary(vec![0, 0xff]));
        assert!(map[1].1.as_f64().unwrap().is_nan());
        assert_eq!(
            map[2].1,
            Value::Map(vec![(Value::from(1), Value::from("one"))])
        );
        assert_eq!(fields(&blob).unwrap()["m"], r#"{" m":[[1,"one"]]}"#);
    }

    #[test]
    fn what_msgpack_cannot_hold_is_refused_not_lost() {
        let lone = apply("t", None, &changes(&[("s", r#""\ud800""#)], &[]));
        assert_eq!(lone.unwrap_err().kind(), StoreErrorKind::Refused);
        let garbage = apply("t", Some(b"{}"), &changes(&[("a", "1")], &[]));
        assert_eq!(garbage.unwrap_err().kind(), StoreErrorKind::Unreadable);
    }

    #[test]
    fn removing_every_key_deletes_the_record() {
        let blob = apply("t", None, &changes(&[("a", "1")], &[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            apply("t", Some(&blob), &changes(&[], &["a"])).unwrap(),
            None
        );
    }

    #[test]
    fn what_is_not_a_bounded_map_is_unreadable() {
        let mut deep = vec![0x81, 0xa1, b'k'];
        deep.extend(std::iter::repeat_n(0x91, 200));
        deep.push(0xc0);
        let too_long_claim = [0xdf, 0xff, 0xff, 0xff, 0xff];
        for bad in [
            &b"{\"a\":1}"[..],
            &[0x91, 0x01],
            &[0x80, 0x00],
            &deep,
            &too_long_claim,
            &[],
        ] {
            assert!(fields(bad).is_err(), "{bad:02x?}");
        }
        assert!(matches!(
            fields(&vec![0x80; MAX_BLOB + 1]),
            Err(Unreadable::TooLarge(_))
        ));
    }
}
