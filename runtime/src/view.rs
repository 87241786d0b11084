//! Typed views over the record, and the change tracking that writes them back.

mod text;

use serde::{de::DeserializeOwned, Deserializer, Serialize};

pub use self::text::{decode_text, next_field, skip_value, Slots, TextRead};
use crate::error::SaveError;
use crate::record::Record;

/// Seals [`SessionView`]: only `#[derive(Session)]` implements it, so a view's `KEYS`
/// always agree with the fields it reads and encodes.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` implements `SessionView` by hand, which is not supported",
    label = "not derived",
    note = "use `#[derive(Session)]` on `{Self}`: a hand-written view can disagree with its own `KEYS`"
)]
pub trait Sealed {}

/// A type a session field can have: one that serde can write and read back. `Field`
/// is a marker type named after the field, so that the error names it.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` has type `{Self}`, which cannot be stored",
    label = "`{Self}` must implement `Serialize` and `Deserialize`",
    note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`, or mark the field `#[session(skip)]`"
)]
pub trait StoredAs<Field>: Sized {
    /// Decodes the value from its JSON text.
    fn decode(text: &str) -> serde_json::Result<Self>;
    /// Decodes the value from `deserializer`, in the middle of the record's text.
    fn deserialize_from<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
    /// Appends the value's JSON text to `buf`.
    fn encode(&self, buf: &mut Vec<u8>) -> serde_json::Result<()>;
}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned, Field> StoredAs<Field> for T {
    fn decode(text: &str) -> serde_json::Result<T> {
        serde_json::from_str(text)
    }

    fn deserialize_from<'de, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        T::deserialize(deserializer)
    }

    fn encode(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(buf, self)
    }
}

/// A stored field of a view: the marker type `#[derive(Session)]` names after the
/// field, with the field's type. The bound on `Value` is where a type that cannot be
/// stored is reported: once, at the field.
#[doc(hidden)]
pub trait StoredField: Sized {
    /// The field's type.
    type Value: StoredAs<Self>;
}

/// The struct's `Default`, which a view falls back on for its fields without a
/// `default` option. `Field` names the first such field, for the error.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "field `{Field}` has no value in a new session",
    label = "`{Field}` needs a value when the session does not hold it",
    note = "add `#[session(default)]` to the field, or derive `Default` for `{Self}`"
)]
pub trait DefaultFor<Field> {
    /// The struct's default value.
    fn struct_default() -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Default, Field> DefaultFor<Field> for T {
    fn struct_default() -> T {
        T::default()
    }
}

/// `T::default()`, asked for on behalf of the field `Field`.
#[doc(hidden)]
pub fn struct_default<Field, T: DefaultFor<Field>>() -> T {
    T::struct_default()
}

/// A typed view over some keys of the session record: implemented by
/// `#[derive(Session)]`, and sealed: it cannot be implemented by hand.
///
/// Each stored field is one key. A view is loaded from the record when a
/// [`Session`](struct@crate::Session) guard is created, and written back when the guard is
/// dropped: every field is re-encoded and compared with what was loaded, and only the
/// keys that really changed are marked modified.
///
/// Changes to the first 64 stored fields are compared with the text the record was
/// loaded with; a view with more fields works the same, but each field past the 64th
/// is encoded once more at its first mutable access, to compare with on write-back.
///
/// A user meets it as a bound: code that works with any view.
///
/// ```rust
/// use rocket::post;
/// use rocket_keepsake::{Session, SessionView};
///
/// /// Ends the session whichever view the route took it through.
/// fn end<T: SessionView>(session: &mut Session<'_, T>) {
///     session.clear();
/// }
///
/// #[derive(Session, Default)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// #[post("/logout")]
/// fn logout(mut auth: Session<'_, Auth>) -> &'static str {
///     end(&mut auth);
///     "bye"
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session view",
    label = "not a session view",
    note = "add `#[derive(Session)]` to `{Self}`"
)]
pub trait SessionView: Sealed + Send + Sized + 'static {
    /// The record keys of the stored fields, in field order.
    #[doc(hidden)]
    const KEYS: &'static [&'static str];

    /// The keys of the `#[session(rotate)]` fields: a change of one re-issues the id.
    #[doc(hidden)]
    const ROTATE: &'static [&'static str] = &[];

    /// The key of the `#[session(index)]` field, if the view has one.
    #[doc(hidden)]
    const INDEX: Option<&'static str> = None;

    /// Builds the view, calling [`FieldReader::field`] once per key, in order.
    #[doc(hidden)]
    fn load(reader: &mut FieldReader<'_>) -> Self;

    /// Builds the view straight from the record's JSON object `text`, in one pass
    /// (with [`decode_text`]), with what the pass found; `None` when any part of the
    /// text does not decode, and [`SessionView::load`] must.
    #[doc(hidden)]
    fn load_text(text: &str) -> Option<(Self, TextRead)> {
        let _ = text;
        None
    }

    /// Encodes each stored field, calling [`FieldEncoder::field`] once per key, in order.
    #[doc(hidden)]
    fn encode(&self, encoder: &mut FieldEncoder<'_>);
}

/// A view with an `#[session(index)]` field: [`SessionAdmin::revoke_all`] can end every
/// session whose field holds a given value. Implemented by `#[derive(Session)]`.
///
/// [`SessionAdmin::revoke_all`]: crate::SessionAdmin::revoke_all
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[session(index)]` field",
    label = "sessions cannot be found by a value of `{Self}`",
    note = "mark the field that identifies the user (say `user_id`) with `#[session(index)]`"
)]
pub trait IndexedView: SessionView {
    /// The record key of the index field.
    const INDEX_KEY: &'static str;
}

