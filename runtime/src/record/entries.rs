//! A record's JSON object, indexed in place: the text it arrived as, the position of
//! each key and value in it, and the keys this request set or removed on top.
//!
//! Splitting a record is one scan that finds where each top-level key and value
//! starts and ends, allocating nothing per key; a view then decodes its fields straight
//! from the slices (which is where values are validated), and saving copies every
//! untouched key's text verbatim. The scan only has to split the object: the text it
//! is given has been verified as signed by us (or came from our store).
//!
//! A record that arrives as text (a cookie's, or a store's that keeps the object) is
//! indexed at its first lookup, not when it arrives: a request that only reads has its
//! views decoded straight from the text ([`Entries::pristine`]), and asks nothing else
//! of the record that the text cannot answer without an index (is it empty, does it
//! hold `_permanent`). The decoding pass notes where the keys are, so that a change,
//! which needs the index, builds it from those places instead of scanning again.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use super::scan::{
    index, index_between, lacks, same_tag_cmp, tag, Indexed, Key, KeyPlaces, SplitError,
};
use crate::json;

pub(crate) struct Entries {
    /// The JSON object as it arrived (empty for a new record).
    text: String,
    /// What is known of `text`'s keys and values.
    index: Index,
    /// Keys set (`Some`, valid JSON text) or removed (`None`) since, which take
    /// precedence over the index. `text` and the index describe what was loaded.
    owned: BTreeMap<String, Option<Box<str>>>,
}

/// What is known of a record text's keys and values; it only grows, at the lookups
/// that need more: `Unread` → `Checked` (a view decoded the text) → `Built`.
enum Index {
    /// Nothing yet: the text may not even be an object.
    Unread,
    /// serde_json read all of the text as an object, and noted where its keys start
    /// when it could: the values lie between them, so building needs no scan.
    Checked(Option<KeyPlaces>),
    /// Every key and value, sorted by key, as positions in the text.
    Built {
        base: Vec<Indexed>,
        /// Found by a scan (rather than from the noted places).
        #[cfg(test)]
        scanned: bool,
    },
}

impl Index {
    fn built(base: Vec<Indexed>) -> Index {
        Index::Built {
            base,
            #[cfg(test)]
            scanned: false,
        }
    }
}

impl Default for Entries {
    fn default() -> Entries {
        Entries {
            text: String::new(),
            index: Index::built(Vec::new()),
            owned: BTreeMap::new(),
        }
    }
}

impl Entries {
    /// Indexes a JSON object.
    pub(crate) fn parse(text: String) -> Result<Entries, SplitError> {
        let base = index(&text)?;
        Ok(Entries {
            text,
            index: Index::built(base),
            owned: BTreeMap::new(),
        })
    }

    /// A JSON object, to be indexed at its first lookup. Text that turns out not to
    /// be an object (which only a holder of the signing key can send) then reads as
    /// an empty object, with a warning.
    pub(crate) fn unsplit(text: String) -> Entries {
        Entries {
            text,
            index: Index::Unread,
            owned: BTreeMap::new(),
        }
    }

    /// The text, while it is all there is: nothing was set or removed since it
    /// arrived. A view can decode straight from it.
    pub(crate) fn pristine(&self) -> Option<&str> {
        (self.owned.is_empty() && !self.text.is_empty()).then_some(&*self.text)
    }

    /// Whether the text was indexed, and how: `Some(true)` by a scan.
    #[cfg(test)]
    pub(crate) fn indexed(&self) -> Option<bool> {
        match self.index {
            Index::Built { scanned, .. } => Some(scanned),
            _ => None,
        }
    }

    /// Notes that serde_json read all of the text as a JSON object, and where its
    /// keys are (without their quotes, in order), if it knows: the values lie between
    /// them, so the text is indexed without a scan.
    pub(crate) fn checked(&mut self, keys: Option<KeyPlaces>) {
        if matches!(self.index, Index::Unread) {
            self.index = Index::Checked(keys);
        }
    }

    /// Indexes the text's keys and values, if that was not done yet.
    fn build(&mut self) {
        let placed = match &self.index {
            Index::Built { .. } => return,
            Index::Checked(placed) => *placed,
            Index::Unread => None,
        };
        if let Some(base) = placed.and_then(|keys| index_between(&self.text, keys)) {
            self.index = Index::built(base);
            return;
        }
        let base = index(&self.text).unwrap_or_else(|e| {
            log::warn!(target: "rocket_keepsake", "the session record is {e}; reading it as empty");
            Vec::new()
        });
        self.index = Index::Built {
            base,
            #[cfg(test)]
            scanned: true,
        };
    }

