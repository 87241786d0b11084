//! A record's JSON object, indexed in place: the text it arrived as, the position of
//! each key and value in it, and the keys this request set or removed on top.
//!
//! Loading a record is one borrowed scan that allocates nothing per key; a view then
//! decodes its fields straight from the slices, and saving copies every untouched
//! key's text verbatim.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

#[derive(Default)]
pub(crate) struct Entries {
    /// The JSON object as it arrived (empty for a new record).
    text: Box<str>,
    /// Its keys and values, sorted by key, as positions in `text`.
    base: Vec<Indexed>,
    /// Keys set (`Some`) or removed (`None`) since, which take precedence over `base`.
    owned: BTreeMap<String, Option<Box<RawValue>>>,
}

struct Indexed {
    key: Key,
    value: Range<usize>,
}

/// A key of `text`: in place when it has no escapes, else unescaped on its own.
enum Key {
    InText(Range<usize>),
    Owned(Box<str>),
}

impl Entries {
    /// Indexes a JSON object.
    pub(crate) fn parse(text: String) -> Result<Entries, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(&text);
        let mut base = de.deserialize_map(IndexVisitor { text: &text })?;
        de.end()?;
        let key = |i: &Indexed| i.key(&text).to_owned();
        if !base.windows(2).all(|w| w[0].key(&text) < w[1].key(&text)) {
            // Not written by us: sort, and of repeated keys keep the last, as serde does.
            base.sort_by_cached_key(key);
            let mut deduped: Vec<Indexed> = Vec::with_capacity(base.len());
            for entry in base {
                match deduped.last_mut() {
                    Some(last) if last.key(&text) == entry.key(&text) => *last = entry,
                    _ => deduped.push(entry),
                }
            }
            base = deduped;
        }
        Ok(Entries {
            text: text.into_boxed_str(),
            base,
            owned: BTreeMap::new(),
        })
    }

    /// Entries from owned values, e.g. what a server-side store returned.
    pub(crate) fn from_owned(values: impl IntoIterator<Item = (String, Box<RawValue>)>) -> Entries {
        let owned = values.into_iter().map(|(k, v)| (k, Some(v))).collect();
        Entries {
            owned,
            ..Entries::default()
        }
    }

    /// The JSON text of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        match self.owned.get(key) {
            Some(value) => value.as_deref().map(RawValue::get),
            None => self.base_get(key),
        }
    }

    fn base_get(&self, key: &str) -> Option<&str> {
        let text = &*self.text;
        let i = self.base.binary_search_by(|e| e.key(text).cmp(key)).ok()?;
        Some(&text[self.base[i].value.clone()])
    }

    pub(crate) fn insert(&mut self, key: &str, value: Box<RawValue>) {
        self.owned.insert(key.to_owned(), Some(value));
    }

    /// Removes `key`; whether it was there.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let present = self.get(key).is_some();
        if present {
            if self.base_get(key).is_some() {
                self.owned.insert(key.to_owned(), None);
            } else {
                self.owned.remove(key);
            }
        }
        present
    }

    /// Every key with its value's JSON text, sorted by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let text = &*self.text;
        let mut base = self
            .base
            .iter()
            .map(move |e| (e.key(text), &text[e.value.clone()]))
            .peekable();
        let mut owned = self.owned.iter().peekable();
        std::iter::from_fn(move || loop {
            let order = match (base.peek(), owned.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((b, _)), Some((o, _))) => (*b).cmp(o.as_str()),
            };
            match order {
                Ordering::Less => return base.next(),
                Ordering::Equal => drop(base.next()), // replaced or removed
                Ordering::Greater => {}
            }
            let (key, value) = owned.next().expect("peeked");
            if let Some(value) = value {
                return Some((key.as_str(), value.get()));
            }
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The object as JSON: untouched keys and values copied as they arrived.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 64);
        out.push(b'{');
        for (i, (key, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
                // Escaping a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, key);
            } else {
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.push(b'"');
            }
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'}');
        out
    }
}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Indexed {
    fn key<'a>(&'a self, text: &'a str) -> &'a str {
        match &self.key {
            Key::InText(range) => &text[range.clone()],
            Key::Owned(key) => key,
        }
    }
}

/// Where `part`, a slice of `text`, starts and ends in it.
fn range_in(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

struct IndexVisitor<'a> {
    text: &'a str,
}

impl<'de> Visitor<'de> for IndexVisitor<'de> {
    type Value = Vec<Indexed>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Indexed>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key_seed(KeySeed { text: self.text })? {
            let value: &'de RawValue = map.next_value()?;
            entries.push(Indexed {
                key,
                value: range_in(self.text, value.get()),
            });
        }
        Ok(entries)
    }
}

struct KeySeed<'a> {
    text: &'a str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'de> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'de> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key, E> {
        Ok(Key::InText(range_in(self.text, key)))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(Key::Owned(key.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.into()).unwrap()
    }

    #[test]
    fn indexes_in_place_and_writes_back_verbatim() {
        let text = r#"{"a":1,"b":{"x":[1, 2]},"c":"\u00e9"}"#;
        let entries = Entries::parse(text.into()).unwrap();
        assert_eq!(entries.get("b"), Some(r#"{"x":[1, 2]}"#));
        assert_eq!(entries.get("c"), Some(r#""\u00e9""#));
        assert_eq!(entries.get("z"), None);
        assert_eq!(entries.to_json(), text.as_bytes());
    }

    #[test]
    fn escaped_unsorted_and_repeated_keys() {
        let entries = Entries::parse(r#"{"z":1,"q\"uote":2,"a":3,"z":4}"#.into()).unwrap();
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            keys,
            [
                ("a".into(), "3".into()),
                ("q\"uote".into(), "2".into()),
                ("z".into(), "4".into())
            ]
        );
        assert_eq!(entries.to_json(), br#"{"a":3,"q\"uote":2,"z":4}"#);
    }

    #[test]
    fn set_and_removed_keys_take_precedence() {
        let mut entries = Entries::parse(r#"{"a":1,"b":2,"d":4}"#.into()).unwrap();
        entries.insert("b", raw("20"));
        entries.insert("c", raw("3"));
        assert!(entries.remove("d"));
        assert!(!entries.remove("missing"));
        entries.insert("e", raw("5"));
        assert!(entries.remove("e"));
        assert_eq!(entries.to_json(), br#"{"a":1,"b":20,"c":3}"#);
        assert!(entries.remove("a") && entries.remove("b") && entries.remove("c"));
        assert!(entries.is_empty());
        assert_eq!(entries.to_json(), b"{}");
    }

    #[test]
    fn only_objects_are_records() {
        for bad in ["[]", "null", "{", r#"{"a":}"#, r#"{"a":1} x"#, r#"{1:2}"#] {
            assert!(Entries::parse(bad.into()).is_err(), "{bad}");
        }
    }
}