/// A set of a view's fields, by their position in [`SessionView::KEYS`]. Only the
/// first 64 can be members: a field past them is never taken as loaded from the text,
/// and is compared with its own baseline instead (slower, never wrong).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct FieldSet(pub(crate) u64);

impl FieldSet {
    pub(crate) fn insert(&mut self, field: usize) {
        if field < 64 {
            self.0 |= 1 << field;
        }
    }

    pub(crate) fn contains(self, field: usize) -> bool {
        field < 64 && self.0 & (1 << field) != 0
    }

    pub(crate) fn remove_all(&mut self, other: FieldSet) {
        self.0 &= !other.0;
    }
}

/// Hands a view's `load` the decoded value of each of its keys.
#[doc(hidden)]
pub struct FieldReader<'a> {
    record: &'a mut Record,
    /// Which fields decoded from the text the record was loaded with.
    loaded: FieldSet,
    index: usize,
}

impl FieldReader<'_> {
    /// The value of `key`, or `None` when it is absent or does not decode as the
    /// field's type (the field then takes its default).
    pub fn field<F: StoredField>(&mut self, key: &'static str) -> Option<F::Value> {
        let index = self.index;
        self.index += 1;
        let (raw, loaded) = self.record.get_loaded(key)?;
        match F::Value::decode(raw) {
            Ok(value) => {
                if loaded {
                    self.loaded.insert(index);
                }
                Some(value)
            }
            Err(e) => {
                log::debug!(target: "rocket_keepsake", "session key `{key}` does not decode ({e}); using the default");
                None
            }
        }
    }
}

/// Called with each field's index and its encoding (or why it has none).
type Sink<'a> = dyn FnMut(usize, Result<&[u8], serde_json::Error>) + 'a;

/// Receives a view's fields, encoded, one after the other.
#[doc(hidden)]
pub struct FieldEncoder<'a> {
    index: usize,
    /// Fields not to encode.
    skip: FieldSet,
    buf: Vec<u8>,
    sink: &'a mut Sink<'a>,
}

impl<'a> FieldEncoder<'a> {
    fn new(skip: FieldSet, sink: &'a mut Sink<'a>) -> FieldEncoder<'a> {
        FieldEncoder {
            index: 0,
            skip,
            buf: Vec::with_capacity(64),
            sink,
        }
    }
}

