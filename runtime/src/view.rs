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
    /// The loaded JSON text of each key, `None` where the field took its default.
    loaded: Vec<Option<Box<str>>>,
}

impl FieldReader<'_> {
    /// The value of `key`, or `None` when it is absent or does not decode as `V`
    /// (the field then takes its default).
    pub fn field<V: DeserializeOwned>(&mut self, key: &'static str) -> Option<V> {
        let raw = self.record.get(key);
        let value = raw.and_then(|raw| match serde_json::from_str(raw.get()) {
            Ok(value) => Some(value),
            Err(e) => {
                log::debug!(target: "rocket_keepsake", "session key `{key}` does not decode ({e}); using the default");
                None
            }
        });
        let loaded = value.as_ref().and(raw).map(|raw| Box::from(raw.get()));
        self.loaded.push(loaded);
        value
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

/// A loaded view with what each of its fields was at load, to detect changes.
pub(crate) struct Tracked<T> {
    pub(crate) value: T,
    /// The JSON text each field had when loaded (or its default's encoding).
    baseline: Vec<Box<str>>,
}

impl<T: SessionView> Tracked<T> {
    pub(crate) fn load(record: &Record) -> Tracked<T> {
        let mut reader = FieldReader {
            record,
            loaded: Vec::with_capacity(T::KEYS.len()),
        };
        let value = T::load(&mut reader);
        let mut baseline = reader.loaded;
        // Fields that took a default compare against the default's encoding, so that an
        // untouched default is no change and the key stays absent (or, if it held
        // something undecodable, untouched).
        if baseline.iter().any(Option::is_none) {
            let mut sink = |i: usize, encoded: Result<&[u8], serde_json::Error>| {
                if let Some(slot @ None) = baseline.get_mut(i) {
                    *slot = Some(match encoded {
                        Ok(bytes) => String::from_utf8_lossy(bytes).into(),
                        // Never equal to an encoding: a failure is reported on write-back.
                        Err(_) => Box::from(""),
                    });
                }
            };
            value.encode(&mut FieldEncoder {
                index: 0,
                buf: Vec::new(),
                sink: &mut sink,
            });
        }
        let baseline = baseline
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        Tracked { value, baseline }
    }

    /// Writes the fields that changed since load into `record`.
    pub(crate) fn write_back(&mut self, record: &mut Record) {
        let baseline = &mut self.baseline;
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