    /// The keys and values of the text, once [`build`](Entries::build) has run.
    fn base(&self) -> &[Indexed] {
        match &self.index {
            Index::Built { base, .. } => base,
            Index::Unread | Index::Checked(_) => &[],
        }
    }

    /// Entries from what a server-side store returned (distinct keys, each with its
    /// value's JSON text): written out as one object, and indexed as they are written
    /// rather than scanned again. Values are not checked here: as with a cookie's, each
    /// is validated by the view that decodes it (one that does not decode reads as the
    /// field's default), and an untouched value is never written back.
    pub(crate) fn from_fields(fields: impl IntoIterator<Item = (String, String)>) -> Entries {
        let mut fields: Vec<(String, String)> = fields.into_iter().collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let len: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut text = String::with_capacity(len + 2);
        let mut base = Vec::with_capacity(fields.len());
        text.push('{');
        for (i, (key, value)) in fields.into_iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let tag = tag(key.as_bytes());
            let key = match json::push_key(&mut text, &key) {
                Some(in_text) => Key::InText(in_text),
                None => Key::Owned(key.into_boxed_str()),
            };
            text.push(':');
            let start = text.len();
            text.push_str(&value);
            base.push(Indexed {
                key,
                tag,
                value: start..text.len(),
            });
        }
        text.push('}');
        Entries {
            text,
            index: Index::built(base),
            owned: BTreeMap::new(),
        }
    }

    /// The JSON text of `key`'s value.
    pub(crate) fn get(&mut self, key: &str) -> Option<&str> {
        self.get_loaded(key).map(|(value, _)| value)
    }

    /// The JSON text of `key`'s value, and whether it is the text it was loaded with.
    pub(crate) fn get_loaded(&mut self, key: &str) -> Option<(&str, bool)> {
        if self.owned.contains_key(key) {
            return self.owned[key].as_deref().map(|value| (value, false));
        }
        self.loaded(key).map(|value| (value, true))
    }

    /// The JSON text `key`'s value had when loaded, whatever was set since.
    pub(crate) fn loaded(&mut self, key: &str) -> Option<&str> {
        let (bytes, key) = (self.text.as_bytes(), key.as_bytes());
        // Answered without an index when the key is certainly not there.
        let absent = match &self.index {
            Index::Built { .. } => false,
            Index::Checked(Some(placed)) => !placed.holds(bytes, key),
            Index::Checked(None) | Index::Unread => lacks(bytes, key),
        };
        if absent {
            return None;
        }
        self.build();
        let (base, bytes) = (self.base(), self.text.as_bytes());
        let key_tag = tag(key);
        let i = base
            .binary_search_by(|e| {
                e.tag
                    .cmp(&key_tag)
                    .then_with(|| same_tag_cmp(e.key_bytes(bytes), key))
            })
            .ok()?;
        self.text.get(base[i].value.clone())
    }

    /// Sets `key` to `value`, which must be valid JSON text.
    pub(crate) fn insert(&mut self, key: &str, value: Box<str>) {
        self.owned.insert(key.to_owned(), Some(value));
    }

    /// Removes `key`; whether it was there.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let present = self.get(key).is_some();
        if present {
            if self.loaded(key).is_some() {
                self.owned.insert(key.to_owned(), None);
            } else {
                self.owned.remove(key);
            }
        }
        present
    }

    /// Every key with its value's JSON text, sorted by key.
    pub(crate) fn iter(&mut self) -> impl Iterator<Item = (&str, &str)> {
        self.build();
        self.iter_built()
    }

    /// [`iter`](Entries::iter), once [`build`](Entries::build) has run.
    fn iter_built(&self) -> impl Iterator<Item = (&str, &str)> {
        let text = &*self.text;
        let mut base = self
            .base()
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
            let (key, value) = owned.next()?;
            if let Some(value) = value {
                return Some((key.as_str(), &**value));
            }
        })
    }

    pub(crate) fn is_empty(&mut self) -> bool {
        if matches!(self.index, Index::Checked(_)) && self.owned.is_empty() {
            // An object, as serde_json read it: empty when `}` follows `{`.
            let inside = self.text.trim_start().strip_prefix('{');
            return inside.is_some_and(|rest| rest.trim_start().starts_with('}'));
        }
        self.iter().next().is_none()
    }

    /// The object as JSON: untouched keys and values copied as they arrived.
    pub(crate) fn encode_json(&mut self) -> Vec<u8> {
        self.build();
        let mut out = String::with_capacity(self.text.len() + 64);
        json::write_object(&mut out, self.iter_built());
        out.into_bytes()
    }
}