impl FieldEncoder<'_> {
    /// Encodes the next field.
    pub fn field<F: StoredField>(&mut self, value: &F::Value) {
        let index = self.index;
        self.index += 1;
        if self.skip.contains(index) {
            return;
        }
        self.buf.clear();
        let result = value.encode(&mut self.buf).map(|()| &self.buf[..]);
        (self.sink)(index, result);
    }
}

/// Each stored field of `view` with its encoding, in field order: what seeding a
/// session with the view writes.
#[cfg(feature = "testing")]
pub(crate) fn encode_fields<T: SessionView>(
    view: &T,
) -> Result<Vec<(&'static str, Box<str>)>, SaveError> {
    let mut fields = Vec::with_capacity(T::KEYS.len());
    let mut failure = None;
    let mut sink = |i: usize, encoded: Result<&[u8], serde_json::Error>| {
        let Some(&key) = T::KEYS.get(i) else {
            return;
        };
        match encoded {
            Ok(bytes) => fields.push((key, String::from_utf8_lossy(bytes).into())),
            Err(source) => {
                failure.get_or_insert(SaveError::Unserializable { key, source });
            }
        }
    };
    view.encode(&mut FieldEncoder::new(FieldSet::default(), &mut sink));
    match failure {
        Some(failure) => Err(failure),
        None => Ok(fields),
    }
}

/// A loaded view, and what its fields were before the handler could change them.
pub(crate) struct Tracked<T> {
    value: T,
    /// Fields decoded from the text the record was loaded with: write-back compares
    /// them with that text, which the record keeps unchanged.
    loaded: FieldSet,
    /// The other fields' encodings, taken at the first mutable access (a view that is
    /// only read cannot have changed, and costs nothing to write back).
    baseline: Option<Vec<Option<Box<str>>>>,
}

impl<T: SessionView> Tracked<T> {
    pub(crate) fn load(record: &mut Record) -> Tracked<T> {
        if let Some((value, read)) = record.pristine_json().and_then(T::load_text) {
            // Every key read came from the loaded text, and serde_json read all of it.
            let loaded = read.fields;
            record.checked(read.keys);
            return Tracked {
                value,
                loaded,
                baseline: None,
            };
        }
        let mut reader = FieldReader {
            record,
            loaded: FieldSet::default(),
            index: 0,
        };
        let value = T::load(&mut reader);
        Tracked {
            value,
            loaded: reader.loaded,
            baseline: None,
        }
    }

    pub(crate) fn get(&self) -> &T {
        &self.value
    }

    #[cfg(any(feature = "testing", feature = "bench-internals"))]
    pub(crate) fn into_value(self) -> T {
        self.value
    }

