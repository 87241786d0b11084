//! Typed views over the record, and the change tracking that writes them back.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::value::RawValue;

use crate::record::Record;

/// A typed view over some keys of the session record: implemented by
/// `#[derive(Session)]`, and not meant to be implemented by hand.
///
/// Each stored field is one key. A view is loaded from the record when a
/// [`Session`](struct@crate::Session) guard is created, and written back when the guard is
/// dropped: every field is re-encoded and compared with what was loaded, and only the
/// keys that really changed are marked modified.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session view",
    label = "not a session view",
    note = "add `#[derive(Session)]` to `{Self}`"
)]
pub trait SessionView: Send + Sized + 'static {
    /// The record keys of the stored fields, in field order.
    #[doc(hidden)]
    const KEYS: &'static [&'static str];

    /// Builds the view, calling [`FieldReader::field`] once per key, in order.
    #[doc(hidden)]
    fn load(reader: &mut FieldReader<'_>) -> Self;

    /// Encodes each stored field, calling [`FieldEncoder::field`] once per key, in order.
    #[doc(hidden)]
    fn encode(&self, encoder: &mut FieldEncoder<'_>);
}

/// Hands a view's `load` the decoded value of each of its keys.
#[doc(hidden)]
pub struct FieldReader<'a> {
    record: &'a Record,
}

impl FieldReader<'_> {
    /// The value of `key`, or `None` when it is absent or does not decode as `V`
    /// (the field then takes its default).
    pub fn field<V: DeserializeOwned>(&mut self, key: &'static str) -> Option<V> {
        let raw = self.record.get(key)?;
        match serde_json::from_str(raw) {
            Ok(value) => Some(value),
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
    buf: Vec<u8>,
    sink: &'a mut Sink<'a>,
}

impl FieldEncoder<'_> {
    /// Encodes the next field.
    pub fn field<V: Serialize + ?Sized>(&mut self, value: &V) {
        self.buf.clear();
        let result = serde_json::to_writer(&mut self.buf, value).map(|()| &self.buf[..]);
        (self.sink)(self.index, result);
        self.index += 1;
    }
}

/// A loaded view, and what its fields were before the handler could change them.
pub(crate) struct Tracked<T> {
    value: T,
    /// Each field's encoding, taken at the first mutable access: a view that was only
    /// read cannot have changed, and costs nothing to write back.
    baseline: Option<Vec<Box<str>>>,
}

impl<T: SessionView> Tracked<T> {
    pub(crate) fn load(record: &Record) -> Tracked<T> {
        Tracked {
            value: T::load(&mut FieldReader { record }),
            baseline: None,
        }
    }

    pub(crate) fn get(&self) -> &T {
        &self.value
    }

    pub(crate) fn into_value(self) -> T {
        self.value
    }

    /// The view, to change: its fields are encoded first, so that write-back can tell
    /// exactly which changed (`x = x` is no change, a nested push is one).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        if self.baseline.is_none() {
            let mut baseline = Vec::with_capacity(T::KEYS.len());
            let mut sink = |_: usize, encoded: Result<&[u8], serde_json::Error>| {
                baseline.push(match encoded {
                    Ok(bytes) => String::from_utf8_lossy(bytes).into(),
                    // Never equal to an encoding: the failure is reported on write-back.
                    Err(_) => Box::from(""),
                });
            };
            self.value.encode(&mut FieldEncoder {
                index: 0,
                buf: Vec::with_capacity(64),
                sink: &mut sink,
            });
            self.baseline = Some(baseline);
        }
        &mut self.value
    }

    /// Writes the fields that changed since the first mutable access into `record`.
    pub(crate) fn write_back(&mut self, record: &mut Record) {
        let Some(baseline) = &mut self.baseline else {
            return;
        };
        let mut failure = None;
        let mut sink = |i: usize, encoded: Result<&[u8], serde_json::Error>| {
            let key = T::KEYS[i];
            match encoded {
                Ok(bytes) if bytes == baseline[i].as_bytes() => {}
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    match RawValue::from_string(text) {
                        Ok(raw) => {
                            baseline[i] = Box::from(raw.get());
                            record.set(key, raw);
                        }
                        Err(e) => failure = Some(format!("session key `{key}`: {e}")),
                    }
                }
                Err(e) => failure = Some(format!("session key `{key}` cannot be serialized: {e}")),
            }
        };
        self.value.encode(&mut FieldEncoder {
            index: 0,
            buf: Vec::with_capacity(64),
            sink: &mut sink,
        });
        if let Some(failure) = failure {
            record.failure.get_or_insert(failure);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `#[derive(Session, Default)]` generates for `{ n: u32, list: Vec<String> }`.
    #[derive(Default)]
    struct View {
        n: u32,
        list: Vec<String>,
    }

    impl SessionView for View {
        const KEYS: &'static [&'static str] = &["n", "list"];

        fn load(reader: &mut FieldReader<'_>) -> Self {
            let mut view = View::default();
            if let Some(n) = reader.field("n") {
                view.n = n;
            }
            if let Some(list) = reader.field("list") {
                view.list = list;
            }
            view
        }

        fn encode(&self, encoder: &mut FieldEncoder<'_>) {
            encoder.field(&self.n);
            encoder.field(&self.list);
        }
    }

    fn record(json: &str) -> Record {
        Record::from_json(json.as_bytes(), 0).unwrap()
    }

    #[test]
    fn a_view_only_read_writes_nothing() {
        let mut rec = record(r#"{"n":1.0,"list":["a"]}"#);
        let mut view = Tracked::<View>::load(&rec);
        assert_eq!(view.get().list, ["a"]);
        view.write_back(&mut rec);
        assert!(!rec.is_modified());
    }

    #[test]
    fn assigning_the_same_value_is_no_change_and_a_push_is_one() {
        let mut rec = record(r#"{"n":1,"list":["a"]}"#);
        let mut view = Tracked::<View>::load(&rec);
        view.get_mut().n = 1;
        view.write_back(&mut rec);
        assert!(!rec.is_modified());
        view.get_mut().list.push("b".into());
        view.write_back(&mut rec);
        assert_eq!(rec.to_json(), br#"{"list":["a","b"],"n":1}"#);
        assert_eq!(
            rec.changes().set,
            [("list".to_owned(), r#"["a","b"]"#.to_owned())]
        );
    }

    #[test]
    fn undecodable_and_absent_keys_stay_as_they_are_unless_changed() {
        let mut rec = record(r#"{"n":"not a number"}"#);
        let mut view = Tracked::<View>::load(&rec);
        assert_eq!(view.get().n, 0);
        view.get_mut();
        view.write_back(&mut rec);
        assert_eq!(
            rec.to_json(),
            br#"{"n":"not a number"}"#,
            "untouched, and no `list` key made"
        );
        view.get_mut().n = 5;
        view.write_back(&mut rec);
        assert_eq!(rec.to_json(), br#"{"n":5}"#);
    }
}