/// The text as loaded, and the keys set or removed since.
impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries")
            .field("text", &self.text)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<str> {
        text.into()
    }

    #[test]
    fn a_stores_fields_are_indexed_as_written() {
        let fields = [
            ("zeta", "1"),
            ("q\"uote", "\"x\""),
            ("a", r#"{"n":[1,2]}"#),
            ("long-key-past-eight-bytes", "null"),
            ("long-key-past-eight", "true"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let mut entries = Entries::from_fields(fields);
        let expected = r#"{"a":{"n":[1,2]},"long-key-past-eight":true,"long-key-past-eight-bytes":null,"q\"uote":"x","zeta":1}"#;
        assert_eq!(entries.encode_json(), expected.as_bytes());
        // The same lookups as the scan of the same text gives.
        let mut parsed = Entries::parse(expected.to_owned()).unwrap();
        for key in [
            "a",
            "zeta",
            "q\"uote",
            "long-key-past-eight",
            "long-key-past-eight-bytes",
            "b",
        ] {
            assert_eq!(entries.get(key), parsed.get(key), "{key}");
            assert_eq!(entries.loaded(key), parsed.loaded(key), "{key}");
        }
        entries.insert("b", raw("2"));
        assert!(entries.remove("zeta"));
        assert_eq!(
            entries.encode_json(),
            br#"{"a":{"n":[1,2]},"b":2,"long-key-past-eight":true,"long-key-past-eight-bytes":null,"q\"uote":"x"}"#
        );
        assert_eq!(Entries::from_fields([]).encode_json(), b"{}");
    }

    #[test]
    fn keys_that_differ_only_past_their_tag_or_by_trailing_nuls() {
        let text = r#"{"a":1,"a\u0000":2,"a\u0000b":3,"abcdefgh":4,"abcdefghi":5}"#;
        let mut entries = Entries::parse(text.into()).unwrap();
        for (key, value) in [
            ("a", "1"),
            ("a\0", "2"),
            ("a\0b", "3"),
            ("abcdefgh", "4"),
            ("abcdefghi", "5"),
        ] {
            assert_eq!(entries.get(key), Some(value), "{key:?}");
        }
        assert_eq!(entries.get("a\0\0"), None);
        assert_eq!(entries.get("abcdefghij"), None);
    }

    #[test]
    fn indexes_in_place_and_writes_back_verbatim() {
        let text = r#"{"a":1,"b":{"x":[1, 2]},"c":"\u00e9"}"#;
        let mut entries = Entries::parse(text.into()).unwrap();
        assert_eq!(entries.get("b"), Some(r#"{"x":[1, 2]}"#));
        assert_eq!(entries.get("c"), Some(r#""\u00e9""#));
        assert_eq!(entries.get("z"), None);
        assert_eq!(entries.encode_json(), text.as_bytes());
    }

    #[test]
    fn escaped_unsorted_and_repeated_keys() {
        let mut entries = Entries::parse(r#"{"z":1,"q\"uote":2,"a":3,"z":4}"#.into()).unwrap();
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
        assert_eq!(entries.encode_json(), br#"{"a":3,"q\"uote":2,"z":4}"#);
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
        assert_eq!(entries.encode_json(), br#"{"a":1,"b":20,"c":3}"#);
        assert!(entries.remove("a") && entries.remove("b") && entries.remove("c"));
        assert!(entries.is_empty());
        assert_eq!(entries.encode_json(), b"{}");
    }

    #[test]
    fn only_objects_are_records() {
        for bad in [
            "",
            "[]",
            "null",
            "{",
            r#"{"a":}"#,
            r#"{"a":1} x"#,
            r#"{1:2}"#,
            r#"{"a":"x}"#,
            r#"{"a":[1}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
        ] {
            assert!(Entries::parse(bad.into()).is_err(), "{bad}");
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn splits_every_object_as_serde_json_reads_it(
            map in proptest::collection::btree_map(".{0,8}", json_value(), 0..6),
            pretty in proptest::bool::ANY,
        ) {
            let object = serde_json::Value::Object(map.clone().into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) }.unwrap();
            let mut entries = Entries::parse(text).unwrap();
            let split: Vec<(String, serde_json::Value)> = entries
                .iter()
                .map(|(k, v)| (k.to_owned(), serde_json::from_str(v).unwrap()))
                .collect();
            // Through the same parser on both sides: serde_json's float parsing is not exact.
            let reparse = |v: &serde_json::Value| serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap();
            let expected: Vec<(String, serde_json::Value)> = map.iter().map(|(k, v)| (k.clone(), reparse(v))).collect();
            proptest::prop_assert_eq!(split, expected);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,64}", bytes in proptest::collection::vec(proptest::sample::select(&b"{}[]\":,\\ a1"[..]), 0..48)) {
            let _ = Entries::parse(text);
            let _ = Entries::parse(String::from_utf8(bytes).unwrap());
        }
    }
}