    /// The view, to change. Fields that did not come from the loaded text (absent,
    /// undecodable) are encoded first, so that write-back can tell exactly which
    /// changed: `x = x` is no change, a nested push is one.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        if self.baseline.is_none() {
            let mut baseline = vec![None; T::KEYS.len()];
            let mut sink = |i: usize, encoded: Result<&[u8], serde_json::Error>| {
                if let Some(slot) = baseline.get_mut(i) {
                    // An encoding failure leaves no baseline: write-back reports it.
                    *slot = encoded
                        .ok()
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .map(Box::from);
                }
            };
            self.value
                .encode(&mut FieldEncoder::new(self.loaded, &mut sink));
            self.baseline = Some(baseline);
        }
        &mut self.value
    }

    /// Whether the view was borrowed mutably: only then can it have changed.
    pub(crate) fn borrowed_mut(&self) -> bool {
        self.baseline.is_some()
    }

    /// Writes the fields that changed since the first mutable access into `record`.
    pub(crate) fn write_back(&mut self, record: &mut Record) {
        let Some(baseline) = &mut self.baseline else {
            return;
        };
        let loaded = self.loaded;
        let mut failure = None;
        let mut rewritten = FieldSet::default();
        let mut rotate = false;
        let mut sink = |i: usize, encoded: Result<&[u8], serde_json::Error>| {
            // The derive encodes exactly one field per key; nothing else implements views.
            let (Some(&key), Some(before)) = (T::KEYS.get(i), baseline.get_mut(i)) else {
                return;
            };
            let bytes = match encoded {
                Ok(bytes) => bytes,
                Err(source) => {
                    failure.get_or_insert(SaveError::Unserializable { key, source });
                    return;
                }
            };
            let unchanged = if loaded.contains(i) {
                record
                    .loaded(key)
                    .is_some_and(|text| same_json(text, bytes))
            } else {
                before
                    .as_deref()
                    .is_some_and(|text| text.as_bytes() == bytes)
            };
            if !unchanged {
                // serde_json writes UTF-8.
                let text: Box<str> = String::from_utf8_lossy(bytes).into();
                *before = Some(text.clone());
                rewritten.insert(i);
                rotate |= T::ROTATE.contains(&key);
                record.set(key, text);
            }
        };
        self.value
            .encode(&mut FieldEncoder::new(FieldSet::default(), &mut sink));
        if let Some(failure) = failure {
            record.fail(failure);
        }
        if rotate {
            record.renew();
        }
        // A field written back compares with what it wrote from now on.
        self.loaded.remove_all(rewritten);
    }
}

/// Whether `bytes` (our encoding of a field) means the same JSON as `text` (what was
/// loaded): the same text, or, where the texts differ (another writer's number format,
/// a `HashMap`'s order), the same value.
fn same_json(text: &str, bytes: &[u8]) -> bool {
    text.as_bytes() == bytes || {
        let parse = |t: &[u8]| serde_json::from_slice::<serde_json::Value>(t).ok();
        parse(text.as_bytes()).is_some_and(|a| parse(bytes) == Some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view as users write it: the derive's own code is what these tests run.
    #[derive(crate::Session, Default)]
    struct View {
        n: u32,
        list: Vec<String>,
    }

    /// The view and its loaded fields, by the field-by-field load.
    fn load_by_field(record: &mut Record) -> (u32, Vec<String>, FieldSet) {
        let mut reader = FieldReader {
            record,
            loaded: FieldSet::default(),
            index: 0,
        };
        let view = View::load(&mut reader);
        (view.n, view.list, reader.loaded)
    }

    #[test]
    fn a_read_decodes_straight_from_the_text_and_scans_nothing() {
        let text = br#"{"_x":[1,{"a":"}"}],"list":["a"],"n":3}"#;
        let mut rec = Record::from_cookie_json(text.to_vec(), 0, false).unwrap();
        assert!(!rec.is_permanent() && rec.lifetime().is_none());
        assert_eq!(rec.indexed(), None, "what a load asks needs no index");
        let view = Tracked::<View>::load(&mut rec);
        assert_eq!(
            (view.get().n, &view.get().list[..]),
            (3, &["a".to_owned()][..])
        );
        assert_eq!(view.loaded, FieldSet(0b11));
        assert!(!rec.is_empty() && !rec.is_permanent());
        assert_eq!(rec.indexed(), None, "nor a read, nor what a response asks");
        assert_eq!(rec.get("_x"), Some(r#"[1,{"a":"}"}]"#));
        assert_eq!(
            rec.indexed(),
            Some(false),
            "indexed by the keys the pass placed"
        );
        // A key that is there is found through the places the pass noted.
        let text = br#"{"_permanent":true,"n":1}"#;
        let mut rec = Record::from_cookie_json(text.to_vec(), 0, false).unwrap();
        assert_eq!(Tracked::<View>::load(&mut rec).get().n, 1);
        assert!(rec.is_permanent());
        assert_eq!(rec.indexed(), Some(false));
        // An escaped key: the pass cannot say where it is, and a lookup scans.
        let text = br#"{"\u005fx":1,"n":3}"#;
        let mut rec = Record::from_cookie_json(text.to_vec(), 0, false).unwrap();
        assert_eq!(Tracked::<View>::load(&mut rec).get().n, 3);
        assert_eq!(rec.indexed(), None);
        assert_eq!(rec.get("_x"), Some("1"));
        assert_eq!(rec.indexed(), Some(true));
    }

    #[test]
    fn the_pass_places_the_values_between_the_keys_it_read() {
        let text = " { \"n\" : 3 ,\n \"_x\":[1, \"a,}\"] , \"list\":[] } ";
        let mut rec = Record::from_cookie_json(text.as_bytes().to_vec(), 0, false).unwrap();
        let view = Tracked::<View>::load(&mut rec);
        assert_eq!(view.get().n, 3);
        assert_eq!(rec.loaded("_x"), Some(r#"[1, "a,}"]"#));
        assert_eq!(rec.indexed(), Some(false), "indexed without a scan");
        assert_eq!(rec.loaded("list"), Some("[]"));
        assert_eq!(rec.encode_json(), br#"{"_x":[1, "a,}"],"list":[],"n":3}"#);
    }

    #[test]
    fn a_key_that_does_not_decode_sends_the_load_field_by_field() {
        let mut rec =
            Record::from_cookie_json(br#"{"list":["a"],"n":"three"}"#.to_vec(), 0, false).unwrap();
        assert!(View::load_text(rec.pristine_json().unwrap()).is_none());
        let view = Tracked::<View>::load(&mut rec);
        assert_eq!(
            (view.get().n, &view.get().list[..]),
            (0, &["a".to_owned()][..])
        );
        assert_eq!(
            view.loaded,
            FieldSet(0b10),
            "only `list` came from the text"
        );
    }

    #[test]
    fn text_that_is_not_an_object_reads_as_an_empty_record() {
        for bad in [&b"[]"[..], b"{\"n\":1", b"{\"n\":1} x", b"null"] {
            let mut rec = Record::from_cookie_json(bad.to_vec(), 0, false).unwrap();
            let view = Tracked::<View>::load(&mut rec);
            assert_eq!((view.get().n, view.loaded), (0, FieldSet(0)));
            assert!(rec.is_empty() && rec.encode_json() == b"{}");
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<u32>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z\"\\\\]{0,4}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            proptest::collection::vec(inner, 0..3).prop_map(serde_json::Value::from)
        })
    }

    proptest::proptest! {
        /// Whatever the text holds (repeated keys, escaped keys, values of the wrong
        /// type), the view decoded from it is the one the field-by-field load gives.
        #[test]
        fn the_text_path_gives_the_field_by_field_view(
            entries in proptest::collection::vec(
                (proptest::sample::select(&["n", "list", "other", "\\u006e", "l\\u0069st"][..]), json_value()),
                0..5,
            ),
            space in proptest::sample::select(&["", " ", "\n  "][..]),
        ) {
            let body: Vec<String> = entries
                .iter()
                .map(|(key, value)| format!(r#"{space}"{key}"{space}:{space}{value}{space}"#))
                .collect();
            let text = format!("{space}{{{}}}{space}", body.join(","));
            let by_field = load_by_field(&mut record(&text));
            if let Some((view, read)) = View::load_text(&text) {
                proptest::prop_assert_eq!((view.n, view.list, read.fields), by_field.clone(), "{}", text);
            }
            let mut rec = Record::from_cookie_json(text.clone().into_bytes(), 0, false).unwrap();
            let tracked = Tracked::<View>::load(&mut rec);
            let loaded = (tracked.get().n, tracked.get().list.clone(), tracked.loaded);
            proptest::prop_assert_eq!(loaded, by_field, "{}", text);
            // However it was indexed (by the keys the pass placed, or by a scan), the
            // record holds what a scan of the text finds.
            let mut scanned = record(&text);
            for key in ["n", "list", "other"] {
                proptest::prop_assert_eq!(rec.loaded(key), scanned.loaded(key), "{} in {}", key, text);
            }
            proptest::prop_assert_eq!(rec.encode_json(), scanned.encode_json());
        }
    }

    fn record(json: &str) -> Record {
        Record::from_json(json.as_bytes(), 0, false).unwrap()
    }

    #[test]
    fn a_view_only_read_writes_nothing() {
        let mut rec = record(r#"{"n":1.0,"list":["a"]}"#);
        let mut view = Tracked::<View>::load(&mut rec);
        assert_eq!(view.get().list, ["a"]);
        view.write_back(&mut rec);
        assert!(!rec.is_modified());
    }

    #[test]
    fn assigning_the_same_value_is_no_change_and_a_push_is_one() {
        let mut rec = record(r#"{"n":1,"list":["a"]}"#);
        let mut view = Tracked::<View>::load(&mut rec);
        view.get_mut().n = 1;
        view.write_back(&mut rec);
        assert!(!rec.is_modified());
        view.get_mut().list.push("b".into());
        view.write_back(&mut rec);
        assert_eq!(rec.encode_json(), br#"{"list":["a","b"],"n":1}"#);
        assert_eq!(
            rec.changes().set,
            [("list".to_owned(), r#"["a","b"]"#.to_owned())]
        );
    }

    #[test]
    fn undecodable_and_absent_keys_stay_as_they_are_unless_changed() {
        let mut rec = record(r#"{"n":"not a number"}"#);
        let mut view = Tracked::<View>::load(&mut rec);
        assert_eq!(view.get().n, 0);
        view.get_mut();
        view.write_back(&mut rec);
        assert_eq!(
            rec.encode_json(),
            br#"{"n":"not a number"}"#,
            "untouched, and no `list` key made"
        );
        view.get_mut().n = 5;
        view.write_back(&mut rec);
        assert_eq!(rec.encode_json(), br#"{"n":5}"#);
    }

    /// A view over one `HashMap` and one float, for the semantic comparison.
    #[derive(crate::Session, Default)]
    struct Loose {
        map: std::collections::HashMap<String, u32>,
        ratio: f64,
    }

    #[test]
    fn another_writers_form_of_the_same_value_is_no_change() {
        let keys: String = (0..16).map(|i| format!(r#""k{i}":{i},"#)).collect();
        let json = format!(
            r#"{{"map":{{{}}},"ratio":25e-1}}"#,
            keys.trim_end_matches(',')
        );
        let mut rec = record(&json);
        let mut view = Tracked::<Loose>::load(&mut rec);
        let v = view.get_mut();
        v.ratio = 2.5; // serde_json writes `2.5`, the record holds `25e-1`
        v.map.insert("k3".into(), 3); // same content, any iteration order
        view.write_back(&mut rec);
        assert!(!rec.is_modified(), "{:?}", rec.changes());
        view.get_mut().map.insert("k3".into(), 4);
        view.write_back(&mut rec);
        assert_eq!(rec.changes().set.len(), 1);
    }

    #[test]
    fn an_unchanged_view_does_not_undo_another_views_change() {
        let mut rec = record(r#"{"n":1,"list":[]}"#);
        let mut first = Tracked::<View>::load(&mut rec);
        let mut second = Tracked::<View>::load(&mut rec);
        first.get_mut().n = 2;
        first.write_back(&mut rec);
        second.get_mut().list.push("x".into());
        second.write_back(&mut rec);
        assert_eq!(rec.encode_json(), br#"{"list":["x"],"n":2}"#);
    }

    #[test]
    fn a_view_borrowed_but_unchanged_does_not_undo_a_clear() {
        let mut rec = record(r#"{"n":1,"list":["a"]}"#);
        let mut other = Tracked::<View>::load(&mut rec);
        other.get_mut(); // e.g. `mut cart: Session<Cart>` that ends up unchanged
        rec.clear(); // e.g. `auth.clear()` on logout
        other.write_back(&mut rec);
        assert!(rec.is_empty(), "{:?}", rec.encode_json());
    }
}
